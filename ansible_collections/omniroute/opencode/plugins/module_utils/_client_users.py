# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve where OpenCode reads each user's global config (stdlib only, runs on targets).

OpenCode 1.18 reads ``$XDG_CONFIG_HOME/opencode`` (else ``~/.config/opencode``) and, inside it,
``opencode.jsonc`` wins over ``opencode.json``.  The client role needs, for every listed user:
home, uid/gid, primary group, the config directory and the file to merge into, plus the
directories to create (owned by that user) when they are missing.
"""

from __future__ import annotations

import grp
import os
import pwd

CONFIG_FILES = ("opencode.jsonc", "opencode.json")


class UserResolveError(ValueError):
    """A listed user cannot be resolved (unknown user, bad override, missing home)."""


def effective_user():
    """The name of the user the module runs as (getpass when the uid has no passwd entry)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        import getpass  # only here: a module compiles what it imports on every run, and this is the rare case

        return getpass.getuser()


def normalize_user_entries(users, default_user):
    """Turn the role's ``opencode_client_users`` into a list of dicts with a ``name`` key.

    Entries are user names or dicts with ``name`` and optional ``xdg_config_home`` and
    ``config_file``.  An empty list means ``default_user``.  Duplicate names are an error.
    """
    if not users:
        users = [default_user]
    out = []
    seen = set()
    for index, entry in enumerate(users):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise UserResolveError("users[%d] must be a user name or a dict with 'name', got %s"
                                   % (index, type(entry).__name__))
        unknown = set(entry) - {"name", "xdg_config_home", "config_file"}
        if unknown:
            raise UserResolveError("users[%d] has unknown keys: %s (allowed: name, xdg_config_home, config_file)"
                                   % (index, ", ".join(sorted(unknown))))
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise UserResolveError("users[%d] has no user name" % index)
        name = name.strip()
        if name in seen:
            raise UserResolveError("user %r is listed twice" % name)
        seen.add(name)
        config_file = entry.get("config_file") or None
        if config_file is not None and config_file not in CONFIG_FILES:
            raise UserResolveError("user %r: config_file must be one of %s, got %r"
                                   % (name, ", ".join(CONFIG_FILES), config_file))
        xdg = entry.get("xdg_config_home") or None
        if xdg is not None and not isinstance(xdg, str):
            raise UserResolveError("user %r: xdg_config_home must be a path" % name)
        out.append({"name": name, "xdg_config_home": xdg, "config_file": config_file})
    return out


def _expand_home(path, home):
    if path == "~":
        return home
    if path.startswith("~/"):
        return os.path.join(home, path[2:])
    return path


def resolve_user(entry, getpwnam=pwd.getpwnam, getgrgid=grp.getgrgid, exists=os.path.exists,
                 isdir=os.path.isdir):
    """Resolve one normalized entry to home, ids, config dir, config path and dirs to create."""
    name = entry["name"]
    try:
        pw = getpwnam(name)
    except KeyError:
        raise UserResolveError("user %r does not exist on this host (getpwnam)" % name)
    home = pw.pw_dir
    if not home or not os.path.isabs(home):
        raise UserResolveError("user %r has no absolute home directory (%r)" % (name, home))
    if not isdir(home):
        raise UserResolveError("user %r: home directory %s does not exist" % (name, home))
    try:
        group = getgrgid(pw.pw_gid).gr_name
    except KeyError:
        group = str(pw.pw_gid)

    xdg = entry.get("xdg_config_home")
    if xdg:
        xdg = _expand_home(xdg, home)
        if not os.path.isabs(xdg):
            raise UserResolveError("user %r: xdg_config_home %r is not absolute (OpenCode, like the XDG "
                                   "spec, would ignore it)" % (name, entry["xdg_config_home"]))
        xdg = os.path.normpath(xdg)
    else:
        xdg = os.path.join(home, ".config")
    config_dir = os.path.join(xdg, "opencode")

    config_file = entry.get("config_file")
    if not config_file:
        # The same choice OpenCode makes: opencode.jsonc wins where both exist.
        config_file = "opencode.jsonc" if exists(os.path.join(config_dir, "opencode.jsonc")) else "opencode.json"
    config_path = os.path.join(config_dir, config_file)

    dirs = []
    # Only directories below the home are created by the role (and owned by the user); a custom
    # XDG_CONFIG_HOME elsewhere must already exist up to its parent.
    if not isdir(xdg):
        if not isdir(os.path.dirname(xdg)):
            raise UserResolveError("user %r: the parent of XDG config home %s does not exist"
                                   % (name, xdg))
        dirs.append({"path": xdg, "mode": "0700"})
    dirs.append({"path": config_dir, "mode": "0700"})

    return {
        "name": name,
        "uid": pw.pw_uid,
        "gid": pw.pw_gid,
        "group": group,
        "home": home,
        "shell": pw.pw_shell,
        "xdg_config_home": xdg,
        "xdg_config_home_custom": bool(entry.get("xdg_config_home")),
        "config_dir": config_dir,
        "config_dir_exists": isdir(config_dir),
        "config_file": config_file,
        "config_path": config_path,
        "config_exists": exists(config_path),
        "other_config_files": [f for f in CONFIG_FILES
                               if f != config_file and exists(os.path.join(config_dir, f))],
        "dirs": dirs,
    }


def resolve_users(users, default_user, **kwargs):
    """Resolve every entry; collect all problems into one error so an operator fixes them at once."""
    entries = normalize_user_entries(users, default_user)
    resolved = []
    problems = []
    for entry in entries:
        try:
            resolved.append(resolve_user(entry, **kwargs))
        except UserResolveError as exc:
            problems.append(str(exc))
    if problems:
        raise UserResolveError("; ".join(problems))
    return resolved
