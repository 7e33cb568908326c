#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

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
