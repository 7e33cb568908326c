"""End to end: the proxy role deploys a real OmniRoute in a real container engine (podman, and docker), applies a
failover priority, and the real OpenCode binary gets the healthy upstream's answer through it.

One module-scoped deployment per engine (a few minutes warm): the image is built from npm or restored from the
cache by the role's own build code (docker restores the same cached archive with `docker load`); three stand-in
upstreams run on 127.0.0.1 (one answering 500, one 429, one healthy); the priority puts the failing ones first.
Docker is a private dockerd the tests start and stop (tests/support/docker_engine.py). The tests run in file order
per engine and build on each other's state; the two tests that exercise only OmniRoute's API (not the engine) run
on podman alone.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import junitparser
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support import docker_engine
from tests.support import omniroute as omr
from tests.support import upstreams as ups
from tests.support.secrets import find_leaks, find_leaks_in_files

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


class DriftRun:
    """One drift playbook run and its three reports, each read with a real parser."""

    def __init__(self, result: subprocess.CompletedProcess, out: Path):
        self.stdout = result.stdout
        self.report = json.loads((out / "drift.json").read_text())
        self.proxy = {(e["entity"], e["name"]): e for e in self.report["hosts"]["proxy1"]["proxy"]}
        self.junit = {case.name: case for suite in junitparser.JUnitXml.fromfile(str(out / "drift.xml")) for case in suite}
        self.metrics = {(f.name, tuple(sorted(s.labels.items()))): s.value
                        for f in text_string_to_metric_families((out / "opencode_drift.prom").read_text())
                        for s in f.samples}

    def lines(self) -> list[str]:
        return [line.strip() for line in self.stdout.splitlines()
                if re.match(r'^\s*"(IN SYNC|DRIFT|UNREACHABLE|FAILED) ', line)]

    def junit_kind(self, name: str) -> str:
        result = self.junit[name].result
        return "ok" if not result else type(result[0]).__name__.lower()

    def host_status(self) -> str:
        return next(labels[1][1] for (name, labels), value in self.metrics.items()
                    if name == "opencode_drift_host_status" and value == 1)



class Engine:
    """The container engine CLI a deployment runs on (podman, or the tests' own dockerd)."""

    def __init__(self, name: str, daemon: docker_engine.DockerDaemon | None = None):
        self.name = name
        self.daemon = daemon

    def environment(self) -> dict[str, str]:
        return self.daemon.environment() if self.daemon else omr.engine_environment()

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        if self.daemon:
            return self.daemon.docker(*args, check=check, timeout=timeout)
        return omr.podman(*args, check=check, timeout=timeout)

    def container_exists(self, name: str) -> bool:
        return self.run("container", "inspect", name, check=False).returncode == 0

    def remove(self, container: str, volume: str) -> None:
        self.run("rm", "--force", container, check=False)
        self.run("volume", "rm", "--force", volume, check=False)


class Deployment:
    """State shared by the tests of this module (one per engine)."""

    def __init__(self, tmp: Path, upstreams: dict[str, ups.Upstream], engine: Engine):
        self.tmp = tmp
        self.engine = engine
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
        role_vars.update(
            {"omniroute_proxy_engine": self.engine.name, "omniroute_proxy_engine_environment": self.engine.environment()}
        )
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

    def run_role(self, *, check=False, expect_rc=0, **overrides) -> subprocess.CompletedProcess:
        """One role run, always at -vvv with --diff (how AWX and CI logs are often kept): no secret in its output."""
        result = omr.ansible_playbook(ROLE_PLAY, "-vvv", extra_vars=self.role_vars(**overrides), check=check)
        assert result.returncode == expect_rc, f"role run: rc {result.returncode}:\n{result.stdout[-8000:]}\n{result.stderr[-3000:]}"
        self.assert_no_secret(result.stdout + result.stderr)
        if not check and expect_rc == 0 and overrides.get("omniroute_proxy_state", "present") == "present":
            self.facts = json.loads(self.facts_file.read_text())
        return result

    def run_drift(self, expect_rc: int, **overrides) -> DriftRun:
        """The drift playbook over an inventory whose only host is the proxy (no localhost in it), with every
        output format; asserts that the run wrote nothing on the proxy."""
        inventory = self.tmp / "drift-inventory.json"
        inventory.write_text(json.dumps({"all": {"children": {"omniroute_proxy": {"hosts": {"proxy1": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
        out = self.tmp / "drift"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        extra = self.role_vars(**overrides)
        extra.update({"opencode_drift_report_path": str(out / "drift.json"),
                      "opencode_drift_junit_path": str(out / "drift.xml"),
                      "opencode_drift_metrics_path": str(out / "opencode_drift.prom")})
        before = self.snapshot()
        result = omr.ansible_playbook("omniroute.opencode.drift", extra_vars=extra, inventory=inventory)
        self.assert_no_secret(result.stdout + result.stderr)
        assert result.returncode == expect_rc, f"drift run: rc {result.returncode}\n{result.stdout[-6000:]}"
        assert self.snapshot() == before, "the drift run changed something on the proxy"
        assert sorted(p.name for p in out.iterdir()) == ["drift.json", "drift.xml", "opencode_drift.prom"]
        return DriftRun(result, out)

    def snapshot(self) -> dict:
        """Everything a drift run must leave alone: the container and the API's declared entities."""
        state = {"container": self.engine.run("container", "inspect", "--format", "{{.Id}} {{.State.StartedAt}}",
                                         self.container, check=False).stdout,
                 "config_dir": sorted((p.name, p.stat().st_mtime_ns) for p in self.config_dir.iterdir())
                 if self.config_dir.exists() else None}
        if omr.health(self.base):
            session = self.admin()
            for path in ("combos", "keys", "provider-nodes", "providers", "resilience"):
                state[path] = session.get(f"{self.base}/api/{path}", timeout=10).json()
        return state

    def assert_no_secret(self, text: str) -> None:
        labelled = {f"#{i}": s for i, s in enumerate(self.all_secrets())}
        assert find_leaks(text, labelled) == [], "secrets printed by ansible-playbook"
        if self.config_dir.exists():  # the files the role writes that others may read
            assert find_leaks_in_files(self.config_dir, labelled) == []

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
def dockerd():
    """A private dockerd for this module (started only when a docker deployment is requested)."""
    with docker_engine.DockerDaemon.start() as daemon:
        yield daemon


@pytest.fixture(scope="module", params=["podman", "docker"])
def deployment(request, tmp_path_factory):
    engine = Engine("docker", request.getfixturevalue("dockerd")) if request.param == "docker" else Engine("podman")
    tmp = tmp_path_factory.mktemp(f"proxy-e2e-{engine.name}")
    upstreams = {
        "bad500": ups.start_upstream("error500", name="bad500", models=MODELS, api_key="k500-" + secrets.token_hex(8)),
        "bad429": ups.start_upstream("ratelimit429", name="bad429", models=MODELS, api_key="k429-" + secrets.token_hex(8)),
        "good": ups.start_upstream("healthy", name="good", models=MODELS, api_key="kgood-" + secrets.token_hex(8)),
    }
    dep = Deployment(tmp, upstreams, engine)
    try:
        omr.ensure_image()  # builds the cached archive too, which the role restores into docker with `docker load`
        yield dep
    finally:
        engine.remove(dep.container, dep.volume)
        # the second tag the upgrade test adds (an untag only: the image keeps its own tag)
        engine.run("rmi", f"{omr.IMAGE_NAME}:{NEXT_VERSION}", check=False)
        shutil.rmtree(dep.config_dir, ignore_errors=True)
        for up in upstreams.values():
            up.stop()


REPORT_TASKS = {"Note the time of the check", "Write the JSON report", "Write the JUnit XML report",
                "Write the Prometheus metrics next to their final name (the collector reads only *.prom)",
                "Rename the metrics into place (atomic, as node_exporter's textfile collector expects)"}
DECLARED_ENTITIES = ({("provider", name) for name in ("bad500", "bad429", "good")}
                     | {("combo", name) for name in EXPECTED_COMBOS}
                     | {("client_key", "opencode"), ("tuning", "resilience"), ("tuning", "combo_defaults")})


def test_check_mode_on_a_host_with_nothing_deployed(deployment):
    # The drift playbook runs the role in check mode: the container is missing, so the API cannot be compared.
    drift = deployment.run_drift(expect_rc=2)
    assert "does not exist yet" in drift.stdout
    changed = changed_tasks(drift.stdout)
    assert any(name.startswith(f"Run the container with {deployment.engine.name}") for name in changed), changed
    if deployment.engine.name == "podman":
        assert f"{deployment.container} (localhost/omniroute:{omr.OMNIROUTE_VERSION}): would change, state not created" in drift.stdout
    assert not deployment.engine.container_exists(deployment.container), "check mode created it"
    assert not deployment.config_dir.exists(), "check mode wrote the config directory"
    assert drift.report["hosts"]["proxy1"]["status"] == "unreachable" and drift.report["drift"] is True
    assert set(drift.proxy) == {("container", deployment.container), ("api", deployment.base)}
    assert drift.proxy["container", deployment.container]["drift"] == ["missing"]
    assert drift.proxy["api", deployment.base]["status"] == "unreachable"
    assert f'"UNREACHABLE proxy1 api {deployment.base}: the container does not run' in drift.stdout
    assert drift.junit_kind(f"proxy api {deployment.base}") == "error"
    assert drift.junit_kind(f"proxy container {deployment.container}") == "failure"
    assert drift.host_status() == "unreachable"
    assert drift.metrics["opencode_drift_hosts", (("status", "unreachable"),)] == 1


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
    # -vvv stays worth reading: the container's name, image and state, without its inspect data
    assert f"{deployment.container} (localhost/omniroute:{omr.OMNIROUTE_VERSION}): changed, state running" in result.stdout
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
    drift = deployment.run_drift(expect_rc=0)
    assert set(changed_tasks(drift.stdout)) <= REPORT_TASKS, changed_tasks(drift.stdout)
    assert "- in sync" in drift.stdout, drift.stdout[-3000:]
    assert set(drift.proxy) == DECLARED_ENTITIES | {("container", deployment.container)}
    assert {e["status"] for e in drift.proxy.values()} == {"in_sync"}
    assert '"IN SYNC     proxy1 (9 proxy entities)",' in drift.lines(), drift.lines()
    assert {drift.junit_kind(name) for name in drift.junit} == {"ok"} and len(drift.junit) == 9
    assert drift.host_status() == "in_sync"
    assert drift.metrics["opencode_drift_items", (("kind", "proxy_entity"),)] == 9
    assert drift.metrics["opencode_drift_items_not_in_sync", (("kind", "proxy_entity"),)] == 0
    assert abs(drift.metrics["opencode_drift_last_check_timestamp_seconds", ()] - time.time()) < 600


# OmniRoute's API behaves the same whatever engine runs it: these two run on the podman deployment only.
@pytest.mark.parametrize("deployment", ["podman"], indirect=True)
def test_check_mode_reports_a_combo_changed_by_hand(deployment):
    session = deployment.admin()
    combo = deployment.combos()["gpt-4o-mini"]
    tampered = {key: combo[key] for key in ("name", "strategy", "config") if key in combo}
    tampered["models"] = list(reversed(combo["models"]))
    resp = session.put(f"{deployment.base}/api/combos/{combo['id']}", json=tampered, timeout=10)
    assert resp.status_code in (200, 201), resp.text[:500]
    assert leg_providers(deployment.combos()["gpt-4o-mini"]) == ["good", "bad429", "bad500"]

    # ... and the client key revoked by hand.
    keys = session.get(f"{deployment.base}/api/keys", timeout=10).json()["keys"]
    for key in [k for k in keys if k["name"] == "opencode"]:
        assert session.delete(f"{deployment.base}/api/keys/{key['id']}", timeout=10).status_code in (200, 204)

    # The drift playbook also declares another image tag than the one the container runs (the same image under a
    # tag of this run's own, so that podman has it).
    other_tag = f"e2e-drift-{secrets.token_hex(3)}"
    omr.podman("tag", omr.IMAGE_REF, f"{omr.IMAGE_NAME}:{other_tag}")
    try:
        drift = deployment.run_drift(expect_rc=2, omniroute_proxy_image_tag=other_tag)
    finally:
        omr.podman("untag", f"{omr.IMAGE_NAME}:{other_tag}", f"{omr.IMAGE_NAME}:{other_tag}", check=False)
    assert drift.report["hosts"]["proxy1"]["status"] == "drift", drift.lines()
    assert "Bring OmniRoute to the declared state (providers, priority combos, client key, tuning)" in changed_tasks(
        drift.stdout
    )
    assert "drift: combo gpt-4o-mini update" in drift.stdout, drift.stdout[-3000:]
    assert leg_providers(deployment.combos()["gpt-4o-mini"]) == ["good", "bad429", "bad500"], "check mode wrote"
    assert sorted(drift.lines()) == sorted([
        '"DRIFT       proxy1 combo gpt-4o-mini: legs reordered",',
        '"DRIFT       proxy1 client_key opencode: declared but missing on the proxy (revoked by hand?)",',
        f'"DRIFT       proxy1 container {deployment.container}: runs version {omr.OMNIROUTE_VERSION}, declared {other_tag}",',
    ]), drift.stdout[-4000:]
    assert drift.proxy["combo", "gpt-4o-mini"]["drift"] == ["models"]
    assert drift.proxy["client_key", "opencode"]["drift"] == ["missing"]
    assert drift.proxy["container", deployment.container]["drift"] == ["version"]
    assert drift.junit_kind("proxy combo gpt-4o-mini") == "failure"
    assert drift.junit["proxy combo gpt-4o-mini"].result[0].message == "models"
    assert drift.junit_kind("proxy combo claude-sonnet-4-5") == "ok"
    assert drift.metrics["opencode_drift_host_items_not_in_sync", (("host", "proxy1"),)] == 3
    assert drift.metrics["opencode_drift_hosts", (("status", "drift"),)] == 1


@pytest.mark.parametrize("deployment", ["podman"], indirect=True)
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
    deployment.engine.run("restart", "--time", "10", deployment.container, timeout=120)
    omr.wait_healthy(deployment.base, 90)
    assert {name: leg_providers(c) for name, c in deployment.combos().items()} == before
    resp = deployment.chat("gpt-4o-mini", stream=False)
    assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"] == "hello from good"
    # and the declared state (the new priority) is still exactly what runs: check mode finds no drift
    result = deployment.run_role(check=True)
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


# Keys are OmniRoute's API: podman only. They revoke the shared key; the
# upgrade tests after them declare it again.
@pytest.mark.parametrize("deployment", ["podman"], indirect=True)
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


@pytest.mark.parametrize("deployment", ["podman"], indirect=True)
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


# Upgrades: two tags of the same locally built image stand for two OmniRoute versions.
NEXT_VERSION = "3.7.10"


def upgrade_vars(deployment, version: str, **overrides) -> dict:
    return {
        "omniroute_proxy_image_build": False,
        "omniroute_proxy_image": omr.IMAGE_NAME,
        "omniroute_proxy_image_pull": "never",
        "omniroute_proxy_version": version,
        "omniroute_proxy_backup_dir": str(deployment.tmp / "backups"),
        **overrides,
    }


def container_id(deployment) -> str:
    return deployment.engine.run("container", "inspect", "--format", "{{.Id}}", deployment.container).stdout.strip()


def state_snapshot(deployment) -> dict:
    """What must survive an upgrade or a restore: combos and their legs, provider nodes, the client key's access."""
    session = deployment.admin()  # logs in with the dashboard password: it survived too
    nodes = session.get(f"{deployment.base}/api/provider-nodes", timeout=10).json()["nodes"]
    assert len(nodes) == len(deployment.up), nodes
    return {
        "combos": {name: leg_providers(c) for name, c in deployment.combos().items()},
        "provider_nodes": sorted(n.get("name", "") for n in nodes),
    }


def assert_serves_with_the_client_key(deployment) -> None:
    resp = deployment.chat("gpt-4o-mini", stream=False, key=deployment.secrets["omniroute_proxy_client_key"])
    assert resp.status_code == 200, resp.text[:500]
    assert resp.json()["choices"][0]["message"]["content"] == "hello from good"


def test_upgrade_backs_up_recreates_and_keeps_the_state(deployment):
    engine = deployment.engine
    engine.run("tag", omr.IMAGE_REF, f"{omr.IMAGE_NAME}:{NEXT_VERSION}")
    before, old_id = state_snapshot(deployment), container_id(deployment)
    backups = deployment.tmp / "backups"

    check = deployment.run_role(check=True, **upgrade_vars(deployment, NEXT_VERSION))
    assert f"Upgrade of OmniRoute {omr.OMNIROUTE_VERSION} -> {NEXT_VERSION} on localhost" in check.stdout, check.stdout[-4000:]
    assert container_id(deployment) == old_id and not backups.exists(), "check mode changed something"

    result = deployment.run_role(**upgrade_vars(deployment, NEXT_VERSION))
    assert container_id(deployment) != old_id, "the container was not recreated"
    image = engine.run("container", "inspect", "--format", "{{.Config.Image}}", deployment.container).stdout.strip()
    assert image.endswith(f"omniroute:{NEXT_VERSION}"), image
    files = sorted(backups.iterdir())
    assert len(files) == 1 and files[0].name.endswith(f"-{omr.OMNIROUTE_VERSION}.sqlite"), files
    assert files[0].stat().st_mode & 0o777 == 0o600 and backups.stat().st_mode & 0o777 == 0o700
    with sqlite3.connect(f"file:{files[0]}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # one self-contained file: a rollback journal, so no -wal/-shm is needed (or created) next to it
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert sorted(backups.iterdir()) == files
    assert "Back up the data before the version changes" in result.stdout
    assert state_snapshot(deployment) == before
    assert_serves_with_the_client_key(deployment)
    again = deployment.run_role(**upgrade_vars(deployment, NEXT_VERSION))
    assert recap(again.stdout)["changed"] == 0, changed_tasks(again.stdout)


def test_downgrade_is_refused_unless_allowed(deployment):
    old_id = container_id(deployment)
    result = omr.ansible_playbook(ROLE_PLAY, extra_vars=deployment.role_vars(**upgrade_vars(deployment, omr.OMNIROUTE_VERSION)))
    assert result.returncode != 0
    assert f"runs OmniRoute {NEXT_VERSION} and omniroute_proxy_version is the older {omr.OMNIROUTE_VERSION}" in result.stdout
    assert "migrations may not run backwards" in result.stdout and "omniroute_proxy_allow_downgrade" in result.stdout
    assert container_id(deployment) == old_id
    assert_serves_with_the_client_key(deployment)


def test_backup_then_restore_into_a_fresh_container_and_volume(deployment):
    before = state_snapshot(deployment)
    backup_play = """\
- name: Back up OmniRoute with the proxy role's backup tasks
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Take a backup
      ansible.builtin.include_role:
        name: omniroute.opencode.proxy
        tasks_from: backup
"""
    role_vars = deployment.role_vars(**upgrade_vars(deployment, NEXT_VERSION, omniroute_proxy_backup_keep=2))
    for _ in range(2):  # with the upgrade's backup that makes three: retention keeps the newest two
        time.sleep(1.1)  # backup names carry the time to the second
        result = omr.ansible_playbook(backup_play, extra_vars=role_vars)
        assert result.returncode == 0, result.stdout[-4000:]
        deployment.assert_no_secret(result.stdout)
    files = sorted((deployment.tmp / "backups").iterdir())
    assert len(files) == 2 and all(f.name.endswith(f"-{NEXT_VERSION}.sqlite") for f in files), files

    deployment.engine.remove(deployment.container, deployment.volume)
    assert omr.health(deployment.base) is None
    # configure off: what comes back must come from the backup, not from re-applying the declared state
    deployment.run_role(
        **upgrade_vars(deployment, NEXT_VERSION, omniroute_proxy_restore_from=str(files[-1]), omniroute_proxy_configure=False)
    )
    omr.wait_healthy(deployment.base, 90)
    assert state_snapshot(deployment) == before
    assert_serves_with_the_client_key(deployment)
    again = deployment.run_role(**upgrade_vars(deployment, NEXT_VERSION))
    assert recap(again.stdout)["changed"] == 0, changed_tasks(again.stdout)


@pytest.mark.parametrize("deployment", ["podman"], indirect=True)
def test_a_failed_container_start_prints_no_secret(deployment):
    # Another container name, an image that is not there: the engine fails; the role says so without secrets.
    broken = deployment.container + "-broken"
    result = deployment.run_role(
        expect_rc=2, omniroute_proxy_container_name=broken, omniroute_proxy_volume=broken + "-data",
        omniroute_proxy_image_build=False, omniroute_proxy_image="localhost/omniroute-missing",
        omniroute_proxy_image_pull="never",
    )  # fmt: skip
    assert f"{broken} (localhost/omniroute-missing:{omr.OMNIROUTE_VERSION}): the container did not start" in result.stdout
    assert not deployment.engine.container_exists(broken)
    (deployment.config_dir / f"{broken}.env").unlink()


def test_absent_with_the_volume_removes_every_secret_file(deployment):
    # The file an earlier run writes when OmniRoute generated the client key (this deployment declares its key).
    key_file = deployment.config_dir / f"{deployment.container}.client-key"
    key_file.write_text(deployment.secrets["omniroute_proxy_client_key"] + "\n")
    key_file.chmod(0o600)
    absent = {"omniroute_proxy_state": "absent", "omniroute_proxy_volume_remove": True}
    deployment.run_role(check=True, **absent)
    assert key_file.exists() and deployment.engine.container_exists(deployment.container)
    result = deployment.run_role(**absent)
    assert recap(result.stdout)["changed"] >= 1
    assert not deployment.engine.container_exists(deployment.container)
    assert deployment.engine.run("volume", "inspect", deployment.volume, check=False).returncode != 0, "volume kept"
    assert omr.health(deployment.base) is None
    assert sorted(p.name for p in deployment.config_dir.iterdir()) == [], "a secret file stayed behind"
    again = deployment.run_role(**absent)
    assert recap(again.stdout)["changed"] == 0, changed_tasks(again.stdout)
