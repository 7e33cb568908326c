"""The merge rule on hand-written files: layout kept, drift named, bad input refused with its place."""

import json

import json5
import pytest

from ansible_collections.omniroute.opencode.plugins.module_utils._jsonc import JsoncError, parse
from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import (
    DEFAULT_MODELS,
    ConfigError,
    build_entry,
    plan,
    resolve_config_path,
)

ENTRY = build_entry("http://proxy:20128", api_key="sk-abc", models=["combo-a"])

COMMENTED = """// Alice's OpenCode config
{
  "$schema": "https://opencode.ai/config.json",
  // my favourite theme
  "theme": "tokyonight",
  "provider": {
    /* local models */
    "ollama": {"npm": "@ai-sdk/openai-compatible", "options": {"baseURL": "http://localhost:11434/v1"}},
  },
  "model": "ollama/qwen", // default
}
"""


def test_merge_keeps_comments_and_other_providers():
    change = plan(COMMENTED, "omniroute", ENTRY)
    after = change.after
    assert after.startswith(COMMENTED[:COMMENTED.index('    "ollama"')])
    assert '    "ollama": {"npm": "@ai-sdk/openai-compatible", "options": {"baseURL": "http://localhost:11434/v1"}},\n' \
           '    "omniroute": {\n      "npm": "@ai-sdk/openai-compatible",' in after
    assert after.endswith('  },\n  "model": "ollama/qwen", // default\n}\n')
    assert json5.loads(after)["provider"]["omniroute"] == ENTRY
    assert change.drift == ["entry_missing"]


def test_bom_crlf_and_non_ascii_survive():
    text = '\ufeff{\r\n    "username": "Zoë 東京",\r\n    "provider": {}\r\n}\r\n'
    after = plan(text, "omniroute", ENTRY).after
    assert after.startswith('\ufeff{\r\n    "$schema": "https://opencode.ai/config.json",\r\n    "username": "Zoë 東京",')
    assert "\n" not in after.replace("\r\n", "")
    assert after.endswith("}\r\n")


def test_stale_v1_is_repaired_and_named():
    stale = dict(ENTRY, options=dict(ENTRY["options"], baseURL="http://proxy:20128/v1/v1"))
    text = json.dumps({"$schema": "https://opencode.ai/config.json", "provider": {"omniroute": stale}}, indent=2)
    change = plan(text, "omniroute", ENTRY)
    assert change.drift == ["base_url", "base_url_stale_v1"]
    assert "/v1/v1" not in change.after


def test_drift_codes_for_models_and_credentials():
    current = build_entry("http://proxy:20128", api_key="sk-old", models=["combo-a", "retired"])
    current["models"]["combo-a"]["name"] = "renamed"
    text = json.dumps({"$schema": "x", "provider": {"omniroute": current}})
    wanted = build_entry("http://proxy:20128", api_key="sk-abc", models=["combo-a", "combo-b"])
    assert plan(text, "omniroute", wanted).drift == ["models_missing", "models_unexpected", "models_changed", "credentials"]


def test_in_sync_file_is_not_touched():
    text = plan(COMMENTED, "omniroute", ENTRY).after
    again = plan(text, "omniroute", ENTRY)
    assert not again.changed and again.drift == [] and again.edits == []


def test_default_models_are_omniroutes_four():
    entry = build_entry("http://proxy:20128")
    assert list(entry["models"]) == list(DEFAULT_MODELS)
    assert "apiKey" not in entry["options"]


def test_api_key_env_writes_env_not_a_key():
    entry = build_entry("http://proxy:20128", api_key_env="OMNIROUTE_KEY", models=["a"])
    assert entry["env"] == ["OMNIROUTE_KEY"] and "apiKey" not in entry["options"]


def test_model_labels_and_model_fields():
    entry = build_entry("http://p", models=["a", {"id": "b", "name": "Bee", "limit": {"context": 10, "output": 5}}],
                        model_labels={"a": "Alpha", "b": "Beta"})
    assert entry["models"] == {"a": {"name": "Alpha"}, "b": {"name": "Beta", "limit": {"context": 10, "output": 5}}}


@pytest.mark.parametrize("models, labels, words", [
    ([{"name": "no id"}], {}, r"models\[0\] needs a non-empty string 'id'"),
    (["a", "a"], {}, "listed twice"),
    ([42], {}, r"models\[0\] must be a model id"),
    (["a"], {"zzz": "Z"}, "model_labels names models that are not in models: zzz"),
])
def test_invalid_model_data(models, labels, words):
    with pytest.raises(ConfigError, match=words):
        build_entry("http://p", models=models, model_labels=labels)


@pytest.mark.parametrize("text, line, column, words", [
    ('{\n  "a": 1,\n  "b": \n}', 4, 1, "expected a value"),
    ('{\n  "a": 1\n  "b": 2\n}', 3, 3, "expected ',' or '}'"),
    ('{\n  "a": "unterminated\n}', 2, 21, "invalid control character"),
    ('{\n  /* never closed\n  "a": 1\n}', 2, 3, "unterminated comment"),
    ('["not", "an object"]', 1, 1, "the top level is an array"),
    ('{"a": 1} trailing', 1, 10, "unexpected text"),
    ('\ufeff{\n"a" 1}', 2, 5, "expected ':'"),
])
def test_parse_errors_name_line_and_column(text, line, column, words):
    with pytest.raises(JsoncError) as error:
        plan(text, "omniroute", ENTRY)
    assert (error.value.line, error.value.column) == (line, column)
    assert words in error.value.reason


@pytest.mark.parametrize("text, words", [
    ('{"provider": []}', '"provider" is an array, expected an object'),
    ('{"provider": {"omniroute": "x"}}', '"provider.omniroute" is a string, expected an object'),
    ('{"provider": {}, "provider": {}}', '"provider" appears more than once'),
])
def test_unexpected_structure(text, words):
    with pytest.raises(ConfigError, match=words):
        plan(text, "omniroute", ENTRY)


def test_empty_and_comment_only_files_become_configs():
    assert json5.loads(plan("", "omniroute", ENTRY).after)["provider"]["omniroute"] == ENTRY
    after = plan("// managed by the team\n", "omniroute", ENTRY).after
    assert after.startswith("// managed by the team\n{")


def test_absent_leaves_other_providers():
    merged = plan(COMMENTED, "omniroute", ENTRY).after
    removed = plan(merged, "omniroute", None)
    assert removed.after == COMMENTED
    assert removed.drift == ["entry_present"]


def test_resolve_config_path_prefers_jsonc(tmp_path):
    assert resolve_config_path(str(tmp_path), {}) == str(tmp_path / ".config/opencode/opencode.json")
    xdg = tmp_path / "xdg"
    (xdg / "opencode").mkdir(parents=True)
    (xdg / "opencode" / "opencode.jsonc").write_text("{}")
    assert resolve_config_path(str(tmp_path), {"XDG_CONFIG_HOME": str(xdg)}) == str(xdg / "opencode/opencode.jsonc")


def test_parse_records_member_spans():
    doc = parse(COMMENTED)
    provider = doc.root.find("provider")[0]
    assert COMMENTED[provider.value_start:provider.value_end].startswith("{\n    /* local models */")
    assert COMMENTED[provider.value_end - 1] == "}"
