"""Property tests of the text-edit engine on generated JSONC documents.

Each generated document has comments, trailing commas, nested values, random indentation,
LF, CRLF or lone CR, sometimes a BOM; the merge must change nothing outside our entry and the result
must parse (with json5, an independent parser) to exactly the expected object.
"""

import copy
import json
import re

import json5
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import (
    SCHEMA_URL,
    build_entry,
    plan,
)

PROVIDER_ID = "omniroute"
ENTRY = build_entry("http://127.0.0.1:20128/v1/v1", api_key="sk-test-key", models=["m1", {"id": "m2", "name": "Two"}])

# json5 (the independent oracle) mis-decodes escaped surrogate pairs, so text stays in the BMP.
characters = st.characters(codec="utf-8", max_codepoint=0xFFFF, exclude_categories=["Cs", "Cc"])
keys = st.text(alphabet=characters, max_size=6)
scalars = st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.text(alphabet=characters, max_size=8)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
                      max_leaves=12)
comment_text = st.text(alphabet=characters, max_size=10).map(
    lambda s: s.replace("*/", "*_/"))


class Renderer:
    """Writes data as JSONC in a style drawn from hypothesis: indentation, comments, commas."""

    def __init__(self, data, unit, newline):
        self.data = data
        self.unit = unit
        self.newline = newline

    def comment(self):
        choice = self.data.draw(st.sampled_from(["", "", "", "line", "block"]))
        if choice == "line":
            return " //" + self.data.draw(comment_text) + self.newline
        if choice == "block":
            return " /*" + self.data.draw(comment_text) + "*/ "
        return ""

    def render(self, value, depth=0):
        if isinstance(value, dict):
            return self.container("{", "}", [json.dumps(k, ensure_ascii=False) + ":" + self.comment() + " " +
                                             self.render(v, depth + 1) for k, v in value.items()], depth)
        if isinstance(value, list):
            return self.container("[", "]", [self.render(v, depth + 1) for v in value], depth)
        return json.dumps(value, ensure_ascii=self.data.draw(st.booleans()))

    def container(self, opening, closing, items, depth):
        if not items:
            return opening + self.comment() + closing
        inline = self.data.draw(st.booleans()) if depth > 0 else False
        trailing = "," if self.data.draw(st.booleans()) else ""
        if inline:
            return opening + ", ".join(items) + trailing + closing
        inner = self.newline + self.unit * (depth + 1)
        parts = [opening]
        for index, item in enumerate(items):
            comma = "," if index < len(items) - 1 else trailing
            parts.append(inner + item + comma + self.comment().rstrip("\r\n"))
        parts.append(self.newline + self.unit * depth + closing)
        return "".join(parts)


@st.composite
def documents(draw):
    data = draw(st.data())
    config = draw(st.dictionaries(keys.filter(lambda k: k not in ("$schema", "provider")), values, max_size=4))
    if draw(st.booleans()):
        config["$schema"] = SCHEMA_URL
    if draw(st.booleans()):
        providers = draw(st.dictionaries(keys.filter(lambda k: k != PROVIDER_ID),
                                         st.dictionaries(keys, values, max_size=3), max_size=3))
        existing = draw(st.sampled_from(["none", "same", "stale", "random"]))
        if existing == "same":
            providers[PROVIDER_ID] = copy.deepcopy(ENTRY)
        elif existing == "stale":
            stale = copy.deepcopy(ENTRY)
            stale["options"]["baseURL"] = "http://127.0.0.1:20128/v1/v1"
            del stale["models"]["m2"]
            providers[PROVIDER_ID] = stale
        elif existing == "random":
            providers[PROVIDER_ID] = draw(st.dictionaries(keys, values, max_size=3))
        config["provider"] = providers
    items = list(config.items())
    order = draw(st.permutations(range(len(items))))
    config = dict(items[i] for i in order)
    unit = draw(st.sampled_from(["  ", "    ", "\t", " "]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    renderer = Renderer(data, unit, newline)
    text = renderer.comment().lstrip() + renderer.render(config) + draw(st.sampled_from(["", newline]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    return config, text, newline


def loads(text):
    return json5.loads(text[1:] if text.startswith("\ufeff") else text)


def expected_after(config):
    expected = copy.deepcopy(config)
    expected.setdefault("$schema", SCHEMA_URL)
    expected.setdefault("provider", {})[PROVIDER_ID] = ENTRY
    return expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_merge_changes_only_our_entry(document):
    config, text, newline = document
    assert loads(text) == config  # the generator itself writes valid JSONC

    change = plan(text, PROVIDER_ID, ENTRY)

    assert loads(change.after) == expected_after(config)
    assert change.after_value == expected_after(config)
    old_entry = config.get("provider", {}).get(PROVIDER_ID)
    for start, end, replacement in change.edits:
        if start != end:
            # The only text ever replaced is the old entry's value, byte for byte.
            assert loads(text[start:end]) == old_entry
            assert json5.loads(replacement) == ENTRY
        else:
            # Insertions carry nothing but our members and commas.
            inserted = replacement.strip(" \t\r\n,")
            assert set(json5.loads("{" + inserted + "}")) <= {"$schema", "provider", PROVIDER_ID}
    if text.startswith("\ufeff"):
        assert change.after.startswith("\ufeff")
    if newline in text:
        assert not re.search(r"\r\n|\r|\n", change.after.replace(newline, ""))
    again = plan(change.after, PROVIDER_ID, ENTRY)
    assert again.edits == [] and again.drift == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_absent_removes_only_our_entry(document):
    config, text, _ = document
    merged = plan(text, PROVIDER_ID, ENTRY).after

    removal = plan(merged, PROVIDER_ID, None)

    expected = expected_after(config)
    del expected["provider"][PROVIDER_ID]
    assert loads(removal.after) == expected
    assert removal.drift == ["entry_present"]
    for start, end, replacement in removal.edits:
        assert replacement == ""
        removed = merged[start:end].strip(" \t\r\n,")
        assert removed == "" or removed.startswith('"omniroute"')
    assert plan(removal.after, PROVIDER_ID, None).edits == []


@pytest.mark.parametrize("unit", ["  ", "    ", "\t"])
def test_new_entry_follows_the_file_indentation(unit):
    text = "{\n" + unit + '"theme": "dark",\n' + unit + '"provider": {\n' + unit * 2 + '"x": {}\n' + unit + "}\n}\n"
    after = plan(text, PROVIDER_ID, ENTRY).after
    assert "\n" + unit * 2 + '"omniroute": {\n' + unit * 3 + '"npm"' in after
