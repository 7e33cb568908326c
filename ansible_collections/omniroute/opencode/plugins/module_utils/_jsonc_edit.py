# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The write side of the JSONC engine: splices on a text parsed by ``_jsonc.parse``.

Edits are (start, end, replacement) splices on the original text, so every byte outside
them stays as it was: comments, key order, indentation, line endings, a BOM, non-ASCII text.
Inserted text follows the file's own layout (newline style, indentation unit).

A module of its own because a module compiles everything it imports on every run, and most
runs find the file in sync: only a run that changes a file imports this.
"""

from __future__ import annotations

import json
import re

from ansible_collections.omniroute.opencode.plugins.module_utils._jsonc import BOM, _COMMENT, _WS, line_start

# Blanks and comments after a position, on its line; a block comment may run onto later lines.
# Group 1 is the last comment, so a caller knows whether a line comment ends the run.
_LINE_TAIL = re.compile(r"(?:[ \t]*(/\*(?:[^*]|\*(?!/))*\*/|//[^\n\r]*))*")
_BLANKS = re.compile(r"[ \t]*")
_TRIVIA = re.compile(r"(?:[ \t\n\r]+|" + _COMMENT + r")*")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


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
