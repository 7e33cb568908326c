"""omniroute.opencode.opencode_provider through real ansible-playbook runs, checked by the real OpenCode.

Every file the module writes here is loaded by OpenCode 1.18.33 (`opencode debug config` and
`opencode models omniroute`); every refused input leaves the file byte for byte and no temp file.
"""

from __future__ import annotations

import json
import os
import pathlib
import stat

import json5
import pytest

from tests.support.ansible import run_tasks
from tests.support.opencode import load_config
from tests.support.secrets import find_leaks, find_leaks_in_files, planted_config

SECRET = "test-omniroute-key-7f3a9c2e1b"
MODELS = ["claude-sonnet-4-5", "gpt-5"]

COMMENTED = """// Team laptop config, hand written
{
  "$schema": "https://opencode.ai/config.json",
  "model": "ollama/qwen3", // keep me
  "provider": {
    /* a local model server */
    "ollama": {
      "npm": "@ai-sdk/openai-compatible",
      "options": { "baseURL": "http://127.0.0.1:11434/v1" },
      "models": { "qwen3": { "name": "Qwen 3" } },
    },
  },
}
"""


def provider_task(path, name="merge", **options):
    args = {"path": str(path), "base_url": "http://127.0.0.1:20128", "api_key": SECRET, "models": MODELS}
    args.update(options)
    args = {k: v for k, v in args.items() if v is not None}
    return {"name": name, "omniroute.opencode.opencode_provider": args, "register": "result"}


def assert_opencode_loads(path, tmp_path, models=MODELS):
    debug, listed, rewritten = load_config(path, tmp_path)
    assert debug.returncode == 0, debug.stderr + debug.stdout
    assert listed.returncode == 0, listed.stderr + listed.stdout
    assert sorted(line for line in listed.stdout.split() if line.startswith("omniroute/")) == \
        sorted("omniroute/" + m for m in models)
    assert not rewritten, "OpenCode rewrote the file, so it would drift on every run"
    assert SECRET not in debug.stdout  # OpenCode masks it too


def test_creates_a_missing_file_private_and_loadable(tmp_path):
    path = tmp_path / "home" / ".config" / "opencode" / "opencode.json"
    run = run_tasks([provider_task(path)], tmp_path)
    assert run.rc == 0, run.stdout
    result = run.result("merge")
    assert result["changed"] and result["drift"] == ["file_missing", "schema_missing", "entry_missing"]
    assert result["base_url"] == "http://127.0.0.1:20128/v1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json5.loads(path.read_text())["provider"]["omniroute"]["options"]["baseURL"] == "http://127.0.0.1:20128/v1"
    assert_opencode_loads(path, tmp_path)


def test_merge_keeps_the_developers_file_and_second_run_changes_nothing(tmp_path):
    path = tmp_path / "opencode.jsonc"
    path.write_text(COMMENTED)
    path.chmod(0o600)
    first = run_tasks([provider_task(path)], tmp_path)
    assert first.rc == 0, first.stdout
    assert first.result("merge")["changed"]
    text = path.read_text()
    head = COMMENTED[:COMMENTED.index("    },\n  },\n}")]
    assert text.startswith(head + "    },\n    \"omniroute\": {\n")
    assert text.endswith("    },\n  },\n}\n")
    assert_opencode_loads(path, tmp_path, MODELS)
    before = path.stat()

    second = run_tasks([provider_task(path)], tmp_path)
    assert second.rc == 0
    assert second.result("merge")["changed"] is False
    assert second.result("merge")["drift"] == []
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not even rewritten


def test_check_mode_reports_drift_and_writes_nothing(tmp_path):
    path = tmp_path / "opencode.json"
    run_tasks([provider_task(path)], tmp_path)
    drifted = path.read_text().replace("http://127.0.0.1:20128/v1", "http://127.0.0.1:20128/v1/v1")
    drifted = drifted.replace('"gpt-5": {\n          "name": "gpt-5"\n        }', '"old": {}')
    path.write_text(drifted)
    path.chmod(0o644)

    check = run_tasks([provider_task(path)], tmp_path, check=True)
    result = check.result("merge")
    assert result["changed"] is True
    assert result["drift"] == ["base_url", "base_url_stale_v1", "models_missing", "models_unexpected", "mode"]
    assert result["models_missing_ids"] == ["gpt-5"] and result["models_unexpected_ids"] == ["old"]
    assert path.read_text() == drifted and stat.S_IMODE(path.stat().st_mode) == 0o644

    fix = run_tasks([provider_task(path)], tmp_path)
    assert fix.result("merge")["changed"]
    assert run_tasks([provider_task(path)], tmp_path, check=True).result("merge")["drift"] == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert_opencode_loads(path, tmp_path)


def test_check_mode_on_a_missing_file_creates_nothing(tmp_path):
    path = tmp_path / "new" / "opencode.json"
    result = run_tasks([provider_task(path)], tmp_path, check=True).result("merge")
    assert result["changed"] and "file_missing" in result["drift"]
    assert not path.parent.exists()


def test_diff_masks_the_key_everywhere(tmp_path):
    path = tmp_path / "opencode.json"
    path.write_text(COMMENTED)
    run = run_tasks([provider_task(path)], tmp_path, diff=True, verbosity=3, json_output=False)
    assert run.rc == 0, run.stdout
    assert "+    \"omniroute\": {" in run.stdout
    assert '"apiKey": "********#' in run.stdout
    assert SECRET not in run.stdout + run.stderr
    assert SECRET in path.read_text()


def test_no_credential_of_the_developers_file_is_printed(tmp_path):
    """Every credential in the file (other providers, headers, MCP servers, the replaced entry's old key), in
    every path of the module: check and real run with --diff and a backup, state absent, an unparsable file,
    schema warnings; all at -vvv. Output and every file not 0600 are searched for them."""
    text, planted = planted_config("provider")
    # a secret where OpenCode's schema wants an object: the schema warning about it must not quote it
    planted["mcp_header_string"] = "lkh" + os.urandom(10).hex()
    text = text.replace('"mcp": {', '"mcp": {\n    "bad-tool": {"type": "remote", "url": "https://x.invalid", '
                                     '"headers": "%s"},' % planted["mcp_header_string"], 1)
    secrets = dict(planted, omniroute_key=SECRET)
    path = tmp_path / "cfg" / "opencode.jsonc"
    broken = tmp_path / "cfg" / "broken.jsonc"
    path.parent.mkdir()
    path.write_text(text)
    path.chmod(0o644)
    broken.write_text(text.replace('"sessionToken"', '"sessionToken" "oops"', 1))
    broken.chmod(0o600)
    tasks = [dict(provider_task(path, name="check"), check_mode=True),
             provider_task(path, name="merge", backup=True),
             dict(provider_task(path, name="absent", state="absent", backup=True), check_mode=True),
             dict(provider_task(broken, name="broken"), ignore_errors=True)]
    run = run_tasks(tasks, tmp_path, diff=True, verbosity=3, json_output=False)
    assert run.rc == 0, run.stdout[-3000:]
    assert find_leaks(run.stdout + run.stderr, secrets) == []
    assert find_leaks_in_files(path.parent, secrets) == []  # the merged file and its backup are 0600
    # the diff still says what changed: the replaced key shows as one mask before and another after
    removed = [line for line in run.stdout.splitlines() if line.startswith("-") and '"apiKey": "********#' in line]
    added = [line for line in run.stdout.splitlines() if line.startswith("+") and '"apiKey": "********#' in line]
    assert removed and added and removed[0].split("#")[1] != added[0].split("#")[1]
    assert "Bearer {env:TEAM_TOKEN}" in run.stdout  # references stay visible
    assert "mcp.bad-tool: does not match any allowed form" in run.stderr  # the schema warning is shown
    assert "sessionToken" in run.stdout and "line " in run.stdout  # the parse error is shown
    assert broken.read_text().count(planted["provider_option_token"]) == 1  # untouched
    assert planted["other_apikey"] in path.read_text() and SECRET in path.read_text()


def test_backup_only_when_writing(tmp_path):
    path = tmp_path / "opencode.json"
    path.write_text(COMMENTED)
    first = run_tasks([provider_task(path, backup=True)], tmp_path).result("merge")
    backup = pathlib.Path(first["backup_file"])
    assert backup.read_text() == COMMENTED
    second = run_tasks([provider_task(path, backup=True)], tmp_path).result("merge")
    assert "backup_file" not in second
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("opencode.json.")]) == 1


def test_mode_owner_group(tmp_path):
    path = tmp_path / "opencode.json"
    result = run_tasks([provider_task(path, mode="0640", owner="nobody", group="nogroup")], tmp_path).result("merge")
    assert result["changed"]
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640
    assert (info.st_uid, info.st_gid) == (65534, 65534)
    os.chown(path, 0, 0)
    again = run_tasks([provider_task(path, mode="0640", owner="nobody", group="nogroup")], tmp_path, check=True)
    assert again.result("merge")["drift"] == ["owner", "group"]


def test_api_key_env_writes_no_secret(tmp_path):
    path = tmp_path / "opencode.json"
    run = run_tasks([provider_task(path, api_key=None, api_key_env="OMNIROUTE_API_KEY")], tmp_path)
    assert run.rc == 0, run.stdout
    entry = json5.loads(path.read_text())["provider"]["omniroute"]
    assert entry["env"] == ["OMNIROUTE_API_KEY"] and "apiKey" not in entry["options"]
    assert_opencode_loads(path, tmp_path)


def test_default_models_and_labels(tmp_path):
    path = tmp_path / "opencode.json"
    task = provider_task(path, models=None, model_labels={"gemini-3-flash": "Gemini 3 Flash (failover)"})
    assert run_tasks([task], tmp_path).rc == 0
    models = json5.loads(path.read_text())["provider"]["omniroute"]["models"]
    assert list(models) == ["claude-opus-4-5-thinking", "claude-sonnet-4-5-thinking", "gemini-3.1-pro-high", "gemini-3-flash"]
    assert models["gemini-3-flash"] == {"name": "Gemini 3 Flash (failover)"}
    assert_opencode_loads(path, tmp_path, list(models))


def test_absent_removes_only_our_entry(tmp_path):
    path = tmp_path / "opencode.jsonc"
    path.write_text(COMMENTED)
    run_tasks([provider_task(path)], tmp_path)
    removal = run_tasks([{"name": "merge", "omniroute.opencode.opencode_provider": {"path": str(path), "state": "absent"},
                          "register": "result"}], tmp_path)
    assert removal.result("merge")["changed"] and removal.result("merge")["drift"] == ["entry_present"]
    assert path.read_text() == COMMENTED
    again = run_tasks([{"name": "merge", "omniroute.opencode.opencode_provider": {"path": str(path), "state": "absent"},
                        "register": "result"}], tmp_path)
    assert again.result("merge")["changed"] is False


def test_symlink_is_followed_and_kept(tmp_path):
    real = tmp_path / "dotfiles" / "opencode.json"
    real.parent.mkdir()
    real.write_text(COMMENTED)
    link = tmp_path / "config" / "opencode.json"
    link.parent.mkdir()
    link.symlink_to(real)
    result = run_tasks([provider_task(link)], tmp_path).result("merge")
    assert result["changed"]
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "omniroute" in json5.loads(real.read_text())["provider"]
    assert_opencode_loads(real, tmp_path)


def test_default_path_resolution_prefers_jsonc(tmp_path):
    xdg = tmp_path / "xdg"
    (xdg / "opencode").mkdir(parents=True)
    (xdg / "opencode" / "opencode.jsonc").write_text("{}\n")
    task = {"name": "merge", "omniroute.opencode.opencode_provider": {"base_url": "http://127.0.0.1:20128", "models": MODELS},
            "register": "result", "environment": {"XDG_CONFIG_HOME": str(xdg)}}
    result = run_tasks([task], tmp_path).result("merge")
    assert result["path"] == str(xdg / "opencode" / "opencode.jsonc")
    assert not (xdg / "opencode" / "opencode.json").exists()


def test_schema_problems_elsewhere_are_warnings(tmp_path):
    path = tmp_path / "opencode.json"
    path.write_text('{\n  "$schema": "https://opencode.ai/config.json",\n  "provider_priority": ["a"]\n}\n')
    run = run_tasks([provider_task(path)], tmp_path)
    result = run.result("merge")
    assert result["changed"] and not result.get("failed")
    assert any("Additional properties are not allowed ('provider_priority' was unexpected)" in w for w in result["warnings"])


BAD_FILES = {
    "unparsable": ('{\n  "theme": "dark",\n  "provider": {\n    "a": 1\n    "b": 2\n  }\n}\n', "line 5, column 5"),
    "array_root": ('[\n  {"provider": {}}\n]\n', "line 1, column 1: the top level is an array"),
    "provider_not_object": ('{"provider": "omniroute"}', 'line 1, column 14: "provider" is a string, expected an object'),
    "entry_not_object": ('{"provider": {"omniroute": [1]}}',
                         'line 1, column 28: "provider.omniroute" is an array, expected an object'),
    "not_utf8": (b'{\n  "name": "\xff\xfe"}', "line 2, column 12: the file is not UTF-8 text (byte 13)"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_fail_with_their_place_and_stay_byte_for_byte(tmp_path, case):
    content, words = BAD_FILES[case]
    data = content if isinstance(content, bytes) else content.encode()
    path = tmp_path / "cfg" / "opencode.json"
    path.parent.mkdir()
    path.write_bytes(data)
    run = run_tasks([provider_task(path)], tmp_path)
    result = run.result("merge")
    assert run.rc != 0 and result["failed"]
    assert result["msg"].startswith(str(path) + ": ")
    assert words in result["msg"]
    assert path.read_bytes() == data
    assert os.listdir(path.parent) == ["opencode.json"]


@pytest.mark.parametrize("options, words", [
    ({"base_url": "localhost:20128"}, "is not an http(s) URL"),
    ({"base_url": "ftp://proxy/v1"}, "is not an http(s) URL"),
    ({"models": [{"name": "no id"}]}, "models[0] needs a non-empty string 'id'"),
    ({"models": [{"id": "m", "limit": {"context": "big", "output": 1}}]}, "models.m.limit.context: must be of type number"),
    ({"models": [{"id": "m", "fallback": "other"}]}, "'fallback' was unexpected"),
    ({"api_key_env": "X"}, "mutually exclusive"),
])
def test_bad_options_fail_before_anything_is_written(tmp_path, options, words):
    path = tmp_path / "opencode.json"
    path.write_text(COMMENTED)
    run = run_tasks([provider_task(path, **options)], tmp_path)
    result = run.result("merge")
    assert result["failed"] and words in result["msg"], result["msg"]
    assert SECRET not in run.stdout
    assert path.read_text() == COMMENTED


@pytest.fixture
def shared_dir():
    """A directory an unprivileged user can traverse (pytest's tmp_path is private to root)."""
    import shutil
    import tempfile

    path = pathlib.Path(tempfile.mkdtemp(prefix="opencode-provider-perm-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_unreadable_and_unwritable_files(tmp_path, shared_dir):
    # Root reads everything, so the module runs as an unprivileged user, on the system Python
    # (the managed host needs nothing but the standard library).
    locked = shared_dir / "locked"
    locked.mkdir()
    unreadable = locked / "unreadable.json"
    unreadable.write_text(COMMENTED)
    unreadable.chmod(0o000)
    readonly_dir = shared_dir / "readonly"
    readonly_dir.mkdir()
    unwritable = readonly_dir / "opencode.json"
    unwritable.write_text(COMMENTED)
    unwritable.chmod(0o644)
    as_nobody = {"become": True, "become_user": "nobody", "become_method": "ansible.builtin.su", "become_flags": "-s /bin/sh",
                 "ignore_errors": True, "vars": {"ansible_python_interpreter": "/usr/bin/python3"}}
    tasks = [dict(provider_task(unreadable, name="unreadable"), **as_nobody),
             dict(provider_task(unwritable, name="unwritable"), **as_nobody)]
    run = run_tasks(tasks, tmp_path, env={"ANSIBLE_PIPELINING": "1"})
    first, second = run.result("unreadable"), run.result("unwritable")
    assert first["failed"] and first["msg"] == "%s: cannot read the file: Permission denied; the file was left as it was" % unreadable
    assert second["failed"] and second["msg"].startswith("%s: cannot write the file: Permission denied" % unwritable)
    unreadable.chmod(0o600)
    assert unreadable.read_text() == COMMENTED and unwritable.read_text() == COMMENTED
    assert os.listdir(readonly_dir) == ["opencode.json"]
