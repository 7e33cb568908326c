#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: opencode_client
short_description: Merge the OmniRoute provider into every user's OpenCode config of a host, in one execution
version_added: 0.3.0
description:
  - Converges a whole developer machine in one module execution, one round trip per host however many users it
    has - what the role P(omniroute.opencode.client#role) runs.
  - Resolves the listed users (home, uid, primary group, C($XDG_CONFIG_HOME/opencode) else C(~/.config/opencode),
    C(opencode.jsonc) winning over C(opencode.json) as in OpenCode), as M(omniroute.opencode.opencode_user_info)
    does; creates each user's missing config directories (mode C(0700), owned by that user); merges the provider
    entry into each user's file (owned by that user, mode O(mode)) and, with O(managed), into the managed system
    config; and returns one report entry per file in RV(files).
  - Every file is merged by the same code as M(omniroute.opencode.opencode_provider), so the same rules hold -
    every byte outside the managed entry stays as it was, the base URL is normalized to one C(/v1) (a stale
    C(/v1/v1) repaired), C($schema) is added when missing, and every credential is masked in the diff, the
    result and the messages (see M(omniroute.opencode.opencode_provider) for the details of each).
  - A file that cannot be read or merged (unparsable, with the line and column; a C(provider) that is not an
    object; not UTF-8) fails that file only - its entry in RV(files) says why, the file stays byte for byte, and
    every other file is still converged. The task then fails with all those messages, unless
    O(fail_on_error=false).
  - A user that cannot be resolved (unknown, no home, a relative C(xdg_config_home)) fails the task before
    anything is written, naming every such user.
  - The entry is validated on the controller against the OpenCode 1.18.33 config schema shipped in the
    collection before the module runs. Schema problems elsewhere in a user's file (already there, left alone)
    are reported as warnings naming the file, not failures, since the user may run a newer OpenCode.
  - The managed host needs only the Python standard library.
author:
  - omniroute.opencode maintainers (@omniroute)
extends_documentation_fragment:
  - action_common_attributes
  - action_common_attributes.actiongroups
  - action_common_attributes.files
  - action_common_attributes.flow
  - omniroute.opencode.opencode_entry
attributes:
  action:
    support: full
    details: Validates the entry against the OpenCode schema on the controller before the module runs, and sets
      O(report_fact).
  action_group:
    support: full
    membership:
      - omniroute.opencode.opencode
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Reports in RV(files) exactly what a real run would change, also on a host where nothing exists yet,
      and writes nothing.
  diff_mode:
    support: full
    details: For every file the text diff (every credential masked) and the file-attribute diff; for every
      directory that would be created or changed, its state or attributes.
  platform:
    platforms: posix
  safe_file_operations:
    support: full
  vault:
    support: none
options:
  users:
    description:
      - Users whose global OpenCode config is converged. Each item is a user name or a dict with C(name) and
        optional C(xdg_config_home) (absolute or C(~/...), that user's C(XDG_CONFIG_HOME)) and C(config_file)
        (C(opencode.json) or C(opencode.jsonc); default is the one OpenCode would read).
      - An empty list means the user that sudo ran the module for (C(SUDO_USER)), else the user the module runs as.
    type: list
    elements: raw
    default: []
  user_config:
    description:
      - Whether to converge the users' files. V(false) with O(managed) converges the managed config only (the
        users are still resolved and returned).
    type: bool
    default: true
  user_api_keys:
    description:
      - User name to that developer's own key, written into that user's file instead of O(api_key).
    type: dict
    default: {}
  mode:
    description:
      - Mode of every user's file (the directories are always C(0700)). The files hold the key - keep it private.
    type: str
    default: "0600"
  managed:
    description:
      - Also converge the managed system config (OpenCode gives it the last word), owned by C(root), with the
        shared O(api_key) only.
    type: dict
    suboptions:
      path:
        description: The managed config file; its missing directory is created C(0755), owned by C(root).
        type: path
        default: /etc/opencode/opencode.json
      group:
        description: Group of the managed file.
        type: str
        default: root
      mode:
        description: Mode of the managed file; empty means C(0640) when it holds a key, else C(0644).
        type: str
        default: ""
  state:
    description:
      - V(present) writes the entry; V(absent) removes only the entry named O(provider_id) (a user without a file
        is then not reported).
    type: str
    choices: [present, absent]
    default: present
  backup:
    description:
      - Keep a backup copy of every file whose content changes, readable by its owner only.
    type: bool
    default: false
  fail_on_error:
    description:
      - Whether a file that cannot be merged fails the task (after every other file is converged). With V(false)
        the task succeeds and RV(files) says which files failed and why.
    type: bool
    default: true
  report_fact:
    description:
      - Name of a host variable that the task also sets to RV(files), like M(ansible.builtin.set_fact) would, so
        that a role exposes its report without a task more per host. Not set when the task fails.
      - Where ansible-core lets an action register host variables (2.21 does, 2.19 does not) the variable has
        M(ansible.builtin.set_fact)'s precedence; otherwise it is set as a fact (in C(ansible_facts), and as a
        top-level variable while facts are injected as variables).
    type: str
  options_from_role:
    description:
      - Take every option from the variables of the role P(omniroute.opencode.client#role) (C(opencode_client_*),
        see C(ansible-doc -t role omniroute.opencode.client)), checked on the controller against that role's
        argument spec, with the same messages as ansible-core's check. This is how the role runs the module.
      - Only valid in the role's own task, and with no other option. The role then needs no validation task of
        its own (C(rolespec_validate=false)), and no option is a template compiled anew on every host.
    type: bool
    default: false
    version_added: 0.4.0
notes:
  - Run it with the privileges that can write the users' homes (usually C(become)).
seealso:
  - module: omniroute.opencode.opencode_provider
  - module: omniroute.opencode.opencode_user_info
  - name: OpenCode config documentation
    description: The file format and precedence of OpenCode's config files.
    link: https://opencode.ai/docs/config/
"""

EXAMPLES = r"""
- name: Point every developer's OpenCode on the host at the team proxy
  omniroute.opencode.opencode_client:
    users: [alice, bob]
    base_url: http://omniroute.internal:20128
    api_key: "{{ vault_omniroute_client_key }}"
    models: [claude-sonnet-4-5, gpt-5]
  become: true
  register: opencode_files

- name: Show what differed
  ansible.builtin.debug:
    msg: "{{ opencode_files.files | selectattr('drift') | map(attribute='path') | list }}"

- name: Per-developer keys, a custom XDG_CONFIG_HOME, and the managed config, reporting instead of failing
  omniroute.opencode.opencode_client:
    users:
      - alice
      - name: bob
        xdg_config_home: ~/dotfiles/config
    base_url: https://omniroute.internal
    user_api_keys:
      alice: "{{ vault_alice_key }}"
      bob: "{{ vault_bob_key }}"
    managed:
      path: /etc/opencode/opencode.json
    fail_on_error: false
    report_fact: opencode_report
  become: true

- name: Remove the entry from every user's file
  omniroute.opencode.opencode_client:
    users: [alice, bob]
    state: absent
  become: true
"""

RETURN = r"""
files:
  description: One entry per file, users' files first (in the order of O(users)), then the managed file.
  returned: always
  type: list
  elements: dict
  contains:
    user:
      description: The user, or C((managed)) for the managed file.
      type: str
      sample: alice
    scope:
      description: C(user) or C(managed).
      type: str
      sample: user
    path:
      description: The config file.
      type: str
      sample: /home/alice/.config/opencode/opencode.json
    changed:
      description: Whether the run changed the file or its directory (in check mode, would change).
      type: bool
    drift:
      description:
        - How the file differs from the declared state, empty when in sync - the codes of
          M(omniroute.opencode.opencode_provider)'s RV(omniroute.opencode.opencode_provider#module:drift), plus
          C(config_dir) (a directory missing or with the wrong owner or mode) and C(changed) (a change without a
          finer code).
      type: list
      elements: str
      sample: [config_dir, file_missing]
    models_missing_ids:
      description: Declared model ids that the file's entry lacks.
      type: list
      elements: str
    models_unexpected_ids:
      description: Model ids in the file's entry that are not declared.
      type: list
      elements: str
    failed:
      description: Whether the file could not be read or merged (it was left as it was).
      type: bool
    msg:
      description: Why, naming the file (and the line and column), when C(failed); else empty.
      type: str
      sample: "/home/bob/.config/opencode/opencode.json: line 3, column 5: expected a value; the file was left as it was"
users:
  description: The resolved users, as M(omniroute.opencode.opencode_user_info) returns them (state before the run).
  returned: success
  type: list
  elements: dict
  sample: [{name: alice, uid: 1001, gid: 1001, home: /home/alice, config_path: /home/alice/.config/opencode/opencode.json}]
effective_user:
  description: The user the module ran as.
  returned: always
  type: str
  sample: root
check_mode:
  description: Whether the module ran in check mode (also under a play's or task's C(check_mode), where the
    variable C(ansible_check_mode) is V(false)).
  returned: always
  type: bool
base_url:
  description: The normalized base URL written into the entries.
  returned: when O(state=present)
  type: str
  sample: http://omniroute.internal:20128/v1
models:
  description: The model ids in the entries.
  returned: when O(state=present)
  type: list
  elements: str
backup_files:
  description: Backup copies (owner-only) of the files whose content changed, with O(backup=true).
  returned: changed and O(backup=true)
  type: list
  elements: str
ca_certificate:
  description: >-
    With O(options_from_role), the CA certificate (PEM, public) the role's later steps trust: the role variable
    C(opencode_client_ca_certificate), or the proxy's with C(opencode_client_inputs_from_proxy).
  returned: with O(options_from_role), when the role's variables are valid
  type: str
  version_added: 0.4.0
role_steps:
  description: >-
    With O(options_from_role), whether any of the role's later steps applies to the host (installing OpenCode,
    trusting the CA, or verifying the files with OpenCode); the role ends after this task when none does.
  returned: with O(options_from_role), when the module ran
  type: bool
  version_added: 0.5.0
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.omniroute.opencode.plugins.module_utils._client_host import (
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_IF,
    converge_host,
    failure_message,
)
from ansible_collections.omniroute.opencode.plugins.module_utils._client_users import UserResolveError, effective_user
from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import ConfigError
from ansible_collections.omniroute.opencode.plugins.module_utils._secrets import Masker


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE,
                           required_if=REQUIRED_IF, supports_check_mode=True)
    effective = effective_user()
    result = dict(changed=False, files=[], effective_user=effective, check_mode=module.check_mode)
    default_user = os.environ.get("SUDO_USER") if os.geteuid() == 0 else None
    params = dict(module.params, users=module.params["users"] or [default_user or effective])
    try:
        result.update(converge_host(module, params, Masker(), effective))
    except (UserResolveError, ConfigError) as exc:
        module.fail_json(msg=str(exc), **result)
    if module.params["fail_on_error"] and any(entry["failed"] for entry in result["files"]):
        module.fail_json(msg=failure_message(result["files"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
