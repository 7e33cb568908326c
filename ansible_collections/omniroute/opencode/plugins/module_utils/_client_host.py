# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every OpenCode config file of one host in one module execution (the client role's round trip).

Resolves the users (``_client_users``), creates their private config directories, merges the
provider into every user's file and the managed file through ``_config_file.converge_file`` (the
same merge as ``opencode_provider``), and returns one report entry per file. A file that cannot be
merged fails that file only: its entry says why, the other files are still converged.
"""

from __future__ import annotations

import os

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.omniroute.opencode.plugins.module_utils._client_users import resolve_users
from ansible_collections.omniroute.opencode.plugins.module_utils._config_file import FileFailure, converge_file
from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import (
    ARGUMENT_SPEC as _ENTRY_SPEC,
    MUTUALLY_EXCLUSIVE as _ENTRY_MUTUALLY_EXCLUSIVE,
    REQUIRED_IF as _ENTRY_REQUIRED_IF,
    ConfigError,
    build_entry,
)

MANAGED_USER = "(managed)"
# The same constraints as opencode_provider's entry options.
MUTUALLY_EXCLUSIVE = _ENTRY_MUTUALLY_EXCLUSIVE
REQUIRED_IF = _ENTRY_REQUIRED_IF
# opencode_provider's options but path, plus the host's users and the managed file.
ARGUMENT_SPEC = dict(
    {name: spec for name, spec in _ENTRY_SPEC.items() if name != "path"},
    users=dict(type="list", elements="raw", default=[]),
    user_config=dict(type="bool", default=True),
    user_api_keys=dict(type="dict", default={}, no_log=True),
    mode=dict(type="str", default="0600"),
    managed=dict(type="dict", options=dict(
        path=dict(type="path", default="/etc/opencode/opencode.json"),
        group=dict(type="str", default="root"),
        mode=dict(type="str", default=""),
    )),
    fail_on_error=dict(type="bool", default=True),
    report_fact=dict(type="str"),
    # Read by the action only (it then sends the options it took from the role's variables instead).
    options_from_role=dict(type="bool", default=False),
)


def report_entry(user, scope, path, result, dir_changed=False, msg=None):
    """One file of the report (the shape of the client role's ``opencode_client_report``).

    A changed directory adds the code ``config_dir``; a change without any finer code is ``changed``.
    """
    failed = msg is not None
    drift = [str(code) for code in (result.get("drift") or [])]
    if dir_changed and "config_dir" not in drift:
        drift.insert(0, "config_dir")
    changed = bool(result.get("changed")) or bool(dir_changed)
    if changed and not drift and not failed:
        drift.append("changed")
    return {
        "user": user,
        "scope": scope,
        "path": result.get("path") or path,
        "changed": changed,
        "drift": drift,
        "models_missing_ids": list(result.get("models_missing_ids") or []),
        "models_unexpected_ids": list(result.get("models_unexpected_ids") or []),
        "failed": failed,
        "msg": str(msg or ""),
    }


def ensure_directory(module, path, owner, group, mode, diffs):
    """Create ``path`` (or in check mode say it would) and set its owner, group and mode; True when changed."""
    args = _file_args(module, path, owner, group, mode)
    if not os.path.isdir(path):
        if not module.check_mode:
            os.makedirs(path, int(mode, 8))
            module.set_fs_attributes_if_different(args, True)
        diffs.append(dict(before=dict(path=path, state="absent"), after=dict(path=path, state="directory")))
        return True
    diff = dict(before=dict(path=path), after=dict(path=path))
    changed = module.set_fs_attributes_if_different(args, False, diff=diff)
    if changed:
        diffs.append(diff)
    return changed


class Declaration:
    """What every file of the host should hold: the options of opencode_client."""

    def __init__(self, params):
        self.params = params
        self.present = params["state"] == "present"
        self._entries = {}

    def entry(self, api_key):
        """The provider entry with this key (None for state=absent); built once per key."""
        if not self.present:
            return None
        if api_key not in self._entries:
            p = self.params
            self._entries[api_key] = build_entry(p["base_url"], api_key, p["api_key_env"], p["models"],
                                                 p["model_labels"], p["display_name"])
        return self._entries[api_key]

    def user_key(self, name):
        """A developer's own key wins over the shared one."""
        return (self.params["user_api_keys"] or {}).get(name) or self.params["api_key"] or None


def _converge_one(module, declaration, masker, user, scope, path, file_args, dirs, outcome):
    """Converge one file (its directories first); add its report entry, diffs and document to ``outcome``."""
    result = dict(path=path)
    dir_changed = False
    try:
        if declaration.present:
            for directory in dirs:
                dir_changed = ensure_directory(module, directory["path"], directory["owner"], directory["group"],
                                               directory["mode"], outcome["diff"]) or dir_changed
        entry = declaration.entry(declaration.user_key(user) if scope == "user" else declaration.params["api_key"] or None)
        result = converge_file(module, path, declaration.params["provider_id"], entry, file_args, masker,
                               backup=declaration.params["backup"])
    except FileFailure as exc:
        outcome["files"].append(report_entry(user, scope, path, exc.result, dir_changed, exc.msg))
        return
    except (ConfigError, OSError) as exc:
        message = to_native(getattr(exc, "strerror", None) or exc)
        outcome["files"].append(report_entry(user, scope, path, result, dir_changed,
                                             "%s: %s; the file was left as it was" % (path, message)))
        return
    outcome["files"].append(report_entry(user, scope, path, result, dir_changed))
    outcome["diff"].extend(result.get("diff") or [])
    if result.get("backup_file"):
        outcome["backup_files"].append(result["backup_file"])
    if result.get("document") is not None:
        outcome["documents"].append([path, result["document"]])


def _file_args(module, path, owner, group, mode):
    return module.load_file_common_arguments(dict(owner=owner, group=group, mode=mode), path=path)


def converge_host(module, params, masker, effective_user, resolve=resolve_users):
    """Converge every file of the host; returns the module's result (files, users, diff, documents).

    Raises UserResolveError when a listed user cannot be resolved (nothing is then changed).
    """
    declaration = Declaration(params)
    users = resolve(params["users"], effective_user)
    outcome = dict(files=[], diff=[], documents=[], backup_files=[])
    if params["user_config"]:
        for user in users:
            # Absent: a user without a file has nothing to remove (and is not reported).
            if not declaration.present and not user["config_exists"]:
                continue
            # By id: the same owner as the name, and no second passwd lookup.
            owner, group = str(user["uid"]), str(user["gid"])
            dirs = [dict(d, owner=owner, group=group) for d in user["dirs"]]
            _converge_one(module, declaration, masker, user["name"], "user", user["config_path"],
                          _file_args(module, user["config_path"], owner, group, params["mode"]), dirs, outcome)
    managed = params["managed"]
    if managed:
        path = managed["path"]
        mode = managed["mode"] or ("0640" if declaration.present and params["api_key"] else "0644")
        dirs = [dict(path=os.path.dirname(path), owner="root", group="root", mode="0755")]
        _converge_one(module, declaration, masker, MANAGED_USER, "managed", path,
                      _file_args(module, path, "root", managed["group"], mode), dirs, outcome)
    result = dict(
        changed=any(entry["changed"] for entry in outcome["files"]),
        files=outcome["files"], users=users, effective_user=effective_user, check_mode=module.check_mode,
        _documents=outcome["documents"],
    )
    if outcome["backup_files"]:
        result["backup_files"] = outcome["backup_files"]
    if declaration.present:
        entry = declaration.entry(params["api_key"] or None)
        result.update(base_url=entry["options"]["baseURL"], models=list(entry["models"]))
    if module._diff:
        result["diff"] = outcome["diff"]
    return result


def failure_message(files):
    """The files that could not be merged, each with its reason (the reason names the file)."""
    return "; ".join(entry["msg"] for entry in files if entry["failed"])
