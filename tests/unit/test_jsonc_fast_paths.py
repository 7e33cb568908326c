"""The parser's fast paths against its plain one-lexeme-at-a-time path, on good and broken text.

``parse`` first tries a quick pass over the text itself, then falls back to cleaning the text
(comments and trailing commas blanked) with a regex that passes over strings inside the regex
engine. Both exist only for speed (bench/config_merge.py): whatever the text, each must give
exactly what the reference path gives, the path taken on Pythons older than 3.11 (one regex
match per lexeme, no quick pass): the same data, member spans and trailing commas, or the same
error at the same line and column. Each spelling of their patterns (possessive, atomic groups)
that this Python matches right is checked.
"""

import json
import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.omniroute.opencode.plugins.module_utils import _jsonc
from tests.unit.test_jsonc_properties import documents

# Pieces that make and break JSONC: every lexeme boundary the cleaner and the walk care about.
PIECES = ['"', "/", "*", ",", "{", "}", "[", "]", ":", " ", "\n", "\r", "\t", "\\", "a", "1", "//", "/*", "*/",
          '"k"', '"provider"', "null", "NaN", "-Infinity", "\ufeff", "é", '"a/*b"', '"x//y"', ", }", ",]",
          '\\"', '\\\\', '"\\"//"', '"\\\\"']
soups = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


# The pass-over and gap patterns in each spelling this Python matches right (see _jsonc).
SPELLINGS = {"atomic": (re.compile(_jsonc._PASS_OVER_ATOMIC), re.compile(_jsonc._GAP_ATOMIC))}
if sys.version_info >= (3, 11, 5):
    SPELLINGS["possessive"] = (re.compile(_jsonc._PASS_OVER_POSSESSIVE), re.compile(_jsonc._GAP_POSSESSIVE))


def outcome(text, monkeypatch, quick, pass_over, spelling=None):
    """What ``parse`` gives for ``text`` with the fast paths (in ``spelling``) switched on or off."""
    with monkeypatch.context() as patch:
        fast_pass_over, fast_gap = SPELLINGS[spelling] if spelling else (None, None)
        patch.setattr(_jsonc, "_GAP", fast_gap if quick else None)
        patch.setattr(_jsonc, "_PASS_OVER", fast_pass_over if pass_over else None)
        try:
            doc = _jsonc.parse(text)
        except _jsonc.JsoncError as exc:
            return ("error", str(exc))
        except RecursionError:  # pragma: no cover - would be a bug in either path
            return ("recursion",)
    return ("ok", doc.value, spans(doc.root), doc._trailing_commas)


def spans(node):
    if node is None:
        return None
    return (node.start, node.end, [(m.key, m.key_start, m.value_start, m.value_end, spans(m.node))
                                   for m in node.members])


def assert_same_as_reference(text, monkeypatch):
    reference = outcome(text, monkeypatch, quick=False, pass_over=False)
    for spelling in SPELLINGS:
        assert outcome(text, monkeypatch, False, True, spelling) == reference, "%s cleaner differs: %r" % (spelling, text)
        assert outcome(text, monkeypatch, True, True, spelling) == reference, "%s quick pass differs: %r" % (spelling, text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(documents(), st.data())
def test_fast_paths_agree_on_documents_and_their_breakages(monkeypatch, document, data):
    _config, text, _newline = document
    assert_same_as_reference(text, monkeypatch)
    # The same document with a piece put in or taken out somewhere: mostly broken text.
    at = data.draw(st.integers(0, len(text)))
    if data.draw(st.booleans()):
        broken = text[:at] + data.draw(st.sampled_from(PIECES)) + text[at:]
    else:
        broken = text[:at] + text[at + data.draw(st.integers(1, 3)):]
    assert_same_as_reference(broken, monkeypatch)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(soups)
def test_fast_paths_agree_on_token_soup(monkeypatch, text):
    assert_same_as_reference(text, monkeypatch)


@pytest.mark.parametrize("text", [
    '{"provider": {"a": {"x": 1 /* inside a value */}}}',  # the quick pass gives way to the full one
    '{"a": [1,],}',
    '{"provider": {"p": 1, /* c */ }, // c\n}',
    '\ufeff{"a": 1}',
    '{"a": NaN}',
    '{"a": "NaN", "b": 1,}',
    '{"a": 1 /* never closed',
    '{,}',
    '{"a": 1,,}',
    '// only a comment\n',
    '{"a\\"//": 1,}',  # an escaped quote does not end a string
    '{"a\\\\": 1, // an escaped backslash does not escape the quote\n}',
    '{"a": "\\"/*", "b": 2}',
])
def test_fast_paths_agree_on_listed_cases(monkeypatch, text):
    assert_same_as_reference(text, monkeypatch)


# Any text, lone surrogates included: utf8_safe's quick check must never let one through.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.text(alphabet=st.characters() | st.sampled_from(["\ud800", "\udfff", "\U0001f600"]), max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_utf8_safe_agrees_with_replacing_every_string(value):
    assert _jsonc.utf8_safe(value) == _jsonc._utf8_safe(value)
    json.dumps(_jsonc.utf8_safe(value), ensure_ascii=False).encode("utf-8")  # what the module returns encodes


def test_utf8_safe_finds_a_lone_surrogate_deep_inside():
    value = {"provider": {"p": {"models": [{"name": "ok"}, {"name": "bad \udc00"}]}}}
    assert _jsonc.utf8_safe(value) == {"provider": {"p": {"models": [{"name": "ok"}, {"name": "bad \ufffd"}]}}}


def test_possessive_patterns_only_where_python_matches_them_right():
    # Before 3.11.5 possessive quantifiers match wrongly (Debian 12's 3.11.2 passed over comments).
    spelling = "_POSSESSIVE" if sys.version_info >= (3, 11, 5) else "_ATOMIC"
    assert _jsonc._PASS_OVER == getattr(_jsonc, "_PASS_OVER" + spelling)
    assert _jsonc._GAP.pattern == getattr(_jsonc, "_GAP" + spelling)
