# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: failover_combos
short_description: Plan OmniRoute failover combos from providers and a provider priority
version_added: 0.1.0
description:
  - The same planning M(omniroute.opencode.omniroute_config) does, without touching a server - for example to
    know the combo names (the models OpenCode should list) before the proxy is deployed, or in check mode.
  - For every normalized model name (see P(omniroute.opencode.model_combo_name#filter)) offered by at least
    O(min_providers) providers, one combo whose legs (C(<prefix>/<model id>)) follow O(provider_priority).
  - Invalid input (duplicate provider names, a priority naming an unknown provider, a model that normalizes to
    nothing valid, a bad explicit combo) is an error listing every problem.
author:
  - omniroute.opencode maintainers (@omniroute)
options:
  _input:
    description:
      - Providers, each a mapping with C(name), optional C(prefix) (default C(name); for builtin providers pass
        their C(provider_id)) and C(models) (ids, or mappings with C(id) and C(combo)). Extra keys such as
        C(api_key) are ignored.
    type: list
    elements: dict
    required: true
  provider_priority:
    description: Provider names in failover order; the others follow in declaration order.
    type: list
    elements: str
    default: []
  min_providers:
    description: Minimum number of providers serving a model for it to get a combo.
    type: int
    default: 2
  combos:
    description: Explicit combos (C(name), C(models) as C(<provider>/<model>) legs), as for the module.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Combo names for the client role, computed before the proxy exists
  ansible.builtin.set_fact:
    omniroute_combo_plan: "{{ omniroute_providers | omniroute.opencode.failover_combos(['bedrock', 'openrouter']) }}"
  vars:
    omniroute_providers:
      - {name: bedrock, models: [us.anthropic.claude-sonnet-4-5-20250929-v1:0]}
      - {name: openrouter, prefix: openrouter, models: [anthropic/claude-sonnet-4-5]}
  # omniroute_combo_plan == {"claude-sonnet-4-5": ["bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
  #                                                "openrouter/anthropic/claude-sonnet-4-5"]}

- name: Just the names (the models OpenCode should list)
  ansible.builtin.debug:
    msg: "{{ omniroute_combo_plan | list | sort }}"
"""

RETURN = r"""
_value:
  description: Combo name to its legs in failover order.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.omniroute.opencode.plugins.module_utils._failover import PlanError, combo_legs, plan_combos


def failover_combos(providers, provider_priority=None, min_providers=2, combos=None):
    if not isinstance(providers, list):
        raise AnsibleFilterError("failover_combos: the input must be a list of providers")
    canonical = []
    for item in providers:
        if isinstance(item, dict):
            prefix = item.get("prefix") or (item.get("provider_id") if item.get("type") == "builtin" else None)
            canonical.append({"name": item.get("name"), "prefix": prefix, "models": item.get("models") or []})
        else:
            canonical.append(item)
    try:
        return combo_legs(plan_combos(canonical, provider_priority or [], combos or [], min_providers))
    except PlanError as exc:
        raise AnsibleFilterError("failover_combos: " + "; ".join(exc.errors))


class FilterModule:

    def filters(self):
        return {"failover_combos": failover_combos}
