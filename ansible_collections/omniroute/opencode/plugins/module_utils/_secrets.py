# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one rule for credentials in a developer's OpenCode config, and how they are masked.

A string value is a credential when it sits (at any depth, in any case)
  - under a key whose name has a word (split at camelCase, ``_``, ``-``, ``.`` and digits) that
    names a secret: ``key``, ``token``, ``secret``, ``password``, ``passwd``, ``pwd``,
    ``credential(s)``, ``auth``, ``authorization``, ``cookie``, or one ending in ``apikey``,
    ``token``, ``secret`` or ``password`` (``apiKey``, ``x-api-key``, ``Authorization``,
    ``GITHUB_TOKEN``, ``clientSecret``, ``accesstoken``, ...; not ``keybinds``, whose values are
    key bindings), or
  - anywhere below a ``headers`` or ``environment`` object (HTTP headers of providers and MCP
    servers, an MCP server's environment),
unless it is only a reference that OpenCode substitutes at run time (``{env:VAR}``,
``{file:path}``, optionally after ``Bearer``/``Basic``/``Token``): a reference holds no secret.

A credential is shown as ``********#<8 hex>``: a short HMAC-SHA256 of the value under a key drawn
at random for each run, so within one run equal values get equal masks (a diff shows that a
secret changed, or moved, without showing it) and nothing can be learnt about a value across runs.

Standard library only: the module runs this on the managed host.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import hmac
import json
import os
import re

from ansible_collections.omniroute.opencode.plugins.module_utils._jsonc import JsoncError, parse

MASK = "********"
SECRET_KEY_WORDS = frozenset(("key", "keys", "token", "tokens", "secret", "secrets", "password", "passwd", "pwd",
                              "passphrase", "credential", "credentials", "auth", "authorization", "cookie"))
SECRET_WORD_ENDINGS = ("apikey", "token", "secret", "password", "passwd")
# The words of a key name: "APIKey" -> API, Key; "x-api-key" -> x, api, key; "GITHUB_TOKEN" -> GITHUB, TOKEN.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
SECRET_CONTAINERS = ("headers", "environment")
_REFERENCE = re.compile(r"\{(?:env|file):[^{}]*\}")
_REFERENCE_PREFIXES = ("", "bearer", "basic", "token")
# A key that marks a credential has one of these in its name, lowercased, or an escape.
_HINTS = tuple(sorted(SECRET_KEY_WORDS.union(SECRET_WORD_ENDINGS, SECRET_CONTAINERS))) + ("\\",)
# Strings (also unterminated ones, for broken files), comments, and the punctuation that gives
# the structure; numbers and literals are never credentials and are skipped.
_TOKEN = re.compile(r'"(?:[^"\\\n\r]|\\.)*"?|//[^\n\r]*|/\*(?:[^*]|\*(?!/))*(?:\*/)?|[{}\[\]:,]')


def is_secret_key(name):
    """Whether a value under the key ``name`` is a credential (by the key's name alone)."""
    words = [word.lower() for word in _WORD.findall(name)]
    return any(word in SECRET_KEY_WORDS or word.endswith(SECRET_WORD_ENDINGS) for word in words)


# Remembered: a 1 MB config has some 100 000 keys but only a few dozen distinct names.
@functools.lru_cache(maxsize=4096)
def _marks_secret(name):
    return is_secret_key(name) or name.lower() in SECRET_CONTAINERS


def is_reference(value):
    """``{env:VAR}``/``{file:path}`` only (optionally after an auth scheme word): not a secret."""
    if not _REFERENCE.search(value):
        return False
    return _REFERENCE.sub("", value).strip().lower() in _REFERENCE_PREFIXES


class Masker:
    """Masks credentials; equal values get equal masks for the lifetime of one Masker."""

    def __init__(self, key=None):
        self._key = key if key is not None else os.urandom(32)

    def token(self, value):
        """The mask of one credential value."""
        digest = hmac.new(self._key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return "%s#%s" % (MASK, digest[:8])

    def data(self, value, secret=False):
        """A copy of decoded config data with every credential replaced by its mask."""
        if secret:
            if isinstance(value, dict):
                return {key: self.data(item, True) for key, item in value.items()}
            if isinstance(value, list):
                return [self.data(item, True) for item in value]
            return self.token(value) if isinstance(value, str) and not is_reference(value) else value
        # Outside credentials only containers need a look: other values are kept without a call.
        if isinstance(value, dict):
            return {key: self.data(item, True) if _marks_secret(key) else
                    self.data(item) if isinstance(item, (dict, list)) else item for key, item in value.items()}
        if isinstance(value, list):
            return [self.data(item) if isinstance(item, (dict, list)) else item for item in value]
        return value

    def text(self, text):
        """JSON/JSONC ``text`` with every credential string replaced by its mask, all else kept.

        Works on broken text too (best effort: the structure is followed token by token), so
        that an error message about an unparsable file can be masked as well.
        """
        pieces = []
        last = 0
        for start, end, value in _secret_strings(text):
            pieces.append(text[last:start])
            pieces.append(json.dumps(self.token(value)))
            last = end
        pieces.append(text[last:])
        return "".join(pieces)

    def message(self, message, text):
        """``message`` (e.g. a parser error quoting part of ``text``) with the credentials of ``text`` masked."""
        values = sorted(set(value for _start, _end, value in _secret_strings(text)), key=len, reverse=True)
        for value in values:
            if value:
                message = message.replace(value, self.token(value))
        return message


def _decode(token):
    try:
        return json.loads(token)
    except ValueError:
        return token[1:-1] if token.endswith('"') and len(token) > 1 else token[1:]


def _secret_strings(text):
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
        if member.node is None or _marks_secret(member.key):
            members.append(member)
        else:  # ``provider``: its object is not secret, so each entry stands on its own
            members.extend(member.node.members)
    return [(member.value_start, member.value_end, member.key) for member in members
            if hints is None or _marks_secret(member.key) or _any_between(hints, member.value_start, member.value_end)]


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
        return frame[1] or (key is not None and _marks_secret(key))
    return frame[1]
