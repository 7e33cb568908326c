# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Subject alternative names of the proxy's TLS certificate: the one rule for DNS vs IP entries."""

from __future__ import annotations

import ipaddress
import re

# RFC 1123 host names (labels of letters, digits and hyphens), with one leading "*." wildcard allowed.
_DNS_NAME = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$", re.I)


class SubjectAltNameError(ValueError):
    """A name cannot go into a certificate."""


def subject_alt_name(name):
    """``"10.0.0.5"`` -> ``"IP:10.0.0.5"``, ``"[::1]"`` -> ``"IP:::1"``, ``"proxy.example"`` -> ``"DNS:proxy.example"``.

    Entries already carrying a ``DNS:`` or ``IP:`` prefix are checked and kept (normalized).
    """
    if not isinstance(name, str) or not name.strip():
        raise SubjectAltNameError("a subject alternative name must be a non-empty string, got %r" % (name,))
    text = name.strip()
    kind = None
    if text[:4].upper() == "DNS:":
        kind, text = "DNS", text[4:]
    elif text[:3].upper() == "IP:":
        kind, text = "IP", text[3:]
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        address = None
    if address is not None and kind != "DNS":
        return "IP:%s" % address.compressed
    if kind == "IP":
        raise SubjectAltNameError("%r is not an IP address" % (name,))
    if not _DNS_NAME.match(text) or len(text.rstrip(".")) > 253:
        raise SubjectAltNameError("%r is neither an IP address nor a DNS name" % (name,))
    return "DNS:%s" % text.rstrip(".").lower()


def subject_alt_names(names):
    """Entries for every name, in order, without duplicates; empty strings and wildcard addresses are skipped."""
    out = []
    for name in names or []:
        if name is None or (isinstance(name, str) and name.strip() in ("", "0.0.0.0", "::", "[::]")):
            continue
        entry = subject_alt_name(name)
        if entry not in out:
            out.append(entry)
    return out
