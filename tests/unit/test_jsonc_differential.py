"""The merge against OpenCode's own parser: Microsoft's jsonc-parser, run in Node (tests/support).

Hypothesis writes JSONC documents token by token, with trivia drawn between every two tokens
(blanks, LF/CRLF/CR line breaks, line and block comments), a BOM, escapes (lone surrogates
too), invalid tokens and numbers, ``null`` and other wrong kinds where the merge needs an
object, and duplicate keys. For each, the module's verdict must be jsonc-parser's, except for
the refusals the module makes on purpose (documented in the module and README):

- a top level that is not an object, a ``provider`` or ``provider.<id>`` that is not an object
  (``null`` included) or that is written twice;
- a file with nothing but whitespace and comments, which OpenCode rejects: the module writes a
  fresh config below the comments instead.

Every accepted file is merged; the result must parse in jsonc-parser to exactly what
jsonc-parser's own ``modify`` gives (plus ``$schema``), keep comments where they belong (a rule
``modify`` itself does not keep, checked on the scanner's tokens), and write new text in the
file's dominant line-ending style.
"""

from __future__ import annotations

import copy
import json
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ansible_collections.omniroute.opencode.plugins.module_utils._jsonc import JsoncError
from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import (
    SCHEMA_URL,
    ConfigError,
    build_entry,
    plan,
)
from tests.support.jsonc_reference import reference

PROVIDER_ID = "omniroute"
ENTRY = build_entry("http://127.0.0.1:20128/v1", api_key="sk-test-key", models=["m1", {"id": "m2", "name": "Two"}])
BOM = "\ufeff"
# The scanner's token kinds (jsonc-parser SyntaxKind).
COMMA, LINE_COMMENT, BLOCK_COMMENT, LINE_BREAK, TRIVIA = 5, 12, 13, 14, 15
COMMENTS = (LINE_COMMENT, BLOCK_COMMENT)
NOT_SIGNIFICANT = (LINE_COMMENT, BLOCK_COMMENT, LINE_BREAK, TRIVIA)

# Raw text stays in the BMP (jsonc-parser counts offsets in UTF-16 units, Python in code points);
# escapes reach beyond it and to lone surrogates.
raw_chars = st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs", "Cc"], exclude_characters='"\\')
escapes = st.sampled_from(["\\n", "\\t", '\\"', "\\\\", "\\/", "\\b", "\\f", "\\r", "\\u00e9", "\\u0000",
                           "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\uDBFF"])
bad_strings = st.sampled_from(['"tab\there"', '"bad \\x escape"', '"\\u12"', '"unterminated', "'single'",
                               '"line\nbreak"'])
numbers = st.sampled_from(["0", "-0", "1", "-12", "3.25", "1e3", "2E-2", "-1.5e+10", "1e400", "12345678901234567890"])
bad_numbers = st.sampled_from(["NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1", "-", "1e", "0x1F", "truex"])
newline_styles = st.sampled_from([("\n",), ("\r\n",), ("\r",), ("\n", "\r\n"), ("\n", "\r\n", "\r")])


def string_literal(draw):
    pieces = draw(st.lists(st.one_of(escapes, st.text(raw_chars, min_size=1, max_size=4)), max_size=3))
    return '"' + "".join(pieces) + '"'


class Writer:
    """Writes one document; every choice is a hypothesis draw, so failures shrink."""

    def __init__(self, draw, newlines, broken):
        self.draw = draw
        self.newlines = newlines
        self.broken = broken  # whether invalid tokens may appear at all

    def newline(self):
        return self.draw(st.sampled_from(self.newlines))

    def trivia(self):
        out = []
        for kind in self.draw(st.lists(st.sampled_from(["space", "newline", "line", "block", "multi"]), max_size=3)):
            if kind == "space":
                out.append(self.draw(st.sampled_from([" ", "  ", "\t"])))
            elif kind == "newline":
                out.append(self.newline() + self.draw(st.sampled_from(["", "  ", "\t"])))
            elif kind == "line":
                out.append("//" + self.comment_text() + self.newline())
            else:
                inner = self.newline() if kind == "multi" else ""
                out.append("/*" + self.comment_text() + inner + self.comment_text() + "*/")
        return "".join(out)

    def comment_text(self):
        return self.draw(st.text(raw_chars, max_size=5)).replace("*/", "*_/")

    def invalid(self):
        return self.broken and self.draw(st.integers(0, 24)) == 0

    def key(self, special=()):
        if self.invalid():
            return self.draw(st.sampled_from(["bare", "'q'", "1", "", '"unterminated']))
        choices = list(special) or ["a", "b"]
        key = self.draw(st.one_of(st.sampled_from(choices), st.text(raw_chars, max_size=4)))
        if key in special and self.draw(st.booleans()):
            return '"%s\\u%04x"' % (key[:-1], ord(key[-1]))  # the same key, spelled with an escape
        # jsonc-parser builds plain JS objects, where "__proto__" is no ordinary key.
        return json.dumps("p" if key == "__proto__" else key, ensure_ascii=False)

    def scalar(self):
        if self.invalid():
            return self.draw(st.one_of(bad_numbers, bad_strings))
        kind = self.draw(st.sampled_from(["null", "true", "false", "number", "string"]))
        if kind == "number":
            return self.draw(numbers)
        if kind == "string":
            return string_literal(self.draw)
        return kind

    def value(self, depth=0):
        kind = self.draw(st.sampled_from(["scalar", "object", "array"] if depth < 2 else ["scalar"]))
        if kind == "object":
            return self.obj([(self.key(), self.value(depth + 1)) for _ in range(self.draw(st.integers(0, 2)))])
        if kind == "array":
            return self.array([self.value(depth + 1) for _ in range(self.draw(st.integers(0, 2)))])
        return self.scalar()

    def obj(self, members):
        t = self.trivia
        parts = [t() + key + t() + ":" + t() + value + t() for key, value in members]
        return "{" + self.join(parts) + "}"

    def array(self, items):
        return "[" + self.join([self.trivia() + item + self.trivia() for item in items]) + "]"

    def join(self, parts):
        if self.invalid():
            if not parts:
                return self.draw(st.sampled_from([",", ",,", " , "]))
            return self.draw(st.sampled_from([",,", " "])).join(parts) + self.draw(st.sampled_from(["", ",,"]))
        text = ",".join(parts)
        if parts and self.draw(st.booleans()):
            text += "," + self.trivia()  # a trailing comma, allowed by OpenCode
        return text or self.trivia()

    def entry(self):
        shape = self.draw(st.sampled_from(["same", "stale", "other", "null", "string", "array", "twice"]))
        if shape in ("same", "stale"):
            entry = copy.deepcopy(ENTRY)
            if shape == "stale":
                entry["options"]["baseURL"] += "/v1"
                del entry["models"]["m2"]
            return [('"%s"' % PROVIDER_ID, self.render_data(entry))]
        if shape == "twice":
            return [(self.key([PROVIDER_ID]), self.obj([])), (self.key([PROVIDER_ID]), self.render_data(ENTRY))]
        kinds = {"other": lambda: self.value(1) if self.draw(st.booleans()) else self.obj([(self.key(), self.scalar())]),
                 "null": lambda: "null", "string": lambda: '"x"', "array": lambda: self.array([])}
        return [(self.key([PROVIDER_ID]), kinds[shape]())]

    def render_data(self, data):
        if isinstance(data, dict):
            return self.obj([('"%s"' % key, self.render_data(value)) for key, value in data.items()])
        if isinstance(data, list):
            return self.array([self.render_data(item) for item in data])
        return json.dumps(data, ensure_ascii=False)

    def provider(self):
        shape = self.draw(st.sampled_from(["object", "object", "object", "null", "array", "string", "number"]))
        if shape != "object":
            return {"null": "null", "array": self.array([]), "string": '"omniroute"', "number": "1"}[shape]
        members = [(self.key(["ollama", "x"]), self.obj([(self.key(["npm", "name"]), self.scalar())]))
                   for _ in range(self.draw(st.integers(0, 2)))]
        if self.draw(st.sampled_from([True, True, False])):
            members += self.entry()
        return self.obj(self.shuffled(members))

    def root(self):
        members = [(self.key(), self.value(1)) for _ in range(self.draw(st.integers(0, 3)))]
        members += [(self.key(["$schema"]), '"%s"' % SCHEMA_URL) for _ in range(self.draw(st.integers(0, 2)))]
        providers = self.draw(st.sampled_from([1, 0, 1, 2]))
        members += [(self.key(["provider"]), self.provider()) for _ in range(providers)]
        return self.obj(self.shuffled(members))

    def shuffled(self, items):
        return [items[i] for i in self.draw(st.permutations(range(len(items))))]


@st.composite
def documents(draw):
    writer = Writer(draw, draw(newline_styles), broken=draw(st.booleans()))
    shape = draw(st.sampled_from(["object"] * 8 + ["trivia", "array", "scalar"]))
    if shape == "object":
        body = writer.root()
    elif shape == "trivia":
        body = ""
    else:
        body = writer.value(1) if shape == "array" else writer.scalar()
    text = writer.trivia() + body + writer.trivia()
    if writer.invalid():
        text += draw(st.sampled_from(["}", "]", ",", "{}", "/", "/* unterminated", BOM]))
    return (BOM if draw(st.booleans()) else "") + text


def comparable(value):
    """Numbers as doubles (what OpenCode sees), so 12345678901234567890 == 1.2345678901234567e19."""
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def expected_refusal(answer, tokens):
    """What the module must refuse on purpose, or None: (exception type, words)."""
    if answer["errors"]:
        if all(kind in NOT_SIGNIFICANT for kind, _, _ in tokens) and [e[0] for e in answer["errors"]] == ["ValueExpected"]:
            return None  # documented: whitespace/comment-only files become a fresh config
        return JsoncError, ""
    structure = answer["structure"]
    if structure["root"] != "object":
        return JsoncError, "the top level is"
    counts, kinds = structure["counts"], structure["kinds"]
    for depth, name in enumerate(['"provider"', '"provider.%s"' % PROVIDER_ID]):
        if depth < len(counts) and counts[depth] > 1:
            return ConfigError, name + " appears more than once"
        if depth < len(kinds) and kinds[depth] != "object":
            return ConfigError, name + " is "
    return None


def dominant_newline(text):
    found = re.findall(r"\r\n|\r|\n", text)
    styles = ["\n", "\r\n", "\r"]
    return max(styles, key=lambda style: (found.count(style), -styles.index(style)))


def check_comment_placement(before, after, edits, ref):
    """The rule modify does not keep: a comment trailing a token on its line stays right after it
    (commas the merge adds aside) on that line; one on its own line stays before the same token."""
    before_tokens, after_tokens = ref.tokens(before), ref.tokens(after)
    replaced = [(start, end) for start, end, _ in edits if start != end]

    def mapped(offset):
        return offset + sum(len(text) - (end - start) for start, end, text in edits if end <= offset)

    kept = [t for t in before_tokens if t[0] in COMMENTS and not any(s <= t[1] < e for s, e in replaced)]
    after_comments = [t for t in after_tokens if t[0] in COMMENTS]
    assert [before[t[1]:t[1] + t[2]] for t in kept] == [after[t[1]:t[1] + t[2]] for t in after_comments]
    original_offsets = {mapped(t[1]) for t in before_tokens}
    for comment, moved in zip(kept, after_comments):
        index = before_tokens.index(comment)
        previous = next((t for t in reversed(before_tokens[:index]) if t[0] not in NOT_SIGNIFICANT), None)
        following = next((t for t in before_tokens[index:] if t[0] not in NOT_SIGNIFICANT), None)
        moved_index = after_tokens.index(moved)
        moved_previous = next((t for t in reversed(after_tokens[:moved_index]) if t[0] not in NOT_SIGNIFICANT
                               and not (t[0] == COMMA and t[1] not in original_offsets)), None)
        moved_following = next((t for t in after_tokens[moved_index:] if t[0] not in NOT_SIGNIFICANT), None)
        line_start = max(before.rfind("\n", 0, comment[1]), before.rfind("\r", 0, comment[1])) + 1
        if previous is not None and not re.search("[\r\n]", before[previous[1] + previous[2]:comment[1]]):
            where = "the comment %r trailing %r" % (before[comment[1]:comment[1] + comment[2]], before[previous[1]:previous[1] + previous[2]])
            assert moved_previous is not None, where + " moved"
            span = next(((s, e) for s, e in replaced if s <= previous[1] < e), None)
            if span is None:
                assert moved_previous[1] == mapped(previous[1]), where + " moved"
            else:  # it trailed the replaced entry: it trails the new one
                assert moved_previous[1] + moved_previous[2] == mapped(span[1]), where + " moved"
            assert not re.search("[\r\n]", after[moved_previous[1]:moved[1]]), where + " left its line"
        elif before[line_start:comment[1]].strip(" \t" + BOM) == "":
            where = "the own-line comment %r" % before[comment[1]:comment[1] + comment[2]]
            if following is None:
                assert moved_following is None, where + " has a new token after it"
            else:
                assert moved_following is not None and moved_following[1] == mapped(following[1]), where + " moved"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents())
@example('{\r"a": 1 // c\r}\r')
@example('{"a": [,]}')
@example("{,}")
@example('{"a": NaN}')
@example('{"provider": null}')
@example('{"provider": {"omniroute": null}}')
@example('{"x": "\\ud800"}')
@example('{\n  "a": 1 /* x */ // y\n}')
@example('{\n  "a": 1 /* x\n  y */\n}')
@example('{ /* x */\n  "a": 1\n}')
@example('{"$schema": "%s", "$schema": "%s"}' % (SCHEMA_URL, SCHEMA_URL))
@example(" \n// only comments\n")
def test_merge_agrees_with_jsonc_parser(text):
    ref = reference()
    opencode_reads = text[1:] if text.startswith(BOM) else text  # OpenCode's file reader drops a BOM
    answer = ref.merge(opencode_reads, ["provider", PROVIDER_ID], ENTRY, SCHEMA_URL)
    refusal = expected_refusal(answer, ref.tokens(opencode_reads))

    if refusal is not None:
        kind, words = refusal
        with pytest.raises((JsoncError, ConfigError)) as error:
            plan(text, PROVIDER_ID, ENTRY)
        assert isinstance(error.value, kind), (error.value, answer["errors"])
        assert words in str(error.value)
        assert error.value.line >= 1 and error.value.column >= 1
        assert str(error.value).startswith("line %d, column %d: " % (error.value.line, error.value.column))
        return

    change = plan(text, PROVIDER_ID, ENTRY)
    after = change.after[1:] if change.after.startswith(BOM) else change.after
    assert change.after.startswith(BOM) == text.startswith(BOM)
    errors, value = ref.parse(after)
    assert errors == [], "jsonc-parser rejects what the module wrote:\n%r" % change.after
    modified = answer["modified"]
    expected = copy.deepcopy(answer.get("value") if not answer["errors"] else None) or {}
    expected.setdefault("$schema", SCHEMA_URL)
    expected.setdefault("provider", {})[PROVIDER_ID] = ENTRY
    if "threw" not in modified and not modified["errors"]:
        assert comparable(modified["value"]) == comparable(expected)  # the reference merge agrees
    assert comparable(value) == comparable(expected)
    assert comparable(change.after_value) == comparable(value)  # what the module reports is what OpenCode reads

    newline = dominant_newline(text)
    inserted = [replacement for _, _, replacement in change.edits]
    if answer["errors"]:  # the documented whitespace/comment-only case: a fresh config below the comments
        kept = text.rstrip(" \t\r\n")
        assert change.after.startswith(kept)
        inserted = [change.after[len(kept):]]
    for new_text in inserted:
        assert set(re.findall(r"\r\n|\r|\n", new_text)) <= {newline}, "new text must use %r" % newline
    if not answer["errors"]:
        shift = len(text) - len(opencode_reads)  # the BOM, which the scanner would see as a token
        edits = [(start - shift, end - shift, inserted) for start, end, inserted in change.edits]
        check_comment_placement(opencode_reads, after, edits, ref)
    assert plan(change.after, PROVIDER_ID, ENTRY).edits == []

    removal = plan(change.after, PROVIDER_ID, None)  # state=absent takes out only the entry
    errors, removed_value = ref.parse(removal.after.lstrip(BOM))
    assert errors == [], "jsonc-parser rejects what state=absent wrote:\n%r" % removal.after
    del expected["provider"][PROVIDER_ID]
    assert comparable(removed_value) == comparable(expected)
