"""End to end: the proxy role deploys a real OmniRoute in real podman, applies a failover priority, and the real
OpenCode binary gets the healthy upstream's answer through it.

One module-scoped deployment (a few minutes warm): the image is built from npm or restored from the cache by the
role's own build code; three stand-in upstreams run on 127.0.0.1 (one answering 500, one 429, one healthy); the
priority puts the failing ones first. The tests run in file order and build on each other's state.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support import omniroute as omr
from tests.support import upstreams as ups

pytestmark = pytest.mark.slow

MODELS = ["gpt-4o-mini", "claude-sonnet-4-5"]
# What the role must make of them: one combo per model offered by several providers (normalized names).
EXPECTED_COMBOS = sorted(MODELS)

ROLE_PLAY = """\
- name: Deploy and configure OmniRoute with the proxy role
  hosts: localhost
  gather_facts: false
  roles:
    - role: omniroute.opencode.proxy
  post_tasks:
    - name: Hand the role's facts to the test (0600; holds the client key)
      ansible.builtin.copy:
        content: "{{ {'base_url': omniroute_proxy_base_url | default(None),
                      'client_key': omniroute_proxy_client_key | default(None),
                      'combos': omniroute_proxy_combos | default(None)} | to_json }}"
        dest: "{{ e2e_facts_file }}"
        mode: "0600"
      no_log: true
      when: not ansible_check_mode
"""

OPENCODE_PLAY = """\
- name: Point OpenCode at the proxy from the role's facts
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Merge the omniroute provider
      omniroute.opencode.opencode_provider:
        path: "{{ e2e_opencode_config }}"
        base_url: "{{ e2e_facts.base_url }}"
        api_key: "{{ e2e_facts.client_key }}"
        models: "{{ e2e_facts.combos }}"
        mode: "0600"
"""


def recap(stdout: str) -> dict[str, int]:
    """The localhost line of PLAY RECAP as a dict (ok, changed, failed, ...)."""
    match = re.search(r"^localhost\s*:\s*(.*)$", stdout, re.M)
    assert match, f"no PLAY RECAP line in:\n{stdout[-3000:]}"
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def changed_tasks(stdout: str) -> list[str]:
    """Names of the tasks reported changed (needs the default callback's output)."""
    names, current = [], None
    for line in stdout.splitlines():
        if line.startswith("TASK ["):
            current = line[line.index("[") + 1 : line.rindex("]")].split(" : ", 1)[-1]
        elif line.startswith("changed:") and current:
            names.append(current)
    return names


class Deployment:
    """State shared by the tests of this module."""

    def __init__(self, tmp: Path, upstreams: dict[str, ups.Upstream]):
        self.tmp = tmp
        self.up = upstreams
        tag = secrets.token_hex(3)
        self.container = f"{omr.CONTAINER_PREFIX}e2e-{tag}"
        self.volume = f"{self.container}-data"
        self.port = omr.free_port()
        self.config_dir = tmp / "etc-omniroute"
        self.facts_file = tmp / "facts.json"
        self.secrets = {
            "omniroute_proxy_admin_password": "adm-" + secrets.token_hex(8),
            "omniroute_proxy_jwt_secret": secrets.token_hex(32),
            "omniroute_proxy_api_key_secret": secrets.token_hex(32),
            "omniroute_proxy_storage_encryption_key": secrets.token_hex(32),
            "omniroute_proxy_client_key": "sk-e2e-" + secrets.token_hex(16),
        }
        self.priority = ["bad500", "bad429", "good"]
        self.facts: dict = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def all_secrets(self) -> list[str]:
        return list(self.secrets.values()) + [u.api_key for u in self.up.values()]

    def role_vars(self, **overrides) -> dict:
        role_vars = omr.image_build_vars()
        role_vars.update(self.secrets)
        role_vars.update(
            {
                "omniroute_proxy_container_name": self.container,
                "omniroute_proxy_volume": self.volume,
                "omniroute_proxy_config_dir": str(self.config_dir),
                # host networking: the container reaches the stand-ins on the host's 127.0.0.1
                "omniroute_proxy_network_mode": "host",
                # the container alone; the TLS front is tested in test_proxy_tls.py and the fleet test
                "omniroute_proxy_tls_enabled": False,
                "omniroute_proxy_bind_address": "127.0.0.1",
                "omniroute_proxy_port": self.port,
                "omniroute_proxy_allow_private_provider_urls": True,
                "omniroute_proxy_providers": [
                    {"name": name, "base_url": up.url, "api_key": up.api_key, "models": MODELS}
                    for name, up in self.up.items()
                ],
                "omniroute_proxy_provider_priority": self.priority,
                "e2e_facts_file": str(self.facts_file),
            }
        )
        role_vars.update(overrides)
        return role_vars

    def run_role(self, *, check=False, diff=False, **overrides) -> subprocess.CompletedProcess:
        result = omr.ansible_playbook(ROLE_PLAY, extra_vars=self.role_vars(**overrides), check=check, diff=diff)
        assert result.returncode == 0, f"role run failed (rc {result.returncode}):\n{result.stdout[-8000:]}\n{result.stderr[-3000:]}"
        self.assert_no_secret(result.stdout + result.stderr)
        if not check:
            self.facts = json.loads(self.facts_file.read_text())
        return result

    def assert_no_secret(self, text: str) -> None:
        leaked = [s[:6] + "..." for s in self.all_secrets() if s and s in text]
        assert not leaked, f"secrets printed by ansible-playbook: {leaked}"

    def admin(self) -> requests.Session:
        return omr.admin_session(self.base, self.secrets["omniroute_proxy_admin_password"])

    def combos(self) -> dict[str, dict]:
        body = self.admin().get(f"{self.base}/api/combos", timeout=10).json()
        return {c["name"]: c for c in body.get("combos", body if isinstance(body, list) else [])}

    def chat(self, model: str, stream: bool, key: str | None = "default") -> requests.Response:
        headers = {}
        if key == "default":
            key = self.facts["client_key"]
        if key:
            headers["Authorization"] = f"Bearer {key}"
        body = {"model": model, "messages": [{"role": "user", "content": "say hi"}], "stream": stream}
        return requests.post(f"{self.base}/v1/chat/completions", json=body, headers=headers, timeout=60, stream=stream)


def leg_providers(combo: dict) -> list[str]:
    """Provider prefixes of a combo's legs, in order ("good/gpt-4o-mini" -> "good")."""
    legs = []
    for leg in combo["models"]:
        model = leg if isinstance(leg, str) else leg.get("model", "")
        legs.append(model.split("/", 1)[0])
    return legs


def sse_text(resp: requests.Response) -> str:
    text = []
    for line in resp.iter_lines(decode_unicode=True):
        if not line or not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        for choice in chunk.get("choices", []):
            text.append((choice.get("delta") or {}).get("content") or "")
    return "".join(text)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("proxy-e2e")
    upstreams = {
        "bad500": ups.start_upstream("error500", name="bad500", models=MODELS, api_key="k500-" + secrets.token_hex(8)),
        "bad429": ups.start_upstream("ratelimit429", name="bad429", models=MODELS, api_key="k429-" + secrets.token_hex(8)),
        "good": ups.start_upstream("healthy", name="good", models=MODELS, api_key="kgood-" + secrets.token_hex(8)),
    }
    dep = Deployment(tmp, upstreams)
    try:
        omr.ensure_image()
        yield dep
    finally:
        omr.podman("rm", "--force", "--time", "10", dep.container, check=False)
        omr.podman("volume", "rm", "--force", dep.volume, check=False)
        shutil.rmtree(dep.config_dir, ignore_errors=True)
        for up in upstreams.values():
            up.stop()


def test_check_mode_on_a_host_with_nothing_deployed(deployment):
    result = deployment.run_role(check=True, diff=True)
    assert "does not exist yet" in result.stdout
    assert "Run the container with podman" in changed_tasks(result.stdout)
    assert omr.podman("container", "exists", deployment.container, check=False).returncode == 1, "check mode created it"
    assert not deployment.config_dir.exists(), "check mode wrote the config directory"


def test_deploy_sets_facts_and_applies_the_priority(deployment):
    result = deployment.run_role()
    assert recap(result.stdout)["changed"] > 0
    facts = deployment.facts
    assert facts["base_url"] == f"{deployment.base}/v1"
    assert facts["client_key"] == deployment.secrets["omniroute_proxy_client_key"]
    assert sorted(facts["combos"]) == EXPECTED_COMBOS
    combos = deployment.combos()
    for name in EXPECTED_COMBOS:
        assert leg_providers(combos[name]) == ["bad500", "bad429", "good"], combos[name]
        assert combos[name].get("strategy", "priority") == "priority"
    # secrets file: root-only
    env_file = deployment.config_dir / f"{deployment.container}.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert deployment.config_dir.stat().st_mode & 0o777 == 0o700


def test_bound_to_loopback_and_keys_required(deployment):
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    local_addrs = [line.split()[3] for line in listening.splitlines() if line.split()[3].endswith(f":{deployment.port}")]
    assert local_addrs == [f"127.0.0.1:{deployment.port}"], local_addrs
    assert deployment.chat(EXPECTED_COMBOS[0], stream=False, key=None).status_code == 401
    assert deployment.chat(EXPECTED_COMBOS[0], stream=False, key="sk-wrong").status_code == 401
    models = requests.get(f"{deployment.base}/v1/models", headers={"Authorization": f"Bearer {deployment.facts['client_key']}"}, timeout=10)
    assert models.status_code == 200
    assert set(EXPECTED_COMBOS) <= {m["id"] for m in models.json()["data"]}


def test_opencode_gets_the_healthy_answer_through_failover(deployment, tmp_path):
    from tests.support import opencode as oc

    for up in deployment.up.values():
        up.reset()
    home = tmp_path / "home"
    config = home / ".config" / "opencode" / "opencode.json"
    result = omr.ansible_playbook(
        OPENCODE_PLAY, extra_vars={"e2e_opencode_config": str(config), "e2e_facts": deployment.facts}
    )
    assert result.returncode == 0, result.stdout[-4000:]
    deployment.assert_no_secret(result.stdout)
    combo = "gpt-4o-mini"
    run = subprocess.run(
        ["timeout", "60", str(oc.opencode_binary()), "run", "--pure", "--title", "t", "-m", f"omniroute/{combo}",
         "--format", "json", "say hi"],
        env=oc.isolated_env(home), cwd=str(home), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert run.returncode == 0, f"opencode run failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    events = [json.loads(line) for line in run.stdout.splitlines() if line.strip().startswith("{")]
    texts = "".join(json.dumps(e) for e in events if e.get("type") == "text")
    assert "hello from good" in texts, run.stdout[-3000:]
    assert any(e.get("type") == "step_finish" for e in events), run.stdout[-3000:]
    # the failing legs were tried first, the healthy one answered, with the provider keys the role declared
    assert deployment.up["bad500"].chat_count >= 1
    assert deployment.up["good"].chat_count >= 1
    assert {r.authorization for r in deployment.up["good"].chat_requests()} == {f"Bearer {deployment.up['good'].api_key}"}
    assert {r.model for r in deployment.up["good"].chat_requests()} == {combo}


@pytest.mark.parametrize("stream", [True, False], ids=["streaming", "non-streaming"])
def test_direct_chat_completions_fail_over(deployment, stream):
    for up in deployment.up.values():
        up.reset()
    resp = deployment.chat("claude-sonnet-4-5", stream=stream)
    assert resp.status_code == 200, resp.text[:500]
    text = sse_text(resp) if stream else resp.json()["choices"][0]["message"]["content"]
    assert text == "hello from good"
    assert deployment.up["good"].chat_count == 1
    assert [r.stream for r in deployment.up["good"].chat_requests()] == [stream]


def test_second_run_changes_nothing(deployment):
    result = deployment.run_role()
    assert recap(result.stdout)["changed"] == 0, changed_tasks(result.stdout)


def test_check_mode_reports_no_drift_when_deployed(deployment):
    result = deployment.run_role(check=True, diff=True)
    assert recap(result.stdout)["changed"] == 0, changed_tasks(result.stdout)
    assert "- in sync" in result.stdout, result.stdout[-3000:]


def test_check_mode_reports_a_combo_changed_by_hand(deployment):
    session = deployment.admin()
    combo = deployment.combos()["gpt-4o-mini"]
    tampered = {key: combo[key] for key in ("name", "strategy", "config") if key in combo}
    tampered["models"] = list(reversed(combo["models"]))
    resp = session.put(f"{deployment.base}/api/combos/{combo['id']}", json=tampered, timeout=10)
    assert resp.status_code in (200, 201), resp.text[:500]
    assert leg_providers(deployment.combos()["gpt-4o-mini"]) == ["good", "bad429", "bad500"]

    check = deployment.run_role(check=True, diff=True)
    assert recap(check.stdout)["changed"] >= 1
    assert "Bring OmniRoute to the declared state (providers, priority combos, client key, tuning)" in changed_tasks(
        check.stdout
    )
    assert "drift: combo gpt-4o-mini update" in check.stdout, check.stdout[-3000:]
    assert leg_providers(deployment.combos()["gpt-4o-mini"]) == ["good", "bad429", "bad500"], "check mode wrote"


def test_changing_the_priority_reorders_the_legs(deployment):
    # Also repairs the combo tampered with above: one run brings every managed combo to the new order.
    deployment.priority = ["good", "bad500", "bad429"]
    result = deployment.run_role()
    assert recap(result.stdout)["changed"] >= 1
    for name in EXPECTED_COMBOS:
        assert leg_providers(deployment.combos()[name]) == ["good", "bad500", "bad429"]
    for up in deployment.up.values():
        up.reset()
    resp = deployment.chat("gpt-4o-mini", stream=False)
    assert resp.json()["choices"][0]["message"]["content"] == "hello from good"
    assert deployment.up["bad500"].chat_count == 0 and deployment.up["bad429"].chat_count == 0


def test_restart_keeps_the_state(deployment):
    before = {name: leg_providers(c) for name, c in deployment.combos().items()}
    omr.podman("restart", "--time", "10", deployment.container, timeout=120)
    omr.wait_healthy(deployment.base, 90)
    assert {name: leg_providers(c) for name, c in deployment.combos().items()} == before
    resp = deployment.chat("gpt-4o-mini", stream=False)
    assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"] == "hello from good"
    # and the declared state (the new priority) is still exactly what runs: check mode finds no drift
    result = deployment.run_role(check=True, diff=True)
    assert recap(result.stdout)["changed"] == 0, changed_tasks(result.stdout)
    assert "- in sync" in result.stdout


def assert_revoked(status, keys, within=75.0):
    """OmniRoute 3.7.9 remembers a key's successful validation for 60 s (an in-memory cache in its API-key
    module): a deleted key can keep working for up to a minute. Wait that long, no longer."""
    deadline = time.monotonic() + within
    while True:
        codes = [status(key) for key in keys]
        if set(codes) == {401} or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert set(codes) == {401}, codes


def test_one_key_per_developer_then_revoking_one(deployment):
    """The site playbook's per-developer keys, applied by the role: the proxy accepts the new keys while the old
    one is still accepted (purge off), then the removed developer's key and the old shared key get 401."""
    from ansible_collections.omniroute.opencode.plugins.module_utils._developer_keys import developer_keys

    secret = secrets.token_hex(32)
    fleet = {"ws1": ["alice", "bob"], "ws2": ["alice"]}
    keys = [{"name": k["name"], "key": k["key"]} for k in developer_keys(fleet, secret)]
    shared = deployment.facts["client_key"]

    def status(key):
        return deployment.chat("gpt-4o-mini", stream=False, key=key).status_code

    result = deployment.run_role(omniroute_proxy_client_keys=keys, omniroute_proxy_purge=False)
    assert all(k["key"] not in result.stdout + result.stderr for k in keys), "a developer key was printed"
    assert [status(k["key"]) for k in keys] == [200, 200, 200]
    assert status(shared) == 200, "purge off: the old key must stay accepted until clients hold their new keys"

    bob = next(k for k in keys if k["name"] == "opencode/ws1/bob/g0")
    kept = [k for k in keys if k is not bob]
    result = deployment.run_role(omniroute_proxy_client_keys=kept, omniroute_proxy_purge=True)
    assert all(k["key"] not in result.stdout for k in keys)
    names = {k["name"] for k in deployment.admin().get(f"{deployment.base}/api/keys", timeout=10).json()["keys"]}
    assert bob["name"] not in names and {k["name"] for k in kept} <= names, names
    assert_revoked(status, [bob["key"], shared])
    assert [status(k["key"]) for k in kept] == [200, 200]
    again = deployment.run_role(omniroute_proxy_client_keys=kept, omniroute_proxy_purge=True)
    assert recap(again.stdout)["changed"] == 0, changed_tasks(again.stdout)


def _site_inventory(deployment, path: Path, workstations: list[str], secret: str) -> Path:
    """The site playbook's inventory: this machine as the proxy and as client 'hosts' ws1, ws2, ... (local
    connections), each client with one user whose config lives in its own directory."""
    import getpass
    import sys

    user = getpass.getuser()
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    clients = {
        ws: dict(local, opencode_client_users=[{"name": user, "xdg_config_home": str(path.parent / ws)}])
        for ws in workstations
    }
    proxy_vars = {k: v for k, v in deployment.role_vars().items() if k != "e2e_facts_file"}
    inventory = {"all": {
        "vars": {"omniroute_site_client_key_secret": secret},
        "children": {
            "omniroute_proxy": {"hosts": {"localhost": dict(local, **proxy_vars)}},
            "opencode_clients": {"hosts": clients},
        },
    }}  # fmt: skip
    path.write_text(json.dumps(inventory))
    path.chmod(0o600)
    return path


def test_site_playbook_gives_every_developer_a_key_and_revokes_a_removed_one(deployment, tmp_path):
    secret = secrets.token_hex(32)

    def site(workstations):
        inventory = _site_inventory(deployment, tmp_path / "inventory.json", workstations, secret)
        result = omr.ansible_playbook("omniroute.opencode.site", inventory=inventory, timeout=900)
        assert result.returncode == 0, result.stdout[-6000:]
        deployment.assert_no_secret(result.stdout)
        return result

    def key_of(ws):
        entry = json.loads((tmp_path / ws / "opencode" / "opencode.json").read_text())["provider"]["omniroute"]
        return entry["options"]["apiKey"]

    def status(key):
        return deployment.chat("gpt-4o-mini", stream=False, key=key).status_code

    result = site(["ws1", "ws2"])
    keys = {ws: key_of(ws) for ws in ("ws1", "ws2")}
    assert keys["ws1"] != keys["ws2"] and all(k not in result.stdout for k in keys.values())
    for ws in ("ws1", "ws2"):
        path = tmp_path / ws / "opencode" / "opencode.json"
        assert path.stat().st_mode & 0o777 == 0o600
    assert [status(keys["ws1"]), status(keys["ws2"])] == [200, 200]

    again = site(["ws1", "ws2"])
    assert {key_of(ws) for ws in ("ws1", "ws2")} == set(keys.values()), "keys are not stable across runs"
    assert set(re.findall(r"changed=(\d+)", again.stdout)) == {"0"}, changed_tasks(again.stdout)

    site(["ws1"])  # ws2's developer left
    assert_revoked(status, [keys["ws2"]])
    assert status(keys["ws1"]) == 200 and key_of("ws1") == keys["ws1"]
