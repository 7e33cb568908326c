"""Per-developer client keys (HMAC of one secret) and the TLS certificate's subject alternative names."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.omniroute.opencode.plugins.filter.developer_client_keys import developer_client_keys_filter
from ansible_collections.omniroute.opencode.plugins.module_utils._developer_keys import (
    DeveloperKeyError,
    developer_keys,
    host_user_keys,
)
from ansible_collections.omniroute.opencode.plugins.module_utils._tls_names import (
    SubjectAltNameError,
    subject_alt_names,
)

SECRET = "s" * 32
names = st.text(string.ascii_lowercase + string.digits + "-_.", min_size=1, max_size=12)
fleets = st.dictionaries(names, st.lists(names, max_size=5, unique=True), max_size=6)


@given(fleets)
@settings(max_examples=200)
def test_one_distinct_stable_key_per_user_on_a_host(fleet):
    keys = developer_keys(fleet, SECRET)
    expected = {(h, u) for h, users in fleet.items() for u in users}
    assert {(k["host"], k["user"]) for k in keys} == expected
    assert len({k["key"] for k in keys}) == len(keys), "two developers share a key"
    assert keys == developer_keys(fleet, SECRET), "not stable across runs"
    for entry in keys:
        # Independent reference: HMAC-SHA256 over the documented name.
        assert entry["name"] == f"opencode/{entry['host']}/{entry['user']}/g0"
        ref = hmac.new(SECRET.encode(), b"omniroute.opencode client key v1\x00" + entry["name"].encode(), hashlib.sha256)
        assert entry["key"] == "sk-" + ref.hexdigest()[:48]
    for host, users in fleet.items():
        assert host_user_keys(host, users, SECRET) == {k["user"]: k["key"] for k in keys if k["host"] == host}


@given(fleets, st.data())
def test_rotating_one_developer_changes_only_that_key(fleet, data):
    pairs = [(h, u) for h, users in fleet.items() for u in users]
    if not pairs:
        return
    host, user = data.draw(st.sampled_from(pairs))
    before = {(k["host"], k["user"]): k for k in developer_keys(fleet, SECRET)}
    after = {(k["host"], k["user"]): k for k in developer_keys(fleet, SECRET, rotations={f"{host}/{user}": 1})}
    changed = {pair for pair in before if before[pair]["key"] != after[pair]["key"]}
    assert changed == {(host, user)}
    assert after[host, user]["name"].endswith("/g1") and after[host, user]["name"] != before[host, user]["name"]
    everyone = developer_keys(fleet, SECRET, generation=1)
    assert not {k["key"] for k in everyone} & {k["key"] for k in before.values()}


def test_user_scope_gives_one_key_per_user_name_across_hosts():
    keys = developer_keys({"ws1": ["alice", "bob"], "ws2": ["alice"]}, SECRET, scope="user")
    assert [k["name"] for k in keys] == ["opencode/alice/g0", "opencode/bob/g0"]
    assert host_user_keys("ws2", ["alice"], SECRET, scope="user")["alice"] == keys[0]["key"]


def test_user_entries_like_the_client_role_takes():
    keys = developer_client_keys_filter({"h3": [{"name": "erin", "xdg_config_home": "~/.xdg"}, "frank"]}, SECRET,
                                        host="h3")
    assert set(keys) == {"erin", "frank"}


@pytest.mark.parametrize("secret", ["", "short", None])
def test_a_short_secret_is_refused(secret):
    with pytest.raises(DeveloperKeyError, match="at least 32 characters"):
        developer_keys({"h": ["u"]}, secret)


def test_a_negative_rotation_is_refused():
    with pytest.raises(DeveloperKeyError, match="whole number"):
        developer_keys({"h": ["u"]}, SECRET, rotations={"h/u": -1})


@given(st.ip_addresses())
def test_addresses_become_ip_entries(address):
    assume(not address.is_unspecified)  # 0.0.0.0 and :: are listen wildcards, dropped (tested below)
    assert subject_alt_names([str(address)]) == [f"IP:{address.compressed}"]
    if address.version == 6:
        assert subject_alt_names([f"[{address}]"]) == [f"IP:{address.compressed}"]


@given(st.from_regex(r"\A[a-z][a-z0-9-]{0,20}[a-z0-9](\.[a-z][a-z0-9]{0,10}){0,3}\Z"))
def test_host_names_become_dns_entries(name):
    assert subject_alt_names([name.upper(), name + "."]) == [f"DNS:{name}"]


def test_wildcards_empties_and_duplicates_are_dropped_in_order():
    assert subject_alt_names(["proxy", "", "0.0.0.0", "::", "10.0.0.5", "proxy", "IP:10.0.0.5", "DNS:a.example"]) \
        == ["DNS:proxy", "IP:10.0.0.5", "DNS:a.example"]


@pytest.mark.parametrize("bad", ["not a name", "IP:proxy.example", "-lead.example", "a" * 64 + ".example"])
def test_bad_names_are_refused(bad):
    with pytest.raises(SubjectAltNameError):
        subject_alt_names([bad])


def test_reference_address_parsing_agrees():
    for text in ["127.0.0.1", "::1", "fd00::5", "10.213.0.1"]:
        assert subject_alt_names([text]) == ["IP:" + ipaddress.ip_address(text).compressed]


@pytest.mark.parametrize("generation, rotation", [("1", "2"), (1, 2)])
def test_counters_from_inventory_text_give_the_same_keys(generation, rotation):
    # Inventory files and -e give numbers as text; every caller (the filter, the client role's inputs) gets the
    # keys of the numbers from the one rule.
    keys = developer_keys({"h": ["u"]}, SECRET, generation=generation, rotations={"h/u": rotation})
    assert [k["name"] for k in keys] == ["opencode/h/u/g3"]


@pytest.mark.parametrize("bad", [True, 1.5, "one", "-1", None, "\u00b2"])
def test_a_counter_that_is_not_a_whole_number_is_refused(bad):
    with pytest.raises(DeveloperKeyError, match="whole number"):
        developer_keys({"h": ["u"]}, SECRET, generation=bad)
    with pytest.raises(DeveloperKeyError, match="whole number"):
        developer_keys({"h": ["u"]}, SECRET, rotations={"h/u": bad})
