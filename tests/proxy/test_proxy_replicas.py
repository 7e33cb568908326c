"""Two OmniRoute replicas behind one TLS front: the proxy role converges both to one declared state, the front
spreads requests over them and stops sending any to a replica that is down.

Two real OmniRoute containers (podman, host networking, two ports on this machine) are two inventory hosts with a
local connection; replica-a also runs the front (nginx, started by the role with its own pid file), whose upstream
lists both. A healthy stand-in upstream answers every completion. The tests run in file order on one deployment.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support import omniroute as omr
from tests.support import upstreams as ups
from tests.support.secrets import find_leaks, find_leaks_in_files

pytestmark = pytest.mark.slow

MODELS = ["gpt-4o-mini", "claude-sonnet-4-5"]
HOSTS = ("replica-a", "replica-b")

PLAY = """\
- name: Converge every replica with the proxy role
  hosts: omniroute_proxy
  gather_facts: false
  roles:
    - role: omniroute.opencode.proxy
  post_tasks:
    - name: Hand the role's facts to the test (0600; holds the client key)
      ansible.builtin.copy:
        content: "{{ {'base_url': omniroute_proxy_base_url, 'client_key': omniroute_proxy_client_key,
                      'combos': omniroute_proxy_combos, 'ca': omniroute_proxy_ca_certificate | default('')} | to_json }}"
        dest: "{{ replicas_facts_dir }}/{{ inventory_hostname }}.json"
        mode: "0600"
      no_log: true
"""


def recap(stdout: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP per host."""
    lines = dict(re.findall(r"^(\S+)\s*:\s*(ok=.*)$", stdout, re.M))
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)} for host, line in lines.items()}


def changed_tasks(stdout: str) -> list[str]:
    names, current = [], None
    for line in stdout.splitlines():
        if line.startswith("TASK ["):
            current = line[line.index("[") + 1 : line.rindex("]")]
        elif line.startswith("changed:") and current:
            names.append(f"{current} ({line.split('[', 1)[-1].split(']', 1)[0]})")
    return names


class Replicas:
    def __init__(self, tmp: Path, upstream: ups.Upstream):
        self.tmp = tmp
        self.up = upstream
        tag = secrets.token_hex(3)
        self.containers = {host: f"{omr.CONTAINER_PREFIX}replica-{tag}-{host[-1]}" for host in HOSTS}
        self.ports = {host: omr.free_port() for host in HOSTS}
        self.front_port = omr.free_port()
        self.runtime_dir = tmp / "front"
        self.facts_dir = tmp / "facts"
        self.facts_dir.mkdir()
        self.secrets = {
            "omniroute_proxy_admin_password": "adm-" + secrets.token_hex(8),
            "omniroute_proxy_jwt_secret": secrets.token_hex(32),
            "omniroute_proxy_api_key_secret": secrets.token_hex(32),
            "omniroute_proxy_storage_encryption_key": secrets.token_hex(32),
            "omniroute_proxy_client_key": "sk-replicas-" + secrets.token_hex(16),
        }
        self.inventory = tmp / "inventory.json"
        self.inventory.write_text(json.dumps(self._inventory()))

    def config_dir(self, host: str) -> Path:
        return self.tmp / f"etc-{host}"

    def base(self, host: str) -> str:
        return f"http://127.0.0.1:{self.ports[host]}"

    @property
    def front_url(self) -> str:
        return f"https://localhost:{self.front_port}"

    def _inventory(self) -> dict:
        """Per-host settings live in the inventory (extra vars would override them for both hosts)."""
        common = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        hosts = {
            host: dict(common,
                       omniroute_proxy_container_name=self.containers[host],
                       omniroute_proxy_volume=f"{self.containers[host]}-data",
                       omniroute_proxy_config_dir=str(self.config_dir(host)),
                       omniroute_proxy_port=self.ports[host])
            for host in HOSTS
        }  # fmt: skip
        hosts["replica-a"].update({
            "omniroute_proxy_tls_enabled": True,
            "omniroute_proxy_tls_address": "127.0.0.1",
            "omniroute_proxy_tls_port": self.front_port,
            "omniroute_proxy_tls_server_name": "localhost",
            "omniroute_proxy_tls_service": "direct",
            "omniroute_proxy_tls_runtime_dir": str(self.runtime_dir),
            # nginx and python3-cryptography come from scripts/system-packages.txt (test_proxy_tls.py runs the install)
            "omniroute_proxy_tls_install_packages": False,
        })  # fmt: skip
        # no front of its own: clients use the one front's URL
        hosts["replica-b"].update({"omniroute_proxy_tls_enabled": False, "omniroute_proxy_public_url": self.front_url})
        return {"all": {"children": {"omniroute_proxy": {"hosts": hosts}}}}

    def shared_vars(self, **overrides) -> dict:
        """The one declared state every replica gets (group_vars in a real inventory)."""
        shared = omr.image_build_vars()
        shared.update(self.secrets)
        shared.update({
            "omniroute_proxy_replicas": [f"127.0.0.1:{self.ports[host]}" for host in HOSTS],
            "omniroute_proxy_network_mode": "host",
            "omniroute_proxy_bind_address": "127.0.0.1",
            "omniroute_proxy_allow_private_provider_urls": True,
            "omniroute_proxy_providers": [{"name": "good", "base_url": self.up.url, "api_key": self.up.api_key,
                                           "models": MODELS}],
            "omniroute_proxy_provider_priority": ["good"],
            "omniroute_proxy_failover_min_providers": 1,
            "replicas_facts_dir": str(self.facts_dir),
        })  # fmt: skip
        shared.update(overrides)
        return shared

    def all_secrets(self) -> dict[str, str]:
        return {f"#{i}": s for i, s in enumerate([*self.secrets.values(), self.up.api_key])}

    def assert_no_secret(self, text: str) -> None:
        assert find_leaks(text, self.all_secrets()) == [], "secrets printed by ansible-playbook"
        for root in [self.runtime_dir, *map(self.config_dir, HOSTS)]:
            if root.exists():  # files others may read: the front's logs and configuration, the CA
                assert find_leaks_in_files(root, self.all_secrets()) == []

    def converge(self, expect_rc=0) -> subprocess.CompletedProcess:
        result = omr.ansible_playbook(PLAY, "-vv", extra_vars=self.shared_vars(), inventory=self.inventory, diff=True)
        self.assert_no_secret(result.stdout + result.stderr)
        failures = "\n".join(line[:3000] for line in result.stdout.splitlines() if line.startswith(("fatal:", "failed:")))
        assert result.returncode == expect_rc, f"rc {result.returncode}:\n{failures}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    def drift(self, expect_rc: int) -> dict:
        report = self.tmp / "drift.json"
        report.unlink(missing_ok=True)
        extra = self.shared_vars(opencode_drift_report_path=str(report))
        result = omr.ansible_playbook("omniroute.opencode.drift", extra_vars=extra, inventory=self.inventory)
        self.assert_no_secret(result.stdout + result.stderr)
        assert result.returncode == expect_rc, f"drift rc {result.returncode}:\n{result.stdout[-8000:]}"
        return json.loads(report.read_text())

    def facts(self, host: str) -> dict:
        return json.loads((self.facts_dir / f"{host}.json").read_text())

    def declared_state(self, host: str) -> dict:
        """What a replica's management API holds (ids and timestamps left out: they are per replica)."""
        session = omr.admin_session(self.base(host), self.secrets["omniroute_proxy_admin_password"])
        combos = session.get(f"{self.base(host)}/api/combos", timeout=10).json()
        combos = combos.get("combos", combos) if isinstance(combos, dict) else combos
        keys = session.get(f"{self.base(host)}/api/keys", timeout=10).json()
        keys = keys.get("keys", keys) if isinstance(keys, dict) else keys
        nodes = session.get(f"{self.base(host)}/api/provider-nodes", timeout=10).json()
        nodes = nodes.get("nodes", nodes) if isinstance(nodes, dict) else nodes
        return {
            "combos": sorted((c["name"], json.dumps(c.get("models"), sort_keys=True)) for c in combos),
            "keys": sorted(k["name"] for k in keys),
            "providers": sorted((n.get("name"), n.get("baseUrl")) for n in nodes),
        }

    def chat(self, stream=False) -> requests.Response:
        body = {"model": MODELS[0], "messages": [{"role": "user", "content": "say hi"}], "stream": stream}
        return requests.post(f"{self.front_url}/v1/chat/completions", json=body, timeout=60, stream=stream,
                             verify=str(self.tmp / "ca.pem"),
                             headers={"Authorization": f"Bearer {self.secrets['omniroute_proxy_client_key']}"})

    def access_log(self) -> list[str]:
        """The upstream field of every chat completion the front logged, in order."""
        lines = (self.runtime_dir / "access.log").read_text().splitlines()
        return [re.search(r"upstream=(.*?) upstream_status=", line).group(1)
                for line in lines if "POST /v1/chat/completions" in line]

    def nginx_pid(self) -> int | None:
        pid_file = self.runtime_dir / "nginx.pid"
        return int(pid_file.read_text()) if pid_file.exists() else None


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    upstream = ups.start_upstream("healthy", name="good", models=MODELS, api_key="kgood-" + secrets.token_hex(8))
    deployment = Replicas(tmp_path_factory.mktemp("proxy-replicas"), upstream)
    try:
        omr.ensure_image()
        yield deployment
    finally:
        pid = deployment.nginx_pid()
        if pid:  # only the front this test's pid file names
            subprocess.run(["kill", "-QUIT", str(pid)], check=False)
        for container in deployment.containers.values():
            omr.podman("rm", "--force", container, check=False)
            omr.podman("volume", "rm", "--force", f"{container}-data", check=False)
        for host in HOSTS:
            shutil.rmtree(deployment.config_dir(host), ignore_errors=True)
        upstream.stop()


def test_every_replica_converges_to_the_same_declared_state(replicas):
    result = replicas.converge()
    assert set(recap(result.stdout)) == set(HOSTS)
    facts = {host: replicas.facts(host) for host in HOSTS}
    # one URL and one key for every client, whichever replica's facts a play reads
    assert {f["base_url"] for f in facts.values()} == {f"{replicas.front_url}/v1"}
    assert {f["client_key"] for f in facts.values()} == {replicas.secrets["omniroute_proxy_client_key"]}
    assert sorted(facts["replica-a"]["combos"]) == sorted(MODELS) == sorted(facts["replica-b"]["combos"])
    (replicas.tmp / "ca.pem").write_text(facts["replica-a"]["ca"])
    state_a, state_b = (replicas.declared_state(host) for host in HOSTS)
    assert state_a == state_b and state_a["keys"] == ["opencode"] and len(state_a["combos"]) == len(MODELS)
    # the plain OmniRoute ports stay on loopback; only the front serves clients
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout.split()
    for port in replicas.ports.values():
        assert [a for a in listening if a.endswith(f":{port}")] == [f"127.0.0.1:{port}"]


def test_the_front_spreads_requests_over_both_replicas(replicas):
    streamed = replicas.chat(stream=True)
    assert streamed.status_code == 200
    events = [json.loads(line[5:]) for line in streamed.text.splitlines()
              if line.startswith("data:") and line.strip() != "data: [DONE]"]
    assert "".join(c["delta"].get("content") or "" for e in events for c in e.get("choices", [])) == "hello from good"
    for _ in range(9):
        assert replicas.chat().status_code == 200
    served = replicas.access_log()[-10:]
    assert {addr for addr in served} == {f"127.0.0.1:{port}" for port in replicas.ports.values()}, served


def test_a_replica_that_is_down_stops_receiving_requests(replicas):
    stopped = f"127.0.0.1:{replicas.ports['replica-b']}"
    omr.podman("stop", "--time", "10", replicas.containers["replica-b"])
    assert omr.health(replicas.base("replica-b"), timeout=2) is None
    logged_before = len(replicas.access_log())
    replicas.up.reset()
    started = time.monotonic()
    answers = [replicas.chat() for _ in range(100)]
    elapsed = time.monotonic() - started
    assert [r.status_code for r in answers] == [200] * 100
    assert {r.json()["choices"][0]["message"]["content"] for r in answers} == {"hello from good"}
    assert replicas.up.chat_count == 100  # each answered once: no completion was sent twice
    served = replicas.access_log()[logged_before:]
    assert len(served) == 100
    # every answer came from replica-a; the stopped one was tried again at most once per fail_timeout (10 s)
    assert all(addr.split(", ")[-1] != stopped for addr in served), served
    tried = sum(stopped in addr for addr in served)
    assert 1 <= tried <= 1 + int(elapsed // 10), (tried, elapsed)
    print(f"100 requests through the front with one replica down: {elapsed:.1f} s, stopped replica tried {tried}x")


def test_the_drift_report_covers_every_replica_while_one_is_down(replicas):
    report = replicas.drift(expect_rc=2)
    assert set(report["hosts"]) == set(HOSTS)
    entities_a = {(e["entity"], e["name"]) for e in report["hosts"]["replica-a"]["proxy"]}
    assert {("provider", "good"), ("client_key", "opencode")} | {("combo", m) for m in MODELS} <= entities_a
    assert report["hosts"]["replica-a"]["status"] == "in_sync", report["hosts"]["replica-a"]
    assert report["hosts"]["replica-b"]["status"] == "unreachable", report["hosts"]["replica-b"]
    assert ("api", replicas.base("replica-b")) in {(e["entity"], e["name"]) for e in report["hosts"]["replica-b"]["proxy"]}


def test_a_replica_brought_back_needs_no_change_and_is_in_sync(replicas):
    omr.podman("start", replicas.containers["replica-b"])
    omr.wait_healthy(replicas.base("replica-b"), timeout=90)
    result = replicas.converge()
    assert {host: counts["changed"] for host, counts in recap(result.stdout).items()} == dict.fromkeys(HOSTS, 0), (
        changed_tasks(result.stdout))
    report = replicas.drift(expect_rc=0)
    for host in HOSTS:
        entities = {(e["entity"], e["name"]) for e in report["hosts"][host]["proxy"]}
        assert {("provider", "good"), ("client_key", "opencode")} | {("combo", m) for m in MODELS} <= entities, host
        assert report["hosts"][host]["status"] == "in_sync", report["hosts"][host]
