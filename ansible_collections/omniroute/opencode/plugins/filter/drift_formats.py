# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that render a drift report (omniroute.opencode.drift_report) for CI and monitoring.

Documentation for ansible-doc lives next to this file in drift_junit_xml.yml and drift_prometheus.yml.
"""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET

from collections.abc import Mapping

METRIC_PREFIX = "opencode_drift"
_STATUSES = ("in_sync", "drift", "unreachable", "failed")


def _cases(host, record):
    """(name, status, codes, text) for every file and proxy entity of one host, or one case for the host."""
    cases = []
    for e in record.get("proxy") or []:
        status = e.get("status") or "failed"
        text = "; ".join(e.get("details") or []) or e.get("msg") or ""
        cases.append(("proxy %s %s" % (e.get("entity"), e.get("name")), status, list(e.get("drift") or []), text))
    for e in record.get("files") or []:
        status = "failed" if e.get("failed") else ("drift" if e.get("drift") else "in_sync")
        name = "file %s %s" % (e.get("user"), e.get("path"))
        text = str(e.get("msg") or "") if status == "failed" else "; ".join(e.get("details") or e.get("drift") or [])
        cases.append((name, status, list(e.get("drift") or []), text))
    if record.get("status") in ("unreachable", "failed") and not any(c[1] in ("unreachable", "failed") for c in cases):
        cases.append(("host", record["status"], [record["status"]], str(record.get("msg") or record["status"])))
    return cases


def drift_junit_xml(report, suite_name="omniroute.opencode drift", timestamp=None):
    """JUnit XML: one test suite per host, one test case per client file and per proxy entity.

    Drift is a ``failure``, an unreachable host or API and a file or entity that could not be checked an
    ``error``; the codes are the message, the human description the text.
    """
    stamp = _iso(timestamp)
    root = ET.Element("testsuites", name=suite_name)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for host, record in sorted((report or {}).get("hosts", {}).items()):
        suite = ET.SubElement(root, "testsuite", name=str(host), hostname=str(host))
        if stamp:
            suite.set("timestamp", stamp)
        counts = {"tests": 0, "failures": 0, "errors": 0}
        for name, status, codes, text in _cases(host, record):
            case = ET.SubElement(suite, "testcase", classname=str(host), name=name, time="0")
            counts["tests"] += 1
            if status == "drift":
                counts["failures"] += 1
                node = ET.SubElement(case, "failure", message=", ".join(codes) or "drift", type="drift")
                node.text = text
            elif status in ("unreachable", "failed"):
                counts["errors"] += 1
                node = ET.SubElement(case, "error", message=", ".join(codes) or status, type=status)
                node.text = text
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("skipped", "0")
        suite.set("time", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _iso(timestamp):
    if timestamp in (None, ""):
        return None
    moment = datetime.datetime.fromtimestamp(float(timestamp), tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Exposition:
    """Prometheus text exposition format, one metric family at a time."""

    def __init__(self):
        self.lines = []

    def family(self, name, help_text, samples):
        full = "%s_%s" % (METRIC_PREFIX, name)
        self.lines.append("# HELP %s %s" % (full, help_text))
        self.lines.append("# TYPE %s gauge" % full)
        for labels, value in samples:
            rendered = ",".join('%s="%s"' % (k, _label(v)) for k, v in labels.items())
            self.lines.append("%s%s %s" % (full, "{%s}" % rendered if rendered else "", _number(value)))

    def text(self):
        return "\n".join(self.lines) + "\n"


def _number(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    return str(int(value))


def drift_prometheus(report, timestamp=None):
    """The Prometheus text format for node_exporter's textfile collector.

    Host counts by status, file and proxy entity counts, one status gauge per host (1 for its status), the
    number of items not in sync per host, the time of the check (``timestamp``, seconds since the epoch) and,
    for every certificate the report knows, its days to expiry.
    """
    report = report or {}
    summary = report.get("summary") or {}
    hosts = report.get("hosts") or {}
    out = _Exposition()
    status_counts = {"in_sync": summary.get("in_sync", 0), "drift": summary.get("drifted", 0),
                     "unreachable": summary.get("unreachable", 0), "failed": summary.get("failed", 0)}
    out.family("hosts", "Hosts covered by the last drift check, by status.",
               [({"status": s}, status_counts[s]) for s in _STATUSES])
    out.family("items", "Client files and proxy entities checked by the last drift check.",
               [({"kind": "file"}, summary.get("files", 0)),
                ({"kind": "proxy_entity"}, summary.get("proxy_entities", 0))])
    out.family("items_not_in_sync", "Client files and proxy entities not in sync (drifted, failed or unreachable).",
               [({"kind": "file"}, summary.get("files_not_in_sync", 0)),
                ({"kind": "proxy_entity"}, summary.get("proxy_entities_not_in_sync", 0))])
    out.family("host_status", "1 for the status of each host covered by the last drift check.",
               [({"host": h, "status": s}, r.get("status") == s) for h, r in sorted(hosts.items()) for s in _STATUSES])
    out.family("host_items_not_in_sync", "Files and proxy entities not in sync, per host.",
               [({"host": h}, _not_in_sync(r)) for h, r in sorted(hosts.items())])
    if timestamp not in (None, ""):
        out.family("last_check_timestamp_seconds", "When the last drift check ran (Unix time).",
                   [({}, float(timestamp))])
    certificates = [({"host": h, "certificate": e.get("name")}, e["days_to_expiry"])
                    for h, r in sorted(hosts.items()) for e in r.get("proxy") or []
                    if isinstance(e, Mapping) and e.get("days_to_expiry") is not None]
    if certificates:
        out.family("certificate_days_to_expiry", "Days until the proxy's TLS certificate expires.", certificates)
    return out.text()


def _not_in_sync(record):
    files = [e for e in record.get("files") or [] if e.get("drift") or e.get("failed")]
    entities = [e for e in record.get("proxy") or [] if e.get("status") != "in_sync"]
    return len(files) + len(entities)


class FilterModule(object):
    """Drift report output formats."""

    def filters(self):
        return {"drift_junit_xml": drift_junit_xml, "drift_prometheus": drift_prometheus}
