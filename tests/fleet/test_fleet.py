"""The client role and the site/drift playbooks over a real fleet of SSH hosts.

Six hosts, each its own sshd in its own network namespace (10.213.0.11-16, reachable only from
the controller namespace the fleet makes), its own /etc (users, /etc/opencode) and /home. The tests
run in order on one fleet: converge, idempotence, drift report (two drifted hosts, one
unreachable), repair, the real OpenCode binary over SSH as every user, and a config OpenCode
refuses failing its host with OpenCode's own message.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import stat
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.fleet import CONTROLLER_ADDR, Fleet, Host, parse_recap
from tests.support import upstreams as ups
from tests.support.opencode import opencode_binary
from tests.support.secrets import find_leaks, find_leaks_in_files

pytestmark = pytest.mark.slow

SECRET = "fleet-test-secret-7f3a9c21d0"
# The proxy role's TLS front on the controller's fleet address, port 443 (the namespace's own port space).
BASE_URL = f"https://{CONTROLLER_ADDR}"
EXPECTED_URL = BASE_URL + "/v1"
UPSTREAM_REPLY = "hello through the TLS front"

TLS_FRONT_PLAY = """\
- name: The proxy role's TLS front in the controller namespace, in front of a stand-in on its loopback
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Check the inputs
      ansible.builtin.include_role:
        name: omniroute.opencode.proxy
        tasks_from: tls_preflight
    - name: Run the front
      ansible.builtin.include_role:
        name: omniroute.opencode.proxy
        tasks_from: tls
"""
MODELS = ["fleet-default", "fleet-fast", "fleet-reasoning"]

# Dave's own credentials, one in every place the masking rule names: none may appear in any output, report or
# file others can read (the -vvv --diff runs below print every result and diff).
# Random values only: a word in a value would match ordinary output as a 12-character piece.
DAVE_SECRETS = {name: f"lkd{index}{os.urandom(10).hex()}" for index, name in
                enumerate(("apikey", "authorization", "xapikey", "sessiontoken", "mcpenv", "mcpheader", "oauth"))}
DAVE_JSONC = """// dave's own config: comments and his other provider must survive
{
  "theme": "opencode",
  "provider": {
    // a provider the role must not touch
    "local": {
      "npm": "@ai-sdk/openai-compatible",
      "name": "Local",
      "options": {"baseURL": "http://127.0.0.1:11434/v1", "apiKey": "%(apikey)s",
                  "headers": {"Authorization": "Bearer %(authorization)s", "x-api-key": "%(xapikey)s"},
                  "sessionToken": "%(sessiontoken)s"},
      "models": {"llama": {"name": "Llama"}},
    },
  },
  "mcp": {
    "tool": {"type": "local", "command": ["tool"], "environment": {"TOOL_SETTING": "%(mcpenv)s"}},
    "remote": {"type": "remote", "url": "https://mcp.example.invalid", "headers": {"X-Custom": "%(mcpheader)s"},
               "oauth": {"clientId": "dave", "clientSecret": "%(oauth)s"}},
  },
}
""" % DAVE_SECRETS
ALL_SECRETS = dict(DAVE_SECRETS, client_key=SECRET)
# The runs that print everything a CI/AWX log would keep, with the client role's output not hidden.
VERBOSE = ("-vvv", "--diff", "-e", "opencode_client_no_log=false")

HOSTS = [
    Host("h1", ["alice", "bob", "carol"]),
    Host("h2", ["alice", "dave"]),
    Host("h3", ["erin", "frank"], hostvars={
        "opencode_client_users": [{"name": "erin", "xdg_config_home": "~/.xdg"}, "frank"],
        "opencode_client_api_key": "",
        "opencode_client_api_key_env": "OMNIROUTE_API_KEY",
        # The role installs opencode-ai itself here, offline from the npm cache the controller's
        # install filled (the hosts have no route out), and verifies with that binary.
        "opencode_client_install": True,
        "opencode_client_npm_extra_args": ["--offline"],
        "opencode_client_binary": "",
    }),
    Host("h4", ["gina", "hank"], groups={"developers": ["gina", "hank"]}, hostvars={
        "opencode_client_managed_config": True,
        "opencode_client_managed_group": "developers",
    }),
    # dev is no root: the system trust store is not theirs to change.
    Host("h5", [], login="dev", hostvars={"opencode_client_users": [], "opencode_client_ca_certificate": ""}),
    Host("h6", ["ivan", "judy"]),
]


def _users(host: Host) -> list[str]:
    return host.users or [host.login]


def _config_path(host: Host, user: str) -> pathlib.Path:
    base = host.user_home(user) / (".xdg" if (host.name, user) == ("h3", "erin") else ".config") / "opencode"
    return base / ("opencode.jsonc" if (host.name, user) == ("h2", "dave") else "opencode.json")


def _snapshot(fleet: Fleet) -> dict:
    """Bytes, mode and owner of every config file in the fleet."""
    snap = {}
    for host in fleet.hosts.values():
        paths = [_config_path(host, u) for u in _users(host)] + [host.root / "etc" / "opencode" / "opencode.json"]
        for path in paths:
            if path.exists():
                st = path.stat()
                snap[str(path)] = (path.read_bytes(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return snap


@pytest.fixture(scope="module")
def fleet():
    yield from build_fleet()


def run_tls_front(fl: Fleet, upstream_port: int, **overrides):
    """The proxy role's TLS front (tasks_from tls) in the controller namespace, in front of 127.0.0.1:<port>."""
    play = fl.workdir / "tls-front.yml"
    play.write_text(TLS_FRONT_PLAY)
    front_vars = {
        "omniroute_proxy_container_name": "fleet-front",
        "omniroute_proxy_config_dir": str(fl.workdir / "proxy-etc"),
        "omniroute_proxy_port": upstream_port,
        "omniroute_proxy_tls_address": CONTROLLER_ADDR,
        "omniroute_proxy_tls_service": "direct",
        "omniroute_proxy_tls_runtime_dir": str(fl.workdir / "proxy-run"),
        "ansible_python_interpreter": sys.executable,
        **overrides,
    }
    (fl.workdir / "tls-front-vars.json").write_text(json.dumps(front_vars))
    result = fl.ansible_playbook([str(play), "-i", "localhost,", "-e", f"@{fl.workdir / 'tls-front-vars.json'}"])
    assert result.returncode == 0, result.stdout[-6000:]
    return result


def start_tls_front(fl: Fleet):
    """A healthy stand-in on the controller namespace's loopback, behind the proxy role's TLS front on
    CONTROLLER_ADDR:443 (pid file: <workdir>/proxy-run/nginx.pid). Returns (upstream, the CA PEM)."""
    upstream = fl.in_controller_netns(
        lambda: ups.start_upstream("healthy", name="fleet", models=MODELS, api_key=SECRET, reply=UPSTREAM_REPLY))
    fl.upstream = upstream  # stopped by build_fleet even when the front fails to start
    run_tls_front(fl, upstream.port)
    return upstream, (fl.workdir / "proxy-etc" / "tls" / "fleet-front-ca.crt").read_text()


def build_fleet():
    """Start the six-host fleet with its inventory; stops and deletes everything when closed."""
    binary = opencode_binary()
    hosts = [Host(h.name, list(h.users), h.login, dict(h.hostvars), dict(h.groups)) for h in HOSTS]
    fl = Fleet(hosts)
    front_pid_file = None
    try:
        fl.start(opencode_binary=binary)
        front_pid_file = fl.workdir / "proxy-run" / "nginx.pid"  # known before the front starts: always stopped
        upstream, ca_pem = start_tls_front(fl)
        fl.upstream, fl.ca_pem = upstream, ca_pem
        dave = fl.hosts["h2"].user_home("dave") / ".config" / "opencode"
        dave.mkdir(parents=True)
        (dave / "opencode.jsonc").write_text(DAVE_JSONC)
        for p in (dave.parent, dave, dave / "opencode.jsonc"):
            os.chown(p, fl.hosts["h2"].uids["dave"], fl.hosts["h2"].uids["dave"])
        fl.inventory = fl.write_inventory({
            "opencode_client_base_url": BASE_URL,
            "opencode_client_api_key": SECRET,
            "opencode_client_ca_certificate": ca_pem,
            "opencode_client_models": MODELS,
            "opencode_client_model_labels": {"fleet-fast": "Fleet fast (failover)"},
            "opencode_client_users": [],
            "opencode_client_verify": True,
            "opencode_client_binary": str(fl.opencode),
        })
        # Hosts without their own user list get theirs here (host vars beat group vars).
        inv = json.loads(fl.inventory.read_text())
        for name, hv in inv["all"]["children"]["opencode_clients"]["hosts"].items():
            hv.setdefault("opencode_client_users", fl.hosts[name].users)
            if hv.get("opencode_client_install"):
                hv["opencode_client_npm_prefix"] = str(fl.hosts[name].root / "npm")
        fl.inventory.write_text(json.dumps(inv, indent=2))
        yield fl
    finally:
        if front_pid_file is not None and front_pid_file.exists():
            _stop_pid(int(front_pid_file.read_text()))  # the front's nginx, by the pid it wrote
        if getattr(fl, "upstream", None) is not None:
            fl.upstream.stop()
        fl.stop()


def _stop_pid(pid: int):
    try:
        os.kill(pid, signal.SIGQUIT)
    except ProcessLookupError:
        return
    for _ in range(100):
        if not pathlib.Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _play(fleet: Fleet, name: str, *args: str):
    result = fleet.ansible_playbook([f"omniroute.opencode.{name}", "-i", str(fleet.inventory), *args])
    assert find_leaks(result.stdout, ALL_SECRETS) == [], "a credential was printed"
    return result, parse_recap(result.stdout)


def _assert_no_secret_in_files(fleet: Fleet, *paths: pathlib.Path):
    """Reports and every file on the fleet's hosts that others may read hold no credential."""
    for path in paths:
        assert find_leaks(path.read_text(), ALL_SECRETS, where=str(path)) == []
    # The managed config is root:developers 0640 with the client key in it by design (the role's documented mode
    # when the key is in the file): the developers' OpenCode reads it. Nothing else may hold a credential.
    managed = fleet.hosts["h4"].root / "etc" / "opencode" / "opencode.json"
    for host in fleet.hosts.values():
        for where in (host.root / "home", host.root / "etc" / "opencode"):
            assert find_leaks_in_files(where, ALL_SECRETS, exclude=[managed]) == []


def test_converge_configures_every_user(fleet):
    result, recap = _play(fleet, "site")
    assert result.returncode == 0, result.stdout[-6000:]
    assert set(recap) == set(fleet.hosts), recap
    for name, counters in recap.items():
        assert counters["failed"] == 0 and counters["unreachable"] == 0, (name, counters)
        assert counters["changed"] > 0, (name, counters)

    for host in fleet.hosts.values():
        for user in _users(host):
            path = _config_path(host, user)
            st = path.stat()
            assert (st.st_uid, st.st_gid) == (host.uids[user], host.uids[user]), path
            assert stat.S_IMODE(st.st_mode) == 0o600, (path, oct(st.st_mode))
            dstat = path.parent.stat()
            assert stat.S_IMODE(dstat.st_mode) == 0o700 and dstat.st_uid == host.uids[user], path.parent
            text = path.read_text()
            if path.suffix == ".jsonc":
                assert "// a provider the role must not touch" in text and '"local"' in text
                continue
            entry = json.loads(text)["provider"]["omniroute"]
            assert entry["options"]["baseURL"] == EXPECTED_URL
            assert sorted(entry["models"]) == sorted(MODELS)
            assert entry["models"]["fleet-fast"]["name"] == "Fleet fast (failover)"
            if host.name == "h3":
                assert "apiKey" not in entry["options"] and entry["env"] == ["OMNIROUTE_API_KEY"]
            else:
                assert entry["options"]["apiKey"] == SECRET
    # The XDG override made ~/.xdg for erin (0700, hers), nothing under ~/.config.
    erin = fleet.hosts["h3"].user_home("erin")
    assert stat.S_IMODE((erin / ".xdg").stat().st_mode) == 0o700 and not (erin / ".config").exists()
    # The managed config on h4: root:developers 0640 because the key is in it.
    managed = fleet.hosts["h4"].root / "etc" / "opencode" / "opencode.json"
    st = managed.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o640)
    assert json.loads(managed.read_text())["provider"]["omniroute"]["options"]["baseURL"] == EXPECTED_URL
    # h3 got opencode-ai from the role's own npm install, and verified with it.
    prefix = fleet.hosts["h3"].root / "npm"
    assert json.loads((prefix / "lib" / "node_modules" / "opencode-ai" / "package.json").read_text())["version"] == \
        "1.18.33"
    assert os.access(prefix / "bin" / "opencode", os.X_OK)
    assert re.search(r"Install the pinned opencode-ai with npm\] \*+\nchanged: \[h3\]", result.stdout)
    # Nobody else got a managed file.
    assert not (fleet.hosts["h1"].root / "etc" / "opencode").exists()
    # The proxy's CA is in every root-managed host's system trust store (its own /etc/ssl/certs), not in dev's h5.
    ca_body = "".join(fleet.ca_pem.strip().splitlines()[1:-1])
    for host in fleet.hosts.values():
        anchor = host.root / "local-ca-certificates" / "omniroute-opencode.crt"
        bundle = (host.root / "etc" / "ssl" / "certs" / "ca-certificates.crt").read_text()
        if host.name == "h5":
            assert not anchor.exists() and ca_body not in bundle.replace("\n", "")
            continue
        assert anchor.read_text() == fleet.ca_pem.strip() + "\n", host.name
        assert ca_body in bundle.replace("\n", ""), host.name
    assert ca_body not in pathlib.Path("/etc/ssl/certs/ca-certificates.crt").read_text().replace("\n", ""), \
        "the machine's own trust store changed"


def test_second_run_changes_nothing(fleet):
    before = _snapshot(fleet)
    result, recap = _play(fleet, "site")
    assert result.returncode == 0, result.stdout[-6000:]
    assert {name: c["changed"] for name, c in recap.items()} == {name: 0 for name in fleet.hosts}, recap
    assert _snapshot(fleet) == before


def _edit(path: pathlib.Path, transform):
    """Rewrite a file in place (same inode, owner and mode), as a developer's editor might."""
    text = path.read_text()
    new = transform(text)
    assert new != text
    with open(path, "r+") as handle:
        handle.write(new)
        handle.truncate()


def test_drift_report_names_exactly_the_drift(fleet):
    h1, h2, h6 = fleet.hosts["h1"], fleet.hosts["h2"], fleet.hosts["h6"]
    # h1/alice: somebody pasted a stale URL; h1/bob: chmod; h2/alice: a model deleted.
    _edit(_config_path(h1, "alice"), lambda t: t.replace(EXPECTED_URL, "http://10.213.0.99:20128/v1/v1"))
    os.chmod(_config_path(h1, "bob"), 0o644)

    def drop_model(text):
        data = json.loads(text)
        del data["provider"]["omniroute"]["models"]["fleet-fast"]
        return json.dumps(data, indent=2) + "\n"
    _edit(_config_path(h2, "alice"), drop_model)
    fleet.stop_sshd(h6)
    # h1: somebody removed the proxy's CA from the trust store's sources.
    (h1.root / "local-ca-certificates" / "omniroute-opencode.crt").unlink()

    before = _snapshot(fleet)
    report_path = fleet.workdir / "drift-report.json"
    result, recap = _play(fleet, "drift", "-e", f"opencode_drift_report_path={report_path}", *VERBOSE)
    assert result.returncode != 0, result.stdout[-6000:]
    assert _snapshot(fleet) == before, "check mode wrote something"
    # (files are searched after the repair: bob's file is 0644 by hand here)
    assert find_leaks(report_path.read_text(), ALL_SECRETS, where=str(report_path)) == []

    report = json.loads(report_path.read_text())
    print(result.stdout[result.stdout.find("TASK [Show the drift summary]"):])  # shown with -s / on failure
    statuses = {name: rec["status"] for name, rec in report["hosts"].items()}
    assert statuses == {"h1": "drift", "h2": "drift", "h3": "in_sync", "h4": "in_sync", "h5": "in_sync",
                        "h6": "unreachable"}, statuses
    assert report["drift"] is True
    assert report["summary"] == {"hosts": 6, "in_sync": 3, "drifted": 2, "unreachable": 1, "failed": 0,
                                 "files": 12, "files_not_in_sync": 4, "proxy_entities": 0,
                                 "proxy_entities_not_in_sync": 0}, report["summary"]
    drifted = {(host, e["user"]): e for host, rec in report["hosts"].items() for e in rec["files"] if e["drift"]}
    assert set(drifted) == {("h1", "alice"), ("h1", "bob"), ("h2", "alice"), ("h1", "(system)")}, drifted
    assert drifted["h1", "(system)"]["drift"] == ["ca_certificate"]
    assert drifted["h1", "(system)"]["path"] == "/usr/local/share/ca-certificates/omniroute-opencode.crt"
    assert set(drifted["h1", "alice"]["drift"]) == {"base_url", "base_url_stale_v1"}
    assert drifted["h1", "bob"]["drift"] == ["mode"]
    assert drifted["h2", "alice"]["drift"] == ["models_missing"]
    assert drifted["h2", "alice"]["models_missing_ids"] == ["fleet-fast"]
    assert drifted["h1", "alice"]["path"] == "/home/alice/.config/opencode/opencode.json"
    assert report["hosts"]["h6"]["files"] == [] and report["hosts"]["h6"]["msg"]
    # The managed file is reported as its own entry.
    assert [e["scope"] for e in report["hosts"]["h4"]["files"]].count("managed") == 1
    # The human summary names the same things.
    out = result.stdout
    assert re.search(r"DRIFT\s+h1 alice \S+opencode\.json: base_url", out), out[-4000:]
    assert re.search(r"DRIFT\s+h1 bob \S+: mode", out)
    assert re.search(r"DRIFT\s+h2 alice \S+: models_missing: models missing \(fleet-fast\)", out)
    assert re.search(r"UNREACHABLE h6", out)
    assert re.search(r"DRIFT\s+h1 \(system\) \S+omniroute-opencode\.crt: ca_certificate", out), out[-4000:]
    assert "6 hosts: 3 in sync, 2 drifted, 1 unreachable, 0 failed" in out

    # A --limit to the unreachable host alone still reports it, and fails.
    result, _ = _play(fleet, "drift", "--limit", "h6", "-e", f"opencode_drift_report_path={report_path}")
    assert result.returncode != 0, result.stdout[-3000:]
    report = json.loads(report_path.read_text())
    assert {name: rec["status"] for name, rec in report["hosts"].items()} == {"h6": "unreachable"}
    assert "1 hosts: 0 in sync, 0 drifted, 1 unreachable, 0 failed" in result.stdout


def test_converge_repairs_the_drift(fleet):
    h6 = fleet.hosts["h6"]
    fleet.start_sshd(h6)
    fleet.wait_ssh(h6)
    result, recap = _play(fleet, "site", *VERBOSE)
    assert result.returncode == 0, result.stdout[-6000:]
    changed = {name for name, c in recap.items() if c["changed"]}
    assert changed == {"h1", "h2"}, recap
    assert stat.S_IMODE(_config_path(fleet.hosts["h1"], "bob").stat().st_mode) == 0o600
    entry = json.loads(_config_path(fleet.hosts["h1"], "alice").read_text())["provider"]["omniroute"]
    assert entry["options"]["baseURL"] == EXPECTED_URL
    entry = json.loads(_config_path(fleet.hosts["h2"], "alice").read_text())["provider"]["omniroute"]
    assert sorted(entry["models"]) == sorted(MODELS)
    assert (fleet.hosts["h1"].root / "local-ca-certificates" / "omniroute-opencode.crt").exists()

    report_path = fleet.workdir / "drift-after.json"
    result, _ = _play(fleet, "drift", "-e", f"opencode_drift_report_path={report_path}")
    assert result.returncode == 0, result.stdout[-6000:]
    report = json.loads(report_path.read_text())
    assert report["drift"] is False
    _assert_no_secret_in_files(fleet, report_path)
    assert {rec["status"] for rec in report["hosts"].values()} == {"in_sync"}


def _opencode_as(fleet: Fleet, host: Host, user: str):
    xdg = f"/home/{user}/.xdg" if (host.name, user) == ("h3", "erin") else f"/home/{user}/.config"
    command = (f"cd && HOME=/home/{user} XDG_CONFIG_HOME={xdg} OPENCODE_DISABLE_MODELS_FETCH=1 "
               f"OPENCODE_DISABLE_AUTOUPDATE=1 timeout 60 {fleet.opencode} debug config")
    return fleet.ssh(host, command, user=user, check=False, timeout=90)


def test_real_opencode_loads_every_users_config(fleet):
    pairs = [(host, user) for host in fleet.hosts.values() for user in _users(host)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda hu: _opencode_as(fleet, *hu), pairs))
    for (host, user), res in zip(pairs, results):
        assert res.returncode == 0, (host.name, user, res.stderr)
        config = json.loads(res.stdout)
        provider = config["provider"]["omniroute"]
        assert provider["options"]["baseURL"] == EXPECTED_URL, (host.name, user)
        assert set(MODELS) <= set(provider["models"]), (host.name, user)
        if (host.name, user) == ("h2", "dave"):
            assert "local" in config["provider"], "dave's own provider is gone"
        assert SECRET not in res.stdout


def _opencode_run_through_front(fleet: Fleet, pairs):
    for host, user in pairs:
        # No NODE_EXTRA_CA_CERTS, no flag: OpenCode verifies the front's certificate against the host's trust store.
        command = (f"cd && HOME=/home/{user} XDG_CONFIG_HOME=/home/{user}/.config OPENCODE_DISABLE_MODELS_FETCH=1 "
                   f"OPENCODE_DISABLE_AUTOUPDATE=1 timeout 60 {fleet.opencode} run --pure --title t "
                   f"-m omniroute/fleet-default --format json 'say hi' </dev/null")
        res = fleet.ssh(host, command, user=user, check=False, timeout=90)
        assert res.returncode == 0, (host.name, user, res.stdout[-2000:], res.stderr[-2000:])
        texts = "".join(line for line in res.stdout.splitlines() if '"type":"text"' in line.replace(" ", ""))
        assert UPSTREAM_REPLY in texts, (host.name, user, res.stdout[-2000:])


def test_real_opencode_answers_through_the_tls_front_with_the_system_trust_store(fleet):
    h1, h6 = fleet.hosts["h1"], fleet.hosts["h6"]
    fleet.upstream.reset()
    pairs = [(h1, "alice"), (h6, "judy")]
    _opencode_run_through_front(fleet, pairs)
    assert fleet.upstream.chat_count == len(pairs)
    assert {r.authorization for r in fleet.upstream.chat_requests()} == {f"Bearer {SECRET}"}
    # From a client namespace only the TLS port answers; the backend's plain port is loopback-only.
    probe = ("import socket,sys\n"
             "for port in sys.argv[1:]:\n"
             "    s = socket.socket(); s.settimeout(3)\n"
             "    print(port, s.connect_ex(('%s', int(port))))\n" % CONTROLLER_ADDR)
    out = fleet.netns_exec(h1, ["python3", "-c", probe, "443", str(fleet.upstream.port)]).stdout.split()
    assert out[1] == "0" and out[3] != "0", out


def test_a_renewed_certificate_keeps_clients_working(fleet):
    cert = fleet.workdir / "proxy-etc" / "tls" / "fleet-front.crt"
    before = cert.read_bytes()
    # Due within 400 days (more than the 397-day validity): the role re-issues it with the same CA and reloads nginx.
    result = run_tls_front(fleet, fleet.upstream.port, omniroute_proxy_tls_renew_before_days=400)
    assert "changed=0" not in result.stdout.split("PLAY RECAP")[-1]
    assert cert.read_bytes() != before
    assert (fleet.workdir / "proxy-etc" / "tls" / "fleet-front-ca.crt").read_text() == fleet.ca_pem
    time.sleep(1)  # old workers hand over to new ones
    fleet.upstream.reset()
    _opencode_run_through_front(fleet, [(fleet.hosts["h2"], "alice")])
    assert fleet.upstream.chat_count == 1


def test_config_opencode_rejects_fails_the_host_with_opencodes_message(fleet):
    h3 = fleet.hosts["h3"]
    path = _config_path(h3, "frank")
    original = path.read_bytes()
    # A foreign provider with a field of the wrong type: the merge keeps it (not ours to touch),
    # OpenCode refuses the file.
    data = json.loads(original)
    frank_header = "lkf" + os.urandom(10).hex()
    data["provider"]["broken"] = {"models": 3, "options": {"headers": frank_header}}
    _edit(path, lambda _t: json.dumps(data, indent=2) + "\n")
    try:
        result, recap = _play(fleet, "site", "--limit", "h3", *VERBOSE)
        assert find_leaks(result.stdout, [frank_header]) == []
        assert result.returncode != 0
        assert recap["h3"]["failed"] == 1, recap
        assert "user frank: OpenCode could not load the config" in result.stdout, result.stdout[-4000:]
        assert "Configuration is invalid" in result.stdout
        assert "provider.broken.models" in result.stdout
    finally:
        _edit(path, lambda _t: original.decode())
    result, recap = _play(fleet, "site", "--limit", "h3")
    assert result.returncode == 0, result.stdout[-4000:]
