"""The client role's variables checked by its module task (plugin_utils/_role_arguments.py), against the role's own
meta/argument_specs.yml, as plain functions: what the site and drift playbooks rely on when they import the role
with rolespec_validate: false."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.omniroute.opencode.plugins.plugin_utils._role_arguments import (
    argument_errors,
    entry_point_options,
    role_variables,
)

ROLE = pathlib.Path(__file__).resolve().parents[2] / "ansible_collections" / "omniroute" / "opencode" / "roles" / "client"
SECRET = "sk-role-arg-4d5e6f70"


@pytest.fixture(scope="module")
def options():
    return entry_point_options(DataLoader(), str(ROLE))


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
