# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the client role's results into per-file entries and a fleet drift report.

Documentation for ansible-doc lives next to this file in client_report_entries.yml and
drift_report.yml.
"""

from __future__ import annotations

import json
import re

from collections.abc import Mapping

from ansible_collections.omniroute.opencode.plugins.module_utils._client_host import report_entry

# Codes the role itself adds on top of the module's ``drift`` codes.
ROLE_CODES = {
    "config_dir": "config directory missing or with wrong owner/mode",
    "opencode_missing": "OpenCode is not installed",
    "opencode_version": "OpenCode is installed in another version",
    "ca_certificate": "the proxy's CA is missing from the system trust store or differs",
    "changed": "a real run would change the file (no finer code)",
}

# Human words for the module's codes (the fixed interface of omniroute.opencode.opencode_provider).
MODULE_CODES = {
    "file_missing": "config file missing",
    "schema_missing": "$schema missing",
    "entry_missing": "provider entry missing",
    "entry_present": "provider entry present (state=absent)",
    "base_url": "wrong base URL",
    "base_url_stale_v1": "stale /v1/v1 in base URL",
    "models_missing": "models missing",
    "models_unexpected": "unexpected models",
    "models_changed": "model fields differ",
    "credentials": "API key / env differ",
    "entry_fields": "provider fields differ",
    "mode": "wrong file mode",
    "owner": "wrong file owner",
    "group": "wrong file group",
}


def _get(obj, key, default=None):
    if isinstance(obj, Mapping):
        try:
            return obj.get(key, default)
        except Exception:  # HostVarsVars may raise on undefined values
            return default
    return default


def client_report_entries(results, scope="user", path=None, dir_results=None):
    """Turn registered results of omniroute.opencode.opencode_provider into report entries.

    ``results`` is a loop's ``results`` list (items are the user dicts from opencode_user_info) or
    a one-element list holding a single task result.  Skipped results are dropped.  A changed
    directory (``dir_results``, loop over ``subelements('dirs')`` or a single file result) adds
    the role code ``config_dir`` to the matching user's entry.
    """
    dirs_changed = set()
    for dres in dir_results or []:
        if not isinstance(dres, Mapping) or dres.get("skipped") or not dres.get("changed"):
            continue
        item = dres.get("item")
        if isinstance(item, (list, tuple)) and item and isinstance(item[0], Mapping):
            dirs_changed.add(item[0].get("name"))
        else:
            dirs_changed.add(None)

    entries = []
    for res in results or []:
        if not isinstance(res, Mapping) or res.get("skipped"):
            continue
        item = res.get("item")
        user = item.get("name") if isinstance(item, Mapping) else None
        failed = bool(res.get("failed"))
        entry = report_entry(
            user if user is not None else ("(managed)" if scope == "managed" else None), scope,
            (item.get("config_path") if isinstance(item, Mapping) else None) or path, res,
            dir_changed=(user if isinstance(item, Mapping) else None) in dirs_changed,
            msg=str(res.get("msg") or "") if failed else None)
        # Before opencode_client, a directory was its own task: its change did not make the file's entry changed.
        entry["changed"] = bool(res.get("changed"))
        entries.append(entry)
    return entries


def _details(entry):
    """One description per drift code of a file entry (``code: words``)."""
    words = []
    for code in entry.get("drift") or []:
        text = MODULE_CODES.get(code) or ROLE_CODES.get(code) or code
        if code == "models_missing" and entry.get("models_missing_ids"):
            text += " (%s)" % ", ".join(entry["models_missing_ids"])
        if code == "models_unexpected" and entry.get("models_unexpected_ids"):
            text += " (%s)" % ", ".join(entry["models_unexpected_ids"])
        words.append("%s: %s" % (code, text))
    return words


STATUSES = ("in_sync", "drift", "unreachable", "failed")
_LABELS = {"in_sync": "IN SYNC", "drift": "DRIFT", "unreachable": "UNREACHABLE", "failed": "FAILED"}


def _line(status, text):
    return "%-11s %s" % (_LABELS[status], text)


def _file_message(entry):
    """The module's message without the file's path in front (the line names the file already)."""
    msg = str(entry.get("msg") or "")
    path = entry.get("path")
    if path and msg.startswith("%s: " % path):
        return msg[len(path) + 2:]
    return msg


def _client_record(host, hv, report_var, error):
    """Files of one developer machine, lines, and the host-level error (or None)."""
    entries = _get(hv, report_var)
    if error or entries is None:
        msg = str(error or "no result from this host (it failed before the report; see the play output)")
        return [], [_line("failed", "%s: %s" % (host, msg))], msg
    files = [dict(e, details=_details(e)) for e in entries]
    lines = []
    for e in files:
        if e.get("failed"):
            lines.append(_line("failed", "%s %s %s: %s" % (host, e.get("user"), e.get("path"), _file_message(e))))
        elif e.get("drift"):
            lines.append(_line("drift", "%s %s %s: %s" % (host, e.get("user"), e.get("path") or "-",
                                                          "; ".join(e["details"]))))
    failed = [e for e in files if e.get("failed")]
    msg = "; ".join("%s: %s" % (e.get("path"), _file_message(e)) for e in failed) if failed else None
    return files, lines, msg


def _proxy_failure_entity(failure):
    """What the rescue of a failed proxy check recorded, as an entity: an API that could not be reached (the
    health wait, or omniroute_config with no HTTP status) is ``unreachable``, anything else ``failed``."""
    msg = str(_get(failure, "msg") or failure)
    action = str(_get(failure, "action") or "")
    status = _get(failure, "status", "none given")
    # omniroute_config gives status None when it could not connect (a template may have made that a string).
    no_http_status = status is None or str(status) in ("", "None")
    unreachable = action.endswith("uri") or (action.endswith("omniroute_config") and no_http_status)
    kind = "api" if unreachable else "proxy"
    return {"entity": kind, "name": str(_get(failure, "url") or ("OmniRoute API" if unreachable else "role")),
            "status": "unreachable" if unreachable else "failed",
            "drift": ["api_unreachable"] if unreachable else [], "details": [msg], "msg": msg}


def _proxy_record(host, hv, report_var, failure):
    """Entities of one proxy host and their lines."""
    entities = [dict(e) for e in (_get(hv, report_var) or []) if isinstance(e, Mapping)]
    if failure:
        entities.append(_proxy_failure_entity(failure))
    elif not entities:
        entities.append({"entity": "proxy", "name": "role", "status": "failed", "drift": [], "details": [],
                         "msg": "no result from this proxy (it failed before the report; see the play output)"})
    lines = []
    for e in entities:
        if e.get("status") != "in_sync":
            words = "; ".join(e.get("details") or []) or e.get("msg") or ", ".join(e.get("drift") or [])
            lines.append(_line(e["status"], "%s %s %s: %s" % (host, e.get("entity"), e.get("name"), words)))
    return entities, lines


def _host_status(client_error, files, entities):
    if client_error or any(e.get("failed") for e in files) or any(e["status"] == "failed" for e in entities):
        return "failed"
    if any(e["status"] == "unreachable" for e in entities):
        return "unreachable"
    if any(e.get("drift") for e in files) or any(e["status"] == "drift" for e in entities):
        return "drift"
    return "in_sync"


def _count(n, one, many):
    return "%d %s" % (n, one if n == 1 else many)


def _connection_problems(hv, unreachable_var, error_var, proxy_error_var, probe_vars):
    """(unreachable, client error, proxy error) of one host: the recorded ones, else what the registered results
    of the probes (``probe_vars``: the reachability check, the client module) say - an unreachable result, or a
    failed reachability check (the host cannot run commands)."""
    unreachable, error, proxy_error = _get(hv, unreachable_var), _get(hv, error_var), _get(hv, proxy_error_var)
    for name in probe_vars or []:
        probe = _get(hv, name)
        if not isinstance(probe, Mapping) or unreachable:
            continue
        if probe.get("unreachable"):
            unreachable = {"msg": str(probe.get("msg") or "unreachable")}
        elif name == probe_vars[0] and probe.get("failed"):
            msg = "cannot run commands: %s" % (probe.get("msg") or "true failed")
            error, proxy_error = error or msg, proxy_error or {"msg": msg}
    return unreachable, error, proxy_error


def drift_report(hostvars, targets, report_var="opencode_client_report",
                 unreachable_var="_opencode_drift_unreachable", error_var="_opencode_drift_error",
                 proxies=None, clients=None, proxy_report_var="omniroute_proxy_report",
                 proxy_error_var="_opencode_drift_proxy_error",
                 probe_vars=("_opencode_drift_ping", "_opencode_client_result")):
    """Build the drift report of the proxies and developer machines from every target host's variables.

    ``clients`` (default: every target) are checked for ``report_var`` (the client role's files), ``proxies``
    (default: none) for ``proxy_report_var`` (the proxy role's entities). A host is ``unreachable`` when
    ``unreachable_var`` is set on it, a registered result of ``probe_vars`` is unreachable (the first one, the
    reachability check, failing means the host cannot run commands), or its proxy API could not be reached, ``failed`` when it has an error,
    a file or entity that could not be checked, or no result at all, ``drift`` when any file or entity
    differs, else ``in_sync``. The result has ``drift`` (true when anything is not in sync), ``summary``
    counts, ``hosts`` by name and ``lines`` (a text summary).
    """
    clients = set(targets or []) if clients is None else set(clients)
    proxies = set(proxies or [])
    hosts, lines = {}, []
    counts = {status: 0 for status in STATUSES}
    totals = {"files": 0, "files_not_in_sync": 0, "proxy_entities": 0, "proxy_entities_not_in_sync": 0}
    for host in targets or []:
        hv = hostvars[host] if host in hostvars else {}
        record = {"status": None, "msg": "", "files": [], "proxy": []}
        unreachable, client_error, proxy_error = _connection_problems(hv, unreachable_var, error_var,
                                                                      proxy_error_var, list(probe_vars or []))
        if unreachable:
            record["status"] = "unreachable"
            record["msg"] = str(_get(unreachable, "msg", unreachable) if isinstance(unreachable, Mapping)
                                else unreachable)
            lines.append(_line("unreachable", "%s: %s" % (host, record["msg"])))
        else:
            host_lines = []
            if host in proxies:
                record["proxy"], proxy_lines = _proxy_record(host, hv, proxy_report_var, proxy_error)
                host_lines += proxy_lines
            client_msg = None
            if host in clients:
                record["files"], client_lines, client_msg = _client_record(host, hv, report_var, client_error)
                host_lines += client_lines
            record["msg"] = "; ".join(([client_msg] if client_msg else []) + [
                e["msg"] for e in record["proxy"] if e["status"] in ("failed", "unreachable") and e.get("msg")])
            record["status"] = _host_status(bool(client_msg), record["files"], record["proxy"])
            lines += host_lines
            if record["status"] == "in_sync":
                parts = []
                if host in clients:
                    parts.append(_count(len(record["files"]), "file", "files"))
                if host in proxies:
                    parts.append(_count(len(record["proxy"]), "proxy entity", "proxy entities"))
                lines.append(_line("in_sync", "%s (%s)" % (host, ", ".join(parts))))
        totals["files"] += len(record["files"])
        totals["files_not_in_sync"] += len([e for e in record["files"] if e.get("drift") or e.get("failed")])
        totals["proxy_entities"] += len(record["proxy"])
        totals["proxy_entities_not_in_sync"] += len([e for e in record["proxy"] if e["status"] != "in_sync"])
        counts[record["status"]] += 1
        hosts[host] = record
    summary = {"hosts": len(hosts), "in_sync": counts["in_sync"], "drifted": counts["drift"],
               "unreachable": counts["unreachable"], "failed": counts["failed"]}
    summary.update(totals)
    items = "%d of %d files" % (totals["files_not_in_sync"], totals["files"])
    if proxies:
        items += " and %d of %d proxy entities" % (totals["proxy_entities_not_in_sync"], totals["proxy_entities"])
    lines.append("%d hosts: %d in sync, %d drifted, %d unreachable, %d failed (%s not in sync)"
                 % (summary["hosts"], summary["in_sync"], summary["drifted"], summary["unreachable"],
                    summary["failed"], items))
    return {
        "drift": any(counts[k] for k in ("drift", "unreachable", "failed")),
        "summary": summary,
        "hosts": hosts,
        "lines": lines,
    }


def _parse_debug_config(stdout):
    """Parse ``opencode debug config`` output (JSON; tolerate log lines before the document)."""
    text = stdout or ""
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in the output")
    return json.loads(text[start:])


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# OpenCode's schema errors quote the rejected value ('Expected object, got "<value>"'): it may be a credential.
_QUOTED_VALUE = re.compile(r'(\bgot )"(?:[^"\\]|\\.)*"')


def _opencode_message(text):
    """OpenCode's error text without colours, without the echoed file content, with quoted values masked.

    On a JSON(C) syntax error OpenCode prints the whole input (which can hold keys) and each bad
    line; keep the error names with their line and column only. A schema error quotes the value it
    rejected, which may be a credential: it becomes ``"********"``.
    """
    text = _ANSI.sub("", text or "")
    out = []
    skipping = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == "--- JSONC Input ---":
            skipping = True
            continue
        if stripped == "--- Errors ---":
            skipping = False
            continue
        if skipping or stripped.startswith("Line ") or (stripped and set(stripped) <= {"^", "~"}):
            continue
        if stripped:
            out.append(_QUOTED_VALUE.sub(r'\1"********"', stripped))
    return " ".join(out)


def client_verify_problems(results, provider_id="omniroute", base_url=None, models=None, secret=None):
    """Check registered ``opencode debug config`` results (one per user); return problem strings.

    A user is fine when OpenCode exits 0, prints its resolved config, and that config has the
    provider ``provider_id`` with ``options.baseURL == base_url`` and every id of ``models``.
    OpenCode's own message (stderr, else stdout) is quoted for a failure, with ``secret`` masked.
    """
    problems = []
    for res in results or []:
        if not isinstance(res, Mapping) or res.get("skipped"):
            continue
        item = res.get("item")
        user = item.get("name") if isinstance(item, Mapping) else "?"
        rc = res.get("rc")
        if rc != 0:
            output = _opencode_message(res.get("stderr") or res.get("stdout") or res.get("msg") or "")
            if rc == 124:
                why = "timed out"
            elif rc in (126, 127):
                why = "could not run the binary (rc %s)" % rc
            else:
                why = "could not load the config (rc %s)" % rc
            problems.append("user %s: OpenCode %s: %s" % (user, why, output[:2000]))
            continue
        try:
            config = _parse_debug_config(res.get("stdout"))
        except ValueError as exc:
            problems.append("user %s: cannot read the output of `opencode debug config`: %s" % (user, exc))
            continue
        provider = (config.get("provider") or {}).get(provider_id)
        if not isinstance(provider, Mapping):
            problems.append("user %s: OpenCode loads the config but has no provider %r" % (user, provider_id))
            continue
        seen_url = (provider.get("options") or {}).get("baseURL")
        if base_url is not None and seen_url != base_url:
            problems.append("user %s: OpenCode resolves provider %r to baseURL %r, expected %r (another "
                            "config layer overrides it?)" % (user, provider_id, seen_url, base_url))
        missing = [m for m in (models or []) if m not in (provider.get("models") or {})]
        if missing:
            problems.append("user %s: OpenCode does not list models %s under provider %r"
                            % (user, ", ".join(missing), provider_id))
    if secret:
        problems = [p.replace(secret, "********") for p in problems]
    return problems


class FilterModule(object):
    """Client role and drift report filters."""

    def filters(self):
        return {
            "client_report_entries": client_report_entries,
            "drift_report": drift_report,
            "client_verify_problems": client_verify_problems,
        }
