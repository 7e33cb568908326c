"""Unit tests: user resolution (module_utils/_client_users) and the report filters."""

from __future__ import annotations

import json
import pwd
from types import SimpleNamespace

import pytest

from ansible_collections.omniroute.opencode.plugins.filter.client_report import (
    client_report_entries,
    client_verify_problems,
    drift_report,
)
from ansible_collections.omniroute.opencode.plugins.module_utils._client_users import (
    UserResolveError,
    normalize_user_entries,
    resolve_user,
    resolve_users,
)


def _pw(name, home, uid=1000, gid=1000):
    return SimpleNamespace(pw_name=name, pw_dir=home, pw_uid=uid, pw_gid=gid, pw_shell="/bin/sh")


def _env(tmp_path, users):
    db = {name: _pw(name, str(tmp_path / name), 1000 + i, 1000 + i) for i, name in enumerate(users)}

    def getpwnam(name):
        return db[name]

    def getgrgid(gid):
        return SimpleNamespace(gr_name="g%d" % gid)
    return dict(getpwnam=getpwnam, getgrgid=getgrgid)


def test_normalize_entries_default_and_errors():
    assert normalize_user_entries([], "dev") == [{"name": "dev", "xdg_config_home": None, "config_file": None}]
    assert normalize_user_entries(["a", {"name": "b", "xdg_config_home": "~/x"}], "dev")[1]["xdg_config_home"] == "~/x"
    with pytest.raises(UserResolveError, match="listed twice"):
        normalize_user_entries(["a", "a"], "dev")
    with pytest.raises(UserResolveError, match="unknown keys: colour"):
        normalize_user_entries([{"name": "a", "colour": 1}], "dev")
    with pytest.raises(UserResolveError, match="config_file"):
        normalize_user_entries([{"name": "a", "config_file": "config.json"}], "dev")
    with pytest.raises(UserResolveError, match="no user name"):
        normalize_user_entries([{"xdg_config_home": "/x"}], "dev")


def test_resolve_fresh_home_creates_config_and_opencode_dirs(tmp_path):
    (tmp_path / "alice").mkdir()
    got = resolve_user({"name": "alice"}, **_env(tmp_path, ["alice"]))
    assert got["config_path"] == str(tmp_path / "alice/.config/opencode/opencode.json")
    assert got["dirs"] == [{"path": str(tmp_path / "alice/.config"), "mode": "0700"},
                           {"path": str(tmp_path / "alice/.config/opencode"), "mode": "0700"}]
    assert (got["uid"], got["group"], got["config_exists"]) == (1000, "g1000", False)


def test_resolve_prefers_existing_jsonc_like_opencode(tmp_path):
    cfg = tmp_path / "bob/.config/opencode"
    cfg.mkdir(parents=True)
    (cfg / "opencode.jsonc").write_text("{}")
    (cfg / "opencode.json").write_text("{}")
    got = resolve_user({"name": "bob"}, **_env(tmp_path, ["bob"]))
    assert got["config_file"] == "opencode.jsonc" and got["config_exists"]
    assert got["other_config_files"] == ["opencode.json"]
    # .config exists already: only the opencode dir is declared (so its owner/mode is not touched).
    assert [d["path"] for d in got["dirs"]] == [str(cfg)]
    forced = resolve_user({"name": "bob", "config_file": "opencode.json"}, **_env(tmp_path, ["bob"]))
    assert forced["config_path"] == str(cfg / "opencode.json")


def test_resolve_xdg_override(tmp_path):
    (tmp_path / "erin").mkdir()
    got = resolve_user({"name": "erin", "xdg_config_home": "~/.xdg"}, **_env(tmp_path, ["erin"]))
    assert got["config_dir"] == str(tmp_path / "erin/.xdg/opencode") and got["xdg_config_home_custom"]
    with pytest.raises(UserResolveError, match="not absolute"):
        resolve_user({"name": "erin", "xdg_config_home": "rel/dir"}, **_env(tmp_path, ["erin"]))
    with pytest.raises(UserResolveError, match="parent of XDG config home"):
        resolve_user({"name": "erin", "xdg_config_home": str(tmp_path / "no/such")}, **_env(tmp_path, ["erin"]))


def test_resolve_users_collects_every_problem(tmp_path):
    env = _env(tmp_path, ["nohome"])
    with pytest.raises(UserResolveError) as err:
        resolve_users(["ghost", "nohome"], "root", **env)
    assert "'ghost' does not exist" in str(err.value) and "home directory" in str(err.value)


def test_resolve_real_current_user():
    me = pwd.getpwuid(__import__("os").geteuid()).pw_name
    assert resolve_users([], me)[0]["name"] == me


def _merge_result(user, changed, drift, **extra):
    res = {"item": {"name": user, "config_path": "/home/%s/.config/opencode/opencode.json" % user},
           "changed": changed, "drift": drift, "path": "/home/%s/.config/opencode/opencode.json" % user}
    res.update(extra)
    return res


def test_client_report_entries_codes_dirs_and_failures():
    results = [
        _merge_result("alice", True, ["base_url", "base_url_stale_v1"]),
        _merge_result("bob", False, []),
        {"item": {"name": "carol", "config_path": "/c"}, "failed": True, "msg": "line 3 column 1: bad", "changed": False},
        {"item": {"name": "dan"}, "skipped": True},
    ]
    dirs = [{"item": [{"name": "bob"}, {"path": "/home/bob/.config/opencode"}], "changed": True},
            {"item": [{"name": "alice"}, {"path": "/x"}], "changed": False}]
    entries = client_report_entries(results, scope="user", dir_results=dirs)
    assert [e["user"] for e in entries] == ["alice", "bob", "carol"]
    assert entries[0]["drift"] == ["base_url", "base_url_stale_v1"]
    assert entries[1]["drift"] == ["config_dir"]
    assert entries[2]["failed"] and entries[2]["path"] == "/c" and "column 1" in entries[2]["msg"]
    managed = client_report_entries([{"changed": True, "drift": [], "path": "/etc/opencode/opencode.json"}],
                                    scope="managed", dir_results=[{"skipped": True}])
    assert managed == [{"user": "(managed)", "scope": "managed", "path": "/etc/opencode/opencode.json",
                        "changed": True, "drift": ["changed"], "models_missing_ids": [],
                        "models_unexpected_ids": [], "failed": False, "msg": ""}]
    assert client_report_entries([{"skipped": True}], scope="managed") == []


def test_drift_report_statuses_counts_and_lines():
    ok = client_report_entries([_merge_result("a", False, [])])
    drift = client_report_entries([_merge_result("a", True, ["models_missing"], models_missing_ids=["m2"]),
                                   _merge_result("b", False, [])])
    failed = client_report_entries([{"item": {"name": "c", "config_path": "/p"}, "failed": True, "msg": "bad"}])
    hostvars = {
        "ok": {"opencode_client_report": ok},
        "drift": {"opencode_client_report": drift},
        "down": {"_opencode_drift_unreachable": {"msg": "Connection refused"}},
        "broken": {"opencode_client_report": failed},
        "crashed": {"_opencode_drift_error": "argument spec: bad type"},
        "silent": {},
    }
    report = drift_report(hostvars, list(hostvars))
    assert {h: r["status"] for h, r in report["hosts"].items()} == {
        "ok": "in_sync", "drift": "drift", "down": "unreachable", "broken": "failed", "crashed": "failed",
        "silent": "failed"}
    assert report["summary"] == {"hosts": 6, "in_sync": 1, "drifted": 1, "unreachable": 1, "failed": 3,
                                 "files": 4, "files_not_in_sync": 2, "proxy_entities": 0,
                                 "proxy_entities_not_in_sync": 0}
    assert report["drift"] is True
    assert "DRIFT       drift a /home/a/.config/opencode/opencode.json: models_missing: models missing (m2)" \
        in report["lines"]
    assert "UNREACHABLE down: Connection refused" in report["lines"]
    json.dumps(report)  # the JSON report is plain data
    assert drift_report({"ok": hostvars["ok"]}, ["ok"])["drift"] is False
    assert drift_report({}, [])["summary"]["hosts"] == 0


def test_drift_report_reads_reachability_from_the_registered_results():
    """The drift playbook records no fact for an unreachable host: the client module's result (registered with
    ignore_unreachable) or the proxies' reachability check says it; a failed check means no commands run."""
    ok = client_report_entries([_merge_result("a", False, [])])
    hostvars = {
        "client_down": {"_opencode_client_result": {"unreachable": True, "msg": "ssh: connect: No route to host"}},
        "proxy_down": {"_opencode_drift_ping": {"unreachable": True, "msg": "timed out"}},
        "no_shell": {"_opencode_drift_ping": {"failed": True, "msg": "exec failed"}},
        "fine": {"_opencode_drift_ping": {"changed": False}, "_opencode_client_result": {"files": ok},
                 "opencode_client_report": ok},
    }
    report = drift_report(hostvars, list(hostvars), proxies=["proxy_down", "no_shell"],
                          clients=["client_down", "fine"])
    assert {h: r["status"] for h, r in report["hosts"].items()} == {
        "client_down": "unreachable", "proxy_down": "unreachable", "no_shell": "failed", "fine": "in_sync"}
    assert "UNREACHABLE client_down: ssh: connect: No route to host" in report["lines"]
    assert "cannot run commands: exec failed" in report["hosts"]["no_shell"]["msg"]
    # A recorded fact wins over the probes.
    hostvars["fine"]["_opencode_drift_unreachable"] = {"msg": "recorded"}
    assert drift_report(hostvars, ["fine"])["hosts"]["fine"]["status"] == "unreachable"


def _debug_result(user, rc, stdout="", stderr=""):
    return {"item": {"name": user}, "rc": rc, "stdout": stdout, "stderr": stderr}


def test_verify_problems():
    good = json.dumps({"provider": {"omniroute": {"options": {"baseURL": "http://h:1/v1"},
                                                  "models": {"m1": {}, "m2": {}}}}})
    assert client_verify_problems([_debug_result("a", 0, good)], base_url="http://h:1/v1", models=["m1"]) == []
    wrong = client_verify_problems([_debug_result("a", 0, good)], base_url="http://other:1/v1", models=["m3"])
    assert len(wrong) == 2 and "expected 'http://other:1/v1'" in wrong[0] and "m3" in wrong[1]
    stderr = ("\x1b[91m\x1b[1mError: \x1b[0mConfig file at /h/opencode.json is not valid JSON(C): \n"
              "--- JSONC Input ---\n{\"apiKey\": \"sk-other-provider-key\", [}\n--- Errors ---\n"
              "ValueExpected at line 1, column 30\n   Line 1: {\"apiKey\": \"sk-other-provider-key\", [}\n"
              "                             ^\n")
    bad = client_verify_problems([_debug_result("b", 1, stderr=stderr + " sk-ours")], secret="sk-ours")
    assert bad == ["user b: OpenCode could not load the config (rc 1): Error: Config file at /h/opencode.json is "
                   "not valid JSON(C): ValueExpected at line 1, column 30 ********"]
    assert "timed out" in client_verify_problems([_debug_result("c", 124)])[0]
    assert "no provider 'omniroute'" in client_verify_problems([_debug_result("d", 0, "{}")])[0]
    assert client_verify_problems([{"skipped": True}]) == []


def test_failed_line_names_the_file_once():
    path = "/home/c/.config/opencode/opencode.json"
    failed = client_report_entries([{"item": {"name": "c", "config_path": path}, "failed": True,
                                     "msg": f"{path}: line 3, column 18: value expected"}])
    report = drift_report({"h": {"opencode_client_report": failed}}, ["h"])
    line = next(x for x in report["lines"] if x.startswith("FAILED"))
    assert line == f"FAILED      h c {path}: line 3, column 18: value expected"
    assert line.count(path) == 1
    assert report["hosts"]["h"]["msg"].count(path) == 1


# ------------------------------------------------------------------------------------------- the proxy
from ansible_collections.omniroute.opencode.plugins.filter.drift_formats import (  # noqa: E402
    drift_junit_xml,
    drift_prometheus,
)
from ansible_collections.omniroute.opencode.plugins.filter.proxy_report import (  # noqa: E402
    certificate_entity,
    container_entities,
    proxy_report_entities,
)

RUNNING = {"name": "omniroute", "exists": True, "running": True, "declared_image": "docker.io/diegosouzapw/omniroute:3.7.9",
           "running_image": "docker.io/diegosouzapw/omniroute:3.7.9", "changed": False}
CONFIG_IN_SYNC = {"changed": False, "combos": {"claude-sonnet-4-5": ["a/x", "b/x"], "gpt-4o-mini": ["a/y", "b/y"]},
                  "drift": []}


def _proxy_config(*drift):
    return dict(CONFIG_IN_SYNC, changed=bool(drift), drift=list(drift))


def test_container_entity_missing_stopped_version_image():
    assert container_entities(RUNNING)[0]["status"] == "in_sync"
    assert container_entities(dict(RUNNING, exists=False))[0]["drift"] == ["missing"]
    assert container_entities(dict(RUNNING, running=False))[0]["drift"] == ["stopped"]
    version = container_entities(dict(RUNNING, running_image="diegosouzapw/omniroute:3.7.8"))[0]
    assert version["drift"] == ["version"] and version["details"] == ["runs version 3.7.8, declared 3.7.9"]
    other = container_entities(dict(RUNNING, running_image="localhost/omniroute:3.7.9"))[0]
    assert other["drift"] == ["image"]
    assert container_entities(dict(RUNNING, changed=True))[0]["drift"] == ["settings"]


def test_proxy_entities_one_per_declared_name_and_drift_words():
    config = _proxy_config(
        {"entity": "combo", "name": "claude-sonnet-4-5", "action": "update", "fields": ["models"],
         "details": ["legs reordered"]},
        {"entity": "provider", "name": "b", "action": "create", "fields": []},
        {"entity": "client_key", "name": "opencode", "action": "create", "fields": []},
        {"entity": "client_key", "name": "alice", "action": "delete", "fields": []},
        {"entity": "resilience", "name": "resilience", "action": "update",
         "fields": ["requestQueue.autoEnableApiKeyProviders"]},
    )
    entities = proxy_report_entities(config, container=RUNNING, api={"unreachable": False}, providers=["a", "b"],
                                     client_keys=["opencode"])
    by_key = {(e["entity"], e["name"]): e for e in entities}
    assert list(by_key) == [("container", "omniroute"), ("provider", "a"), ("provider", "b"),
                            ("combo", "claude-sonnet-4-5"), ("combo", "gpt-4o-mini"), ("client_key", "opencode"),
                            ("tuning", "resilience"), ("tuning", "combo_defaults"), ("client_key", "alice")]
    assert by_key["combo", "claude-sonnet-4-5"]["details"] == ["legs reordered"]
    assert by_key["combo", "gpt-4o-mini"]["status"] == "in_sync"
    assert by_key["provider", "b"]["drift"] == ["missing"]
    assert by_key["client_key", "opencode"]["drift"] == ["missing"]
    assert by_key["client_key", "alice"]["drift"] == ["revoked_present"]
    assert by_key["tuning", "resilience"]["drift"] == ["requestQueue.autoEnableApiKeyProviders"]

    report = drift_report({"proxy1": {"omniroute_proxy_report": entities}}, ["proxy1"], proxies=["proxy1"], clients=[])
    assert report["hosts"]["proxy1"]["status"] == "drift"
    assert "DRIFT       proxy1 combo claude-sonnet-4-5: legs reordered" in report["lines"]
    assert "DRIFT       proxy1 client_key opencode: declared but missing on the proxy (revoked by hand?)" \
        in report["lines"]
    assert report["summary"]["proxy_entities"] == 9 and report["summary"]["proxy_entities_not_in_sync"] == 5
    assert report["lines"][-1] == ("1 hosts: 0 in sync, 1 drifted, 0 unreachable, 0 failed "
                                   "(0 of 0 files and 5 of 9 proxy entities not in sync)")


def test_unreachable_proxy_api_is_never_in_sync():
    # The container does not run (check mode skipped the API comparison).
    entities = proxy_report_entities({"skipped": True}, container=dict(RUNNING, running=False),
                                     api={"unreachable": True, "url": "http://127.0.0.1:20128", "msg": "not running"},
                                     providers=["a"], client_keys=["opencode"])
    assert [(e["entity"], e["status"]) for e in entities] == [("container", "drift"), ("api", "unreachable")]
    report = drift_report({"p": {"omniroute_proxy_report": entities}}, ["p"], proxies=["p"], clients=[])
    assert report["hosts"]["p"]["status"] == "unreachable" and report["drift"] is True
    assert "UNREACHABLE p api http://127.0.0.1:20128: not running" in report["lines"]
    # The API did not answer the role's health wait, or the module could not connect: unreachable, not failed.
    for failure in ({"msg": "Status code was -1: Connection refused", "action": "ansible.builtin.uri",
                     "url": "http://127.0.0.1:1/api/monitoring/health"},
                    {"msg": "cannot reach OmniRoute", "action": "omniroute.opencode.omniroute_config", "status": None},
                    {"msg": "cannot reach OmniRoute", "action": "omniroute.opencode.omniroute_config", "status": "None"}):
        report = drift_report({"p": {"_opencode_drift_proxy_error": failure}}, ["p"], proxies=["p"], clients=[])
        assert report["hosts"]["p"]["status"] == "unreachable", failure
    # A wrong admin password is a failure of the check, not an unreachable API.
    wrong = {"msg": "rejected the admin password (HTTP 401)", "action": "omniroute.opencode.omniroute_config",
             "status": 401}
    report = drift_report({"p": {"_opencode_drift_proxy_error": wrong}}, ["p"], proxies=["p"], clients=[])
    assert report["hosts"]["p"]["status"] == "failed" and "admin password" in report["hosts"]["p"]["msg"]
    # A proxy that left no result at all is failed.
    assert drift_report({"p": {}}, ["p"], proxies=["p"], clients=[])["hosts"]["p"]["status"] == "failed"


def test_certificate_entity_days_to_expiry():
    assert certificate_entity(None) == [] and certificate_entity({"name": "c"}) == []
    ok, = certificate_entity({"name": "/etc/x.crt", "days_to_expiry": 60, "renew_days": 30})
    assert ok["status"] == "in_sync" and ok["days_to_expiry"] == 60
    soon, = certificate_entity({"name": "/etc/x.crt", "days_to_expiry": 30, "renew_days": 30})
    assert soon["drift"] == ["expiring"]
    gone, = certificate_entity({"name": "/etc/x.crt", "days_to_expiry": -2, "renew_days": 30})
    assert gone["drift"] == ["expired"] and gone["details"] == ["expired 2 days ago"]


# ------------------------------------------------------------------------- formats, with real parsers
import junitparser  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

_file_entry = st.builds(
    lambda user, drift, failed: {"user": user, "scope": "user", "path": f"/home/{user}/.config/opencode/opencode.json",
                                 "changed": bool(drift), "drift": drift, "models_missing_ids": [],
                                 "models_unexpected_ids": [], "failed": failed,
                                 "msg": 'bad "quote" <tag> & \\ back' if failed else ""},
    st.sampled_from(["alice", "bob", "ca rol"]), st.lists(st.sampled_from(["base_url", "mode"]), max_size=2,
                                                          unique=True), st.booleans())
_proxy_entity = st.builds(
    lambda kind, name, status: {"entity": kind, "name": name, "status": status,
                                "drift": [] if status == "in_sync" else ["x"], "details": ["d"], "msg": ""},
    st.sampled_from(["combo", "provider", "client_key"]), st.sampled_from(['c"1', "c\\2", "c\n3"]),
    st.sampled_from(["in_sync", "drift", "unreachable", "failed"]))
_hostvars = st.dictionaries(
    st.sampled_from(["h1", "h2", "proxy1", 'we"ird']),
    st.one_of(st.builds(lambda files: {"opencode_client_report": files}, st.lists(_file_entry, max_size=3, unique_by=lambda e: e["user"])),
              st.builds(lambda e: {"omniroute_proxy_report": e}, st.lists(_proxy_entity, min_size=1, max_size=3,
                                                                       unique_by=lambda e: (e["entity"], e["name"]))),
              st.just({"_opencode_drift_unreachable": {"msg": "ssh: Connection refused"}}),
              st.just({"_opencode_drift_error": "boom <&>"})),
    max_size=4)


def _report(hostvars):
    proxies = [h for h, hv in hostvars.items() if "omniroute_proxy_report" in hv]
    return drift_report(hostvars, list(hostvars), proxies=proxies, clients=[h for h in hostvars if h not in proxies])


def _expected_cases(report):
    cases = {}
    for host, record in report["hosts"].items():
        for e in record["files"]:
            cases[host, f"file {e['user']} {e['path']}"] = "error" if e["failed"] else ("failure" if e["drift"] else "ok")
        for e in record["proxy"]:
            cases[host, f"proxy {e['entity']} {e['name']}"] = {"in_sync": "ok", "drift": "failure"}.get(e["status"], "error")
        if record["status"] in ("unreachable", "failed") and "error" not in {v for (h, _), v in cases.items() if h == host}:
            cases[host, "host"] = "error"
    return cases


@settings(max_examples=60, deadline=None)
@given(_hostvars)
def test_junit_xml_parses_with_one_case_per_file_and_entity(tmp_path_factory, hostvars):
    report = _report(hostvars)
    path = tmp_path_factory.mktemp("junit") / "drift.xml"
    path.write_text(drift_junit_xml(report, timestamp=1767225600))
    xml = junitparser.JUnitXml.fromfile(str(path))
    got = {}
    for suite in xml:
        assert suite.timestamp == "2026-01-01T00:00:00"
        for case in suite:
            results = case.result
            kind = "ok" if not results else ("failure" if isinstance(results[0], junitparser.Failure) else "error")
            if kind != "ok":
                assert results[0].message  # the codes
            got[suite.name, case.name] = kind
            assert case.classname == suite.name
    expected = _expected_cases(report)
    assert got == expected
    assert xml.tests == sum(len(list(s)) for s in xml)
    assert xml.failures == sum(1 for s in xml for c in s if c.result and isinstance(c.result[0], junitparser.Failure))


@settings(max_examples=60, deadline=None)
@given(_hostvars)
def test_prometheus_text_parses_and_matches_the_report(hostvars):
    report = _report(hostvars)
    text = drift_prometheus(report, timestamp=1767225600)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {f: [(s.labels, s.value) for s in fam.samples] for f, fam in families.items()}
    assert {fam.type for fam in families.values()} == {"gauge"}
    assert {s["status"]: v for s, v in samples["opencode_drift_hosts"]} == {
        "in_sync": report["summary"]["in_sync"], "drift": report["summary"]["drifted"],
        "unreachable": report["summary"]["unreachable"], "failed": report["summary"]["failed"]}
    for labels, value in samples["opencode_drift_host_status"]:
        assert value == (report["hosts"][labels["host"]]["status"] == labels["status"])
    assert {labels["host"] for labels, _ in samples["opencode_drift_host_status"]} == set(report["hosts"])
    items = {labels["kind"]: v for labels, v in samples["opencode_drift_items_not_in_sync"]}
    assert items == {"file": report["summary"]["files_not_in_sync"],
                     "proxy_entity": report["summary"]["proxy_entities_not_in_sync"]}
    assert samples["opencode_drift_last_check_timestamp_seconds"] == [({}, 1767225600.0)]
    assert "opencode_drift_certificate_days_to_expiry" not in families  # no certificate known: no metric


def test_prometheus_certificate_metric_only_when_known():
    entities = proxy_report_entities(CONFIG_IN_SYNC, container=RUNNING, providers=["a"], client_keys=["k"],
                                     certificate={"name": "/etc/omniroute/tls.crt", "days_to_expiry": 12,
                                                  "renew_days": 30})
    report = drift_report({"p": {"omniroute_proxy_report": entities}}, ["p"], proxies=["p"], clients=[])
    assert "DRIFT       p certificate /etc/omniroute/tls.crt: expires in 12 days (renewal threshold 30)" in report["lines"]
    families = {f.name: f for f in text_string_to_metric_families(drift_prometheus(report))}
    sample, = families["opencode_drift_certificate_days_to_expiry"].samples
    assert sample.labels == {"host": "p", "certificate": "/etc/omniroute/tls.crt"} and sample.value == 12
    assert "opencode_drift_last_check_timestamp_seconds" not in families

def test_verify_problems_mask_the_value_opencode_quotes():
    # OpenCode 1.18.33's own words for a credential where its schema wants an object.
    stderr = ('Error: Configuration is invalid at /h/opencode.json\n'
              '↳ Expected object | undefined, got "lk-header-9f8e7d6c5b4a3921" mcp.remote-tool.headers\n'
              '↳ Expected string, got 5 mcp.local-tool.environment.N\n')
    problem = client_verify_problems([_debug_result("e", 1, stderr=stderr)])[0]
    assert "lk-header" not in problem
    assert 'got "********" mcp.remote-tool.headers' in problem and "got 5 mcp.local-tool.environment.N" in problem
