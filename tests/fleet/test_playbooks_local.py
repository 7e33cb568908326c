"""The site and drift playbooks on local-connection hosts (every file under a temp dir).

Covers what the SSH fleet test does not: check mode on a host where nothing is configured yet,
inputs fed from the proxy host's variables (and hand-set ones winning), a file that cannot be
parsed showing up as 'failed' in the drift report, state=absent.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from tests.support.fleet import parse_recap

SECRET = "sk-local-secret-5be1e0"
PROXY_KEY = "test-from-the-proxy-9a8b7c"


def _inventory(tmp_path: pathlib.Path, clients: dict, group_vars: dict | None = None, proxy: bool = True):
    hosts = {}
    for name, hv in clients.items():
        base = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                "opencode_client_users": [{"name": "root", "xdg_config_home": str(tmp_path / name / "config")}]}
        base.update(hv)
        (tmp_path / name).mkdir(exist_ok=True)
        hosts[name] = base
    inv = {"all": {"children": {"opencode_clients": {"hosts": hosts, "vars": group_vars or {}}}}}
    if proxy:
        # A proxy host outside the omniroute_proxy group (so the site playbook does not deploy
        # OmniRoute here) carrying what the proxy role exposes after it ran.
        inv["all"]["hosts"] = {"proxyhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "omniroute_proxy_base_url": "http://proxy.test:20128/v1",
            "omniroute_proxy_client_key": PROXY_KEY,
            "omniroute_proxy_combos": ["combo-a", "combo-b"]}}
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inv))
    return path


def _play(name, inventory, *args):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_GATHERING="explicit", ANSIBLE_LOCALHOST_WARNING="0")
    proc = subprocess.run([shutil.which("ansible-playbook"), f"omniroute.opencode.{name}", "-i", str(inventory),
                           *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                          timeout=300, cwd=inventory.parent)
    assert SECRET not in proc.stdout and PROXY_KEY not in proc.stdout, "a key was printed"
    return proc, parse_recap(proc.stdout)


def _files(root: pathlib.Path):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _entry(tmp_path, host):
    return json.loads((tmp_path / host / "config" / "opencode" / "opencode.json").read_text())["provider"]["omniroute"]


def test_check_mode_on_an_unconfigured_host_writes_nothing(tmp_path):
    managed = tmp_path / "c1" / "etc" / "opencode" / "opencode.json"
    inv = _inventory(tmp_path, {"c1": {"opencode_client_managed_config": True,
                                       "opencode_client_managed_path": str(managed)}},
                     {"opencode_client_base_url": "http://omniroute.test:20128/", "opencode_client_api_key": SECRET},
                     proxy=False)
    before = _files(tmp_path)
    proc, recap = _play("site", inv, "--check", "--diff")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert recap["c1"]["changed"] > 0 and recap["c1"]["failed"] == 0
    assert _files(tmp_path) == before

    report_path = tmp_path / "report.json"
    proc, _ = _play("drift", inv, "-e", f"opencode_drift_report_path={report_path}")
    assert proc.returncode != 0
    assert _files(tmp_path) == sorted(before + ["report.json"])
    files = json.loads(report_path.read_text())["hosts"]["c1"]["files"]
    by_scope = {e["scope"]: e for e in files}
    assert by_scope["user"]["drift"][:2] == ["config_dir", "file_missing"]
    assert "entry_missing" in by_scope["user"]["drift"]
    assert by_scope["managed"]["path"] == str(managed) and "file_missing" in by_scope["managed"]["drift"]


def test_site_takes_the_inputs_from_the_proxy_unless_set_by_hand(tmp_path):
    inv = _inventory(tmp_path, {
        "c1": {},
        "c2": {"opencode_client_base_url": "http://hand.test:1", "opencode_client_models": ["hand-model"]},
        "c3": {"opencode_client_api_key_env": "OMNIROUTE_KEY"},
    }, {"opencode_site_proxy_host": "proxyhost"})
    proc, recap = _play("site", inv)
    assert proc.returncode == 0, proc.stdout[-4000:]
    c1, c2, c3 = (_entry(tmp_path, h) for h in ("c1", "c2", "c3"))
    assert c1["options"] == {"baseURL": "http://proxy.test:20128/v1", "apiKey": PROXY_KEY}
    assert sorted(c1["models"]) == ["combo-a", "combo-b"]
    assert c2["options"] == {"baseURL": "http://hand.test:1/v1", "apiKey": PROXY_KEY}
    assert list(c2["models"]) == ["hand-model"]
    assert "apiKey" not in c3["options"] and c3["env"] == ["OMNIROUTE_KEY"]
    path = tmp_path / "c1" / "config" / "opencode" / "opencode.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"

    proc, recap = _play("site", inv)
    assert proc.returncode == 0 and all(c["changed"] == 0 for c in recap.values()), recap


def test_drift_reports_an_unparsable_file_as_failed(tmp_path):
    inv = _inventory(tmp_path, {"c1": {}, "c2": {}}, {"opencode_site_proxy_host": "proxyhost"})
    proc, _ = _play("site", inv)
    assert proc.returncode == 0, proc.stdout[-4000:]
    broken = tmp_path / "c1" / "config" / "opencode" / "opencode.json"
    broken.write_text('{\n  "provider": {\n    "omniroute": [}\n')
    report_path = tmp_path / "report.json"
    proc, _ = _play("drift", inv, "-e", f"opencode_drift_report_path={report_path}")
    assert proc.returncode != 0
    report = json.loads(report_path.read_text())
    assert report["hosts"]["c1"]["status"] == "failed"
    assert str(broken) in report["hosts"]["c1"]["msg"] and "line 3" in report["hosts"]["c1"]["msg"]
    assert report["hosts"]["c2"]["status"] == "in_sync"
    assert broken.read_text() == '{\n  "provider": {\n    "omniroute": [}\n'
    # Report only: exit 0 although the fleet is not in sync.
    proc, _ = _play("drift", inv, "-e", f"opencode_drift_report_path={report_path}", "-e", "opencode_drift_fail=false")
    assert proc.returncode == 0, proc.stdout[-3000:]
    # A converge fails that host with the file, line and column, and leaves the file alone.
    proc, recap = _play("site", inv)
    assert proc.returncode != 0 and recap["c1"]["failed"] == 1 and recap["c2"]["failed"] == 0
    assert str(broken) in proc.stdout
    assert broken.read_text() == '{\n  "provider": {\n    "omniroute": [}\n'


def test_state_absent_removes_only_the_entry(tmp_path):
    inv = _inventory(tmp_path, {"c1": {}}, {"opencode_site_proxy_host": "proxyhost"})
    cfg = tmp_path / "c1" / "config" / "opencode"
    cfg.mkdir(parents=True)
    (cfg / "opencode.json").write_text('{\n  // mine\n  "theme": "opencode"\n}\n')
    proc, _ = _play("site", inv)
    assert proc.returncode == 0, proc.stdout[-4000:]
    proc, recap = _play("site", inv, "-e", "opencode_client_state=absent")
    assert proc.returncode == 0 and recap["c1"]["changed"] > 0, proc.stdout[-4000:]
    text = (cfg / "opencode.json").read_text()
    assert "omniroute" not in text and "// mine" in text and '"theme": "opencode"' in text
    proc, recap = _play("site", inv, "-e", "opencode_client_state=absent")
    assert proc.returncode == 0 and recap["c1"]["changed"] == 0, proc.stdout[-4000:]


@pytest.mark.parametrize("bad, message", [
    ({"opencode_client_base_url": ""}, "needs opencode_client_base_url"),
    ({"opencode_client_users": ["no-such-user-xyz"]}, "'no-such-user-xyz' does not exist"),
])
def test_bad_inputs_fail_clearly(tmp_path, bad, message):
    inv = _inventory(tmp_path, {"c1": bad}, {"opencode_client_base_url": "http://h:1", "opencode_client_api_key": SECRET},
                     proxy=False)
    proc, recap = _play("site", inv)
    assert proc.returncode != 0 and recap["c1"]["failed"] == 1
    assert message in proc.stdout, proc.stdout[-3000:]


def test_managed_config_instead_of_user_files(tmp_path):
    managed = tmp_path / "c1" / "etc" / "opencode" / "opencode.json"
    inv = _inventory(tmp_path, {"c1": {"opencode_client_managed_config": True, "opencode_client_user_config": False,
                                       "opencode_client_managed_path": str(managed),
                                       "opencode_client_api_key_env": "OMNIROUTE_KEY"}},
                     {"opencode_client_base_url": "http://h:1"}, proxy=False)
    proc, recap = _play("site", inv)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert not (tmp_path / "c1" / "config").exists()
    entry = json.loads(managed.read_text())["provider"]["omniroute"]
    assert entry["options"] == {"baseURL": "http://h:1/v1"} and entry["env"] == ["OMNIROUTE_KEY"]
    assert oct(managed.stat().st_mode & 0o777) == "0o644"  # no key in it: world-readable like OpenCode needs
    proc, recap = _play("site", inv)
    assert proc.returncode == 0 and recap["c1"]["changed"] == 0, proc.stdout[-4000:]


def test_drift_under_limit_reports_exactly_the_hosts_it_covers(tmp_path):
    """--limit must never hide drift: the report and the exit code hold for whatever subset a run covers,
    with any pattern, and with an inventory that has no localhost."""
    inv = _inventory(tmp_path, {"c1": {}, "c2": {}, "c3": {}}, {"opencode_site_proxy_host": "proxyhost"})
    assert "localhost" not in inv.read_text()
    proc, _ = _play("site", inv)
    assert proc.returncode == 0, proc.stdout[-4000:]
    drifted = tmp_path / "c1" / "config" / "opencode" / "opencode.json"
    drifted.write_text(drifted.read_text().replace("http://proxy.test:20128/v1", "http://wrong.test:1/v1"))
    report_path = tmp_path / "report.json"
    for limit, covered in (("c1", ["c1"]),                 # the case the issue reports: one drifted host
                           ("c2", ["c2"]),                 # one host in sync: exit 0, and still a report
                           ("~c[13]", ["c1", "c3"]),       # a regex
                           ("opencode_clients:!c2", ["c1", "c3"])):  # a group minus a host
        proc, _ = _play("drift", inv, "--limit", limit, "-e", f"opencode_drift_report_path={report_path}")
        report = json.loads(report_path.read_text())
        report_path.unlink()
        assert sorted(report["hosts"]) == covered, (limit, proc.stdout[-3000:])
        expect_drift = "c1" in covered
        assert report["drift"] is expect_drift, limit
        assert (proc.returncode != 0) is expect_drift, (limit, proc.stdout[-3000:])
        assert ("DRIFT       c1 root %s: base_url: wrong base URL" % drifted in proc.stdout) is expect_drift
        for host in covered:
            assert report["hosts"][host]["status"] == ("drift" if host == "c1" else "in_sync"), limit
        assert f"{len(covered)} hosts: {len(covered) - expect_drift} in sync, {int(expect_drift)} drifted" \
            in proc.stdout, limit


END_ROLE = "omniroute.opencode.client : End here unless OpenCode is installed, the proxy's CA trusted or the " \
           "configs verified"


def _client_play_tasks(output: str, play: str) -> list[str]:
    """The task headers the default callback printed for one play: a worker per host each, skipped or not, but
    for the role's end_role (a meta task, which the strategy evaluates itself)."""
    section = output.split(f"PLAY [{play}]", 1)[1].split("PLAY [", 1)[0]
    headers = [line.split("TASK [", 1)[1].rsplit("]", 1)[0] for line in section.splitlines()
               if line.startswith("TASK [")]
    return [header for header in headers if header != END_ROLE]


def test_a_client_host_costs_one_task_in_site_and_drift(tmp_path):
    """The fleet cost is workers per host: the client play of the site and drift playbooks runs the role's one
    module task per host (inputs from the proxy computed in that task, the role imported, its variables checked
    inside that task)."""
    inv = _inventory(tmp_path, {"c1": {}, "c2": {}}, {"opencode_site_proxy_host": "proxyhost"})
    proc, _ = _play("site", inv)
    assert proc.returncode == 0, proc.stdout[-4000:]
    module_task = "omniroute.opencode.client : Merge the provider into every user's config file and the managed " \
                  "config, in one module execution"
    tasks = _client_play_tasks(proc.stdout, "Point every developer's OpenCode at the proxy")
    # The last one runs once, for the whole play.
    assert tasks == [module_task, "Tell the proxy hosts whether every client host now holds its current key"], tasks
    proc, _ = _play("drift", inv)
    assert proc.returncode == 0, proc.stdout[-4000:]
    tasks = _client_play_tasks(proc.stdout, "Check the developer machines for drift")
    assert tasks == [module_task], tasks


@pytest.mark.parametrize("bad, variable", [
    ({"opencode_client_state": "gone"}, "opencode_client_state"),
    # A key where a mapping of keys belongs: refused, and the key is not printed even at -vvv.
    ({"opencode_client_user_api_keys": [SECRET]}, "opencode_client_user_api_keys"),
    ({"opencode_client_backup": "sometimes"}, "opencode_client_backup"),
])
def test_role_variables_are_checked_without_a_validation_task(tmp_path, bad, variable):
    """The site playbook skips ansible-core's validation task (rolespec_validate: false); the role's module task
    refuses the same variables against the same argument spec, before anything is written."""
    inv = _inventory(tmp_path, {"c1": bad, "c2": {}}, {"opencode_site_proxy_host": "proxyhost"})
    before = _files(tmp_path)
    proc, recap = _play("site", inv, "-vvv", "--diff")
    assert proc.returncode != 0 and recap["c1"]["failed"] == 1 and recap["c2"]["failed"] == 0, proc.stdout[-4000:]
    assert "Validating arguments against arg spec" not in proc.stdout
    assert "Validation of arguments failed" in proc.stdout and variable in proc.stdout, proc.stdout[-4000:]
    assert not any(p.startswith("c1/") and p != "c1/config" for p in set(_files(tmp_path)) - set(before))
    assert not (tmp_path / "c1" / "config").exists()
    assert (tmp_path / "c2" / "config" / "opencode" / "opencode.json").exists()


def test_site_derives_each_developers_key_unless_one_is_set_by_hand(tmp_path):
    """Per-developer mode (omniroute_site_client_key_secret set): each user's key is derived on the controller by
    the same rule the proxy play uses; a key or a key variable set by hand on a host wins; a rotation changes
    that developer's key only."""
    from ansible_collections.omniroute.opencode.plugins.module_utils._developer_keys import host_user_keys
    site_secret = "site-secret-" + "3c" * 16
    inv = _inventory(tmp_path, {
        "c1": {},
        "c2": {"opencode_client_api_key": SECRET},
        "c3": {"opencode_client_api_key_env": "OMNIROUTE_KEY"},
    }, {"opencode_site_proxy_host": "proxyhost", "omniroute_site_client_key_secret": site_secret})
    proc, _ = _play("site", inv)
    assert proc.returncode == 0, proc.stdout[-4000:]
    derived = host_user_keys("c1", ["root"], site_secret)["root"]
    assert derived not in proc.stdout
    assert _entry(tmp_path, "c1")["options"] == {"baseURL": "http://proxy.test:20128/v1", "apiKey": derived}
    assert _entry(tmp_path, "c2")["options"]["apiKey"] == SECRET
    assert "apiKey" not in _entry(tmp_path, "c3")["options"] and _entry(tmp_path, "c3")["env"] == ["OMNIROUTE_KEY"]

    proc, recap = _play("site", inv, "-e", '{"omniroute_site_client_key_rotations": {"c1/root": 1}}')
    assert proc.returncode == 0 and recap["c1"]["changed"] and not recap["c2"]["changed"], proc.stdout[-4000:]
    rotated = host_user_keys("c1", ["root"], site_secret, rotations={"c1/root": 1})["root"]
    assert rotated != derived and _entry(tmp_path, "c1")["options"]["apiKey"] == rotated
    assert rotated not in proc.stdout


def test_a_short_key_secret_fails_the_host_clearly_and_is_not_printed(tmp_path):
    short = "short-secret-7"
    inv = _inventory(tmp_path, {"c1": {}}, {"opencode_site_proxy_host": "proxyhost",
                                           "omniroute_site_client_key_secret": short})
    proc, recap = _play("site", inv, "-vvv")
    assert proc.returncode != 0 and recap["c1"]["failed"] == 1
    assert "the developer keys cannot be derived" in proc.stdout and "at least 32 characters" in proc.stdout, \
        proc.stdout[-3000:]
    assert short not in proc.stdout
    assert not (tmp_path / "c1" / "config").exists()


def test_the_ca_taken_from_the_proxy_reaches_the_trust_store_step(tmp_path):
    """The proxy's CA is one of the inputs the role's task takes from the proxy host: the role's CA step must see
    it. In the drift run (check mode, nothing written) the missing CA file is reported as ca_certificate drift."""
    ca_name = f"omniroute-test-{os.getpid()}"
    ca_file = pathlib.Path(f"/usr/local/share/ca-certificates/{ca_name}.crt")
    inv = _inventory(tmp_path, {"c1": {"opencode_client_ca_trust": "debian", "opencode_client_ca_name": ca_name}},
                     {"opencode_site_proxy_host": "proxyhost"})
    data = json.loads(inv.read_text())
    data["all"]["hosts"]["proxyhost"]["omniroute_proxy_ca_certificate"] = \
        "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----"
    inv.write_text(json.dumps(data))
    report_path = tmp_path / "report.json"
    proc, _ = _play("drift", inv, "-e", f"opencode_drift_report_path={report_path}")
    assert proc.returncode != 0, proc.stdout[-3000:]
    files = json.loads(report_path.read_text())["hosts"]["c1"]["files"]
    ca = [entry for entry in files if entry["scope"] == "ca"]
    assert ca and ca[0]["path"] == str(ca_file) and ca[0]["drift"] == ["ca_certificate"], files
    assert not ca_file.exists()


def test_with_the_module_task_skipped_by_tags_the_later_steps_still_decide(tmp_path):
    """The role's end_role reads what the module task returned (role_steps); a run that skips that task by its tag
    must not end the role: the CA step still runs on its own condition (check mode here: nothing is written)."""
    ca_name = f"omniroute-test-tags-{os.getpid()}"
    ca_file = pathlib.Path(f"/usr/local/share/ca-certificates/{ca_name}.crt")
    inv = _inventory(tmp_path, {"c1": {"opencode_client_ca_trust": "debian", "opencode_client_ca_name": ca_name,
                                       "opencode_client_ca_certificate":
                                           "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----"}},
                     {"opencode_site_proxy_host": "proxyhost"})
    proc, recap = _play("site", inv, "--check", "--skip-tags", "opencode_client_configure")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "TASK [omniroute.opencode.client : Merge the provider" not in proc.stdout
    assert "TASK [omniroute.opencode.client : Write the proxy's CA into the trust store's source directory]" \
        in proc.stdout, proc.stdout[-3000:]
    assert recap["c1"]["changed"] >= 1, recap
    assert not ca_file.exists() and not (tmp_path / "c1" / "config").exists()
