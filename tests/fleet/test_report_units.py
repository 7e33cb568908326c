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
                                 "files": 4, "files_not_in_sync": 2}
    assert report["drift"] is True
    assert "DRIFT       drift a /home/a/.config/opencode/opencode.json: models_missing: models missing (m2)" \
        in report["lines"]
    assert "UNREACHABLE down: Connection refused" in report["lines"]
    json.dumps(report)  # the JSON report is plain data
    assert drift_report({"ok": hostvars["ok"]}, ["ok"])["drift"] is False
    assert drift_report({}, [])["summary"]["hosts"] == 0


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


def test_verify_problems_mask_the_value_opencode_quotes():
    # OpenCode 1.18.33's own words for a credential where its schema wants an object.
    stderr = ('Error: Configuration is invalid at /h/opencode.json\n'
              '↳ Expected object | undefined, got "lk-header-9f8e7d6c5b4a3921" mcp.remote-tool.headers\n'
              '↳ Expected string, got 5 mcp.local-tool.environment.N\n')
    problem = client_verify_problems([_debug_result("e", 1, stderr=stderr)])[0]
    assert "lk-header" not in problem
    assert 'got "********" mcp.remote-tool.headers' in problem and "got 5 mcp.local-tool.environment.N" in problem
