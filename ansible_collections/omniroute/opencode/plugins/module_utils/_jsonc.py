# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Edit JSON-with-comments as text: parse with byte offsets, then splice.

Only the standard library is used, because this runs on managed hosts.

Comments and trailing commas are first blanked out with spaces (so every offset in the
cleaned text is the offset in the original), then the stdlib's C scanner decodes values.
The top-level object, and the objects named in ``descend``, are walked member by member so
that each member's key and value spans are known; everything else is decoded at C speed.
A quick pass first tries the text itself, passing over comments and trailing commas only
between the members it walks (the common case); anything else (a comment inside a value, an
error) sends the text to the full pass, which alone reports errors.
Edits are (start, end, replacement) splices on the original text, so every byte outside
them stays as it was: comments, key order, indentation, line endings, a BOM, non-ASCII text.

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
# One lexeme at a time, in Python: the reference, and the way on Pythons older than 3.11.
_LEXEME = re.compile(r'"(?:[^"\\\n\r]|\\.)*"|' + _COMMENT + "|" + _TRAILING_COMMA)
_BLANKED = re.compile(_COMMENT + "|" + _TRAILING_COMMA)
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
_PASS_OVER = _GAP = None
if sys.version_info >= (3, 11, 5):
    _PASS_OVER, _GAP = re.compile(_PASS_OVER_POSSESSIVE), re.compile(_GAP_POSSESSIVE)
elif sys.version_info >= (3, 11):
    _PASS_OVER, _GAP = re.compile(_PASS_OVER_ATOMIC), re.compile(_GAP_ATOMIC)
# Python's decoder accepts these, JSON and OpenCode do not; searched only when the text has them.
_NON_NUMBER = re.compile(r'"(?:[^"\\\n\r]|\\.)*"|-?(?:NaN|Infinity)')
_WS = re.compile(r"[ \t\n\r]*")
# Blanks and comments after a position, on its line; a block comment may run onto later lines.
# Group 1 is the last comment, so a caller knows whether a line comment ends the run.
_LINE_TAIL = re.compile(r"(?:[ \t]*(/\*(?:[^*]|\*(?!/))*\*/|//[^\n\r]*))*")
_BLANKS = re.compile(r"[ \t]*")
_TRIVIA = re.compile(r"(?:[ \t\n\r]+|" + _COMMENT + r")*")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
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
        return [match.span() for match in _LEXEME.finditer(text) if text[match.start()] != '"']
    spans = []
    pos = _PASS_OVER.match(text).end()
    while pos < len(text):
        end = _BLANKED.match(text, pos).end()
        spans.append((pos, end))
        pos = _PASS_OVER.match(text, end).end()
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
    for match in _NON_NUMBER.finditer(cleaned):
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
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_utf8_safe(key): _utf8_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_utf8_safe(item) for item in value]
    return value


# ---------------------------------------------------------------------------------------
# Layout: how the file is written, so inserted text looks like the rest of it.

class Layout:
    """Newline style and indentation unit of a text."""

    def __init__(self, newline="\n", unit="  "):
        self.newline = newline
        self.unit = unit

    @classmethod
    def of(cls, doc):
        text = doc.text
        newline = dominant_newline(text)
        unit = "  "
        nodes = [doc.root] if doc.root is not None else []
        for member in (doc.root.members if doc.root is not None else ()):
            if member.node is not None:
                nodes.append(member.node)
        for node in nodes:
            for member in node.members:
                if starts_line(text, member.key_start):
                    own = line_indent(text, member.key_start)
                    parent = line_indent(text, node.start)
                    if own.startswith(parent) and len(own) > len(parent):
                        unit = own[len(parent):]
                        return cls(newline, unit)
        return cls(newline, unit)

    def format(self, value, indent, inline=False):
        """``value`` as JSON in this layout, continuation lines indented by ``indent``.

        ``inline`` renders on one line, for objects the file itself writes on one line.
        """
        if inline:
            return json.dumps(value, ensure_ascii=False)
        rendered = json.dumps(value, indent=self.unit, ensure_ascii=False)
        return rendered.replace("\n", self.newline + indent)


def dominant_newline(text):
    """The file's most frequent line break (LF, CRLF or lone CR); LF on a tie or with none."""
    if "\r" not in text:
        return "\n"
    crlf = text.count("\r\n")
    counts = [(text.count("\n") - crlf, "\n"), (crlf, "\r\n"), (text.count("\r") - crlf, "\r")]
    return max(counts, key=lambda count: count[0])[1]


def line_start(text, pos):
    return max(text.rfind("\n", 0, pos), text.rfind("\r", 0, pos)) + 1


def line_indent(text, pos):
    start = line_start(text, pos)
    if start == 0 and text.startswith(BOM):
        start = 1
    end = start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[start:end]


def starts_line(text, pos):
    """True when only indentation (or a BOM) stands before ``pos`` on its line."""
    return text[line_start(text, pos):pos].strip(" \t" + BOM) == ""


def _after_line_comments(text, pos):
    """Where text goes after ``pos`` without moving the comments that trail it on its line.

    Returns (offset after those comments, or ``pos``; whether a line comment ends them, so
    that what is inserted there must start on a new line).
    """
    match = _LINE_TAIL.match(text, pos)
    last = match.group(1)
    if last is None:
        return pos, False
    return match.end(), last.startswith("//")


# ---------------------------------------------------------------------------------------
# Edits: lists of (start, end, replacement) on the original text.

def apply_edits(text, edits):
    """Apply non-overlapping splices; later offsets first so earlier ones stay valid."""
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def replace_value(doc, member, value, layout):
    """Replace a member's value, formatted at the member's own indentation."""
    inline = not starts_line(doc.text, member.key_start)
    indent = line_indent(doc.text, member.key_start)
    return [(member.value_start, member.value_end, layout.format(value, indent, inline))]


def insert_members(doc, node, items, layout, first=False):
    """Add ``"key": value`` pairs to the object ``node``: at its end, or first when ``first``.

    Comments keep their place: one trailing a value on its line (even a block comment running
    onto later lines) stays after that value, one on its own line stays before what follows
    it, and one on the line of ``{`` stays first.
    """
    text = doc.text
    parent_indent = line_indent(text, node.start)
    if not node.members:
        indent = parent_indent + layout.unit
        members = _render_members(items, layout, indent, "," + layout.newline + indent)
        if text[node.start + 1:node.end - 1].strip(" \t\r\n") == "":
            return [(node.start + 1, node.end - 1, layout.newline + indent + members + layout.newline + parent_indent)]
        at = _after_line_comments(text, node.start + 1)[0]
        return [(at, at, layout.newline + indent + members)]
    anchor = node.members[0] if first else node.members[-1]
    inline = not starts_line(text, anchor.key_start)
    indent = "" if inline else line_indent(text, anchor.key_start)
    separator = " " if inline else layout.newline + indent
    members = _render_members(items, layout, indent, "," + separator, inline)
    if first:
        at, after_line_comment = _after_line_comments(text, node.start + 1)
        if inline and at == node.start + 1:
            return [(at, at, members + ", ")]
        return [(at, at, _separator(separator, after_line_comment, layout) + members + ",")]
    comma = doc.trailing_comma_between(anchor.value_end, node.end)
    if comma is not None:
        at, after_line_comment = _after_line_comments(text, comma + 1)
        return [(at, at, _separator(separator, after_line_comment, layout) + members + ",")]
    at, after_line_comment = _after_line_comments(text, anchor.value_end)
    if at == anchor.value_end:
        return [(at, at, "," + separator + members)]
    return [(anchor.value_end, anchor.value_end, ","),
            (at, at, _separator(separator, after_line_comment, layout) + members)]


def _separator(separator, after_line_comment, layout):
    """After a line comment, inserted text must begin a new line, even in a one-line object."""
    if after_line_comment and not separator.startswith(layout.newline):
        return layout.newline + separator.lstrip(" ")
    return separator


def _render_members(items, layout, indent, joiner, inline=False):
    return joiner.join('"%s": %s' % (_key(key), layout.format(value, indent, inline)) for key, value in items)


def remove_member(doc, node, member):
    """Remove one member with its comma, leaving every other byte in place."""
    text = doc.text
    index = node.members.index(member)
    is_last = index == len(node.members) - 1
    own_line = starts_line(text, member.key_start)
    start = line_start(text, member.key_start) if own_line else member.key_start
    after = _WS.match(text, member.value_end).end()
    comma = _TRIVIA.match(text, member.value_end).end()
    following_comma = text.startswith(",", comma)
    edits = []
    end = member.value_end
    if following_comma and comma == after:
        end = after + 1
    elif following_comma:
        edits.append((comma, comma + 1, ""))  # a comment stands before the comma: it stays
    if own_line:
        # The member's line goes with it, up to and including its line break (LF, CRLF or CR).
        blanks_end = _BLANKS.match(text, end).end()
        line_break = _LINE_BREAK.match(text, blanks_end)
        if line_break:
            end = line_break.end()
    edits.append((start, end, ""))
    if is_last and not following_comma and index > 0:
        previous = node.members[index - 1]
        comma = text.find(",", previous.value_end, member.key_start)
        while comma >= 0 and _inside_comment(text, previous.value_end, comma):
            comma = text.find(",", comma + 1, member.key_start)
        if comma >= 0:
            edits.append((comma, comma + 1, ""))
    return edits


def _inside_comment(text, start, pos):
    """True when ``pos`` lies in a comment that begins at or after ``start``."""
    for match in re.finditer(_COMMENT, text[start:pos + 1]):
        if match.start() + start <= pos < match.end() + start:
            return True
    return False


def _key(key):
    return json.dumps(key, ensure_ascii=False)[1:-1]
