# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate the entry against OpenCode's schema on the controller, run the module once for every file of the
host, warn about schema problems already in the files, and set the report fact (no task more per host). With
options_from_role (the task of the role omniroute.opencode.client) the options are the role's variables, checked
against the role's argument spec here: the role needs no validation task of its own (rolespec_validate: false),
and no template per option is compiled on every host."""

from __future__ import annotations

import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.omniroute.opencode.plugins.module_utils._client_host import (
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_IF,
)
from ansible_collections.omniroute.opencode.plugins.module_utils._developer_keys import DeveloperKeyError
from ansible_collections.omniroute.opencode.plugins.plugin_utils._client_inputs import (
    fill_from_proxy,
    proxy_host_name,
    site_settings,
)
from ansible_collections.omniroute.opencode.plugins.plugin_utils._role_arguments import (
    FAILED,
    check_role_variables,
    entry_point_options,
    role_variables,
)
from ansible_collections.omniroute.opencode.plugins.plugin_utils._schema import (
    entry_problem,
    preexisting_problems,
    warm_up as warm_up_schema,
)

try:  # ansible-core 2.20+: a host variable at set_fact's precedence, from any action
    from ansible.plugins.action import VariableLayer
except ImportError:  # older: the variable becomes a fact
    VariableLayer = None

display = Display()
CLIENT_ROLE = "omniroute.opencode.client"
_VALIDATOR = ArgumentSpecValidator(ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE, required_if=REQUIRED_IF)
# The client role of this collection (the role's task passes its own path, the same file).
CLIENT_ROLE_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "roles", "client")


def module_args_from_role(values):
    """The module's options from the client role's validated variables (the one place the role maps them)."""
    args = {"users": values["opencode_client_users"], "user_config": values["opencode_client_user_config"],
            "state": values["opencode_client_state"], "user_api_keys": values["opencode_client_user_api_keys"],
            "provider_id": values["opencode_client_provider_id"],
            "display_name": values["opencode_client_display_name"], "backup": values["opencode_client_backup"],
            "mode": values["opencode_client_config_mode"], "fail_on_error": values["opencode_client_fail_on_error"],
            "report_fact": "opencode_client_report"}
    # An empty URL or key is not set (a developer's own key in user_api_keys wins over the shared one).
    for option in ("base_url", "api_key", "api_key_env"):
        if values.get("opencode_client_" + option):
            args[option] = values["opencode_client_" + option]
    for option in ("models", "model_labels"):
        if values.get("opencode_client_" + option) is not None:
            args[option] = values["opencode_client_" + option]
    if values["opencode_client_managed_config"]:
        args["managed"] = {"path": values["opencode_client_managed_path"],
                           "group": values["opencode_client_managed_group"],
                           "mode": values["opencode_client_managed_mode"]}
    return args


def role_steps(values, check_mode):
    """Whether any of the client role's steps after its module task applies (its end_role reads this: a
    condition over one value costs the controller's main process less, per host, than over the role's variables)."""
    return bool(values["opencode_client_install"] or values["opencode_client_ca_certificate"]
                or values["opencode_client_state"] != "present"
                or (values.get("opencode_client_verify") and not check_mode))


def input_problem(args):
    """Why the validated options cannot converge anything (None when they can); checked before any round trip."""
    if not args["user_config"] and not args["managed"]:
        return "nothing to converge: user_config is false and managed is not set"
    if args["state"] != "present":
        return None
    return entry_problem(args)


def schema_warnings(documents, provider_id):
    """Warnings for what OpenCode's schema rejects elsewhere in the files (already there, left alone)."""
    return [warning for path, document in documents or []
            for warning in preexisting_problems(path, document, provider_id)]


class ActionModule(ActionBase):

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp

        module_args = self._task.args
        values = None
        if module_args.get("options_from_role"):
            values, errors = self._client_role_values(task_vars)
            if errors:
                return dict(result, failed=True, msg=FAILED % "\n".join(errors), argument_errors=errors)
            module_args = module_args_from_role(values)
            # For the role's later tasks (the CA may come from the proxy host, computed here; not a secret).
            result["ca_certificate"] = values["opencode_client_ca_certificate"]

        params = _VALIDATOR.validate(module_args)
        # Argument errors are the module's to report, in its own words; only well-formed options are checked here.
        if not params.error_messages:
            problem = input_problem(params.validated_parameters)
            if problem:
                return dict(result, failed=True, msg=problem)

        result.update(self._execute_module(module_name="omniroute.opencode.opencode_client",
                                           module_args=module_args, task_vars=task_vars))
        documents = result.pop("_documents", None)
        if values is not None and "check_mode" in result:
            result["role_steps"] = role_steps(values, result["check_mode"])
        if not result.get("failed"):
            for warning in schema_warnings(documents, module_args.get("provider_id", "omniroute")):
                # display.warning lands in the task result's warnings (ansible-core 2.19+).
                display.warning(warning)
            fact = module_args.get("report_fact")
            if fact:
                self._set_host_variable(result, fact, result.get("files", []))
        return result

    def _client_role_values(self, task_vars):
        """``(values, errors)``: the client role's variables, filled from the proxy when it says so, checked against
        its argument spec and converted to their types."""
        role = self._task._role
        if role is None or role.get_name() != CLIENT_ROLE:
            return None, ["options_from_role is for the task of the role %s only" % CLIENT_ROLE]
        others = sorted(set(self._task.args) - {"options_from_role"})
        if others:
            return None, ["with options_from_role the options come from the role's variables, not from %s"
                          % ", ".join(others)]
        options = entry_point_options(role.get_role_path())
        values = role_variables(options, task_vars, self._templar)
        if boolean(values.get("opencode_client_inputs_from_proxy", False), strict=False):
            try:
                values = self._fill_from_proxy(values, task_vars)
            except (DeveloperKeyError, TypeError, ValueError) as exc:
                return None, ["opencode_client_inputs_from_proxy: the developer keys cannot be derived: %s" % exc]
        return check_role_variables(options, values)

    def _fill_from_proxy(self, values, task_vars):
        """The role's values with what is not set taken from the proxy host (the site playbook's rule)."""
        def client_value(name):
            return self._templar.template(task_vars[name]) if name in task_vars else None

        hostvars = task_vars["hostvars"]
        proxy_host = proxy_host_name(task_vars.get("groups") or {}, client_value("opencode_site_proxy_host"))
        proxy = hostvars[proxy_host] if proxy_host and proxy_host in hostvars else {}
        login_user = client_value("ansible_user") or os.environ.get("USER")
        host = task_vars["inventory_hostname"]
        # The host's own variables (inventory, facts, -e), without play variables or role defaults: what is set
        # there counts as set by hand, even empty.
        set_by_hand = frozenset(hostvars.raw_get(host)) if host in hostvars else frozenset()
        return fill_from_proxy(values, proxy, site_settings(client_value, proxy), host, login_user, set_by_hand)

    def _set_host_variable(self, result, name, value):
        if VariableLayer is not None:
            # As set_fact does: the empty cacheable layer turns off the legacy reading of ansible_facts.
            self.register_host_variables({}, VariableLayer.CACHEABLE_FACT)
            self.register_host_variables({name: value}, VariableLayer.EPHEMERAL_FACT)
        else:
            result["ansible_facts"] = {name: value}


def _warm_up():
    """Fill this process's caches (the role's argument spec, the schema validators). The controller's main process
    imports this plugin before it forks the first worker for the task, and forks one per host: each worker then
    starts with them instead of building them (a few milliseconds per host at fleet scale)."""
    try:
        entry_point_options(CLIENT_ROLE_PATH)
    except Exception:  # pylint: disable=broad-except
        # Only a head start: the task that needs the file reads it again and reports what is wrong.
        pass
    warm_up_schema()


_warm_up()
