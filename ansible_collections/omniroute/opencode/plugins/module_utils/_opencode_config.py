# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The merge rule: the provider entry we manage and how it goes into an OpenCode config.

Plain functions, standard library only: the module runs them on the managed host, the action
plugin runs ``build_entry`` on the controller to validate the entry before anything is written.
"""

from __future__ import annotations

import os

from ansible_collections.omniroute.opencode.plugins.module_utils._base_url import (
    BaseUrlError,
    has_stale_v1,
    normalize_base_url,
)
from ansible_collections.omniroute.opencode.plugins.module_utils._jsonc import describe_kind, parse, position

SCHEMA_URL = "https://opencode.ai/config.json"
NPM_PACKAGE = "@ai-sdk/openai-compatible"
# The models OmniRoute's own OpenCode helper writes when none are given.
DEFAULT_MODELS = (
    "claude-opus-4-5-thinking",
    "claude-sonnet-4-5-thinking",
    "gemini-3.1-pro-high",
    "gemini-3-flash",
)

ARGUMENT_SPEC = dict(
    path=dict(type="path"),
    base_url=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    api_key_env=dict(type="str", no_log=False),
    models=dict(type="list", elements="raw"),
    model_labels=dict(type="dict", default={}),
    provider_id=dict(type="str", default="omniroute"),
    display_name=dict(type="str", default="OmniRoute"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    backup=dict(type="bool", default=False),
)
MUTUALLY_EXCLUSIVE = [("api_key", "api_key_env")]
REQUIRED_IF = [("state", "present", ("base_url",))]


class ConfigError(ValueError):
    """Input or file content this module refuses to act on; file content names its place."""

    def __init__(self, message, line=None, column=None):
        if line is not None:
            message = "line %d, column %d: %s" % (line, column, message)
        super().__init__(message)
        self.line = line
        self.column = column


def build_entry(base_url, api_key=None, api_key_env=None, models=None, model_labels=None,
                display_name="OmniRoute"):
    """The provider entry as data, from the module's options. Raises ConfigError."""
    try:
        url = normalize_base_url(base_url)
    except BaseUrlError as exc:
        raise ConfigError(str(exc))
    options = {"baseURL": url}
    if api_key:
        options["apiKey"] = api_key
    entry = {"npm": NPM_PACKAGE, "name": display_name}
    if api_key_env:
        entry["env"] = [api_key_env]
    entry["options"] = options
    entry["models"] = build_models(DEFAULT_MODELS if models is None else models, model_labels or {})
    return entry


def build_models(models, model_labels):
    """``{id: {"name": ..., ...}}`` from a list of ids or of dicts with ``id``."""
    if not isinstance(model_labels, dict):
        raise ConfigError("model_labels must be a mapping of model id to display name")
    result = {}
    for index, model in enumerate(models):
        where = "models[%d]" % index
        if isinstance(model, str):
            fields = {"id": model}
        elif isinstance(model, dict):
            fields = dict(model)
        else:
            raise ConfigError("%s must be a model id or a mapping with an 'id', got %s" % (where, type(model).__name__))
        model_id = fields.pop("id", None)
        if not isinstance(model_id, str) or not model_id.strip():
            raise ConfigError("%s needs a non-empty string 'id'" % where)
        if model_id in result:
            raise ConfigError("%s: model id %r is listed twice" % (where, model_id))
        label = model_labels.get(model_id, fields.get("name", model_id))
        if not isinstance(label, str):
            raise ConfigError("%s: the display name of %r must be a string" % (where, model_id))
        fields["name"] = label
        result[model_id] = dict(sorted(fields.items(), key=lambda kv: kv[0] != "name"))
    unknown = sorted(set(model_labels) - set(result))
    if unknown:
        raise ConfigError("model_labels names models that are not in models: %s" % ", ".join(unknown))
    return result


def decode_config(data):
    """The text of a config file's bytes; refuses what is not UTF-8 with the line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        valid = data[:exc.start].decode("utf-8")
        line, column = position(valid, len(valid))
        raise ConfigError("the file is not UTF-8 text (byte %d)" % exc.start, line, column)


def resolve_config_path(home, environ):
    """The user's global config file: opencode.jsonc when it exists (OpenCode prefers it), else opencode.json."""
    config_home = environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    directory = os.path.join(config_home, "opencode")
    jsonc = os.path.join(directory, "opencode.jsonc")
    return jsonc if os.path.exists(jsonc) else os.path.join(directory, "opencode.json")


class Plan:
    """What a run would do to one file: the splices on its text and what they mean."""

    def __init__(self, before, edits, drift, current, after_value):
        self.before = before
        self.edits = edits
        self.after = _jsonc_edit().apply_edits(before, edits) if edits else before
        self.drift = drift
        self.current = current  # the managed entry as the file had it, or None
        self.after_value = after_value

    @property
    def changed(self):
        return self.before != self.after


def plan(text, provider_id, entry, exists=True):
    """Plan the change that puts ``entry`` (None for state=absent) into the config ``text``.

    Everything outside ``provider.<provider_id>`` (and a missing ``$schema``) stays byte for
    byte. Raises JsoncError for unparsable text and ConfigError for unexpected structure.
    """
    doc = parse(text)
    config = doc.value
    drift = [] if exists else ["file_missing"]
    provider_member, entry_member = _managed_members(doc, provider_id)
    providers = config.get("provider")
    provider_node = provider_member.node if provider_member else None
    current = entry_member.value if entry_member else None

    if entry is None:
        if current is None:
            return Plan(text, [], drift, current, config)
        after_config = dict(config, provider={k: v for k, v in providers.items() if k != provider_id})
        edits = _jsonc_edit().remove_member(doc, provider_node, entry_member)
        return Plan(text, edits, drift + ["entry_present"], current, after_config)

    schema_missing = "$schema" not in config
    if schema_missing:
        drift.append("schema_missing")
    drift.extend(entry_drift(current, entry))
    after_config = dict({"$schema": SCHEMA_URL}) if schema_missing else {}
    after_config.update(config)
    after_config["provider"] = dict(providers or {}, **{provider_id: entry})

    if doc.root is not None and not schema_missing and current == entry:
        return Plan(text, [], drift, current, after_config)  # in sync: no need to learn the layout
    edits = _upsert_edits(doc, provider_id, entry, after_config, schema_missing, provider_member, entry_member)
    return Plan(text, edits, drift, current, after_config)


def _upsert_edits(doc, provider_id, entry, after_config, schema_missing, provider_member, entry_member):
    """The splices that put ``entry`` (and a missing ``$schema``) into the parsed file ``doc``."""
    edit = _jsonc_edit()
    layout = edit.Layout.of(doc)
    if doc.root is None:
        return [(0, len(doc.text), _fresh(after_config, layout, doc.text))]
    if schema_missing and not doc.root.members:
        members = [("$schema", SCHEMA_URL), ("provider", {provider_id: entry})]
        return edit.insert_members(doc, doc.root, members, layout)
    edits = []
    if schema_missing:
        edits += edit.insert_members(doc, doc.root, [("$schema", SCHEMA_URL)], layout, first=True)
    if provider_member is None:
        edits += edit.insert_members(doc, doc.root, [("provider", {provider_id: entry})], layout)
    elif entry_member is None:
        edits += edit.insert_members(doc, provider_member.node, [(provider_id, entry)], layout)
    elif entry_member.value != entry:
        edits += edit.replace_value(doc, entry_member, entry, layout)
    return edits


def _jsonc_edit():
    """The JSONC engine's write side, imported by the runs that change a file only (a module compiles what it
    imports on every run, and most runs change nothing)."""
    from ansible_collections.omniroute.opencode.plugins.module_utils import _jsonc_edit as edit_module
    return edit_module


def _fresh(config, layout, original):
    """A whole new file (missing, empty or comment-only before): keep a BOM and any comments."""
    prefix = original.rstrip(" \t\r\n")
    prefix = prefix + layout.newline if prefix.strip("\ufeff") else prefix
    return prefix + layout.format(config, "") + layout.newline


def entry_drift(current, entry):
    """Codes naming how the existing entry differs from the declared one."""
    if current is None:
        return ["entry_missing"]
    codes = []
    current_options = current.get("options") if isinstance(current.get("options"), dict) else {}
    current_url = current_options.get("baseURL")
    if current_url != entry["options"]["baseURL"]:
        codes.append("base_url")
        if has_stale_v1(current_url):
            codes.append("base_url_stale_v1")
    missing, unexpected = missing_and_unexpected_models(current, entry)
    if missing:
        codes.append("models_missing")
    if unexpected:
        codes.append("models_unexpected")
    current_models = current.get("models") if isinstance(current.get("models"), dict) else {}
    if any(current_models[m] != model for m, model in entry["models"].items() if m in current_models):
        codes.append("models_changed")
    if current_options.get("apiKey") != entry["options"].get("apiKey") or current.get("env") != entry.get("env"):
        codes.append("credentials")
    other_current = {k: v for k, v in current.items() if k not in ("models", "options", "env")}
    other_wanted = {k: v for k, v in entry.items() if k not in ("models", "options", "env")}
    other_current_options = {k: v for k, v in current_options.items() if k not in ("baseURL", "apiKey")}
    if other_current != other_wanted or other_current_options:
        codes.append("entry_fields")
    return codes


def missing_and_unexpected_models(current, entry):
    """(missing ids, unexpected ids) between the existing entry and the declared one."""
    current_models = {}
    if isinstance(current, dict) and isinstance(current.get("models"), dict):
        current_models = current["models"]
    wanted = entry["models"] if entry else {}
    return sorted(set(wanted) - set(current_models)), sorted(set(current_models) - set(wanted))


def _managed_members(doc, provider_id):
    """The ``provider`` and ``provider.<id>`` members, each None when missing.

    Refuses (with line and column) what the module will not merge around: either one not an
    object (``null`` included), or written more than once. Duplicates elsewhere, ``$schema``
    among them, are left alone: OpenCode loads them, the last one winning.
    """
    if doc.root is None:
        return None, None
    provider_member = _single(doc, doc.root, "provider", '"provider"')
    if provider_member is None:
        return None, None
    entry_member = _single(doc, provider_member.node, provider_id, '"provider.%s"' % provider_id)
    return provider_member, entry_member


def _single(doc, node, key, name):
    members = node.find(key)
    if len(members) > 1:
        raise _refusal(doc, members[1].key_start, "%s appears more than once; keep one" % name)
    if not members:
        return None
    member = members[0]
    if not isinstance(member.value, dict):
        raise _refusal(doc, member.value_start, "%s is %s, expected an object" % (name, describe_kind(member.value)))
    return member


def _refusal(doc, offset, message):
    line, column = position(doc.text, offset)
    return ConfigError(message, line, column)
