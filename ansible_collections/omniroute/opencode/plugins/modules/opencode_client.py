#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

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
