# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: tls_subject_alt_names
short_description: Turn host names and addresses into certificate subject alternative names
version_added: 0.2.0
description:
  - Each IP address (IPv4, IPv6, IPv6 in brackets) becomes C(IP:<address>), every other name C(DNS:<name>) (lower
    case, without a trailing dot). Entries that already start with C(DNS:) or C(IP:) are checked and kept.
  - Empty strings and the wildcard addresses C(0.0.0.0) and C(::) are skipped; duplicates are dropped, order kept.
  - Anything that is neither an IP address nor a DNS name is an error naming it.
  - The proxy role builds the SANs of its generated server certificate with it.
author:
  - omniroute.opencode contributors
options:
  _input:
    description: Names and addresses.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: SANs for a proxy known by name and address
  ansible.builtin.debug:
    msg: "{{ ['omniroute.internal', '10.0.0.5', '[fd00::5]', '0.0.0.0', 'OmniRoute.internal.']
             | omniroute.opencode.tls_subject_alt_names }}"
  # -> ['DNS:omniroute.internal', 'IP:10.0.0.5', 'IP:fd00::5']
"""

RETURN = r"""
_value:
  description: C(DNS:) and C(IP:) entries, as M(community.crypto.openssl_csr_pipe) takes them.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.omniroute.opencode.plugins.module_utils._tls_names import (
    SubjectAltNameError,
    subject_alt_names,
)


def tls_subject_alt_names_filter(names):
    if isinstance(names, str):
        names = [names]
    try:
        return subject_alt_names(names)
    except SubjectAltNameError as exc:
        raise AnsibleFilterError("tls_subject_alt_names: %s" % exc)


class FilterModule:

    def filters(self):
        return {"tls_subject_alt_names": tls_subject_alt_names_filter}
