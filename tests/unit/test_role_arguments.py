"""The client role's variables checked by its module task (plugin_utils/_role_arguments.py), against the role's own
meta/argument_specs.yml, as plain functions: what the site and drift playbooks rely on when they import the role
with rolespec_validate: false."""

from __future__ import annotations

import os
import pathlib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.omniroute.opencode.plugins.action.opencode_client import (
    CLIENT_ROLE_PATH,
    module_args_from_role,
    role_steps,
)
from ansible_collections.omniroute.opencode.plugins.module_utils._client_host import ARGUMENT_SPEC
from ansible_collections.omniroute.opencode.plugins.plugin_utils._role_arguments import (
    _entry_point_options,
    check_role_variables,
    entry_point_options,
    role_variables,
)


def argument_errors(options, values):
    return check_role_variables(options, values)[1]

ROLE = pathlib.Path(__file__).resolve().parents[2] / "ansible_collections" / "omniroute" / "opencode" / "roles" / "client"
SECRET = "sk-role-arg-4d5e6f70"


@pytest.fixture(scope="module")
def options():
    return entry_point_options(str(ROLE))


@pytest.fixture(scope="module")
def defaults():
    values = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    # The one default that is a template: what it renders to with the role's defaults.
    values["opencode_client_verify"] = values["opencode_client_install"]
    return values


def test_the_spec_covers_every_default_and_the_defaults_pass(options, defaults):
    assert set(defaults) <= set(options)
    assert argument_errors(options, dict(defaults, opencode_client_base_url="http://h:1")) == []


@pytest.mark.parametrize("name, value", [
    ("opencode_client_state", "gone"),
    ("opencode_client_backup", "sometimes"),
    ("opencode_client_users", {"name": "alice"}),
    ("opencode_client_ca_trust", "windows"),
    ("opencode_client_verify_timeout", "soon"),
])
def test_a_bad_variable_is_named(options, defaults, name, value):
    errors = argument_errors(options, dict(defaults, **{name: value}))
    assert len(errors) == 1 and name in errors[0], errors


def test_only_the_role_options_are_taken_from_the_variables(options, defaults):
    # Role variables share the namespace of every other variable: as ansible-core, take only the spec's options.
    # (Templating: the role's default opencode_client_verify is a template, checked as a bool in the playbook tests.)
    task_vars = dict(defaults, opencode_client_typo=1, inventory_hostname="h1", opencode_client_base_url="http://h:1")
    values = role_variables(options, task_vars, Templar(loader=DataLoader(), variables=task_vars))
    assert set(values) == set(defaults) | {"opencode_client_base_url"}
    assert argument_errors(options, values) == []


@pytest.mark.parametrize("name, value", [
    ("opencode_client_user_api_keys", [SECRET]),
    ("opencode_client_user_api_keys", SECRET),
])
def test_a_refused_secret_is_not_in_the_message(options, defaults, name, value):
    errors = argument_errors(options, dict(defaults, **{name: value}))
    assert errors and name in errors[0]
    assert not any(SECRET in e or SECRET[:12] in e for e in errors), errors


def test_no_log_values_are_removed_even_where_the_message_quotes_the_value():
    options = {"token": {"type": "str", "choices": ["a", "b"], "no_log": True}}
    errors = argument_errors(options, {"token": SECRET})
    assert errors and "token" in errors[0] and SECRET not in errors[0]


def test_every_option_the_module_gets_from_the_role_is_one_it_has(options, defaults):
    values, errors = check_role_variables(options, dict(
        defaults, opencode_client_base_url="http://h:1", opencode_client_api_key=SECRET,
        opencode_client_models=["m1"], opencode_client_managed_config=True, opencode_client_backup="yes"))
    assert errors == []
    args = module_args_from_role(values)
    assert set(args) <= set(ARGUMENT_SPEC)
    assert args["base_url"] == "http://h:1" and args["api_key"] == SECRET and args["models"] == ["m1"]
    assert args["backup"] is True  # converted as ansible-core converts role variables
    assert args["managed"] == {"path": "/etc/opencode/opencode.json", "group": "root", "mode": ""}
    assert args["report_fact"] == "opencode_client_report"


def test_unset_or_empty_role_variables_leave_the_option_out(options, defaults):
    values, _ = check_role_variables(options, dict(defaults, opencode_client_api_key=""))
    args = module_args_from_role(values)
    assert {"base_url", "api_key", "api_key_env", "models", "model_labels", "managed"}.isdisjoint(args)
    # An empty list of models is a choice, not an unset variable.
    values, _ = check_role_variables(options, dict(defaults, opencode_client_models=[]))
    assert module_args_from_role(values)["models"] == []


@pytest.mark.parametrize("overrides, check_mode, expected", [
    ({}, False, False),  # the defaults: the role ends after its module task
    ({"opencode_client_install": True}, True, True),
    ({"opencode_client_ca_certificate": "-----BEGIN CERTIFICATE-----"}, False, True),
    ({"opencode_client_state": "absent"}, False, True),  # the CA is removed from the trust store
    ({"opencode_client_verify": True}, False, True),
    ({"opencode_client_verify": True}, True, False),  # nothing was written to verify
])
def test_the_role_goes_on_only_when_a_later_step_applies(options, defaults, overrides, check_mode, expected):
    # The condition of the role's end_role, decided by the module task (tasks/main.yml's three steps).
    values, errors = check_role_variables(options, dict(defaults, opencode_client_base_url="http://h:1", **overrides))
    assert errors == []
    assert role_steps(values, check_mode) is expected


def test_the_spec_read_when_the_plugin_is_imported_serves_the_role_by_any_path(tmp_path):
    # The controller's main process imports the action plugin (and reads the spec) before it forks a worker per
    # host; a worker asks with the path of the role it runs, which may be a link to the same directory.
    link = tmp_path / "client"
    link.symlink_to(CLIENT_ROLE_PATH)
    before = _entry_point_options.cache_info()
    assert entry_point_options(str(link)) is entry_point_options(CLIENT_ROLE_PATH)
    after = _entry_point_options.cache_info()
    assert after.misses == before.misses and after.hits == before.hits + 2
    assert os.path.realpath(str(ROLE)) == os.path.realpath(CLIENT_ROLE_PATH)
