"""Issue 9 end to end: what OpenCode's parser accepts is merged and still loads; what it rejects is refused.

The module runs through real ansible-playbook; the files it writes (and the engine's merges of
hand-picked hard inputs) are loaded by the real OpenCode 1.18.33 binary.
"""

from __future__ import annotations

import json
import pathlib

import json5
import pytest

from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import build_entry, plan
from tests.support.ansible import run_tasks
from tests.support.opencode import run_opencode

MODELS = ["claude-sonnet-4-5", "gpt-5"]
SCHEMA = '"$schema": "https://opencode.ai/config.json"'

# Valid OpenCode config (keys the schema knows) written every way jsonc-parser allows.
HARD_INPUTS = {
    "lone_cr_comments": '{\r  "theme": "dark" /* x */ // y\r}\r',
    "mixed_endings_bom": '\ufeff// head\r\n{ /* first */\r\n  "username": "Zo\\u00eb",\n  "autoupdate": false,\r\n}\r\n',
    "lone_surrogate_and_escaped_keys": '{\n  "usern\\u0061me": "\\ud800",\n  "provid\\u0065r": {\n    "ollama": {"options": '
                                       '{"baseURL": "http://127.0.0.1:11434/v1", "x-big": 1e400,},},\n  },\n}',
    "duplicate_schema_block_comment_after_last": '{\n  %s,\n  %s,\n  "theme": "x" /* a\n  b */\n}\n' % (SCHEMA, SCHEMA),
    "comment_only": "// managed by the platform team\r\n",
    "empty": "",
}


def provider_task(path, name):
    args = {"path": str(path), "base_url": "http://127.0.0.1:20128", "models": MODELS}
    return {"name": name, "omniroute.opencode.opencode_provider": args, "register": "result", "ignore_errors": True}


def opencode_config(config_file, workdir):
    """``opencode debug config`` on ``config_file`` as the only global config of a fresh home."""
    home = pathlib.Path(workdir) / ("home-" + config_file.stem)
    target = home / ".config" / "opencode" / "opencode.jsonc"
    target.parent.mkdir(parents=True)
    target.write_bytes(config_file.read_bytes())
    run = run_opencode(["debug", "config"], home)
    assert run.returncode == 0, "OpenCode rejects %s:\n%s%s" % (config_file.name, run.stderr, run.stdout)
    return json.loads(run.stdout)


def test_the_engine_merges_hard_inputs_into_files_opencode_loads(tmp_path):
    entry = build_entry("http://127.0.0.1:20128", models=MODELS)
    for name, text in HARD_INPUTS.items():
        merged = tmp_path / (name + ".jsonc")
        merged.write_bytes(plan(text, "omniroute", entry).after.encode("utf-8"))
        loaded = opencode_config(merged, tmp_path)
        assert loaded["provider"]["omniroute"]["options"]["baseURL"] == "http://127.0.0.1:20128/v1", name
        assert sorted(loaded["provider"]["omniroute"]["models"]) == sorted(MODELS), name


REFUSED = {
    "provider_null": ('{\n  "provider": null\n}\n', 'line 2, column 15: "provider" is null, expected an object'),
    "entry_null": ('{"provider": {"omniroute": null}}', 'line 1, column 28: "provider.omniroute" is null, expected an object'),
    "nan": ('{"theme": NaN}', "line 1, column 11: NaN is not a JSON number"),
    "comma_without_value": ('{\r  "plugin": [,]\r}\r', "line 2, column 14: expected a value before ','"),
    "duplicate_provider": ('{"provider": {},\n "provider": {}}', 'line 2, column 2: "provider" appears more than once; keep one'),
}


def test_module_succeeds_on_what_opencode_loads_and_refuses_the_rest_with_its_place(tmp_path):
    # A lone surrogate and a number beyond a double: both load in OpenCode, so both must succeed.
    accepted = {"lone_surrogate": '{"username": "\\ud800", "provider": {"ollama": {"options": {"x-big": 1e400}}},'
                                  ' "theme": "x" // t\r}\r'}
    files = {}
    for name, text in dict(accepted, **{k: v[0] for k, v in REFUSED.items()}).items():
        files[name] = tmp_path / name / "opencode.json"
        files[name].parent.mkdir()
        files[name].write_bytes(text.encode("utf-8"))
    run = run_tasks([provider_task(path, name) for name, path in files.items()], tmp_path)

    surrogate = run.result("lone_surrogate")
    assert surrogate["changed"] and not surrogate.get("failed"), surrogate
    written = files["lone_surrogate"].read_bytes().decode("utf-8")
    assert '"username": "\\ud800"' in written and '"theme": "x" // t\r' in written and "\n" not in written
    assert json5.loads(written)["provider"]["omniroute"]["models"]
    opencode_config(files["lone_surrogate"], tmp_path)
    for name, (text, words) in REFUSED.items():
        result = run.result(name)
        assert result.get("failed"), (name, result)
        assert result["msg"] == "%s: %s; the file was left as it was" % (files[name], words), name
        assert files[name].read_bytes() == text.encode("utf-8")


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path):
    yield
    assert not list(tmp_path.rglob(".opencode.json.*.tmp"))
