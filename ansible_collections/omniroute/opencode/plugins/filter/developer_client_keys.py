# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: developer_client_keys
short_description: Derive one OmniRoute client key per developer from one secret
version_added: 0.2.0
description:
  - A developer is one user on one host (O(scope=host_user)), or one user name across hosts (O(scope=user)).
  - Each key is C(sk-) followed by 48 hex digits of HMAC-SHA256(O(secret), key name); the key name is
    C(<prefix>/<identity>/g<generation>). Nothing new is stored, the same inputs always give the same keys, and
    a rotation (O(generation) for everyone, O(rotations) for one developer) gives a new name and a new key.
  - The site playbook declares these keys on the proxy with M(omniroute.opencode.omniroute_config) and writes each
    user's key into that user's file only. The values are secrets - use it under C(no_log).
author:
  - omniroute.opencode contributors
options:
  _input:
    description: Client host name to its users (user names, or the client role's C(opencode_client_users) entries).
    type: dict
    required: true
  secret:
    description: The secret the keys are derived from (32+ characters; vault it).
    type: str
    required: true
  generation:
    description: Rotation counter for every developer's key.
    type: int
    default: 0
  rotations:
    description: Identity (C(host/user), or C(user) with O(scope=user)) to an extra rotation counter.
    type: dict
    default: {}
  scope:
    description: What a developer is.
    type: str
    choices: [host_user, user]
    default: host_user
  prefix:
    description: First part of every key name.
    type: str
    default: opencode
  host:
    description: Only the keys of this host's users, as a dict user name to key (what the client role takes).
    type: str
"""

EXAMPLES = r"""
- name: Keys for every developer (names and values; keep them out of the output)
  ansible.builtin.set_fact:
    developer_keys: >-
      {{ {'ws1': ['alice', 'bob'], 'ws2': ['alice']}
         | omniroute.opencode.developer_client_keys(vault_client_key_secret) }}
  vars:
    vault_client_key_secret: 0123456789abcdef0123456789abcdef  # in real use: from ansible-vault
  no_log: true
  # -> [{'name': 'opencode/ws1/alice/g0', 'key': 'sk-...'}, {'name': 'opencode/ws1/bob/g0', ...}, ...]
  #    (the client_keys option of omniroute.opencode.omniroute_config)
"""

RETURN = r"""
_value:
  description:
    - A list of C(name) and C(key) dicts sorted by name (the C(client_keys) option of
      M(omniroute.opencode.omniroute_config)); with O(host), a dict of that host's user names to their keys.
  type: raw
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.omniroute.opencode.plugins.module_utils._developer_keys import (
    DeveloperKeyError,
    developer_keys,
    host_user_keys,
)


def developer_client_keys_filter(users_by_host, secret, generation=0, rotations=None, scope="host_user",
                                 prefix="opencode", host=None):
    try:
        if host is not None:
            return host_user_keys(host, (users_by_host or {}).get(host, []), secret, generation, rotations, scope,
                                  prefix)
        return [{"name": entry["name"], "key": entry["key"]}
                for entry in developer_keys(dict(users_by_host or {}), secret, generation, rotations, scope, prefix)]
    except (DeveloperKeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("developer_client_keys: %s" % exc)


class FilterModule:

    def filters(self):
        return {"developer_client_keys": developer_client_keys_filter}
