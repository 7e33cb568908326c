# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One OpenCode config file on the managed host: read, plan the merge, write, set owner/group/mode.

Shared by ``opencode_provider`` (one file) and ``opencode_client`` (every file of a host in one
execution), so that both apply the merge rule of ``_opencode_config`` the same way. Standard
library only (plus AnsibleModule's file helpers): it runs on the managed host.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.omniroute.opencode.plugins.module_utils._jsonc import JsoncError, utf8_safe
from ansible_collections.omniroute.opencode.plugins.module_utils._opencode_config import (
    SCHEMA_URL,
    ConfigError,
    decode_config,
    missing_and_unexpected_models,
    plan,
)


class FileFailure(Exception):
    """A file that could not be merged; ``msg`` names it (and the line and column), ``result`` is what is known."""

    def __init__(self, msg, result):
        super().__init__(msg)
        self.msg = msg
        self.result = result


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise ConfigError("cannot read the file: %s" % exc.strerror)
    return decode_config(data)


def write_text(module, real_path, text, exists):
    """Write through a temp file in the same directory, then rename over the target."""
    directory = os.path.dirname(real_path)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(real_path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if exists:
            # atomic_move keeps the existing file's owner, mode and SELinux context.
            module.atomic_move(tmp_path, real_path, unsafe_writes=module.params.get("unsafe_writes", False))
        else:
            # mkstemp made it 0600: a new file is never readable by others, even for a moment.
            os.rename(tmp_path, real_path)
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)


def make_directory(module, directory, file_args):
    """Create missing parents with mode 0700, owned like the file."""
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for created in reversed(missing):
        os.mkdir(created, 0o700)
        dir_args = dict(file_args, path=created, mode="0700")
        module.set_fs_attributes_if_different(dir_args, True)


def private_backup(module, real_path):
    """A backup copy readable by its owner only: it holds whatever credentials the file held."""
    backup = module.backup_local(real_path)
    os.chmod(backup, stat.S_IMODE(os.stat(backup).st_mode) & 0o700)
    return backup


def _plan_file(path, real_path, provider_id, entry, masker, result):
    """(text or None, Plan or None); None for a missing file with state absent. Raises FileFailure."""
    text = None
    try:
        text = read_text(real_path)
        if text is None and entry is None:
            return None, None
        return text, plan(text or "", provider_id, entry, text is not None)
    except JsoncError as exc:
        reason = masker.message(exc.reason, text or "")
        raise FileFailure("%s: line %d, column %d: %s; the file was left as it was"
                          % (path, exc.line, exc.column, reason), result)
    except ConfigError as exc:
        raise FileFailure("%s: %s; the file was left as it was" % (path, exc), result)


def _write(module, path, real_path, change, exists, file_args, backup, result):
    try:
        if not exists:
            make_directory(module, os.path.dirname(real_path), file_args)
        elif backup:
            result["backup_file"] = private_backup(module, real_path)
        write_text(module, real_path, change.after, exists)
        if not exists and file_args.get("mode") is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(real_path, 0o666 & ~umask)
    except OSError as exc:
        raise FileFailure("%s: cannot write the file: %s; the file was left as it was"
                          % (path, to_native(exc.strerror or exc)), result)


def document_to_check(config, provider_id, masker):
    """What of the merged config the controller checks against OpenCode's schema, masked: all but the declared
    entry (checked on the controller before the run; its problems are not the file's), None when nothing else is
    there - a file this collection wrote alone costs no check and no transfer."""
    rest = config
    if isinstance(config, dict) and isinstance(config.get("provider"), dict) and provider_id in config["provider"]:
        providers = {name: value for name, value in config["provider"].items() if name != provider_id}
        rest = {key: value for key, value in config.items() if key != "provider"}
        if providers:
            rest["provider"] = providers
    if isinstance(rest, dict) and (not rest or rest == {"$schema": SCHEMA_URL}):
        return None
    return utf8_safe(masker.data(rest))


def converge_file(module, path, provider_id, entry, file_args, masker, backup=False):
    """Put ``entry`` (None: remove the entry) into the config file ``path``, or in check mode say what would change.

    ``file_args`` are AnsibleModule file arguments (owner, group, mode, ...) for the file. Returns a result
    like opencode_provider's: changed, path, drift, models_missing_ids, models_unexpected_ids, backup_file,
    diff (in diff mode, masked) and ``document`` (what the schema warnings check: document_to_check).
    Raises FileFailure with the file, line and column; the file then stays byte for byte.
    """
    real_path = os.path.realpath(path)
    result = dict(changed=False, path=path, drift=[], models_missing_ids=[], models_unexpected_ids=[])
    text, change = _plan_file(path, real_path, provider_id, entry, masker, result)
    if change is None:
        return result
    exists = text is not None
    if entry is not None:
        # utf8_safe: ids and values decoded from escapes like "\ud800" must not fail the result.
        result["models_missing_ids"], result["models_unexpected_ids"] = utf8_safe(
            missing_and_unexpected_models(change.current, entry))
    drift = list(change.drift)
    file_args = dict(file_args, path=real_path)
    if change.changed and not module.check_mode:
        _write(module, path, real_path, change, exists, file_args, backup, result)

    attribute_diff = dict(before=dict(path=path), after=dict(path=path))
    attributes_changed = False
    if exists or not module.check_mode:
        attributes_changed = module.set_fs_attributes_if_different(file_args, False, diff=attribute_diff)
        for code in ("mode", "owner", "group"):
            if exists and code in attribute_diff["before"]:
                drift.append(code)
    result["drift"] = drift
    result["changed"] = change.changed or attributes_changed
    if module._diff:
        result["diff"] = [
            dict(before_header=path, after_header=path,
                 before=masker.text(change.before) if exists else "", after=masker.text(change.after)),
            attribute_diff,
        ]
    result["document"] = document_to_check(change.after_value, provider_id, masker)
    return result
