# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The schema check: OpenCode's pinned config schema, on the controller (needs jsonschema)."""

from __future__ import annotations

import functools
import json
import os

from ansible.errors import AnsibleError

from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import (
    SCHEMA_URL,
    ConfigError,
    build_entry,
)
from ansible_collections.omniroute.opencode.plugins.module_utils._secrets import Masker

try:
    import jsonschema
    from referencing import Registry, Resource
    HAS_JSONSCHEMA = True
except ImportError:  # reported when the check runs
    HAS_JSONSCHEMA = False

OPENCODE_VERSION = "1.18.33"
SCHEMA_FILE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "schemas", "opencode-%s.config.schema.json" % OPENCODE_VERSION)
# The schema refers to models.dev for the "model" fields; offline, a model reference is a string.
_MODELS_DEV = "https://models.dev/model-schema.json"
_MODELS_DEV_STAND_IN = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                        "$defs": {"Model": {"type": "string"}}}


@functools.lru_cache(maxsize=None)
def _validator(definition):
    if not HAS_JSONSCHEMA:
        raise AnsibleError("omniroute.opencode needs the Python packages jsonschema and referencing on the "
                           "controller: pip install jsonschema")
    with open(SCHEMA_FILE, encoding="utf-8") as handle:
        schema = json.load(handle)
    if definition:
        schema = dict(schema, **{"$ref": "#/$defs/%s" % definition})
    registry = Registry().with_resource(_MODELS_DEV, Resource.from_contents(_MODELS_DEV_STAND_IN))
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _describe(error):
    """A message naming the place and the rule, never the value (it may be a secret)."""
    where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    if error.validator in ("additionalProperties", "required"):
        return "%s: %s" % (where, error.message)
    if error.validator == "type":
        return "%s: must be of type %s" % (where, error.validator_value)
    if error.validator in ("enum", "const"):
        return "%s: is not one of the allowed values" % where
    if error.validator in ("anyOf", "oneOf"):
        return "%s: does not match any allowed form" % where
    return "%s: violates %r" % (where, error.validator)


def provider_entry_errors(entry):
    """Schema errors of one provider entry, as messages with their place."""
    errors = sorted(_validator("ProviderConfig").iter_errors(entry), key=lambda e: list(e.absolute_path))
    return [_describe(error) for error in errors]


def config_errors(config, skip=None):
    """Schema errors of a whole config, leaving out those under the path ``skip`` (a tuple of keys)."""
    skip = list(skip or ())
    messages = []
    for error in sorted(_validator(None).iter_errors(config), key=lambda e: list(e.absolute_path)):
        if skip and list(error.absolute_path)[:len(skip)] == skip:
            continue
        messages.append(_describe(error))
    return messages


def entry_problem(args):
    """Why the declared provider entry cannot be written (None when it can), from validated module options."""
    try:
        entry = build_entry(args["base_url"], args["api_key"], args["api_key_env"], args["models"],
                            args["model_labels"], args["display_name"])
    except ConfigError as exc:
        return str(exc)
    # Validated masked: a schema message may quote a value, and the action's result is not the module's
    # (Ansible's no_log censoring of the module's own result does not apply to it). The keys differ per
    # user but are masked first, so one entry stands for all of them.
    problems = provider_entry_errors(Masker().data(entry))
    if problems:
        return ("the provider entry would not be valid OpenCode %s config, nothing was written: %s"
                % (OPENCODE_VERSION, "; ".join(problems)))
    return None


def warm_up():
    """Build both validators and run each once (jsonschema resolves the schema's references on first use), in
    the controller's main process: the workers it forks, one per host and task, then inherit them. Called by the
    action plugins that check against the schema when they are imported; never raises."""
    if not HAS_JSONSCHEMA:
        return
    try:
        entry = build_entry("http://omniroute.invalid:20128", None, None, ["warm-up"], None, "OmniRoute")
        provider_entry_errors(entry)
        config_errors({"$schema": SCHEMA_URL, "provider": {"omniroute": entry}})
    except Exception:  # pylint: disable=broad-except
        # Only a head start: the check that needs the schema reads it again and reports what is wrong.
        pass


def preexisting_problems(path, document, provider_id):
    """Warnings for what the schema rejects elsewhere in a merged file (already there, left alone)."""
    return ["%s: %s (already in the file and left alone; OpenCode %s's schema rejects it, a newer OpenCode may "
            "accept it)" % (path, problem, OPENCODE_VERSION)
            for problem in config_errors(document, ("provider", provider_id))]
