# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the credentials are in a JSON(C) text, by the rule of ``_secrets``: what ``Masker.text`` and
``Masker.message`` replace. A module of its own so that the runs that show no text (no diff, no error)
do not compile it.

Standard library only: the module runs this on the managed host.
"""

from __future__ import annotations

import bisect
import json
import re

from ansible_collections.omniroute.opencode.plugins.module_utils._jsonc import JsoncError, parse
from ansible_collections.omniroute.opencode.plugins.module_utils._secrets import (
    SECRET_CONTAINERS,
    SECRET_KEY_WORDS,
    SECRET_WORD_ENDINGS,
    is_reference,
    marks_secret,
)

# A key that marks a credential has one of these in its name, lowercased, or an escape.
_HINTS = tuple(sorted(SECRET_KEY_WORDS.union(SECRET_WORD_ENDINGS, SECRET_CONTAINERS))) + ("\\",)
# Strings (also unterminated ones, for broken files), comments, and the punctuation that gives
# the structure; numbers and literals are never credentials and are skipped.
_TOKEN = re.compile(r'"(?:[^"\\\n\r]|\\.)*"?|//[^\n\r]*|/\*(?:[^*]|\*(?!/))*(?:\*/)?|[{}\[\]:,]')


def _decode(token):
    try:
        return json.loads(token)
    except ValueError:
        return token[1:-1] if token.endswith('"') and len(token) > 1 else token[1:]


def secret_strings(text):
    """(start, end, decoded value) of every credential string literal in a JSON(C) text."""
    spans = _spans_to_search(text)
    if spans is None:
        return _secret_strings_in(text, 0, len(text), [], None)
    # Each member's value alone, as the whole-text walk would meet it: after the ':' of its key,
    # in an object that is itself secret or not.
    return [found for start, end, key in spans
            for found in _secret_strings_in(text, start, end, [[True, False, key]], ":")]


def _spans_to_search(text):
    """(start, end, key) of the member values that may hold a credential.

    For valid JSONC only (None otherwise: the caller then walks the whole text, as it must for
    broken text). A credential sits below a key that names one, and such a key has a hint in
    its text: the values of the members of the top level and of ``provider`` without a hint
    inside, and not below such a key, are left out without being tokenized.
    """
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):
        return []
    try:
        doc = parse(text)
    except JsoncError:
        return None
    if len(lowered) != len(text):  # a character whose lower case is longer: offsets differ
        lowered = None
    hints = _hint_offsets(lowered)
    members = []
    for member in doc.root.members if doc.root is not None else ():
        if member.node is None or marks_secret(member.key):
            members.append(member)
        else:  # ``provider``: its object is not secret, so each entry stands on its own
            members.extend(member.node.members)
    return [(member.value_start, member.value_end, member.key) for member in members
            if hints is None or marks_secret(member.key) or _any_between(hints, member.value_start, member.value_end)]


def _hint_offsets(lowered):
    """Sorted offsets of every hint in ``lowered``, or None when it is None."""
    if lowered is None:
        return None
    offsets = []
    for hint in _HINTS:
        at = lowered.find(hint)
        while at >= 0:
            offsets.append(at)
            at = lowered.find(hint, at + 1)
    offsets.sort()
    return offsets


def _any_between(offsets, start, end):
    index = bisect.bisect_left(offsets, start)
    return index < len(offsets) and offsets[index] < end


def _secret_strings_in(text, start, end, stack, previous):
    """The credential strings in text[start:end], walking from the given open frames."""
    # One frame per open object/array: [is_object, secret, key].
    found = []
    for match in _TOKEN.finditer(text, start, end):
        token = match.group()
        if token.startswith("//") or token.startswith("/*"):
            continue
        frame = stack[-1] if stack else None
        if token in ("{", "["):
            stack.append([token == "{", _value_secret(frame, previous), None])
        elif token in ("}", "]"):
            if stack:
                stack.pop()
        elif token.startswith('"'):
            is_key = frame is not None and frame[0] and previous in ("{", ",")
            if is_key:
                frame[2] = _decode(token)
            elif _value_secret(frame, previous):
                value = _decode(token)
                if not is_reference(value):
                    found.append((match.start(), match.end(), value))
        previous = token if not token.startswith('"') else '"'
    return found


def _value_secret(frame, previous):
    """Whether the value that starts now (after ``previous``) lies in a credential position."""
    if frame is None:
        return False
    if frame[0]:
        key = frame[2] if previous == ":" else None
        return frame[1] or (key is not None and marks_secret(key))
    return frame[1]
