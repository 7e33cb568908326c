# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: model_combo_name
short_description: The OmniRoute combo name of a provider's model id
version_added: 0.1.0
description:
  - Lower case; region prefixes (C(us.), C(eu.), C(apac.), C(global.), ...), vendor prefixes (C(anthropic.),
    C(anthropic/), C(openai/), C(openrouter/anthropic/), ...) and date or version suffixes (C(-20250929),
    C(-2024-08-06), C(@20250929), C(-v1:0), C(:0)) removed. The rule
    M(omniroute.opencode.omniroute_config) names its failover combos by.
  - An id that leaves nothing valid (combo names allow letters, digits, C(_), C(/), C(.) and C(-)) is an error.
author:
  - omniroute.opencode maintainers (@omniroute)
options:
  _input:
    description: A model id as a provider names it.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Both give claude-sonnet-4-5
  ansible.builtin.debug:
    msg:
      - "{{ 'us.anthropic.claude-sonnet-4-5-20250929-v1:0' | omniroute.opencode.model_combo_name }}"
      - "{{ 'anthropic/claude-sonnet-4-5' | omniroute.opencode.model_combo_name }}"
"""

RETURN = r"""
_value:
  description: The normalized name.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.omniroute.opencode.plugins.module_utils._failover import normalize_model_name


def model_combo_name(model):
    try:
        return normalize_model_name(model)
    except ValueError as exc:
        raise AnsibleFilterError("model_combo_name: %s" % exc)


class FilterModule:

    def filters(self):
        return {"model_combo_name": model_combo_name}
