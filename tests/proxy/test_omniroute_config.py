"""omniroute.opencode.omniroute_config against a real OmniRoute 3.7.9 in podman, through real ansible-playbook runs.

Upstream AI providers are the local stand-ins of tests/support/upstreams.py (one answering 500, one 429, one
healthy), each demanding its own key so the tests prove OmniRoute forwards the key the module set.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support import omniroute as omr
from tests.support import upstreams as ups
from tests.support.secrets import find_leaks

pytestmark = pytest.mark.slow

PLAY = """\
- name: omniroute_config under test
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Bring OmniRoute to the declared state
      omniroute.opencode.omniroute_config: "{{ module_args }}"
      register: result
      no_log: "{{ hide_result | default(false) }}"
      ignore_errors: "{{ expect_failure | default(false) }}"

    - name: Keep the result for the test
      ansible.builtin.copy:
        content: "{{ result | to_nice_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
      diff: false
      check_mode: false
      changed_when: false
      no_log: true
"""

MODELS_SONNET = {
    "bad500": "claude-sonnet-4-5",
    "bad429": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "good": "anthropic/claude-sonnet-4-5",
}


class Env:
    """One OmniRoute container plus three stand-in upstreams, and helpers to run the module against them."""

    def __init__(self, tmp: Path, server: omr.OmniRouteHandle, upstreams: dict[str, ups.Upstream], up_keys: dict):
        self.tmp = tmp
        self.server = server
        self.ups = upstreams
        self.up_keys = dict(up_keys)  # a test may rotate its copy; the stand-ins keep demanding the originals
        self.client_key = "sk-client-" + secrets.token_hex(16)
        self.runs = 0

    @property
    def password(self) -> str:
        return self.server.admin_password

    def secrets(self) -> list[str]:
        return [self.password, self.client_key, *self.up_keys.values()]

    def providers(self, order=("bad500", "bad429", "good")) -> list[dict]:
        return [
            {
                "name": name,
                "base_url": self.ups[name].url,
                "api_key": self.up_keys[name],
                "models": [MODELS_SONNET[name], "gpt-4o-mini"],
            }
            for name in order
        ]

    def args(self, **over) -> dict:
        args = {
            "api_url": self.server.base_url,
            "admin_password": self.password,
            "providers": self.providers(),
            "provider_priority": ["bad500", "bad429", "good"],
            "client_keys": [{"name": "opencode", "key": self.client_key}],
            "wait_timeout": 30,
        }
        args.update(over)
        return args

    def run(self, args: dict, *flags: str, check=False, diff=False, expect_failure=False, hide_result=False):
        self.runs += 1
        result_file = self.tmp / f"result-{self.runs}.json"
        proc = omr.ansible_playbook(
            PLAY,
            *flags,
            extra_vars={
                "module_args": args,
                "result_file": str(result_file),
                "expect_failure": expect_failure,
                "hide_result": hide_result,
            },
            check=check,
            diff=diff,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = json.loads(result_file.read_text()) if result_file.exists() else {}
        return proc, result

    # ------------------------------------------------------------------------------ server-side views
    def admin(self) -> requests.Session:
        return self.server.session()

    def snapshot(self) -> dict:
        """Everything the module may touch, as the management API shows it."""
        s = self.admin()
        base = self.server.base_url
        settings = s.get(f"{base}/api/settings", timeout=10).json()
        return {
            "nodes": s.get(f"{base}/api/provider-nodes", timeout=10).json()["nodes"],
            "connections": s.get(f"{base}/api/providers", timeout=10).json()["connections"],
            "combos": s.get(f"{base}/api/combos", timeout=10).json()["combos"],
            "keys": s.get(f"{base}/api/keys", timeout=10).json()["keys"],
            "resilience": s.get(f"{base}/api/resilience", timeout=10).json(),
            "combo_defaults": s.get(f"{base}/api/settings/combo-defaults", timeout=10).json(),
            "ledger": settings.get("omnirouteOpencodeManaged"),
        }

    def combos(self) -> dict[str, list[str]]:
        return {c["name"]: [m["model"] if isinstance(m, dict) else m for m in c["models"]] for c in self.snapshot()["combos"]}

    def chat(self, model: str, stream: bool, key: str | None = None) -> requests.Response:
        return requests.post(
            f"{self.server.base_url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key or self.client_key}"},
            json={"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream},
            timeout=60,
            stream=stream,
        )


@pytest.fixture(scope="module")
def upstreams():
    keys = {name: f"sk-up-{name}-{secrets.token_hex(8)}" for name in ("bad500", "bad429", "good")}
    kinds = {"bad500": "error500", "bad429": "ratelimit429", "good": "healthy"}
    started = {
        name: ups.start_upstream(kinds[name], name=name, api_key=keys[name],
                                 models=[MODELS_SONNET[name], "gpt-4o-mini"])
        for name in kinds
    }  # fmt: skip
    yield started, keys
    for up in started.values():
        up.stop()


@pytest.fixture
def env(tmp_path, upstreams):
    """A fresh OmniRoute (client keys required) for every test: tests stay independent."""
    started, keys = upstreams
    for up in started.values():
        up.reset()
    server = omr.start_omniroute(tmp_path, omr.free_port(), "adm-" + secrets.token_hex(8), REQUIRE_API_KEY="true")
    try:
        yield Env(tmp_path, server, started, keys)
    finally:
        server.stop()


def assert_no_secret(env: Env, text: str, *extra: str) -> None:
    """No secret in ``text``: full value, 12-character piece or base64 (tests/support/secrets.py)."""
    assert find_leaks(text, [*env.secrets(), *extra]) == [], "a secret appeared in the output"


# ------------------------------------------------------------------------------------------------ tests
def test_create_idempotence_and_check_mode(env):
    empty = env.snapshot()
    # plus one of OmniRoute's built-in providers (never called here: it is the last leg)
    builtin_key = "sk-builtin-" + secrets.token_hex(8)
    env.up_keys["openai-builtin"] = builtin_key
    args = env.args(providers=env.providers() + [{"name": "oai", "type": "builtin", "provider_id": "openai",
                                                   "api_key": builtin_key, "models": ["gpt-4o-mini"]}])
    env.args = lambda **over: dict(args, **over)
    _, planned = env.run(env.args(), check=True)
    assert planned["changed"] is True
    assert set(planned["combos"]) == {"claude-sonnet-4-5", "gpt-4o-mini"}
    assert {(d["entity"], d["action"]) for d in planned["drift"]} >= {("provider", "create"), ("combo", "create")}
    assert env.snapshot() == empty, "check mode changed the server"

    _, created = env.run(env.args())
    assert created["changed"] is True
    assert created["combos"] == {
        "claude-sonnet-4-5": [
            "bad500/claude-sonnet-4-5",
            "bad429/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "good/anthropic/claude-sonnet-4-5",
        ],
        "gpt-4o-mini": ["bad500/gpt-4o-mini", "bad429/gpt-4o-mini", "good/gpt-4o-mini", "openai/gpt-4o-mini"],
    }
    assert created["combo_names"] == ["claude-sonnet-4-5", "gpt-4o-mini"]
    assert "client_key" not in created  # declared, not generated
    state = env.snapshot()
    assert env.combos() == created["combos"]
    assert all(c["strategy"] == "priority" for c in state["combos"])
    assert sorted(n["prefix"] for n in state["nodes"]) == ["bad429", "bad500", "good"]
    assert [c["name"] for c in state["connections"] if c["provider"] == "openai"] == ["oai"]
    assert state["resilience"]["requestQueue"]["autoEnableApiKeyProviders"] is False
    assert state["combo_defaults"]["comboDefaults"]["maxRetries"] == 0
    # the other combo defaults survive the PATCH (OmniRoute replaces comboDefaults whole)
    assert state["combo_defaults"]["comboDefaults"]["retryDelayMs"] == 2000
    assert [k["name"] for k in state["keys"]] == ["opencode"]
    assert state["ledger"]["combos"] == ["claude-sonnet-4-5", "gpt-4o-mini"]
    assert_no_secret(env, json.dumps(state["ledger"]))

    proc, again = env.run(env.args())
    assert again["changed"] is False and again["drift"] == [] and again["actions"] == 0
    assert "changed=0" in proc.stdout
    _, checked = env.run(env.args(), check=True)
    assert checked["changed"] is False and checked["drift"] == []
    assert env.snapshot()["combos"] == state["combos"]


def test_failover_through_the_combos(env):
    env.run(env.args())
    for up in env.ups.values():
        up.reset()
    resp = env.chat("claude-sonnet-4-5", stream=False)
    assert resp.status_code == 200, resp.text
    assert resp.json()["choices"][0]["message"]["content"] == "hello from good"
    # bad500 was tried first, then the chain reached the healthy leg with the key the module set
    assert env.ups["bad500"].chat_count >= 1
    good_requests = env.ups["good"].chat_requests()
    assert good_requests and good_requests[-1].authorization == f"Bearer {env.up_keys['good']}"
    assert good_requests[-1].model == "anthropic/claude-sonnet-4-5"

    resp = env.chat("gpt-4o-mini", stream=True)
    assert resp.status_code == 200
    body = resp.text
    assert "hello" in body and "good" in body and "[DONE]" in body

    # client keys are required on this server: the declared key works, another one does not
    assert env.chat("gpt-4o-mini", stream=False, key="sk-not-a-key-" + secrets.token_hex(8)).status_code == 401
    models = requests.get(f"{env.server.base_url}/v1/models", headers={"Authorization": f"Bearer {env.client_key}"},
                          timeout=10).json()  # fmt: skip
    assert {"claude-sonnet-4-5", "gpt-4o-mini"} <= {m["id"] for m in models["data"]}


def test_diff_masks_every_secret_even_at_vvv(env):
    proc, created = env.run(env.args(), "-vvv", diff=True)
    assert created["changed"] is True
    assert "claude-sonnet-4-5" in proc.stdout and "********" in proc.stdout  # the diff is really shown
    assert_no_secret(env, proc.stdout + proc.stderr)

    # rotate every secret: the diff says "changed" without showing old or new values
    rotated = env.args()
    old_secrets = env.secrets()
    for provider in rotated["providers"]:
        provider["api_key"] = provider["api_key"] + "-rotated"
        env.up_keys[provider["name"]] = provider["api_key"]
    env.client_key = env.client_key + "-rotated"
    rotated["client_keys"] = [{"name": "opencode", "key": env.client_key}]
    proc, result = env.run(rotated, "-vvv", diff=True)
    assert result["changed"] is True
    assert "******** (changed)" in proc.stdout
    text = proc.stdout + proc.stderr
    assert_no_secret(env, text)
    for secret in old_secrets:
        assert secret not in text
    drift = {(d["entity"], d["name"]): d["fields"] for d in result["drift"]}
    assert drift[("provider", "good")] == ["api_key"] and drift[("client_key", "opencode")] == ["key"]


def test_generated_client_key_is_returned_once_and_hidden_with_no_log(env):
    args = env.args(client_keys=[{"name": "generated"}])
    proc, first = env.run(args, "-vvv", hide_result=True)
    key = first["client_key"]
    assert key.startswith("sk-") and first["generated_client_keys"] == {"generated": key}
    assert key not in proc.stdout + proc.stderr
    resp = env.chat("gpt-4o-mini", stream=False, key=key)
    assert resp.status_code == 200, (resp.text, env.snapshot()["keys"], env.server.logs(40))
    _, second = env.run(args)
    assert second["changed"] is False and "client_key" not in second
    # declaring the generated value afterwards (what the proxy role does) is no change either
    _, third = env.run(env.args(client_keys=[{"name": "generated", "key": key}]))
    assert third["changed"] is False, third["drift"]


def test_priority_reorder_reorders_the_legs(env):
    env.run(env.args())
    _, result = env.run(env.args(provider_priority=["good", "bad429", "bad500"]))
    assert result["changed"] is True
    assert {(d["entity"], d["action"]) for d in result["drift"]} == {("combo", "update")}
    assert env.combos()["claude-sonnet-4-5"] == [
        "good/anthropic/claude-sonnet-4-5",
        "bad429/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "bad500/claude-sonnet-4-5",
    ]
    for up in env.ups.values():
        up.reset()
    assert env.chat("gpt-4o-mini", stream=False).status_code == 200
    assert env.ups["bad500"].chat_count == 0  # the healthy leg is first now


def test_stale_managed_entries_go_hand_made_ones_stay(env):
    s = env.admin()
    base = env.server.base_url
    env.run(env.args(combos=[{"name": "team/fast", "models": ["good/gpt-4o-mini", "bad500/gpt-4o-mini"]}]))
    hand_combo = s.post(f"{base}/api/combos", json={"name": "hand-made", "models": ["good/gpt-4o-mini"]},
                        timeout=10).json()  # fmt: skip
    hand_key = s.post(f"{base}/api/keys", json={"name": "hand-key"}, timeout=10).json()
    hand_node = s.post(f"{base}/api/provider-nodes", json={"type": "openai-compatible", "name": "hand", "prefix": "hand",
                                                           "apiType": "chat", "baseUrl": env.ups["good"].url},
                       timeout=10).json()["node"]  # fmt: skip
    before = env.snapshot()

    # drop provider bad500, the explicit combo and the client key
    args = env.args(providers=env.providers(("bad429", "good")), provider_priority=["bad429", "good"], client_keys=[])
    _, result = env.run(args)
    deleted = {(d["entity"], d["name"]) for d in result["drift"] if d["action"] == "delete"}
    assert deleted == {("provider", "bad500"), ("combo", "team/fast"), ("client_key", "opencode")}
    after = env.snapshot()
    assert sorted(n["prefix"] for n in after["nodes"]) == ["bad429", "good", "hand"]
    assert set(env.combos()) == {"claude-sonnet-4-5", "gpt-4o-mini", "hand-made"}
    assert env.combos()["gpt-4o-mini"] == ["bad429/gpt-4o-mini", "good/gpt-4o-mini"]
    untouched = lambda state, kind, ident: [e for e in state[kind] if e["id"] == ident]  # noqa: E731
    assert untouched(after, "combos", hand_combo["id"]) == untouched(before, "combos", hand_combo["id"])
    assert untouched(after, "nodes", hand_node["id"]) == untouched(before, "nodes", hand_node["id"])
    assert [k["name"] for k in after["keys"]] == ["hand-key"] and after["keys"][0]["id"] == hand_key["id"]
    _, again = env.run(args)
    assert again["changed"] is False


def test_drift_after_a_combo_is_changed_by_hand_and_repair(env):
    env.run(env.args())
    s = env.admin()
    base = env.server.base_url
    combo = next(c for c in env.snapshot()["combos"] if c["name"] == "gpt-4o-mini")
    s.put(f"{base}/api/combos/{combo['id']}", json={"name": "gpt-4o-mini", "models": ["good/gpt-4o-mini"],
                                                     "strategy": "round-robin"}, timeout=10)  # fmt: skip
    s.delete(f"{base}/api/combos/{next(c['id'] for c in env.snapshot()['combos'] if c['name'] == 'claude-sonnet-4-5')}",
             timeout=10)  # fmt: skip
    _, report = env.run(env.args(), check=True)
    drift = {(d["entity"], d["name"], d["action"]): d["fields"] for d in report["drift"]}
    assert drift == {("combo", "gpt-4o-mini", "update"): ["models", "strategy"],
                     ("combo", "claude-sonnet-4-5", "create"): []}  # fmt: skip
    _, repaired = env.run(env.args())
    assert repaired["changed"] is True
    assert env.combos()["gpt-4o-mini"] == ["bad500/gpt-4o-mini", "bad429/gpt-4o-mini", "good/gpt-4o-mini"]
    assert env.run(env.args())[1]["changed"] is False


def test_interrupted_run_is_completed_by_the_next(env):
    # A run that dies after creating entries but before its final ownership record leaves the record written
    # first (names, no fingerprints). Reproduce that state and check a rerun completes it without conflicts.
    _, result = env.run(env.args())
    ledger = env.snapshot()["ledger"]
    for record in ledger["providers"].values():
        record["keyHash"] = None
    ledger["clientKeys"] = {"opencode": {"keyHash": None}}
    env.admin().post(f"{env.server.base_url}/api/settings/import-json",
                     json={"settings": {"omnirouteOpencodeManaged": ledger}}, timeout=10).raise_for_status()  # fmt: skip
    _, rerun = env.run(env.args())
    assert rerun["changed"] is True
    assert {d["fields"][0] for d in rerun["drift"]} == {"api_key", "key"}
    assert env.run(env.args())[1]["changed"] is False
    assert env.chat("gpt-4o-mini", stream=False).status_code == 200


def test_waits_for_a_server_that_is_still_starting(tmp_path, upstreams):
    started, keys = upstreams
    port = omr.free_port()
    password = "adm-" + secrets.token_hex(8)
    args = {
        "api_url": f"http://127.0.0.1:{port}",
        "admin_password": password,
        "providers": [{"name": "good", "base_url": started["good"].url, "api_key": keys["good"], "models": ["m"]}],
        "wait_timeout": 90,
    }
    result_file = tmp_path / "result.json"
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"module_args": args, "result_file": str(result_file)}))
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(omr.LOCAL_INVENTORY)
    exe = Path(sys.executable).parent / "ansible-playbook"
    proc = subprocess.Popen([str(exe), "-i", str(inventory), str(play), "-e", f"@{vars_file}"], env=omr.ansible_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)  # fmt: skip
    server = None
    try:
        time.sleep(4)  # the module is polling /api/monitoring/health by now
        assert proc.poll() is None, proc.stdout.read()
        server = omr.start_omniroute(tmp_path, port, password)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
        assert json.loads(result_file.read_text())["changed"] is True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if server is not None:
            server.stop()


# --------------------------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def shared(tmp_path_factory, upstreams):
    """One server for the bad-input cases (none of them may change it)."""
    started, keys = upstreams
    tmp = tmp_path_factory.mktemp("omniroute-config-bad")
    server = omr.start_omniroute(tmp, omr.free_port(), "adm-" + secrets.token_hex(8))
    e = Env(tmp, server, started, keys)
    e.run(e.args())
    # an operator's combo, to collide with
    e.admin().post(f"{server.base_url}/api/combos", json={"name": "operator-combo", "models": ["good/gpt-4o-mini"]},
                   timeout=10).raise_for_status()  # fmt: skip
    try:
        yield e
    finally:
        server.stop()


def _bad(env: Env, case: str) -> dict:
    args = env.args()
    if case == "wrong password":
        args["admin_password"] = "not-the-password-" + secrets.token_hex(4)
    elif case == "unreachable":
        args["api_url"] = f"http://127.0.0.1:{omr.free_port()}"
        args["wait_timeout"] = 2
    elif case == "invalid combo name":
        args["combos"] = [{"name": "team fast!", "models": ["good/gpt-4o-mini"]}]
    elif case == "unknown provider in combo":
        args["combos"] = [{"name": "fast", "models": ["nobody/gpt-4o-mini"]}]
    elif case == "unknown model in combo":
        args["combos"] = [{"name": "fast", "models": ["good/gpt-5-ultra"]}]
    elif case == "duplicate provider":
        args["providers"] = env.providers() + env.providers(("good",))
    elif case == "duplicate combo":
        args["combos"] = [{"name": "fast", "models": ["good/gpt-4o-mini"]}] * 2
    elif case == "unknown priority":
        args["provider_priority"] = ["good", "bedrock"]
    elif case == "collides with hand-made":
        args["combos"] = [{"name": "operator-combo", "models": ["good/gpt-4o-mini"]}]
    elif case == "maxRetries out of range":
        args["combo_config"] = {"maxRetries": 99}
    elif case == "unknown builtin provider":
        args["providers"] = env.providers() + [{"name": "typo", "type": "builtin", "provider_id": "opnai",
                                                "api_key": "sk-" + secrets.token_hex(8), "models": ["gpt-4o-mini"]}]
    return args


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong password", "rejected the admin password"),
        ("unreachable", "is unreachable"),
        ("invalid combo name", "combo name 'team fast!' is invalid"),
        ("unknown provider in combo", "names provider 'nobody', which is not declared"),
        ("unknown model in combo", "provider 'good' does not serve model 'gpt-5-ultra'"),
        ("duplicate provider", "duplicate provider name"),
        ("duplicate combo", "declared twice"),
        ("unknown priority", "provider_priority names 'bedrock', which is not a declared provider"),
        ("collides with hand-made", "set adopt=true to take it over"),
        ("maxRetries out of range", "maxRetries must be an integer from 0 to 10"),
        ("unknown builtin provider", "Invalid provider"),
    ],
)
def test_bad_input_fails_clearly_and_changes_nothing(shared, case, message):
    before = shared.snapshot()
    args = _bad(shared, case)
    proc, result = shared.run(args, "-vvv", diff=True, expect_failure=True)
    assert result.get("failed") is True, proc.stdout
    assert message in result["msg"], result["msg"]
    assert_no_secret(shared, proc.stdout + proc.stderr, args["admin_password"],
                     *[p["api_key"] for p in args["providers"]])
    after = shared.snapshot()
    if case == "unknown builtin provider":
        # the server alone knows its provider ids: the builtin connection is created first, so the only
        # thing written before the refusal is the ownership record naming the declared entries
        after["ledger"] = before["ledger"]
    assert after == before, f"{case}: the server changed"
    if case == "unknown builtin provider":
        # the next good run drops the never-created name from the record (a write, honestly reported) ...
        rerun = shared.run(shared.args())[1]
        assert rerun["drift"] == [] and rerun["actions"] == 0
        # ... and then all is in sync
        assert shared.run(shared.args())[1]["changed"] is False
