#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

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
