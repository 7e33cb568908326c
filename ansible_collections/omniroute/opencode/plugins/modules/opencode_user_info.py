#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: opencode_user_info
short_description: Find where OpenCode reads each user's global config
version_added: "0.1.0"
description:
  - Resolves, for every listed user, the home directory, uid/gid, primary group, the OpenCode global
    config directory (C($XDG_CONFIG_HOME/opencode), else C(~/.config/opencode)) and the config file
    OpenCode would read there (C(opencode.jsonc) wins over C(opencode.json), as in OpenCode itself).
  - Returns the directories that are missing and have to be created, owned by that user, before
    M(omniroute.opencode.opencode_provider) can write the file.
  - Read-only; one call per host replaces a C(getent) and a C(stat) per user. M(omniroute.opencode.opencode_client)
    resolves users the same way (and returns them) while it converges their files.
  - Needs only the Python standard library on the target.
author:
  - omniroute.opencode maintainers (@omniroute)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  users:
    description:
      - Users to resolve. Each item is a user name or a dict with C(name) and optional
        C(xdg_config_home) (absolute path or C(~/...), that user's C(XDG_CONFIG_HOME)) and
        C(config_file) (C(opencode.json) or C(opencode.jsonc); default is what OpenCode would read).
      - An empty list means the user the module runs as.
    type: list
    elements: raw
    default: []
attributes:
  check_mode:
    support: full
    details: Never changes anything.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Every problem (unknown user, missing home, relative C(xdg_config_home)) is reported in one
    failure message, so an operator can fix a whole host at once.
  - Run it with the privileges that can read the users' homes (usually C(become)); otherwise
    a C(opencode.jsonc) in an unreadable home is not seen.
seealso:
  - module: omniroute.opencode.opencode_provider
"""

EXAMPLES = r"""
- name: Resolve the OpenCode config files of two users
  omniroute.opencode.opencode_user_info:
    users:
      - alice
      - name: bob
        xdg_config_home: ~/dotfiles/config
  register: opencode_users

- name: Show where alice's config lives
  ansible.builtin.debug:
    msg: "{{ opencode_users.users[0].config_path }}"
"""

RETURN = r"""
effective_user:
  description: The user the module ran as (after C(become)).
  returned: always
  type: str
  sample: root
users:
  description: One entry per listed user, in order.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: User name.
      type: str
      sample: alice
    uid:
      description: Numeric user id.
      type: int
      sample: 1001
    gid:
      description: Numeric id of the primary group.
      type: int
      sample: 1001
    group:
      description: Name of the primary group (the gid as a string when it has no name).
      type: str
      sample: alice
    home:
      description: Home directory from the passwd database.
      type: str
      sample: /home/alice
    shell:
      description: Login shell from the passwd database.
      type: str
      sample: /bin/bash
    xdg_config_home:
      description: The XDG config home used for this user.
      type: str
      sample: /home/alice/.config
    xdg_config_home_custom:
      description: Whether C(xdg_config_home) was given (so C(XDG_CONFIG_HOME) must be set to run OpenCode).
      type: bool
    config_dir:
      description: OpenCode's global config directory for this user.
      type: str
      sample: /home/alice/.config/opencode
    config_dir_exists:
      description: Whether that directory exists now.
      type: bool
    config_file:
      description: File name chosen in the directory.
      type: str
      sample: opencode.json
    config_path:
      description: Full path of the file to merge into.
      type: str
      sample: /home/alice/.config/opencode/opencode.json
    config_exists:
      description: Whether that file exists now.
      type: bool
    other_config_files:
      description: Other OpenCode config files present in the same directory (lower precedence ones).
      type: list
      elements: str
    dirs:
      description: Directories to ensure, parent first, each with C(path) and C(mode).
      type: list
      elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.omniroute.opencode.plugins.module_utils._client_users import (
    UserResolveError,
    effective_user,
    resolve_users,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(users=dict(type="list", elements="raw", default=[])),
        supports_check_mode=True,
    )
    effective = effective_user()
    try:
        users = resolve_users(module.params["users"], effective)
    except UserResolveError as exc:
        module.fail_json(msg=str(exc), effective_user=effective)
    module.exit_json(changed=False, effective_user=effective, users=users)


if __name__ == "__main__":
    main()
