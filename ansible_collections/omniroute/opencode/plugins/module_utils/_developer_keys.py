# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One client key per developer, derived on the controller: HMAC-SHA256 of one secret and the key's name.

Nothing new is stored anywhere: the same secret, developer and generation always give the same key, so every
run declares the same keys. The key's name carries the developer's identity and generation, so a rotation is a
new name (the proxy holds old and new keys until the clients are rewritten, then drops the old one).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

_DOMAIN = b"omniroute.opencode client key v1\x00"
MIN_SECRET_LENGTH = 32


class DeveloperKeyError(ValueError):
    """The inputs cannot give developer keys."""


def developer_identity(host, user, scope="host_user"):
    """``h1``/``alice`` -> ``h1/alice`` (a developer is a user on a host), or ``alice`` with scope ``user``."""
    if scope not in ("host_user", "user"):
        raise DeveloperKeyError("identity scope must be host_user or user, not %r" % (scope,))
    return user if scope == "user" else "%s/%s" % (host, user)


def key_name(prefix, identity, generation):
    return "%s/%s/g%d" % (prefix, identity, generation)


def derive_key(secret, name):
    """The key OmniRoute accepts for ``name``: ``sk-`` and 48 hex digits of HMAC-SHA256(secret, name)."""
    digest = hmac.new(secret.encode("utf-8"), _DOMAIN + name.encode("utf-8"), hashlib.sha256).hexdigest()
    return "sk-" + digest[:48]


def user_names(entries):
    """Names from the client role's ``opencode_client_users`` entries (strings or dicts with ``name``)."""
    names = []
    for entry in entries or []:
        name = entry.get("name") if isinstance(entry, dict) else entry
        if not isinstance(name, str) or not name.strip():
            raise DeveloperKeyError("a user entry has no name: %r" % (entry,))
        names.append(name.strip())
    return names


def _counter(label, value):
    """A rotation counter as a whole number >= 0; inventory files and -e give numbers as text."""
    if isinstance(value, str) and value.strip().isdecimal():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DeveloperKeyError("rotation counter %s must be a whole number >= 0, not %r" % (label, value))
    return value


def developer_keys(users_by_host, secret, generation=0, rotations=None, scope="host_user", prefix="opencode"):
    """Keys for every developer: a list of ``{name, key, identity, host, user}``, sorted by name.

    ``users_by_host`` maps each client host to its user names. ``generation`` rotates everyone's key, ``rotations``
    (identity -> count) one developer's. With scope ``user`` one user name on several hosts is one developer.
    """
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
        raise DeveloperKeyError(
            "the client key secret must be a string of at least %d characters (e.g. `openssl rand -hex 32`, "
            "vaulted)" % MIN_SECRET_LENGTH)
    generation = _counter("generation", generation)
    if not isinstance(rotations or {}, Mapping):
        raise DeveloperKeyError("rotations must map developers to counters, not %r" % (rotations,))
    rotations = {str(identity): _counter(identity, count) for identity, count in (rotations or {}).items()}
    keys = {}
    for host in sorted(users_by_host):
        for user in user_names(users_by_host[host]):
            identity = developer_identity(host, user, scope)
            name = key_name(prefix, identity, generation + rotations.get(identity, 0))
            keys.setdefault(name, {"name": name, "key": derive_key(secret, name), "identity": identity,
                                   "host": None if scope == "user" else host, "user": user})
    return [keys[name] for name in sorted(keys)]


def host_user_keys(host, users, secret, generation=0, rotations=None, scope="host_user", prefix="opencode"):
    """``{user: key}`` for one host's users (what the client role writes), from the same rule."""
    return {entry["user"]: entry["key"]
            for entry in developer_keys({host: users}, secret, generation, rotations, scope, prefix)}
