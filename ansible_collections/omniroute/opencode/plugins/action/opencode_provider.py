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
)
from ansible_collections.omniroute.opencode.plugins.plugin_utils._schema import (
    entry_problem,
    preexisting_problems,
    warm_up as warm_up_schema,
)

display = Display()
_VALIDATOR = ArgumentSpecValidator(dict(ARGUMENT_SPEC, **FILE_COMMON_ARGUMENTS),
                                   mutually_exclusive=MUTUALLY_EXCLUSIVE, required_if=REQUIRED_IF)
# Built here, in the controller's main process, before it forks a worker per host (each inherits them).
warm_up_schema()


class ActionModule(ActionBase):

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp

        params = _VALIDATOR.validate(self._task.args)
        # Argument errors are the module's to report, in its own words; only a well-formed
        # entry is checked here.
        if not params.error_messages and params.validated_parameters["state"] == "present":
            problem = entry_problem(params.validated_parameters)
            if problem:
                return dict(result, failed=True, msg=problem)

        result.update(self._execute_module(module_name="omniroute.opencode.opencode_provider",
                                           module_args=self._task.args, task_vars=task_vars))
        document = result.pop("_document", None)
        if document is not None and not result.get("failed"):
            for warning in preexisting_problems(result.get("path"), document,
                                                self._task.args.get("provider_id", "omniroute")):
                # display.warning lands in the task result's warnings (ansible-core 2.19+).
                display.warning(warning)
        return result
