"""Regression tests for issue 9: the merge agrees with OpenCode's own parser (jsonc-parser).

One test per numbered example of the issue, on the exact inputs it names.
"""

import json

import json5
import pytest

from ansible_collections.omniroute.opencode.plugins.module_utils._jsonc import JsoncError
from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import (
    SCHEMA_URL,
    ConfigError,
    build_entry,
    plan,
)

ENTRY = build_entry("http://proxy:20128", models=["m"])


def merged(text):
    return plan(text, "omniroute", ENTRY).after


def value_of(text):
    return json5.loads(text.lstrip("\ufeff"))


# 1. Lone CR line endings -------------------------------------------------------------------

def test_lone_cr_file_stays_valid_and_keeps_its_line_endings():
    after = merged('{\r"a": 1 // c\r}\r')
    assert "\n" not in after
    assert '"a": 1, // c\r' in after  # the comment stays on a's line
    assert after.endswith("\r}\r")
    assert value_of(after) == {"$schema": SCHEMA_URL, "a": 1, "provider": {"omniroute": ENTRY}}


def test_mixed_line_endings_new_text_uses_the_dominant_one():
    text = '{\r\n  "a": 1,\r\n  "b": 2\n}\r\n'
    change = plan(text, "omniroute", ENTRY)
    inserted = "".join(replacement for _, _, replacement in change.edits)
    assert "\r\n" in inserted and "\n" not in inserted.replace("\r\n", "") and "\r" not in inserted.replace("\r\n", "")
    assert '  "b": 2,\r\n  "provider": {\r\n' in change.after
    assert change.after.endswith("\r\n  }\n}\r\n")  # the file's own LF before "}" stays


# 2. Invalid input is refused ----------------------------------------------------------------

@pytest.mark.parametrize("text, line, column", [
    ('{"a": [,]}', 1, 8),
    ("{,}", 1, 2),
    ('{"a": NaN}', 1, 7),
    ('{"a": Infinity}', 1, 7),
    ('{\n  "a": -Infinity\n}', 2, 8),
    ('{"a": [1,,]}', 1, 10),
])
def test_invalid_tokens_are_refused_with_their_place(text, line, column):
    with pytest.raises(JsoncError) as error:
        plan(text, "omniroute", ENTRY)
    assert (error.value.line, error.value.column) == (line, column)


# 3. null where an object belongs --------------------------------------------------------------

@pytest.mark.parametrize("text, words, line, column", [
    ('{"provider": null}', '"provider" is null, expected an object', 1, 14),
    ('{"provider": {\n  "omniroute": null}}', '"provider.omniroute" is null, expected an object', 2, 16),
])
def test_null_where_an_object_belongs_is_refused(text, words, line, column):
    with pytest.raises(ConfigError) as error:
        plan(text, "omniroute", ENTRY)
    assert words in str(error.value)
    assert (error.value.line, error.value.column) == (line, column)


# 4. A lone surrogate escape: written, and everything returned serializes ------------------------

def test_lone_surrogate_is_merged_and_the_result_serializes():
    from ansible_collections.omniroute.opencode.plugins.module_utils._jsonc import utf8_safe

    change = plan('{"x": "\\ud800"}', "omniroute", ENTRY)
    assert '"x": "\\ud800"' in change.after  # the escape stays as the user wrote it
    change.after.encode("utf-8")
    returned = utf8_safe({"document": change.after_value, "ids": ["\udc00"]})
    json.dumps(returned, ensure_ascii=False).encode("utf-8")
    assert returned["document"]["x"] == "\ufffd"


# 5. Comments stay with what they belong to ------------------------------------------------------

def test_trailing_comments_stay_on_the_last_members_line():
    after = merged('{\n  "a": 1 /* x */ // y\n}')
    assert '\n  "a": 1, /* x */ // y\n  "provider": {' in after


def test_multi_line_block_comment_after_the_last_member_stays_with_it():
    after = merged('{\n  "a": 1 /* x\n  y */\n}\n')
    assert '\n  "a": 1, /* x\n  y */\n  "provider": {' in after


def test_block_comment_right_after_the_brace_stays_first():
    assert merged('{ /* header */\n  "a": 1\n}\n').startswith('{ /* header */\n  "$schema": ')
    assert merged('{/* header */"a": 1}').startswith('{/* header */ "$schema": ')


def test_own_line_comment_stays_before_what_follows_it():
    after = merged('{\n  // about a\n  "a": 1\n  // before the end\n}\n')
    assert '  // about a\n  "a": 1' in after
    assert after.endswith('  // before the end\n}\n')


# 6. Every refusal names line and column -----------------------------------------------------------

@pytest.mark.parametrize("text, words, line, column", [
    ('{\n  "provider": []\n}', '"provider" is an array, expected an object', 2, 15),
    ('{"provider": {"omniroute": "x"}}', '"provider.omniroute" is a string, expected an object', 1, 28),
    ('{\n  "provider": {},\n  "provider": {}\n}', '"provider" appears more than once', 3, 3),
    ('{"provider": {"omniroute": {}, "omniroute": {}}}', '"provider.omniroute" appears more than once', 1, 32),
])
def test_structural_refusals_name_line_and_column(text, words, line, column):
    with pytest.raises(ConfigError) as error:
        plan(text, "omniroute", ENTRY)
    assert words in str(error.value)
    assert (error.value.line, error.value.column) == (line, column)
    assert str(error.value).startswith("line %d, column %d: " % (line, column))


# 7. Duplicate $schema, empty and comment-only files ------------------------------------------------

def test_duplicate_schema_is_accepted_like_opencode_does():
    text = '{"$schema": "%s", "$schema": "%s"}' % (SCHEMA_URL, SCHEMA_URL)
    change = plan(text, "omniroute", ENTRY)
    assert "schema_missing" not in change.drift
    assert value_of(change.after)["provider"]["omniroute"] == ENTRY


@pytest.mark.parametrize("text", ["", " \r\n\t", "// only a comment", "/* a */\r\n// b\r\n"])
def test_empty_whitespace_and_comment_only_files_become_a_fresh_config(text):
    after = merged(text)
    assert value_of(after) == {"$schema": SCHEMA_URL, "provider": {"omniroute": ENTRY}}
    assert after.startswith(text.rstrip(" \t\r\n"))


# Found by the differential test: state=absent with a comment between the entry and its comma.

def test_absent_keeps_a_comment_before_the_entrys_comma_and_leaves_no_double_comma():
    text = '{"provider": {"a": {}, "omniroute": {"x": null} // ours\n, "b": {}}}'
    after = plan(text, "omniroute", None).after
    assert after == '{"provider": {"a": {},  // ours\n "b": {}}}'
