"""The proxy role, the client role and the site/drift playbooks over a real fleet of SSH hosts.

Six client hosts, each its own sshd in its own network namespace (10.213.0.11-16, reachable only from
the controller namespace the fleet makes), its own /etc (users, /etc/opencode) and /home. The proxy host
``proxy1`` is the controller itself (local connection, inside the controller namespace): the site playbook
deploys the real OmniRoute there in podman (host networking, bound to the namespace's loopback) behind the
role's TLS front on 10.213.0.1:443, in front of three stand-in upstreams on the same loopback (one answering
500, one 429, one healthy, in that priority). Every developer gets a key of their own (the default).
The tests run in order on one fleet: converge (every key distinct and accepted), idempotence, drift report
(two drifted hosts, one unreachable), repair, the real OpenCode binary over SSH as every user and through
TLS and the failover combo from client namespaces, certificate renewal (and the drift report's certificate
entry), a removed developer's key revoked, and a config OpenCode refuses failing its host with OpenCode's own
message.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import secrets
import signal
import stat
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.fleet import CONTROLLER_ADDR, Fleet, Host, parse_recap
from tests.support import omniroute as omr
from tests.support import upstreams as ups
from tests.support.opencode import opencode_binary
from tests.support.secrets import find_leaks, find_leaks_in_files

pytestmark = pytest.mark.slow

PROXY = "proxy1"
# The proxy role's TLS front on the controller's fleet address, port 443 (the namespace's own port space).
BASE_URL = f"https://{CONTROLLER_ADDR}"
EXPECTED_URL = BASE_URL + "/v1"
# OmniRoute on the controller namespace's loopback (its own port space: no other run can hold this port).
OMNIROUTE_PORT = 20128
UPSTREAM_REPLY = "hello through the TLS front"
PRIORITY = ["bad500", "bad429", "good"]
# A renewal threshold above the generated certificate's 397-day validity: renew now (and report it as expiring).
RENEW_NOW = ("-e", json.dumps({"omniroute_proxy_tls_renew_before_days": 400}))
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
# Every credential of the run: Dave's, the proxy's own secrets, the stand-ins' provider keys (added when the fleet
# starts) and every developer's key (added once the converge has written them).
ALL_SECRETS = dict(DAVE_SECRETS)
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


def _proxy_vars(fl: Fleet) -> dict:
    """The proxy host: this controller (local connection, in the controller namespace), the proxy role deploying
    the real OmniRoute in podman on the namespace's loopback behind its TLS front on CONTROLLER_ADDR:443."""
    container = f"{omr.CONTAINER_PREFIX}fleet-{fl.tag}-{secrets.token_hex(2)}"
    return {
        "ansible_connection": "local",
        "ansible_host": CONTROLLER_ADDR,  # the certificate's name and the clients' base URL
        "ansible_python_interpreter": sys.executable,
        **omr.image_build_vars(),
        **fl.proxy_secrets,
        "omniroute_proxy_container_name": container,
        "omniroute_proxy_volume": f"{container}-data",
        "omniroute_proxy_config_dir": str(fl.workdir / "proxy-etc"),
        "omniroute_proxy_network_mode": "host",
        "omniroute_proxy_bind_address": "127.0.0.1",
        "omniroute_proxy_port": OMNIROUTE_PORT,
        "omniroute_proxy_allow_private_provider_urls": True,
        "omniroute_proxy_providers": [{"name": name, "base_url": up.url, "api_key": up.api_key, "models": MODELS}
                                      for name, up in fl.upstreams.items()],
        "omniroute_proxy_provider_priority": PRIORITY,
        "omniroute_proxy_tls_address": CONTROLLER_ADDR,
        "omniroute_proxy_tls_service": "direct",
        "omniroute_proxy_tls_runtime_dir": str(fl.workdir / "proxy-run"),
        "omniroute_proxy_tls_install_packages": False,  # nginx comes from scripts/system-packages.txt
        "omniroute_proxy_backup_dir": str(fl.workdir / "proxy-backups"),
    }


def _start_upstreams(fl: Fleet):
    """The three stand-ins on the controller namespace's loopback (where OmniRoute reaches them)."""
    def start():
        return {
            "bad500": ups.start_upstream("error500", name="bad500", models=MODELS, api_key="k5-" + secrets.token_hex(12)),
            "bad429": ups.start_upstream("ratelimit429", name="bad429", models=MODELS,
                                         api_key="k4-" + secrets.token_hex(12)),
            "good": ups.start_upstream("healthy", name="good", models=MODELS, api_key="kg-" + secrets.token_hex(12),
                                       reply=UPSTREAM_REPLY),
        }
    fl.upstreams = fl.in_controller_netns(start)
    ALL_SECRETS.update({f"provider_{name}": up.api_key for name, up in fl.upstreams.items()})


def _stop_proxy(fl: Fleet):
    """The front's nginx (by the pid it wrote), the OmniRoute container and its volume (by their names)."""
    pid_file = fl.workdir / "proxy-run" / "nginx.pid"
    if pid_file.exists():
        _stop_pid(int(pid_file.read_text()))
    container = getattr(fl, "proxy_container", None)
    if container:
        omr.podman("rm", "--force", "--time", "5", container, check=False)
        omr.podman("volume", "rm", "--force", f"{container}-data", check=False)
    for up in getattr(fl, "upstreams", {}).values():
        up.stop()


def build_fleet():
    """Start the six-host fleet and the stand-ins, with the inventory (proxy and clients); stops and deletes
    everything when closed."""
    binary = opencode_binary()
    omr.ensure_image()
    hosts = [Host(h.name, list(h.users), h.login, dict(h.hostvars), dict(h.groups)) for h in HOSTS]
    fl = Fleet(hosts)
    fl.proxy_secrets = {
        "omniroute_proxy_admin_password": "adm-" + secrets.token_hex(10),
        "omniroute_proxy_jwt_secret": secrets.token_hex(32),
        "omniroute_proxy_api_key_secret": secrets.token_hex(32),
        "omniroute_proxy_storage_encryption_key": secrets.token_hex(32),
    }
    key_secret = secrets.token_hex(32)
    ALL_SECRETS.update(fl.proxy_secrets, key_secret=key_secret)
    try:
        fl.start(opencode_binary=binary)
        _start_upstreams(fl)
        dave = fl.hosts["h2"].user_home("dave") / ".config" / "opencode"
        dave.mkdir(parents=True)
        (dave / "opencode.jsonc").write_text(DAVE_JSONC)
        for p in (dave.parent, dave, dave / "opencode.jsonc"):
            os.chown(p, fl.hosts["h2"].uids["dave"], fl.hosts["h2"].uids["dave"])
        # Base URL, keys (one per developer), models and CA come from the proxy: nothing set by hand.
        fl.inventory = fl.write_inventory({
            "opencode_client_model_labels": {"fleet-fast": "Fleet fast (failover)"},
            "opencode_client_users": [],
            "opencode_client_verify": True,
            "opencode_client_binary": str(fl.opencode),
        })
        inv = json.loads(fl.inventory.read_text())
        # Hosts without their own user list get theirs here (host vars beat group vars).
        for name, hv in inv["all"]["children"]["opencode_clients"]["hosts"].items():
            hv.setdefault("opencode_client_users", fl.hosts[name].users)
            if hv.get("opencode_client_install"):
                hv["opencode_client_npm_prefix"] = str(fl.hosts[name].root / "npm")
        proxy = _proxy_vars(fl)
        fl.proxy_container = proxy["omniroute_proxy_container_name"]
        fl.tls_dir = fl.workdir / "proxy-etc" / "tls"
        inv["all"]["children"]["omniroute_proxy"] = {"hosts": {PROXY: proxy}}
        inv["all"]["vars"] = {"omniroute_site_client_key_secret": key_secret}
        fl.inventory.write_text(json.dumps(inv, indent=2))
        os.chmod(fl.inventory, 0o600)
        yield fl
    finally:
        _stop_proxy(fl)
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
    """Reports and every file on the fleet's hosts, and the proxy's files, that others may read hold no credential
    (each user's own 0600 file holds their key; the managed config holds none with per-developer keys)."""
    for path in paths:
        assert find_leaks(path.read_text(), ALL_SECRETS, where=str(path)) == []
    for host in fleet.hosts.values():
        for where in (host.root / "home", host.root / "etc" / "opencode"):
            assert find_leaks_in_files(where, ALL_SECRETS) == []
    assert find_leaks_in_files(fleet.workdir / "proxy-etc", ALL_SECRETS) == []


def _in_controller(fleet: Fleet, fn):
    """``fn()`` with the sockets it opens in the controller namespace (the proxy's side of the fleet)."""
    return fleet.in_controller_netns(fn)


def _key_status(fleet: Fleet, keys: list[str]) -> list[int]:
    """HTTP status of GET /v1/models through the TLS front (verified with the proxy's CA) for each key."""
    import requests

    ca_file = fleet.workdir / "proxy-ca.crt"
    ca_file.write_text(fleet.ca_pem)

    def statuses():
        return [requests.get(f"{EXPECTED_URL}/models", headers={"Authorization": f"Bearer {key}"},
                             verify=str(ca_file), timeout=20).status_code for key in keys]
    return _in_controller(fleet, statuses)


def _proxy_key_names(fleet: Fleet) -> set[str]:
    """Names of the client keys OmniRoute holds (its management API, on the controller namespace's loopback)."""
    def names():
        session = omr.admin_session(f"http://127.0.0.1:{OMNIROUTE_PORT}",
                                    fleet.proxy_secrets["omniroute_proxy_admin_password"])
        return {k["name"] for k in session.get(f"http://127.0.0.1:{OMNIROUTE_PORT}/api/keys", timeout=10).json()["keys"]}
    return _in_controller(fleet, names)


def _file_key(host: Host, user: str) -> str | None:
    import json5

    entry = json5.loads(_config_path(host, user).read_text())["provider"]["omniroute"]
    return entry["options"].get("apiKey")


def test_converge_configures_every_user(fleet):
    result, recap = _play(fleet, "site")
    assert result.returncode == 0, result.stdout[-6000:]
    assert set(recap) == set(fleet.hosts) | {PROXY}, recap
    for name, counters in recap.items():
        assert counters["failed"] == 0 and counters["unreachable"] == 0, (name, counters)
        assert counters["changed"] > 0, (name, counters)
    fleet.ca_pem = (fleet.tls_dir / f"{fleet.proxy_container}-ca.crt").read_text()

    # One key per developer (a user on a host) in that user's own file; h3 reads its key from the environment.
    fleet.keys = {(host.name, user): _file_key(host, user) for host in fleet.hosts.values() for user in _users(host)
                  if host.name != "h3"}
    assert all(fleet.keys.values()) and len(set(fleet.keys.values())) == len(fleet.keys), "keys are not distinct"
    ALL_SECRETS.update({f"key_{h}_{u}": key for (h, u), key in fleet.keys.items()})
    assert find_leaks(result.stdout, ALL_SECRETS) == [], "a developer key was printed"
    # Every key is accepted through the TLS front, a made-up one is not.
    fleet.keys_used_at = time.monotonic()
    assert _key_status(fleet, list(fleet.keys.values()) + ["sk-made-up-" + secrets.token_hex(8)]) == \
        [200] * len(fleet.keys) + [401]

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
            # Base URL and models come from the proxy's facts: the TLS front's https URL and its combos.
            assert entry["options"]["baseURL"] == EXPECTED_URL
            assert sorted(entry["models"]) == sorted(MODELS)
            assert entry["models"]["fleet-fast"]["name"] == "Fleet fast (failover)"
            if host.name == "h3":
                assert "apiKey" not in entry["options"] and entry["env"] == ["OMNIROUTE_API_KEY"]
    # The XDG override made ~/.xdg for erin (0700, hers), nothing under ~/.config.
    erin = fleet.hosts["h3"].user_home("erin")
    assert stat.S_IMODE((erin / ".xdg").stat().st_mode) == 0o700 and not (erin / ".config").exists()
    # The managed config on h4: root's, with no key in it (each user's own key, in their file, wins).
    managed = fleet.hosts["h4"].root / "etc" / "opencode" / "opencode.json"
    assert managed.stat().st_uid == 0
    entry = json.loads(managed.read_text())["provider"]["omniroute"]
    assert entry["options"]["baseURL"] == EXPECTED_URL and "apiKey" not in entry["options"]
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
    assert {name: c["changed"] for name, c in recap.items()} == {name: 0 for name in [*fleet.hosts, PROXY]}, recap
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
                        "h6": "unreachable", PROXY: "in_sync"}, statuses
    assert report["drift"] is True
    # The proxy: its container, 3 providers, 3 combos, 12 developer keys, 2 tuning entries and the certificate.
    proxy = {(e["entity"], e["name"]): e["status"] for e in report["hosts"][PROXY]["proxy"]}
    assert sorted(kind for kind, _ in proxy).count("client_key") == 12 and len(proxy) == 22, proxy
    assert ("certificate", str(fleet.tls_dir / f"{fleet.proxy_container}.crt")) in proxy, proxy
    assert report["summary"] == {"hosts": 7, "in_sync": 4, "drifted": 2, "unreachable": 1, "failed": 0,
                                 "files": 12, "files_not_in_sync": 4, "proxy_entities": 22,
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
    assert "7 hosts: 4 in sync, 2 drifted, 1 unreachable, 0 failed" in out

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
        # (debug config masks keys but shows dave's MCP environment in clear: only the user's own key is checked)
        assert fleet.keys.get((host.name, user)) is None or fleet.keys[host.name, user] not in res.stdout


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


def test_real_opencode_answers_through_the_tls_front_and_the_failover_combo(fleet):
    h1, h6 = fleet.hosts["h1"], fleet.hosts["h6"]
    for up in fleet.upstreams.values():
        up.reset()
    pairs = [(h1, "alice"), (h6, "judy")]
    _opencode_run_through_front(fleet, pairs)
    good, bad500 = fleet.upstreams["good"], fleet.upstreams["bad500"]
    # Each answer came from the healthy stand-in, after OmniRoute tried the failing leg first (a failed leg then
    # cools down: the second request may skip it), with the provider key the proxy role declared.
    assert good.chat_count == len(pairs) and bad500.chat_count >= 1
    assert {r.authorization for r in good.chat_requests()} == {f"Bearer {good.api_key}"}
    assert {r.model for r in good.chat_requests()} == {"fleet-default"}
    # From a client namespace only the TLS port answers; OmniRoute's plain port and the stand-ins are loopback-only.
    probe = ("import socket,sys\n"
             "for port in sys.argv[1:]:\n"
             "    s = socket.socket(); s.settimeout(3)\n"
             "    print(port, s.connect_ex(('%s', int(port))))\n" % CONTROLLER_ADDR)
    ports = ["443", str(OMNIROUTE_PORT), str(good.port)]
    out = fleet.netns_exec(h1, ["python3", "-c", probe, *ports]).stdout.split()
    assert out[1] == "0" and out[3] != "0" and out[5] != "0", out


def _served_certificate(fleet: Fleet) -> bytes:
    """The certificate the front serves on CONTROLLER_ADDR:443 (DER), verified with the proxy's CA."""
    import socket
    import ssl

    def fetch():
        context = ssl.create_default_context(cadata=fleet.ca_pem)
        with socket.create_connection((CONTROLLER_ADDR, 443), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=CONTROLLER_ADDR) as tls:
                return tls.getpeercert(binary_form=True)
    return _in_controller(fleet, fetch)


def test_one_converge_revokes_a_removed_developers_key_and_renews_the_certificate(fleet):
    """One site run with carol removed from h1 and a renewal threshold above the certificate's validity: carol's key
    gets 401, every other key still works, the front serves a new certificate from the same CA, and the clients,
    changed in nothing, keep working through it."""
    import ssl

    carol = fleet.keys["h1", "carol"]
    others = {who: key for who, key in fleet.keys.items() if who != ("h1", "carol")}
    names_before = _proxy_key_names(fleet)
    carols_names = {name for name in names_before if "/h1/carol/" in name}
    assert len(carols_names) == 1, names_before
    inv = json.loads(fleet.inventory.read_text())
    inv["all"]["children"]["opencode_clients"]["hosts"]["h1"]["opencode_client_users"] = ["alice", "bob"]
    fleet.inventory.write_text(json.dumps(inv, indent=2))
    cert = fleet.tls_dir / f"{fleet.proxy_container}.crt"
    cert_before = cert.read_bytes()
    clients_before = _snapshot(fleet)

    # Due within 400 days (more than the 397-day validity): the role re-issues it with the same CA and reloads nginx.
    result, recap = _play(fleet, "site", *RENEW_NOW)
    assert result.returncode == 0, result.stdout[-6000:]
    assert recap[PROXY]["changed"] > 0 and {recap[h]["changed"] for h in fleet.hosts} == {0}, recap
    assert _snapshot(fleet) == clients_before

    assert _proxy_key_names(fleet) == names_before - carols_names
    # OmniRoute remembers a key's successful validation for 60 s: carol's key was last used (accepted) when the
    # fleet converged, minutes ago; wait out whatever is left of that minute (usually nothing), then ask once.
    time.sleep(max(0.0, 62 - (time.monotonic() - fleet.keys_used_at)))
    assert _key_status(fleet, [carol]) == [401]
    assert _key_status(fleet, list(others.values())) == [200] * len(others)

    assert cert.read_bytes() != cert_before
    assert (fleet.tls_dir / f"{fleet.proxy_container}-ca.crt").read_text() == fleet.ca_pem
    new_der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    for _ in range(50):  # old workers hand over to new ones
        if _served_certificate(fleet) == new_der:
            break
        time.sleep(0.1)
    assert _served_certificate(fleet) == new_der
    fleet.upstreams["good"].reset()
    _opencode_run_through_front(fleet, [(fleet.hosts["h2"], "alice")])
    assert fleet.upstreams["good"].chat_count == 1


def test_the_drift_report_shows_a_certificate_within_the_renewal_threshold(fleet):
    import junitparser
    from prometheus_client.parser import text_string_to_metric_families

    cert = fleet.tls_dir / f"{fleet.proxy_container}.crt"
    # The threshold that renewed it above: the fresh certificate is within it, so it is drift, in every format.
    out = fleet.workdir / "drift-cert"
    out.mkdir()
    paths = {"opencode_drift_report_path": str(out / "drift.json"), "opencode_drift_junit_path": str(out / "drift.xml"),
             "opencode_drift_metrics_path": str(out / "drift.prom")}
    result, _ = _play(fleet, "drift", "--limit", PROXY, *RENEW_NOW, "-e", json.dumps(paths))
    assert result.returncode != 0, result.stdout[-6000:]
    entry = next(e for e in json.loads((out / "drift.json").read_text())["hosts"][PROXY]["proxy"]
                 if e["entity"] == "certificate")
    days = entry["days_to_expiry"]
    assert entry["name"] == str(cert) and entry["drift"] == ["expiring"] and entry["renew_days"] == 400, entry
    assert days in (395, 396), entry  # 397 days of validity, issued moments ago
    assert re.search(rf"DRIFT\s+{PROXY} certificate {re.escape(str(cert))}: expires in {days} days "
                     r"\(renewal threshold 400\)", result.stdout), result.stdout[-4000:]
    cases = {case.name: case for suite in junitparser.JUnitXml.fromfile(str(out / "drift.xml")) for case in suite}
    assert type(cases[f"proxy certificate {cert}"].result[0]).__name__ == "Failure"
    metrics = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families((out / "drift.prom").read_text()) for s in family.samples}
    assert metrics["opencode_drift_certificate_days_to_expiry", (("certificate", str(cert)), ("host", PROXY))] == days
    for path in out.iterdir():
        assert find_leaks(path.read_text(), ALL_SECRETS, where=str(path)) == []


def test_config_opencode_rejects_fails_the_host_with_opencodes_message(fleet):
    h3 = fleet.hosts["h3"]
    # A run limited to h3 leaves the proxy out, so its facts are unknown: the client inputs are set by hand, as the
    # site playbook allows (h3's users read their key from the environment).
    inputs = ("-e", json.dumps({"opencode_client_base_url": EXPECTED_URL, "opencode_client_models": MODELS,
                                "opencode_client_ca_certificate": fleet.ca_pem}))
    path = _config_path(h3, "frank")
    original = path.read_bytes()
    # A foreign provider with a field of the wrong type: the merge keeps it (not ours to touch),
    # OpenCode refuses the file.
    data = json.loads(original)
    frank_header = "lkf" + os.urandom(10).hex()
    data["provider"]["broken"] = {"models": 3, "options": {"headers": frank_header}}
    _edit(path, lambda _t: json.dumps(data, indent=2) + "\n")
    try:
        result, recap = _play(fleet, "site", "--limit", "h3", *inputs, *VERBOSE)
        assert find_leaks(result.stdout, [frank_header]) == []
        assert result.returncode != 0
        assert recap["h3"]["failed"] == 1, recap
        assert "user frank: OpenCode could not load the config" in result.stdout, result.stdout[-4000:]
        assert "Configuration is invalid" in result.stdout
        assert "provider.broken.models" in result.stdout
    finally:
        _edit(path, lambda _t: original.decode())
    result, recap = _play(fleet, "site", "--limit", "h3", *inputs)
    assert result.returncode == 0, result.stdout[-4000:]
