# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate the entry against OpenCode's schema on the controller, run the module once for every file of the
host, warn about schema problems already in the files, and set the report fact (no task more per host)."""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.omniroute.opencode.plugins.module_utils._client_host import (
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_IF,
)
from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import ConfigError, build_entry
from ansible_collections.omniroute.opencode.plugins.module_utils._secrets import Masker
from ansible_collections.omniroute.opencode.plugins.plugin_utils._schema import (
    OPENCODE_VERSION,
    config_errors,
    provider_entry_errors,
)

try:  # ansible-core 2.20+: a host variable at set_fact's precedence, from any action
    from ansible.plugins.action import VariableLayer
except ImportError:  # older: the variable becomes a fact
    VariableLayer = None

display = Display()
_VALIDATOR = ArgumentSpecValidator(ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE, required_if=REQUIRED_IF)


def input_problem(args):
    """Why the validated options cannot converge anything (None when they can); checked before any round trip."""
    if not args["user_config"] and not args["managed"]:
        return "nothing to converge: user_config is false and managed is not set"
    if args["state"] != "present":
        return None
    try:
        # The keys differ per user but are masked before validation, so one entry stands for all of them.
        entry = build_entry(args["base_url"], args["api_key"], args["api_key_env"], args["models"],
                            args["model_labels"], args["display_name"])
    except ConfigError as exc:
        return str(exc)
    problems = provider_entry_errors(Masker().data(entry))
    if problems:
        return ("the provider entry would not be valid OpenCode %s config, nothing was written: %s"
                % (OPENCODE_VERSION, "; ".join(problems)))
    return None


def schema_warnings(documents, provider_id):
    """Warnings for what OpenCode's schema rejects elsewhere in the files (already there, left alone)."""
    skip = ("provider", provider_id)
    warnings = []
    for path, document in documents or []:
        for problem in config_errors(document, skip):
            warnings.append("%s: %s (already in the file and left alone; OpenCode %s's schema rejects it, a newer "
                            "OpenCode may accept it)" % (path, problem, OPENCODE_VERSION))
    return warnings


class ActionModule(ActionBase):

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp

        params = _VALIDATOR.validate(self._task.args)
        # Argument errors are the module's to report, in its own words; only well-formed options are checked here.
        if not params.error_messages:
            problem = input_problem(params.validated_parameters)
            if problem:
                return dict(result, failed=True, msg=problem)

        result.update(self._execute_module(module_name="omniroute.opencode.opencode_client",
                                           module_args=self._task.args, task_vars=task_vars))
        documents = result.pop("_documents", None)
        if not result.get("failed"):
            for warning in schema_warnings(documents, self._task.args.get("provider_id", "omniroute")):
                # display.warning lands in the task result's warnings (ansible-core 2.19+).
                display.warning(warning)
            fact = self._task.args.get("report_fact")
            if fact:
                self._set_host_variable(result, fact, result.get("files", []))
        return result

    def _set_host_variable(self, result, name, value):
        if VariableLayer is not None:
            self.register_host_variables({}, VariableLayer.CACHEABLE_FACT)
            self.register_host_variables({name: value}, VariableLayer.EPHEMERAL_FACT)
        else:
            result["ansible_facts"] = {name: value}
