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

import functools
import hashlib
import json
import os
import re

MASK = "********"
SECRET_KEY_WORDS = frozenset(("key", "keys", "token", "tokens", "secret", "secrets", "password", "passwd", "pwd",
                              "passphrase", "credential", "credentials", "auth", "authorization", "cookie"))
SECRET_WORD_ENDINGS = ("apikey", "token", "secret", "password", "passwd")
# The words of a key name: "APIKey" -> API, Key; "x-api-key" -> x, api, key; "GITHUB_TOKEN" -> GITHUB, TOKEN.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
SECRET_CONTAINERS = ("headers", "environment")
_REFERENCE = re.compile(r"\{(?:env|file):[^{}]*\}")
_REFERENCE_PREFIXES = ("", "bearer", "basic", "token")


def is_secret_key(name):
    """Whether a value under the key ``name`` is a credential (by the key's name alone)."""
    words = [word.lower() for word in _WORD.findall(name)]
    return any(word in SECRET_KEY_WORDS or word.endswith(SECRET_WORD_ENDINGS) for word in words)


# Remembered: a 1 MB config has some 100 000 keys but only a few dozen distinct names.
@functools.lru_cache(maxsize=4096)
def marks_secret(name):
    """Whether the key ``name`` makes its value, and all below it, a credential position (a secret key or a
    container of secrets)."""
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
        import hmac  # here, not at the top: most runs mask nothing, and a module compiles what it imports per run

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
            return {key: self.data(item, True) if marks_secret(key) else
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
        for start, end, value in _secret_text().secret_strings(text):
            pieces.append(text[last:start])
            pieces.append(json.dumps(self.token(value)))
            last = end
        pieces.append(text[last:])
        return "".join(pieces)

    def message(self, message, text):
        """``message`` (e.g. a parser error quoting part of ``text``) with the credentials of ``text`` masked."""
        values = sorted(set(value for _start, _end, value in _secret_text().secret_strings(text)), key=len, reverse=True)
        for value in values:
            if value:
                message = message.replace(value, self.token(value))
        return message


def _secret_text():
    """The credential search in JSON(C) text (diff mode and error messages only: a module compiles what it
    imports on every run, and most runs show no text)."""
    from ansible_collections.omniroute.opencode.plugins.module_utils import _secret_text as secret_text_module
    return secret_text_module
