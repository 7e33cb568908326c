# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: normalize_base_url
short_description: Give an OmniRoute base URL exactly one trailing /v1
version_added: 0.1.0
description:
  - The same rule M(omniroute.opencode.opencode_provider) applies - C(http://h:20128),
    C(http://h:20128/), C(http://h:20128/v1) and C(http://h:20128/v1/v1///) all become C(http://h:20128/v1).
  - Anything that is not an absolute http(s) URL, or that carries credentials, a query or a fragment, is an error.
author:
  - omniroute.opencode contributors
options:
  _input:
    description: The base URL.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Show the URL OpenCode will use
  ansible.builtin.debug:
    msg: "{{ 'http://omniroute.internal:20128/v1/v1' | omniroute.opencode.normalize_base_url }}"
  # -> http://omniroute.internal:20128/v1
"""

RETURN = r"""
_value:
  description: The normalized URL.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.omniroute.opencode.plugins.module_utils._base_url import BaseUrlError, normalize_base_url


def normalize_base_url_filter(url):
    try:
        return normalize_base_url(url)
    except BaseUrlError as exc:
        raise AnsibleFilterError("normalize_base_url: %s" % exc)


class FilterModule:

    def filters(self):
        return {"normalize_base_url": normalize_base_url_filter}
