"""omniroute_config's pure parts: desired state, comparison with a live state, masking, URL handling."""

from __future__ import annotations

import copy
import itertools
import json

import pytest

from ansible_collections.omniroute.opencode.plugins.module_utils._failover import PlanError
from ansible_collections.omniroute.opencode.plugins.module_utils._omniroute_api import (
    OmniRouteClient,
    OmniRouteUnreachable,
    management_root,
)
from ansible_collections.omniroute.opencode.plugins.module_utils._omniroute_state import (
    LEDGER_KEY,
    MASK,
    build_desired,
    compute_changes,
    deep_merge,
    deep_subset_diff,
    describe_legs,
    empty_ledger,
    fingerprint,
    masked_key_matches,
    ordered_actions,
)

SECRETS = ["upstream-secret-aaaa-1111", "upstream-secret-bbbb-2222", "client-secret-cccc-3333-xyz"]


def params(**over):
    base = {
        "providers": [
            {"name": "bad", "type": "openai-compatible", "base_url": "http://127.0.0.1:9/v1/", "api_key": SECRETS[0],
             "models": ["claude-sonnet-4-5", "gpt-4o-mini"], "api_type": "chat", "priority": 1},
            {"name": "good", "type": "openai-compatible", "base_url": "http://127.0.0.1:10/v1", "api_key": SECRETS[1],
             "models": ["us.anthropic.claude-sonnet-4-5-20250929-v1:0", "gpt-4o-mini"], "api_type": "chat",
             "priority": 1},
        ],
        "provider_priority": ["bad", "good"],
        "failover_min_providers": 2,
        "combo_strategy": "priority",
        "combo_config": {},
        "combos": [],
        "client_keys": [{"name": "opencode", "key": SECRETS[2]}],
        "resilience": {"requestQueue": {"autoEnableApiKeyProviders": False}},
        "combo_defaults": {"maxRetries": 0},
    }
    base.update(over)
    return base


def empty_live():
    return {
        "ledger": None,
        "nodes": [],
        "connections": [],
        "combos": [],
        "keys": [],
        "resilience": {"requestQueue": {"autoEnableApiKeyProviders": True, "requestsPerMinute": 100}},
        "combo_defaults": {"comboDefaults": {"strategy": "priority", "maxRetries": 1, "retryDelayMs": 2000},
                           "providerOverrides": {}},
    }


_IDS = itertools.count(1)


def simulate(live, changes, generated_key="gen-generated-abcdefgh-1234"):
    """Apply ``changes`` to a live-state dict the way the server does (enough to test convergence)."""
    live = copy.deepcopy(live)

    def new_id(kind):
        return f"{kind}-{next(_IDS)}"

    for action in ordered_actions(changes["actions"]):
        op = action["op"]
        if op == "create_node":
            node = dict(action["node"], id=new_id("openai-compatible-chat"))
            live["nodes"].append(node)
            live["connections"].append(dict(action["connection"], id=new_id("conn"), provider=node["id"],
                                            isActive=True))
        elif op == "create_builtin":
            live["connections"].append(dict(action["connection"], id=new_id("conn"), isActive=True))
        elif op == "update_node":
            node = next(n for n in live["nodes"] if n["id"] == action["id"])
            node.update(action["node"])
        elif op == "create_connection":
            live["connections"].append(dict(action["connection"], id=new_id("conn"), provider=action["node_id"]))
        elif op == "update_connection":
            conn = next(c for c in live["connections"] if c["id"] == action["id"])
            conn.update(action["connection"])
        elif op == "create_combo":
            live["combos"].append(dict(copy.deepcopy(action["combo"]), id=new_id("combo"),
                                       models=[{"kind": "model", "model": m} for m in action["combo"]["models"]]))
        elif op == "update_combo":
            combo = next(c for c in live["combos"] if c["id"] == action["id"])
            combo.update(copy.deepcopy(action["combo"]))
            combo["models"] = [{"kind": "model", "model": m} for m in action["combo"]["models"]]
        elif op == "delete_combo":
            live["combos"] = [c for c in live["combos"] if c["id"] != action["id"]]
        elif op == "delete_key":
            live["keys"] = [k for k in live["keys"] if k["id"] != action["id"]]
        elif op == "create_key":
            value = action["key"] or generated_key
            live["keys"].append({"id": new_id("key"), "name": action["name"], "key": value[:8] + "****" + value[-4:]})
            if not action["key"]:
                ledger = changes["ledger"]
                ledger["clientKeys"][action["name"]] = {
                    "keyHash": fingerprint(ledger["salt"], "client_key", action["name"], value)}
        elif op == "delete_node":
            live["nodes"] = [n for n in live["nodes"] if n["id"] != action["id"]]
            live["connections"] = [c for c in live["connections"] if c["provider"] != action["id"]]
        elif op == "delete_connection":
            live["connections"] = [c for c in live["connections"] if c["id"] != action["id"]]
        elif op == "patch_resilience":
            live["resilience"] = deep_merge(live["resilience"], action["body"])
        elif op == "patch_combo_defaults":
            live["combo_defaults"] = copy.deepcopy(action["body"])
    for conn in live["connections"]:
        conn.pop("apiKey", None)  # the server never lists provider keys
    live["ledger"] = json.loads(json.dumps(changes["ledger"]))
    return live


def test_create_on_an_empty_server_then_in_sync():
    desired = build_desired(params())
    changes = compute_changes(desired, empty_live())
    ops = [a["op"] for a in changes["actions"]]
    assert ops.count("create_node") == 2
    assert ops.count("create_combo") == 2
    assert "create_key" in ops and "patch_resilience" in ops and "patch_combo_defaults" in ops
    assert changes["ledger_pre"] is not None and not changes["errors"]
    live = simulate(empty_live(), changes)
    again = compute_changes(build_desired(params()), live)
    assert again["actions"] == [] and again["drift"] == [] and not again["ledger_changed"]
    assert again["ledger_pre"] is None


def test_combo_defaults_patch_keeps_the_other_defaults():
    changes = compute_changes(build_desired(params()), empty_live())
    body = next(a["body"] for a in changes["actions"] if a["op"] == "patch_combo_defaults")
    assert body["comboDefaults"] == {"strategy": "priority", "maxRetries": 0, "retryDelayMs": 2000}
    assert body["providerOverrides"] == {}


def test_secrets_never_in_diff_or_drift():
    desired = build_desired(params())
    first = compute_changes(desired, empty_live())
    live = simulate(empty_live(), first)
    rotated = params()
    rotated["providers"][0]["api_key"] = "upstream-secret-rotated-9999"
    rotated["client_keys"][0]["key"] = "client-secret-rotated-8888-abc"
    second = compute_changes(build_desired(rotated), live)
    text = json.dumps([first["before"], first["after"], first["drift"], second["before"], second["after"],
                       second["drift"]])
    for secret in SECRETS + ["upstream-secret-rotated-9999", "client-secret-rotated-8888-abc"]:
        assert secret not in text
    assert second["after"]["providers"]["bad"]["api_key"].startswith(MASK)
    assert {"entity": "provider", "name": "bad", "action": "update", "fields": ["api_key"]} in second["drift"]
    assert any(d["entity"] == "client_key" and d["fields"] == ["key"] for d in second["drift"])
    # ... nor in the ledger: only fingerprints
    assert not any(secret in json.dumps(second["ledger"]) for secret in SECRETS)


def test_priority_reorder_updates_combos_only():
    live = simulate(empty_live(), compute_changes(build_desired(params()), empty_live()))
    changes = compute_changes(build_desired(params(provider_priority=["good", "bad"])), live)
    assert {a["op"] for a in changes["actions"]} == {"update_combo"}
    update = next(a for a in changes["actions"] if a["name"] == "claude-sonnet-4-5")
    assert update["combo"]["models"] == ["good/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                                         "bad/claude-sonnet-4-5"]


def test_stale_managed_entries_are_removed_and_unmanaged_kept():
    live = simulate(empty_live(), compute_changes(build_desired(params()), empty_live()))
    live["combos"].append({"id": "hand-1", "name": "hand-made", "models": ["good/gpt-4o-mini"]})
    live["keys"].append({"id": "hand-key", "name": "someone", "key": "sk-abcdefg****zzzz"})
    smaller = params(combos=[], client_keys=[], provider_priority=["good"])
    smaller["providers"] = smaller["providers"][1:]  # drop provider "bad": its combos lose their second leg
    changes = compute_changes(build_desired(smaller), live)
    deleted = {(a["op"], a["name"]) for a in changes["actions"] if a["op"].startswith("delete")}
    assert deleted == {("delete_node", "bad"), ("delete_combo", "claude-sonnet-4-5"), ("delete_combo", "gpt-4o-mini"),
                       ("delete_key", "opencode")}
    after = simulate(live, changes)
    assert [c["name"] for c in after["combos"]] == ["hand-made"]
    assert [k["name"] for k in after["keys"]] == ["someone"]
    assert compute_changes(build_desired(smaller), after)["actions"] == []


def test_purge_false_keeps_stale_managed_entries():
    live = simulate(empty_live(), compute_changes(build_desired(params()), empty_live()))
    changes = compute_changes(build_desired(params(client_keys=[])), live, purge=False)
    assert changes["actions"] == [] and "opencode" in changes["ledger"]["clientKeys"]


def test_collisions_with_unmanaged_entries_are_errors_unless_adopt():
    live = empty_live()
    live["combos"] = [{"id": "c1", "name": "gpt-4o-mini", "models": ["x/y"]}]
    live["nodes"] = [{"id": "n1", "prefix": "good", "name": "good", "baseUrl": "http://127.0.0.1:10/v1"}]
    live["keys"] = [{"id": "k1", "name": "opencode", "key": "sk-zzzzzzz****zzzz"}]
    changes = compute_changes(build_desired(params()), live)
    text = " ".join(changes["errors"])
    assert "combo 'gpt-4o-mini'" in text and "provider 'good'" in text and "client key 'opencode'" in text
    assert "adopt=true" in text
    adopted = compute_changes(build_desired(params()), live, adopt=True)
    assert not adopted["errors"]
    assert {d["action"] for d in adopted["drift"] if d["name"] in ("gpt-4o-mini", "good")} == {"adopt"}
    assert any(a["op"] == "update_combo" and a["id"] == "c1" for a in adopted["actions"])


def test_duplicate_prefix_nodes_are_an_error():
    live = empty_live()
    live["ledger"] = dict(empty_ledger(), providers={"good": {"type": "openai-compatible", "prefix": "good"}})
    live["nodes"] = [{"id": "n1", "prefix": "good"}, {"id": "n2", "prefix": "good"}]
    errors = compute_changes(build_desired(params()), live)["errors"]
    assert any("2 OmniRoute provider nodes use prefix 'good'" in e for e in errors)


def test_hand_changed_combo_is_drift():
    live = simulate(empty_live(), compute_changes(build_desired(params()), empty_live()))
    combo = next(c for c in live["combos"] if c["name"] == "gpt-4o-mini")
    combo["models"] = list(reversed(combo["models"]))
    combo["config"] = {"maxRetries": 3}
    changes = compute_changes(build_desired(params()), live)
    assert changes["drift"] == [{"entity": "combo", "name": "gpt-4o-mini", "action": "update",
                                 "fields": ["models", "config"],
                                 "details": ["legs reordered", "config differs (maxRetries)"]}]


def test_hand_changed_node_and_resilience_are_drift():
    live = simulate(empty_live(), compute_changes(build_desired(params()), empty_live()))
    live["nodes"][0]["baseUrl"] = "http://elsewhere:1/v1"
    live["resilience"]["requestQueue"]["autoEnableApiKeyProviders"] = True
    drift = compute_changes(build_desired(params()), live)["drift"]
    assert {"entity": "provider", "name": "bad", "action": "update", "fields": ["base_url"]} in drift
    assert {"entity": "resilience", "name": "resilience", "action": "update",
            "fields": ["requestQueue.autoEnableApiKeyProviders"]} in drift


def test_generated_client_key_then_declared_same_value_is_no_change():
    p = params(client_keys=[{"name": "opencode", "key": None}])
    changes = compute_changes(build_desired(p), empty_live())
    live = simulate(empty_live(), changes, generated_key="gen-generated-value-0001")
    assert compute_changes(build_desired(p), live)["actions"] == []
    declared = params(client_keys=[{"name": "opencode", "key": "gen-generated-value-0001"}])
    assert compute_changes(build_desired(declared), live)["actions"] == []
    other = params(client_keys=[{"name": "opencode", "key": "sk-another-value-0002"}])
    ops = [a["op"] for a in compute_changes(build_desired(other), live)["actions"]]
    assert ops == ["delete_key", "create_key"]


def test_key_changed_by_hand_is_detected_by_its_masked_form():
    live = simulate(empty_live(), compute_changes(build_desired(params()), empty_live()))
    live["keys"][0]["key"] = "sk-other1****9999"
    drift = compute_changes(build_desired(params()), live)["drift"]
    assert drift == [{"entity": "client_key", "name": "opencode", "action": "update", "fields": ["key"]}]


def test_builtin_provider():
    p = params()
    p["providers"].append({"name": "oai", "type": "builtin", "provider_id": "openai", "api_key": "sk-builtin-0000",
                           "models": ["gpt-4o-mini"], "priority": 2})
    desired = build_desired(p)
    changes = compute_changes(desired, empty_live())
    create = next(a for a in changes["actions"] if a["op"] == "create_builtin")
    assert create["connection"]["provider"] == "openai"
    assert ordered_actions(changes["actions"])[0]["op"] == "create_builtin"  # server validates the id first
    assert desired["combos"]["gpt-4o-mini"]["models"][-1] == "openai/gpt-4o-mini"
    live = simulate(empty_live(), changes)
    assert compute_changes(desired, live)["actions"] == []


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"providers": [{"name": "a", "type": "openai-compatible", "api_key": "k", "models": []}]}, "base_url is required"),
        ({"providers": [{"name": "a", "type": "openai-compatible", "base_url": "ftp://x", "api_key": "k"}]}, "not an http(s) URL"),
        ({"providers": [{"name": "a", "type": "builtin", "api_key": "k"}]}, "provider_id"),
        ({"providers": [{"name": "a", "type": "openai-compatible", "base_url": "http://x/v1", "api_key": ""}]}, "api_key is required"),
        ({"combo_config": {"maxRetries": 11}}, "maxRetries must be an integer from 0 to 10"),
        ({"combo_config": {"maxRetries": "0"}}, "maxRetries must be an integer"),
        ({"client_keys": [{"name": "a"}, {"name": "a"}]}, "declared twice"),
        ({"client_keys": [{"name": "a", "key": "short"}]}, "at least 16 characters"),
        ({"provider_priority": ["nobody"]}, "not a declared provider"),
        ({"combos": [{"name": "bad name", "models": ["good/gpt-4o-mini"]}]}, "is invalid"),
        ({"combos": [{"name": "x", "models": ["good/unknown-model"]}]}, "does not serve model"),
        ({"combos": [{"name": "x", "models": ["ghost/gpt-4o-mini"]}]}, "not declared"),
    ],
)
def test_build_desired_errors(over, fragment):
    with pytest.raises(PlanError) as err:
        build_desired(params(**over))
    assert any(fragment in e for e in err.value.errors), err.value.errors


def test_helpers():
    assert deep_subset_diff({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}) == ["a.c"]
    assert deep_subset_diff({"a": None}, {}) == ["a"]
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}
    assert masked_key_matches("sk-abcde****wxyz", "sk-abcdefghijklmwxyz")
    assert not masked_key_matches("sk-abcde****wxyz", "sk-zzzzzfghijklmwxyz")
    assert masked_key_matches(None, "anything")
    assert fingerprint("s", "k", "n", "v") != fingerprint("t", "k", "n", "v")
    assert LEDGER_KEY == "omnirouteOpencodeManaged"


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("http://127.0.0.1:20128", "http://127.0.0.1:20128"),
        ("http://127.0.0.1:20128/", "http://127.0.0.1:20128"),
        ("http://127.0.0.1:20128/v1", "http://127.0.0.1:20128"),
        ("http://127.0.0.1:20128/v1/v1/", "http://127.0.0.1:20128"),
        ("https://proxy.example.com/omniroute/api", "https://proxy.example.com/omniroute"),
    ],
)
def test_management_root(url, root):
    assert management_root(url) == root


@pytest.mark.parametrize("url", ["", "127.0.0.1:20128", "ftp://x", None])
def test_management_root_rejects(url):
    with pytest.raises(ValueError):
        management_root(url)


def test_unreachable_server_error_says_what_to_do():
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OmniRouteClient(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(OmniRouteUnreachable) as err:
        client.wait_healthy(0.5, interval=0.1)
    assert "unreachable" in str(err.value) and "wait_timeout" in str(err.value)


def test_renamed_provider_with_its_prefix_kept_is_the_same_node():
    live = simulate(empty_live(), compute_changes(build_desired(params()), empty_live()))
    renamed = params(provider_priority=["bad", "fine"])
    renamed["providers"][1].update(name="fine", prefix="good")
    changes = compute_changes(build_desired(renamed), live)
    assert not changes["errors"]
    ops = {(a["op"], a["name"]) for a in changes["actions"]}
    assert ("update_connection", "fine") in ops
    assert not any(op.startswith("delete") or op.startswith("create") for op, _ in ops), ops
    after = simulate(live, changes)
    assert compute_changes(build_desired(renamed), after)["actions"] == []


def test_provider_type_change_removes_the_old_entry():
    live = simulate(empty_live(), compute_changes(build_desired(params()), empty_live()))
    changed = params()
    changed["providers"][0] = {"name": "bad", "type": "builtin", "provider_id": "openai", "api_key": "sk-builtin-0000",
                               "models": ["claude-sonnet-4-5", "gpt-4o-mini"], "priority": 1}
    changes = compute_changes(build_desired(changed), live)
    ops = {(a["op"], a["name"]) for a in changes["actions"]}
    assert ("create_builtin", "bad") in ops and ("delete_node", "bad") in ops
    after = simulate(live, changes)
    assert compute_changes(build_desired(changed), after)["actions"] == []


# ------------------------------------------------------------------------------ convergence (property)
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

MODEL_POOL = ["claude-sonnet-4-5", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "gpt-4o-mini", "openai/gpt-4o-mini",
              "gemini-2.5-pro"]


@st.composite
def declarations(draw):
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4))
    providers = []
    for name in names:
        builtin = draw(st.booleans())
        entry = {"name": name, "api_key": "sk-" + name + draw(st.sampled_from(["-one-1234", "-two-5678"])),
                 "models": draw(st.lists(st.sampled_from(MODEL_POOL), unique=True, max_size=3)), "priority": 1}
        if builtin:
            entry.update(type="builtin", provider_id="prov-" + name)
        else:
            entry.update(type="openai-compatible", base_url=draw(st.sampled_from(["http://h:1/v1", "http://h:2/v1"])),
                         api_type="chat")
        providers.append(entry)
    priority = draw(st.permutations(names))
    keys = draw(st.lists(st.sampled_from(["k1", "k2"]), unique=True, max_size=2))
    client_keys = [{"name": k, "key": draw(st.sampled_from([None, "sk-declared-value-000" + k]))} for k in keys]
    return params(providers=providers, provider_priority=list(priority), client_keys=client_keys,
                  failover_min_providers=draw(st.sampled_from([1, 2])),
                  combo_defaults=draw(st.sampled_from([{}, {"maxRetries": 0}])))


@settings(max_examples=150, deadline=None)
@given(declarations(), declarations())
def test_any_declaration_converges_in_one_run_from_any_previous_one(first, second):
    live = simulate(empty_live(), compute_changes(build_desired(first), empty_live()))
    assert compute_changes(build_desired(first), live)["actions"] == []
    changes = compute_changes(build_desired(second), live)
    assert not changes["errors"], changes["errors"]
    live = simulate(live, changes)
    again = compute_changes(build_desired(second), live)
    assert again["actions"] == [] and again["drift"] == [], again["drift"]
    # only what the module manages exists (nothing stale survives a purge)
    assert {c["name"] for c in live["combos"]} == set(build_desired(second)["combos"])
    assert {k["name"] for k in live["keys"]} == {k["name"] for k in second["client_keys"]}


@given(st.lists(st.sampled_from(["a/m", "b/m", "c/m", "d/m"]), unique=True, max_size=4),
       st.lists(st.sampled_from(["a/m", "b/m", "c/m", "d/m"]), unique=True, max_size=4))
def test_describe_legs_says_reordered_exactly_when_only_the_order_differs(live, declared):
    text = describe_legs(live, declared)
    assert (text == "legs reordered") == (sorted(live) == sorted(declared))
    if text != "legs reordered":
        for leg in set(declared) - set(live):
            assert leg in text.split("missing ", 1)[1].split(";")[0]
        for leg in set(live) - set(declared):
            assert leg in text.split("not declared ", 1)[1]
