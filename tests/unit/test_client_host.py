"""The client role's one round trip per host (module_utils/_client_host.py), called as plain functions.

Users are resolved by a stand-in (uid/gid of the test process, homes under tmp_path), so several users
exist without touching /etc/passwd; everything else - directories, the merge, owner/mode, check mode,
diff masking - is the real code path of omniroute.opencode.opencode_client.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.omniroute.opencode.plugins.action.opencode_client import input_problem, schema_warnings
from ansible_collections.omniroute.opencode.plugins.module_utils._client_host import (
    ARGUMENT_SPEC,
    converge_host,
    failure_message,
)
from ansible_collections.omniroute.opencode.plugins.module_utils._client_users import resolve_user
from ansible_collections.omniroute.opencode.plugins.module_utils._secrets import Masker

SHARED_KEY = "sk-shared-7f3a9c1e"
ALICE_KEY = "sk-alice-0b1d2e3f"
OTHER_KEY = "sk-other-provider-99aa"
USERS = ["alice", "bob", "carol"]


def make_module(check=False, diff=False, **options):
    args = dict(base_url="http://omniroute.test:20128/v1/v1", api_key=SHARED_KEY, models=["m1", "m2"],
                users=USERS, _ansible_check_mode=check, _ansible_diff=diff)
    args.update(options)
    with patch_module_args(args):
        return AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


def fake_resolver(tmp_path):
    """resolve_users with every user mapped to the test process's ids and a home under tmp_path."""
    def getpwnam(name):
        home = tmp_path / "home" / name
        home.mkdir(parents=True, exist_ok=True)
        return type("pw", (), dict(pw_uid=os.getuid(), pw_gid=os.getgid(), pw_dir=str(home), pw_shell="/bin/sh"))

    def resolve(users, default_user):
        return [resolve_user({"name": u, "xdg_config_home": None, "config_file": None}, getpwnam=getpwnam)
                for u in users]
    return resolve


def config_path(tmp_path, user, name="opencode.json"):
    return tmp_path / "home" / user / ".config" / "opencode" / name


def write_config(tmp_path, user, text, name="opencode.json"):
    path = config_path(tmp_path, user, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def snapshot(root):
    """Every path under root with its bytes (files) and mode: what 'writes nothing' compares."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        out[str(path)] = (stat.S_IMODE(st.st_mode), path.read_bytes() if path.is_file() else None)
    return out


def run(tmp_path, module):
    return converge_host(module, module.params, Masker(), "root", resolve=fake_resolver(tmp_path))


ALICE_FILE = """{
  // alice's own comment
  "provider": {
    "mine": {"options": {"apiKey": "%s"}},
    "omniroute": {"options": {"baseURL": "http://old.test/v1/v1"}, "models": {"old": {"name": "old"}}}
  }
}
""" % OTHER_KEY


def test_every_user_is_converged_in_one_call_with_their_own_report_entry(tmp_path):
    write_config(tmp_path, "alice", ALICE_FILE)
    (tmp_path / "home" / "bob" / ".config").mkdir(parents=True)  # bob: no opencode dir yet; carol: no .config
    result = run(tmp_path, make_module(user_api_keys={"alice": ALICE_KEY}))

    assert [f["user"] for f in result["files"]] == USERS
    by_user = {f["user"]: f for f in result["files"]}
    # config_dir: the test made alice's directory 0755; entry_fields: her entry lacks npm and name.
    assert by_user["alice"]["drift"] == ["config_dir", "schema_missing", "base_url", "base_url_stale_v1",
                                         "models_missing", "models_unexpected", "credentials", "entry_fields", "mode"]
    assert by_user["alice"]["models_unexpected_ids"] == ["old"]
    assert by_user["bob"]["drift"] == ["config_dir", "file_missing", "schema_missing", "entry_missing"]
    assert by_user["carol"]["drift"] == by_user["bob"]["drift"]
    assert all(f["changed"] and not f["failed"] for f in result["files"]) and result["changed"]
    assert result["base_url"] == "http://omniroute.test:20128/v1" and result["models"] == ["m1", "m2"]

    alice_text = config_path(tmp_path, "alice").read_text()
    assert "// alice's own comment" in alice_text and OTHER_KEY in alice_text  # the rest is kept
    for user, key in (("alice", ALICE_KEY), ("bob", SHARED_KEY), ("carol", SHARED_KEY)):
        path = config_path(tmp_path, user)
        entry = json.loads(path.read_text() if user != "alice" else _strip_comment(path.read_text()))
        assert entry["provider"]["omniroute"]["options"] == {"baseURL": "http://omniroute.test:20128/v1",
                                                            "apiKey": key}
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "home" / "carol" / ".config").stat().st_mode) == 0o700

    again = run(tmp_path, make_module(user_api_keys={"alice": ALICE_KEY}))
    assert not again["changed"] and all(f["drift"] == [] for f in again["files"])


def _strip_comment(text):
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith("//"))


def test_one_unparsable_file_fails_that_file_only_and_stays_byte_for_byte(tmp_path):
    bad = write_config(tmp_path, "bob", '{\n  "provider": {"x": {"options": {"apiKey": "%s"}}\n  ,,\n}\n' % OTHER_KEY)
    before = bad.read_bytes()
    result = run(tmp_path, make_module())

    by_user = {f["user"]: f for f in result["files"]}
    assert by_user["bob"]["failed"] and str(bad) in by_user["bob"]["msg"]
    assert "line 3, column" in by_user["bob"]["msg"] and "left as it was" in by_user["bob"]["msg"]
    assert OTHER_KEY not in by_user["bob"]["msg"]
    assert bad.read_bytes() == before
    for user in ("alice", "carol"):
        assert not by_user[user]["failed"] and by_user[user]["changed"]
        assert "omniroute" in json.loads(config_path(tmp_path, user).read_text())["provider"]
    assert failure_message(result["files"]) == by_user["bob"]["msg"]


def test_check_mode_writes_nothing_and_reports_what_a_real_run_changes(tmp_path):
    write_config(tmp_path, "alice", ALICE_FILE)
    (tmp_path / "home" / "bob").mkdir(parents=True)
    (tmp_path / "home" / "carol").mkdir(parents=True)
    before = snapshot(tmp_path)
    checked = run(tmp_path, make_module(check=True, diff=True))
    assert snapshot(tmp_path) == before
    assert checked["check_mode"] and checked["changed"]

    real = run(tmp_path, make_module())
    assert [(f["user"], f["drift"], f["changed"]) for f in checked["files"]] == \
        [(f["user"], f["drift"], f["changed"]) for f in real["files"]]
    in_sync = run(tmp_path, make_module(check=True))
    assert not in_sync["changed"] and all(f["drift"] == [] for f in in_sync["files"])


def test_no_key_appears_in_diff_result_or_messages(tmp_path):
    write_config(tmp_path, "alice", ALICE_FILE)
    write_config(tmp_path, "bob", '{"provider": {"x": {"options": {"apiKey": "%s"}}} ]' % OTHER_KEY)
    result = run(tmp_path, make_module(check=True, diff=True, user_api_keys={"alice": ALICE_KEY}))
    dumped = json.dumps(result)
    for secret in (SHARED_KEY, ALICE_KEY, OTHER_KEY):
        assert secret not in dumped
    diff_text = json.dumps(result["diff"])
    assert "********#" in diff_text and "http://omniroute.test:20128/v1" in diff_text
    assert any(isinstance(d.get("after"), dict) and d["after"].get("state") == "directory"
               for d in result["diff"])


def test_state_absent_removes_only_the_entry_and_skips_users_without_a_file(tmp_path):
    write_config(tmp_path, "alice", ALICE_FILE)
    result = run(tmp_path, make_module(state="absent", base_url=None, api_key=None))
    assert [f["user"] for f in result["files"]] == ["alice"]
    assert result["files"][0]["drift"][0] == "entry_present"
    text = config_path(tmp_path, "alice").read_text()
    assert '"omniroute"' not in text and '"mine"' in text and "// alice's own comment" in text
    assert not (tmp_path / "home" / "bob" / ".config").exists()


def test_managed_file_gets_the_shared_key_and_its_own_mode(tmp_path):
    managed = tmp_path / "etc" / "opencode" / "opencode.json"
    result = run(tmp_path, make_module(user_config=False, user_api_keys={"alice": ALICE_KEY},
                                       managed=dict(path=str(managed))))
    assert [(f["user"], f["scope"]) for f in result["files"]] == [("(managed)", "managed")]
    assert json.loads(managed.read_text())["provider"]["omniroute"]["options"]["apiKey"] == SHARED_KEY
    assert stat.S_IMODE(managed.stat().st_mode) == 0o640
    assert stat.S_IMODE(managed.parent.stat().st_mode) == 0o755


def test_jsonc_wins_over_json_as_in_opencode(tmp_path):
    jsonc = write_config(tmp_path, "alice", "{\n  // c\n}\n", name="opencode.jsonc")
    run(tmp_path, make_module(users=["alice"]))
    assert "omniroute" in jsonc.read_text() and not config_path(tmp_path, "alice").exists()


@pytest.mark.parametrize("options, words", [
    (dict(user_config=False, managed=None), "nothing to converge"),
    (dict(base_url="ftp://x"), "http"),
    (dict(models=[{"id": "m", "limit": {"context": "many"}}]), "not be valid OpenCode"),
])
def test_inputs_are_refused_on_the_controller_before_any_round_trip(options, words):
    args = dict(make_module().params, **options)
    assert words in input_problem(args)


def test_schema_problems_already_in_a_file_are_warnings_naming_it():
    warnings = schema_warnings([["/h/a/opencode.json", {"$schema": "x", "theme": 5}]], "omniroute")
    assert warnings and all(w.startswith("/h/a/opencode.json: ") for w in warnings)
    assert schema_warnings([["/h/b/opencode.json", {"$schema": "x"}]], "omniroute") == []


# A module compiles everything it imports on every run (AnsiballZ ships source; Python compiles it from the zip,
# twice), so the code only a change or a shown text needs is imported when it is needed. A fresh interpreter per
# run, as on a host; a developer's own provider key in the file, so the masking of the rest of the file runs too.
_ONE_RUN = """
import json, os, pwd, sys
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from ansible_collections.omniroute.opencode.plugins.module_utils._client_host import ARGUMENT_SPEC, converge_host
from ansible_collections.omniroute.opencode.plugins.module_utils._secrets import Masker
name = pwd.getpwuid(os.getuid()).pw_name
args = dict(base_url="http://omniroute.test:20128", api_key="sk-shared", models=["m1"], _ansible_diff=sys.argv[2] == "diff",
            users=[{"name": name, "xdg_config_home": sys.argv[1]}])
with patch_module_args(args):
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
result = converge_host(module, module.params, Masker(), name)
print(json.dumps(dict(changed=result["changed"], imported=sorted(
    m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("ansible_collections.omniroute.opencode.plugins.module_utils._")))))
"""


def _one_run(tmp_path, mode):
    run = subprocess.run([sys.executable, "-c", _ONE_RUN, str(tmp_path / "config"), mode], capture_output=True,
                         text=True, check=True, cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    return json.loads(run.stdout)


def test_a_run_that_changes_nothing_does_not_import_the_write_side_or_the_text_masking(tmp_path):
    write_path = tmp_path / "config" / "opencode" / "opencode.json"
    write_path.parent.mkdir(parents=True)
    write_path.write_text('{"provider": {"mine": {"options": {"apiKey": "%s"}}}}\n' % OTHER_KEY)
    first, steady, shown = _one_run(tmp_path, "plain"), _one_run(tmp_path, "plain"), _one_run(tmp_path, "diff")
    assert first["changed"] and not steady["changed"] and not shown["changed"]
    assert {"_jsonc_edit"} <= set(first["imported"])
    assert not {"_jsonc_edit", "_secret_text"} & set(steady["imported"])
    assert {"_secret_text"} <= set(shown["imported"])
