# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate the entry against OpenCode's schema on the controller, then run the module on the host."""

from __future__ import annotations

from ansible.module_utils.basic import FILE_COMMON_ARGUMENTS
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import (
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_IF,
    ConfigError,
    build_entry,
)
from ansible_collections.omniroute.opencode.plugins.module_utils._secrets import Masker
from ansible_collections.omniroute.opencode.plugins.plugin_utils._schema import (
    OPENCODE_VERSION,
    config_errors,
    provider_entry_errors,
)

display = Display()
_VALIDATOR = ArgumentSpecValidator(dict(ARGUMENT_SPEC, **FILE_COMMON_ARGUMENTS),
                                   mutually_exclusive=MUTUALLY_EXCLUSIVE, required_if=REQUIRED_IF)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp

        params = _VALIDATOR.validate(self._task.args)
        # Argument errors are the module's to report, in its own words; only a well-formed
        # entry is checked here.
        if not params.error_messages and params.validated_parameters["state"] == "present":
            args = params.validated_parameters
            try:
                entry = build_entry(args["base_url"], args["api_key"], args["api_key_env"], args["models"],
                                    args["model_labels"], args["display_name"])
            except ConfigError as exc:
                return dict(result, failed=True, msg=str(exc))
            # Validated masked: a schema message may quote a value, and this result is not the module's
            # (Ansible's no_log censoring of the module's own result does not apply to it).
            problems = provider_entry_errors(Masker().data(entry))
            if problems:
                return dict(result, failed=True, msg="the provider entry would not be valid OpenCode %s config, "
                            "nothing was written: %s" % (OPENCODE_VERSION, "; ".join(problems)))

        result.update(self._execute_module(module_name="omniroute.opencode.opencode_provider",
                                           module_args=self._task.args, task_vars=task_vars))
        document = result.pop("_document", None)
        if document is not None and not result.get("failed"):
            skip = ("provider", self._task.args.get("provider_id", "omniroute"))
            for problem in config_errors(document, skip):
                # display.warning lands in the task result's warnings (ansible-core 2.19+).
                display.warning("%s: %s (already in the file and left alone; OpenCode %s's schema rejects it, "
                                "a newer OpenCode may accept it)" % (result.get("path"), problem, OPENCODE_VERSION))
        return result
