# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A role's variables checked against the role's own argument spec (meta/argument_specs.yml), inside the role's
one module task: ansible-core's automatic check is a task of its own, a worker per host (rolespec_validate: false
turns it off; this check then still holds)."""

from __future__ import annotations

import functools
import os

import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values

# ansible-core's words (validate_argument_spec), so a failure reads the same whichever check found it.
FAILED = "Validation of arguments failed:\n%s"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def entry_point_options(role_path, entry_point="main"):
    """The options of one entry point of the role's argument spec, cached per process by the role's real path
    (a worker forked after the controller's main process read it inherits it)."""
    return _entry_point_options(os.path.realpath(role_path), entry_point)


@functools.lru_cache(maxsize=None)
def _entry_point_options(role_path, entry_point):
    # libyaml: the file is documentation as much as spec, and the pure-Python parser takes ~10 ms over it.
    with open(os.path.join(role_path, "meta", "argument_specs.yml"), encoding="utf-8") as spec_file:
        specs = yaml.load(spec_file, Loader=_YAML_LOADER) or {}
    return (specs.get("argument_specs") or {}).get(entry_point, {}).get("options") or {}


def role_variables(options, task_vars, templar):
    """The values the role sees for its options (defaults, inventory, role parameters, -e), templated; an omitted
    value is left out."""
    return templar.template({name: task_vars[name] for name in options if name in task_vars})


def check_role_variables(options, values):
    """``(validated values, error messages)``: the values converted to their types with the spec's defaults,
    and the errors (empty when valid) with the values of no_log options removed."""
    result = ArgumentSpecValidator(options).validate(values, validate_role_argument_spec=True)
    secrets = set()
    for name, option in options.items():
        if option.get("no_log") and values.get(name):
            secrets.update(_strings(values[name]))
    return result.validated_parameters, [remove_values(message, secrets) for message in result.error_messages]


def _strings(value):
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, (list, tuple, set)):
        return [s for item in value for s in _strings(item)]
    return [str(value)] if value not in (None, "") else []
