"""The client role's inputs taken from the proxy host (plugin_utils/_client_inputs.py), as plain functions: what
the site and drift playbooks rely on (opencode_client_inputs_from_proxy). The playbook tests run the same rule
end to end (tests/fleet/test_playbooks_local.py)."""

from __future__ import annotations

import pytest

from ansible_collections.omniroute.opencode.plugins.module_utils._developer_keys import host_user_keys
from ansible_collections.omniroute.opencode.plugins.plugin_utils._client_inputs import (
    fill_from_proxy,
    proxy_host_name,
    site_settings,
)

SECRET = "site-secret-" + "5a" * 16
PROXY = {"omniroute_proxy_base_url": "https://proxy.test/v1", "omniroute_proxy_client_key": "sk-shared-1",
         "omniroute_proxy_combos": ["combo-a"], "omniroute_proxy_ca_certificate": "-----BEGIN CERTIFICATE-----"}
UNSET = {"opencode_client_users": ["alice", "bob"], "opencode_client_user_api_keys": {},
         "opencode_client_api_key_env": "", "opencode_client_ca_certificate": ""}


def settings(**client):
    return site_settings(lambda name: client.get(name), PROXY)


def test_the_proxy_host_is_the_chosen_one_else_the_first_of_the_group():
    assert proxy_host_name({"omniroute_proxy": ["p1", "p2"]}, None) == "p1"
    assert proxy_host_name({"omniroute_proxy": ["p1"]}, "front") == "front"
    assert proxy_host_name({}, None) == ""


def test_shared_mode_takes_everything_from_the_proxy():
    filled = fill_from_proxy(UNSET, PROXY, settings(omniroute_site_client_keys="shared"), "h1", "root")
    assert filled["opencode_client_base_url"] == "https://proxy.test/v1"
    assert filled["opencode_client_api_key"] == "sk-shared-1"
    assert filled["opencode_client_models"] == ["combo-a"]
    assert filled["opencode_client_ca_certificate"].startswith("-----BEGIN")
    assert filled["opencode_client_user_api_keys"] == {}


def test_per_developer_mode_derives_the_proxy_plays_keys_and_no_shared_key():
    proxy = dict(PROXY, omniroute_site_client_key_secret=SECRET, omniroute_site_client_key_rotations={"h1/bob": 2})
    filled = fill_from_proxy(UNSET, proxy, site_settings(lambda name: None, proxy), "h1", "root")
    assert filled["opencode_client_user_api_keys"] == host_user_keys("h1", ["alice", "bob"], SECRET,
                                                                     rotations={"h1/bob": 2})
    assert not filled.get("opencode_client_api_key")
    # No users listed: the login user is the developer.
    filled = fill_from_proxy(dict(UNSET, opencode_client_users=[]), proxy, site_settings(lambda n: None, proxy),
                             "h1", "carol")
    assert list(filled["opencode_client_user_api_keys"]) == ["carol"]


@pytest.mark.parametrize("by_hand", [
    {"opencode_client_api_key": "sk-mine"},
    {"opencode_client_user_api_keys": {"alice": "sk-alice"}},
    {"opencode_client_api_key_env": "MY_KEY"},
])
def test_a_key_set_by_hand_wins_in_either_mode(by_hand):
    for mode in ("per_developer", "shared"):
        values = dict(UNSET, **by_hand)
        filled = fill_from_proxy(values, PROXY, settings(omniroute_site_client_keys=mode,
                                                         omniroute_site_client_key_secret=SECRET), "h1", "root")
        for name in ("opencode_client_api_key", "opencode_client_user_api_keys", "opencode_client_api_key_env"):
            assert filled.get(name) == values.get(name), (mode, name)


def test_values_set_by_hand_win_and_nothing_comes_from_a_missing_proxy():
    values = dict(UNSET, opencode_client_base_url="http://hand:1", opencode_client_models=["mine"])
    filled = fill_from_proxy(values, PROXY, settings(omniroute_site_client_keys="shared"), "h1", "root")
    assert filled["opencode_client_base_url"] == "http://hand:1" and filled["opencode_client_models"] == ["mine"]
    filled = fill_from_proxy(UNSET, {}, site_settings(lambda n: None, {}), "h1", "root")
    assert "opencode_client_base_url" not in filled and not filled.get("opencode_client_api_key")
    assert filled["opencode_client_user_api_keys"] == {}


def test_the_client_hosts_settings_win_over_the_proxys():
    proxy = dict(PROXY, omniroute_site_client_key_generation=1)
    assert site_settings(lambda n: 3 if n == "omniroute_site_client_key_generation" else None,
                         proxy)["generation"] == 3
    assert site_settings(lambda n: None, proxy)["generation"] == 1


def test_an_empty_list_of_models_is_kept():
    filled = fill_from_proxy(dict(UNSET, opencode_client_models=[]), PROXY, settings(), "h1", "root")
    assert filled["opencode_client_models"] == []


def test_a_variable_the_host_defines_empty_is_set_by_hand():
    # opencode_client_ca_certificate: "" on a host (no CA there: a public CA, or no root) stays empty.
    filled = fill_from_proxy(UNSET, PROXY, settings(omniroute_site_client_keys="shared"), "h1", "root",
                             set_by_hand={"opencode_client_ca_certificate"})
    assert filled["opencode_client_ca_certificate"] == ""
    assert filled["opencode_client_base_url"] == "https://proxy.test/v1"
    # A key variable the host defines, even empty, means no derived key and no shared key.
    filled = fill_from_proxy(UNSET, PROXY, settings(omniroute_site_client_key_secret=SECRET), "h1", "root",
                             set_by_hand={"opencode_client_user_api_keys"})
    assert filled["opencode_client_user_api_keys"] == {} and not filled.get("opencode_client_api_key")
