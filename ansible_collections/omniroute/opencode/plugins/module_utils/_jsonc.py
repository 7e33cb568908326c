# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read JSON-with-comments with byte offsets, so that ``_jsonc_edit`` can splice the text.

Only the standard library is used, because this runs on managed hosts.

Comments and trailing commas are first blanked out with spaces (so every offset in the
cleaned text is the offset in the original), then the stdlib's C scanner decodes values.
The top-level object, and the objects named in ``descend``, are walked member by member so
that each member's key and value spans are known; everything else is decoded at C speed.
A quick pass first tries the text itself, passing over comments and trailing commas only
between the members it walks (the common case); anything else (a comment inside a value, an
error) sends the text to the full pass, which alone reports errors.

What is accepted is what OpenCode's own parser (Microsoft's ``jsonc-parser`` with
``allowTrailingComma``) accepts: comments, one trailing comma after a value, whitespace of
space, tab, CR and LF only; no ``NaN``/``Infinity``, no comma without a value before it.
Duplicate keys are allowed and the last one wins, as there. Line breaks are LF, CRLF or a
lone CR, mixed freely.
"""

from __future__ import annotations

import bisect
import json
import re
import sys
from json.decoder import scanstring

BOM = "\ufeff"

# Strings are skipped, comments and trailing commas blanked. Comments are written so that
# backtracking can neither shorten nor stretch them: a trailing comma is one followed, through
# whole comments only, by a closing bracket.
_COMMENT = r"//[^\n\r]*(?![^\n\r])|/\*(?:[^*]|\*(?!/))*\*/"
_TRAILING_COMMA = r",(?=(?:[ \t\n\r]|" + _COMMENT + r")*[}\]])"
# One lexeme at a time, in Python: the reference, and the way on Pythons older than 3.11. Patterns of paths most
# runs never take are compiled on first use (re caches them): a module compiles what it imports on every run.
_LEXEME = r'"(?:[^"\\\n\r]|\\.)*"|' + _COMMENT + "|" + _TRAILING_COMMA
_BLANKED = _COMMENT + "|" + _TRAILING_COMMA
# The same lexemes, but everything up to the next comment or trailing comma (strings, a quote or
# slash that starts no lexeme) is passed over in one match, inside the regex engine: a 1 MB file
# takes a handful of Python steps instead of one per string. Possessive quantifiers keep the
# engine from saving a backtracking point per token; Python 3.11.0-3.11.4 match them wrongly
# (CPython issues 100061 and 106052; Debian 12 has 3.11.2), so there the same patterns are
# spelled with atomic groups, a little slower. Older Pythons have neither: one match per lexeme.
_PASS_OVER_POSSESSIVE = (
    r'(?:[^"/,]++|"[^"\\\n\r]*+(?:\\.[^"\\\n\r]*+)*+"|"'
    r"|,(?!(?:[ \t\n\r]++|//[^\n\r]*+|/\*[^*]*+\*++(?:[^/*][^*]*+\*++)*+/)*+[}\]])"
    r"|/(?!/|\*[^*]*+\*++(?:[^/*][^*]*+\*++)*+/))*+"
)
# Blanks and comments between members, for the quick pass (see parse).
_GAP_POSSESSIVE = r"(?:[ \t\n\r]++|//[^\n\r]*+|/\*[^*]*+\*++(?:[^/*][^*]*+\*++)*+/)*+"
_BLOCK_REST_ATOMIC = r"\*(?>[^*]*)(?>\*+)(?>(?:[^/*](?>[^*]*)(?>\*+))*)/"
_PASS_OVER_ATOMIC = (
    r'(?>(?:(?>[^"/,]+)|"(?>[^"\\\n\r]*)(?>(?:\\.(?>[^"\\\n\r]*))*)"|"'
    r"|,(?!(?>(?:(?>[ \t\n\r]+)|//(?>[^\n\r]*)|/" + _BLOCK_REST_ATOMIC + r")*)[}\]])"
    r"|/(?!/|" + _BLOCK_REST_ATOMIC + r"))*)"
)
_GAP_ATOMIC = r"(?>(?:(?>[ \t\n\r]+)|//(?>[^\n\r]*)|/" + _BLOCK_REST_ATOMIC + r")*)"
_PASS_OVER = _GAP = None  # _PASS_OVER is a pattern (for the full pass), _GAP compiled (every parse uses it)
if sys.version_info >= (3, 11, 5):
    _PASS_OVER, _GAP = _PASS_OVER_POSSESSIVE, re.compile(_GAP_POSSESSIVE)
elif sys.version_info >= (3, 11):
    _PASS_OVER, _GAP = _PASS_OVER_ATOMIC, re.compile(_GAP_ATOMIC)
# Python's decoder accepts these, JSON and OpenCode do not; searched only when the text has them.
_NON_NUMBER = r'"(?:[^"\\\n\r]|\\.)*"|-?(?:NaN|Infinity)'
_WS = re.compile(r"[ \t\n\r]*")
_LONE_SURROGATE = "[\ud800-\udfff]"
_DECODER = json.JSONDecoder()


class JsoncError(ValueError):
    """The text is not JSON with comments; carries a 1-based line and column."""

    def __init__(self, message, line, column):
        super().__init__("line %d, column %d: %s" % (line, column, message))
        self.reason = message
        self.line = line
        self.column = column


class Member:
    """One ``"key": value`` of an object, with offsets into the text."""

    __slots__ = ("key", "key_start", "value_start", "value_end", "value", "node")

    def __init__(self, key, key_start, value_start, value_end, value, node=None):
        self.key = key
        self.key_start = key_start
        self.value_start = value_start
        self.value_end = value_end
        self.value = value
        self.node = node  # an ObjectNode when this member was descended into


class ObjectNode:
    """An object's span: ``start`` at ``{``, ``end`` just after ``}``."""

    __slots__ = ("start", "end", "members")

    def __init__(self, start, end, members):
        self.start = start
        self.end = end
        self.members = members

    def find(self, key):
        """All members named ``key`` (JSON allows duplicates; the last one wins)."""
        return [m for m in self.members if m.key == key]


class Document:
    """A parsed JSONC text: ``value`` is the data, ``root`` the top-level object's spans."""

    def __init__(self, text, value, root, trailing_commas):
        self.text = text
        self.value = value
        self.root = root
        self._trailing_commas = trailing_commas  # sorted offsets of blanked trailing commas

    def trailing_comma_between(self, start, end):
        """Offset of a trailing comma in [start, end), or None."""
        i = bisect.bisect_left(self._trailing_commas, start)
        if i < len(self._trailing_commas) and self._trailing_commas[i] < end:
            return self._trailing_commas[i]
        return None


def position(text, offset):
    """1-based (line, column) of ``offset`` in ``text``; a BOM is not a column.

    LF, CRLF and a lone CR each end a line.
    """
    line = text.count("\n", 0, offset) + text.count("\r", 0, offset) - text.count("\r\n", 0, offset) + 1
    column = offset - line_start(text, offset) + 1
    if line == 1 and text.startswith(BOM):
        column -= 1
    return line, max(column, 1)


def _error(text, offset, message):
    line, column = position(text, offset)
    return JsoncError(message, line, column)


def _blanked_spans(text):
    """(start, end) of every comment and trailing comma, in order, strings skipped."""
    if _PASS_OVER is None:
        return [match.span() for match in re.finditer(_LEXEME, text) if text[match.start()] != '"']
    spans = []
    pass_over, blanked = re.compile(_PASS_OVER).match, re.compile(_BLANKED).match
    pos = pass_over(text).end()
    while pos < len(text):
        end = blanked(text, pos).end()
        spans.append((pos, end))
        pos = pass_over(text, end).end()
    return spans


def _clean(text):
    """Blank comments and trailing commas with spaces; return (cleaned, trailing comma offsets)."""
    pieces = []
    trailing = []
    last = 0
    for start, end in _blanked_spans(text):
        if text[start] == ",":
            trailing.append(start)
        pieces.append(text[last:start])
        pieces.append(" " * (end - start))
        last = end
    if pieces:
        pieces.append(text[last:])
        cleaned = "".join(pieces)
    else:
        cleaned = text
    for comma in trailing:
        _refuse_comma_without_value(text, cleaned, comma)
    if "NaN" in cleaned or "Infinity" in cleaned:
        _refuse_non_numbers(text, cleaned)
    return cleaned, trailing


def _refuse_non_numbers(text, cleaned):
    for match in re.finditer(_NON_NUMBER, cleaned):
        if not match.group().startswith('"'):
            raise _error(text, match.start(), "%s is not a JSON number" % match.group())


def _refuse_comma_without_value(text, cleaned, comma):
    """A trailing comma is allowed only after a value: ``[,]`` and ``{,}`` are errors."""
    before = comma - 1
    # Linear overall: each scan covers only the blanks right before its own comma.
    while before >= 0 and cleaned[before] in " \t\n\r":
        before -= 1
    if before < 0 or cleaned[before] in "[{,:" + BOM:
        raise _error(text, comma, "expected a value before ','")


class _NotPlain(Exception):
    """The quick pass met something only the full pass handles (or reports): start over."""


def _not_plain(_constant):
    raise _NotPlain()


# Python's decoder takes NaN and Infinity, JSON does not: in the quick pass they send the text
# to the full pass, which refuses them with their place.
_QUICK_DECODER = json.JSONDecoder(parse_constant=_not_plain)


class _Source:
    """What the walk reads: the cleaned text (comments blanked), or the text itself.

    On the text itself (the quick pass) comments are passed over only between the members the
    walk records, and anything else (a comment or trailing comma inside a value, any error)
    raises _NotPlain, so that the full pass decides, with its own errors.
    """

    def __init__(self, text, scanned, gap, trailing, quick):
        self.text = text
        self.scanned = scanned
        self.gap = gap.match
        self.trailing = trailing
        self.quick = quick
        self.scan = _QUICK_DECODER.scan_once if quick else _DECODER.scan_once

    def error(self, offset, message):
        if self.quick:
            return _NotPlain()
        return _error(self.text, offset, message)

    def unexpected(self, offset, message):
        """An error at ``offset``, saying so when an unterminated comment starts there."""
        # Comments were blanked, so a "/*" still in the cleaned text was never closed.
        return self.error(offset, "unterminated comment" if self.scanned.startswith("/*", offset) else message)


def _scan_value(source, pos):
    try:
        return source.scan(source.scanned, pos)
    except RecursionError:
        raise source.error(pos, "the value is nested too deeply")
    except StopIteration:
        raise source.unexpected(pos, "expected a value")
    except json.JSONDecodeError as exc:
        raise source.error(exc.pos, exc.msg.lower())


def _walk_object(source, start, descend):
    """Decode the object at ``start``, recording member spans. Returns (dict, ObjectNode)."""
    scanned, gap = source.scanned, source.gap
    value = {}
    members = []
    pos = gap(scanned, start + 1).end()
    if scanned.startswith("}", pos):
        return value, ObjectNode(start, pos + 1, members)
    while True:
        if not scanned.startswith('"', pos):
            if pos >= len(scanned):
                raise source.error(start, "object is never closed")
            raise source.unexpected(pos, "expected a property name in double quotes")
        key_start = pos
        try:
            key, pos = scanstring(scanned, pos + 1)
        except json.JSONDecodeError as exc:
            raise source.error(exc.pos, exc.msg.lower())
        pos = gap(scanned, pos).end()
        if not scanned.startswith(":", pos):
            raise source.error(pos, "expected ':' after property name %s" % json.dumps(key))
        value_start = gap(scanned, pos + 1).end()
        node = None
        if key in descend and scanned.startswith("{", value_start):
            member_value, node = _walk_object(source, value_start, ())
            value_end = node.end
        else:
            member_value, value_end = _scan_value(source, value_start)
        value[key] = member_value
        members.append(Member(key, key_start, value_start, value_end, member_value, node))
        pos = gap(scanned, value_end).end()
        if scanned.startswith(",", pos):
            comma = pos
            pos = gap(scanned, pos + 1).end()
            if scanned.startswith("}", pos):  # only in the quick pass: the full one blanked it
                source.trailing.append(comma)
                return value, ObjectNode(start, pos + 1, members)
            continue
        if scanned.startswith("}", pos):
            return value, ObjectNode(start, pos + 1, members)
        if pos >= len(scanned):
            raise source.error(start, "object is never closed")
        raise source.unexpected(pos, "expected ',' or '}' after a property value")


def parse(text, descend=("provider",)):
    """Parse JSONC ``text`` whose top level must be an object.

    Raises JsoncError (with line and column) for anything that is not JSON with comments
    and trailing commas, or whose top level is not an object. A text that is empty or only
    whitespace and comments parses as an empty object with ``root`` None.
    """
    descend = frozenset(descend)
    # Most files have comments and trailing commas only between the members the walk records
    # (top level, ``provider``): then the text itself is decoded, with no cleaned copy made.
    if _GAP is not None:
        try:
            return _parse(_Source(text, text, _GAP, [], quick=True), descend)
        except _NotPlain:
            pass
    cleaned, trailing = _clean(text)
    return _parse(_Source(text, cleaned, _WS, trailing, quick=False), descend)


def _parse(source, descend):
    scanned = source.scanned
    pos = source.gap(scanned, 1 if scanned.startswith(BOM) else 0).end()
    if pos == len(scanned):
        return Document(source.text, {}, None, source.trailing)
    if not scanned.startswith("{", pos):
        value = _scan_value(source, pos)[0]
        raise source.error(pos, "the top level is %s, expected an object" % describe_kind(value))
    value, root = _walk_object(source, pos, descend)
    rest = source.gap(scanned, root.end).end()
    if rest != len(scanned):
        raise source.error(rest, "unexpected text after the top-level object")
    return Document(source.text, value, root, source.trailing)


def describe_kind(value):
    """How a JSON value reads in an error message: 'an array', 'a string', ..."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "a number"


def utf8_safe(value):
    """``value`` with lone surrogates (from escapes like ``"\\ud800"``) replaced by U+FFFD.

    Python decodes such escapes as OpenCode does, but a result carrying them cannot be sent
    back as UTF-8; this is for what a module returns, never for what it writes. An object or
    array with nothing to replace comes back as it is (found by encoding it once, at C speed).
    """
    if isinstance(value, (dict, list)):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
            return value
        except (UnicodeEncodeError, TypeError, ValueError, RecursionError):
            pass  # a lone surrogate somewhere, or not JSON data: look at every value
    return _utf8_safe(value)


def _utf8_safe(value):
    if isinstance(value, str):
        return re.sub(_LONE_SURROGATE, "\ufffd", value)
    if isinstance(value, dict):
        return {_utf8_safe(key): _utf8_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_utf8_safe(item) for item in value]
    return value


def line_start(text, pos):
    """Offset of the first character of the line ``pos`` is on (LF, CRLF and a lone CR end lines)."""
    return max(text.rfind("\n", 0, pos), text.rfind("\r", 0, pos)) + 1
