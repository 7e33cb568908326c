#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: opencode_provider
short_description: Merge the OmniRoute provider into an OpenCode config file
version_added: 0.1.0
description:
  - Idempotently merges one provider entry into an OpenCode config file (C(opencode.json) or
    C(opencode.jsonc)) so that OpenCode sends its requests to an OmniRoute proxy.
  - Edits text, not data. Every byte outside the managed entry stays as it was - comments, other
    providers, key order, indentation, trailing commas, line endings (LF, CRLF, lone CR, mixed), a
    UTF-8 BOM. The new or replaced entry follows the file's own indentation and its dominant line
    ending (LF on a tie).
  - Comments stay with what they belong to. A comment after a value on the same line stays after
    that value on that line (new members go below it, also after a block comment running onto later
    lines); a comment on its own line stays before what follows it; a comment on the line of the
    opening C({) stays first. Comments inside a managed entry that is replaced are not kept.
  - Reads the file as OpenCode 1.18.33 does (Microsoft's C(jsonc-parser) with comments and trailing
    commas allowed, a BOM dropped, the last of duplicate keys winning) - what it rejects is refused
    (for example V(NaN), V(Infinity), C([,]), C({,})), what it loads is merged (for example a lone
    surrogate escape, a duplicate C($schema)), and every file written parses there.
  - Adds the key C($schema) with the value C(https://opencode.ai/config.json) when it is missing, because OpenCode
    rewrites files without it, which would otherwise show as drift on every run.
  - Normalizes O(base_url) to exactly one C(/v1) and repairs a stale C(/v1/v1) in the file.
  - The entry is validated on the controller against the OpenCode 1.18.33 config schema shipped in
    the collection before anything is written. Schema problems elsewhere in the user's file are
    reported as warnings, not failures, since the user may run a newer OpenCode.
  - An unparsable file fails the task with the file, line and column; the file stays byte for byte.
  - Refused on purpose, though valid JSONC, also with the file, line and column - a
    top level that is not an object, a C(provider) or managed entry that is not an object (V(null)
    included), a C(provider) or managed entry written more than once, and a value nested deeper than
    Python's recursion limit allows (about 1,000 levels; OpenCode would load it).
  - Accepted on purpose, although OpenCode rejects it - a file holding only whitespace and comments
    becomes a fresh config below those comments (as does an empty file, which OpenCode skips).
  - No credential of the file is ever printed. In the diff (before and after), the result, warnings and error
    messages every credential-like value is replaced by C(********#<8 hex>) - every provider's
    C(options.apiKey) (this entry's, old or new, and every other provider's), every value under C(headers), MCP
    servers' C(environment) and C(headers) values, and any string value under a key whose name has a word
    (split at camelCase, C(_), C(-) and C(.)) C(key), C(token), C(secret), C(password), C(passwd), C(pwd),
    C(credential), C(auth), C(authorization) or C(cookie), or one ending in C(apikey), C(token), C(secret) or
    C(password) (any case, any depth; so C(apiKey), C(GITHUB_TOKEN), C(clientSecret), but not C(keybinds)). The 8 hex
    digits are an HMAC of the value under a key drawn at random for each run, so equal values show equal masks
    within one run (the diff shows that a secret changed, not what it is) and nothing links runs.
    C({env:VAR}) and C({file:path}) references hold no secret and stay visible.
  - A backup (O(backup=true)) is readable by its owner only, since it holds the file's credentials.
  - The managed host needs only the Python standard library.
author:
  - omniroute.opencode maintainers (@omniroute)
extends_documentation_fragment:
  # Short names, as ansible.builtin.copy has them: with the FQCN form validate-modules (2.21)
  # lost the descriptions of the sub-fragments.
  - action_common_attributes
  - action_common_attributes.actiongroups
  - action_common_attributes.files
  - action_common_attributes.flow
  - ansible.builtin.backup
  - ansible.builtin.files
  - omniroute.opencode.opencode_entry
attributes:
  action:
    support: full
    details: Validates the entry against the OpenCode schema on the controller before the module runs.
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
    details: Reports exactly what a real run would change, in RV(drift), and writes nothing.
  diff_mode:
    support: full
    details: The text diff (every credential masked, see the description) and the file-attribute diff, as two entries.
  platform:
    platforms: posix
  safe_file_operations:
    support: full
  vault:
    support: none
options:
  path:
    description:
      - The OpenCode config file to edit.
      - When omitted, the connecting user's global config is used -
        C($XDG_CONFIG_HOME/opencode), else C(~/.config/opencode) - choosing C(opencode.jsonc) when it
        exists (OpenCode prefers it), else C(opencode.json).
      - A missing file and its directory (mode C(0700)) are created.
      - A symlink is followed; the link itself stays.
    type: path
  state:
    description:
      - V(present) writes the entry; V(absent) removes only the entry named O(provider_id).
    type: str
    choices: [present, absent]
    default: present
seealso:
  - plugin: omniroute.opencode.normalize_base_url
    plugin_type: filter
  - name: OpenCode config documentation
    description: The file format and precedence of OpenCode's config files.
    link: https://opencode.ai/docs/config/
"""

EXAMPLES = r"""
- name: Point the connecting user's OpenCode at the team proxy
  omniroute.opencode.opencode_provider:
    base_url: http://omniroute.internal:20128
    api_key: "{{ vault_omniroute_client_key }}"

- name: Use a key from the environment instead of writing it into the file
  omniroute.opencode.opencode_provider:
    path: /home/alice/.config/opencode/opencode.json
    base_url: http://omniroute.internal:20128/v1
    api_key_env: OMNIROUTE_API_KEY
    models:
      - claude-sonnet-4-5
      - id: gpt-5
        name: GPT-5 (failover)
        limit:
          context: 400000
          output: 128000
    model_labels:
      claude-sonnet-4-5: Claude Sonnet 4.5 (failover)
    owner: alice
    group: alice
    mode: "0600"
    backup: true

- name: Remove the entry again, leaving the rest of the file alone
  omniroute.opencode.opencode_provider:
    path: /home/alice/.config/opencode/opencode.json
    state: absent
"""

RETURN = r"""
path:
  description: The config file that was checked or edited (the path given or resolved; a symlink stays a symlink).
  returned: always
  type: str
  sample: /home/alice/.config/opencode/opencode.json
base_url:
  description: The normalized base URL written into the entry.
  returned: when O(state=present)
  type: str
  sample: http://omniroute.internal:20128/v1
models:
  description: The model ids in the entry.
  returned: when O(state=present)
  type: list
  elements: str
  sample: [claude-sonnet-4-5, gpt-5]
drift:
  description:
    - How the file differs from the declared state, empty when it is in sync. In check mode this is
      what a real run would fix.
    - C(file_missing), C(schema_missing), C(entry_missing), C(entry_present) (O(state=absent)),
      C(base_url), C(base_url_stale_v1) (the file's URL ended in a doubled C(/v1)),
      C(models_missing), C(models_unexpected), C(models_changed), C(credentials) (key or key
      variable), C(entry_fields) (name, npm package or other fields), C(mode), C(owner), C(group).
  returned: always
  type: list
  elements: str
  sample: [base_url, base_url_stale_v1, models_missing]
models_missing_ids:
  description: Declared model ids that the file's entry lacks.
  returned: always
  type: list
  elements: str
  sample: [gpt-5]
models_unexpected_ids:
  description: Model ids in the file's entry that are not declared.
  returned: always
  type: list
  elements: str
  sample: [old-model]
backup_file:
  description: The backup copy (owner-only), when O(backup=true) and the content changed.
  returned: changed and O(backup=true)
  type: str
  sample: /home/alice/.config/opencode/opencode.json.12345.2026-11-21@10:00:00~
"""

import os
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.omniroute.opencode.plugins.module_utils._config_file import FileFailure, converge_file
from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import (
    ARGUMENT_SPEC,
    MUTUALLY_EXCLUSIVE,
    REQUIRED_IF,
    ConfigError,
    build_entry,
    resolve_config_path,
)
from ansible_collections.omniroute.opencode.plugins.module_utils._secrets import Masker


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        required_if=REQUIRED_IF,
        add_file_common_args=True,
        supports_check_mode=True,
    )
    params = module.params
    # Without a path: the connecting (or become) user's own config.
    path = params["path"] or resolve_config_path(os.environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir, os.environ)
    present = params["state"] == "present"
    result = dict(changed=False, path=path, drift=[], models_missing_ids=[], models_unexpected_ids=[])
    entry = None
    if present:
        try:
            entry = build_entry(params["base_url"], params["api_key"], params["api_key_env"], params["models"],
                                params["model_labels"], params["display_name"])
        except ConfigError as exc:
            module.fail_json(msg="%s: %s; the file was left as it was" % (path, exc), **result)
        result.update(base_url=entry["options"]["baseURL"], models=list(entry["models"]))

    file_args = module.load_file_common_arguments(params, path=os.path.realpath(path))
    if file_args.get("mode") is None and params["api_key"] and present:
        file_args["mode"] = "0600"
    # Every credential of the file is masked in the diff, the result and errors (module_utils/_secrets.py).
    try:
        result.update(converge_file(module, path, params["provider_id"], entry, file_args, Masker(),
                                    backup=params["backup"]))
    except FileFailure as exc:
        result.update(exc.result)
        module.fail_json(msg=exc.msg, **result)
    # For the action plugin's schema warnings on the controller (it removes this key): masked, because
    # a schema message quotes the offending value.
    document = result.pop("document", None)
    if document is not None:
        result["_document"] = document
    module.exit_json(**result)


if __name__ == "__main__":
    main()
