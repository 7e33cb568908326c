"""What a merged file sends back for the schema warnings (module_utils/_config_file.py document_to_check): the
file without the declared entry, or nothing when nothing else is in it. The warnings must be exactly those of the
whole merged file (the declared entry is checked on the controller before any run, and its problems are never
"already in the file"). Checked against the real schema check on generated configs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.omniroute.opencode.plugins.module_utils._config_file import document_to_check
from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import SCHEMA_URL, build_entry
from ansible_collections.omniroute.opencode.plugins.module_utils._secrets import Masker
from ansible_collections.omniroute.opencode.plugins.plugin_utils._schema import preexisting_problems

PROVIDER = "omniroute"
ENTRY = build_entry("http://omniroute.test:20128", "sk-doc-check-1234", None, ["m1"], None, "OmniRoute")
JSON_SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=4)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
# Keys OpenCode knows (so that both valid and invalid values occur) and keys it does not.
TOP_KEYS = st.sampled_from(["theme", "model", "small_model", "username", "share", "autoupdate", "mcp", "agent",
                            "provider_priority", "plugin", "x"])
OTHER_PROVIDERS = st.dictionaries(st.sampled_from(["other", "local", PROVIDER + "2"]),
                                  st.just({"npm": "@ai-sdk/openai-compatible", "options": {"baseURL": "http://h/v1"}})
                                  | JSON_VALUES, max_size=2)


@st.composite
def merged_configs(draw):
    config = draw(st.dictionaries(TOP_KEYS, JSON_VALUES, max_size=3))
    if draw(st.booleans()):
        config["$schema"] = draw(st.just(SCHEMA_URL) | JSON_SCALARS)
    providers = draw(OTHER_PROVIDERS)
    if draw(st.booleans()):
        providers[PROVIDER] = draw(st.just(ENTRY) | JSON_VALUES)
    if providers or draw(st.booleans()):
        config["provider"] = providers
    return config


def warnings_from(document):
    return [] if document is None else preexisting_problems("/f", document, PROVIDER)


@settings(max_examples=300, deadline=None)
@given(merged_configs())
def test_the_document_sent_gives_the_warnings_of_the_whole_file(config):
    masker = Masker()
    assert warnings_from(document_to_check(config, PROVIDER, masker)) == warnings_from(masker.data(config))


def test_a_file_with_only_the_schema_and_the_entry_sends_nothing():
    masker = Masker()
    assert document_to_check({"$schema": SCHEMA_URL, "provider": {PROVIDER: ENTRY}}, PROVIDER, masker) is None
    assert document_to_check({"provider": {PROVIDER: ENTRY}}, PROVIDER, masker) is None
    # Anything else is checked: a developer's own setting, another provider, a $schema OpenCode does not know.
    for other in ({"theme": "x"}, {"provider": {"other": {}}}, {"$schema": 5}):
        config = dict({"$schema": SCHEMA_URL, "provider": {PROVIDER: ENTRY}}, **other)
        assert document_to_check(config, PROVIDER, masker) is not None, other
