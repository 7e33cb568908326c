#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: omniroute_config
short_description: Bring a running OmniRoute to a declared state (providers, failover combos, client keys, tuning)
version_added: 0.1.0
description:
  - Talks to the management API of a running L(OmniRoute,https://github.com/diegosouzapw/OmniRoute) (checked
    against 3.7.9) and makes it match what is declared - upstream providers (OpenAI-compatible endpoints and
    OmniRoute's built-in providers) with their keys, failover combos, client API keys, and the tuning that makes
    failover fast.
  - B(Failover priority.) Every provider lists the models it serves. For every model offered by at least
    O(failover_min_providers) providers, the module creates one combo with strategy C(priority) whose legs follow
    O(provider_priority). The combo is named after the normalized model name - lower case, without region prefixes
    (C(us.), C(eu.), C(apac.), ...), vendor prefixes (C(anthropic.), C(anthropic/), C(openai/), ...) and date or
    version suffixes (C(-20250929), C(-2024-08-06), C(@20250929), C(-v1:0), C(:0)) - so
    C(us.anthropic.claude-sonnet-4-5-20250929-v1:0) and C(anthropic/claude-sonnet-4-5) both become
    C(claude-sonnet-4-5). Clients then ask for model C(claude-sonnet-4-5) and OmniRoute fails over between the
    providers in that order. Explicit combos in O(combos) are added (and win over a generated combo of the same
    name).
  - B(Ownership.) The module records the names of what it manages in one OmniRoute setting
    (C(omnirouteOpencodeManaged)), together with salted SHA-256 fingerprints of the secrets it set (OmniRoute never
    shows a stored key back). Only entries in that record are ever changed or removed (O(purge)); what an operator
    made in the dashboard is left alone, and a declared name that collides with such an entry is an error unless
    O(adopt=true).
  - B(Validation first.) The whole declaration is checked before anything changes - duplicate names, invalid combo
    names, legs naming an unknown provider or a model the provider does not serve, unknown strategies, out-of-range
    retry settings, collisions with unmanaged entries - and every problem is reported at once. The ownership record
    is written before the first change, so a run that is interrupted half-way is completed by the next run.
  - B(Secrets.) Provider keys and declared client keys are C(no_log) options; diffs show C(********) in their place,
    followed by the word C(changed) where a secret differs. A client key that the server generates is returned once in RV(client_key)
    - see there.
  - Runs wherever it can reach the management API (usually the proxy host itself, or the controller with
    C(delegate_to=localhost)); needs only the Python standard library.
extends_documentation_fragment:
  - action_common_attributes
  - action_common_attributes.actiongroups
  - action_common_attributes.flow
  - omniroute.opencode.omniroute_api
attributes:
  action:
    support: none
  action_group:
    support: full
    membership:
      - omniroute.opencode.omniroute
  async:
    support: none
  bypass_host_loop:
    support: none
  platform:
    platforms: posix
  check_mode:
    support: full
    details: Reads the live state, computes the full plan, reports it (diff, drift, combos) and changes nothing.
  diff_mode:
    support: full
    details: Before/after of every managed provider, combo, client key and tuning value; secrets masked.
options:
  providers:
    description:
      - Upstream providers. Each becomes, for C(openai-compatible), an OmniRoute provider node plus one API-key
        connection; for C(builtin), one API-key connection of OmniRoute's built-in provider O(providers[].provider_id).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Unique name; O(provider_priority) and legs of O(combos) refer to it. For C(openai-compatible) it is
            also the OmniRoute model prefix (legs read C(<name>/<model>)) unless O(providers[].prefix) is set.
          - Letters, digits, C(_), C(.) and C(-).
        type: str
        required: true
      type:
        description:
          - C(openai-compatible) - any endpoint speaking the OpenAI chat-completions API (needs O(providers[].base_url)).
          - C(builtin) - one of OmniRoute's own providers by id (C(openai), C(anthropic), C(openrouter), ...;
            needs O(providers[].provider_id)). OmniRoute rejects an unknown id; builtin connections are created
            first so such a mistake stops the run before anything else changed.
        type: str
        choices: [openai-compatible, builtin]
        default: openai-compatible
      base_url:
        description:
          - Base URL of an C(openai-compatible) provider, including its version path (for example
            C(https://api.example.com/v1)); OmniRoute appends C(/chat/completions). Trailing slashes are dropped.
          - Private and loopback addresses need C(OMNIROUTE_ALLOW_PRIVATE_PROVIDER_URLS=true) on the server.
        type: str
      api_key:
        description:
          - The key OmniRoute sends upstream. Required. Never shown; compared through the fingerprint in the
            ownership record, so a key changed by hand in the dashboard is not detected.
        type: str
        required: true
      provider_id:
        description: OmniRoute's id of a C(builtin) provider, for example C(openai).
        type: str
      prefix:
        description:
          - The model prefix OmniRoute uses for this provider in combo legs. Defaults to O(providers[].name) for
            C(openai-compatible) and to O(providers[].provider_id) for C(builtin). Must not clash with a built-in
            provider's alias.
        type: str
      display_name:
        description: Name shown in the dashboard for an C(openai-compatible) node. Defaults to O(providers[].name).
        type: str
      api_type:
        description: Which OpenAI API an C(openai-compatible) provider speaks.
        type: str
        choices: [chat, responses]
        default: chat
      priority:
        description: Priority of the provider's connection among connections of the same provider.
        type: int
        default: 1
      models:
        description:
          - Model ids this provider serves, as the provider names them. An item may be a mapping with C(id) and
            C(combo) to put the model into a combo of another name than its normalized one.
        type: list
        elements: raw
        default: []
  provider_priority:
    description:
      - Provider names in failover order for the generated combos. Providers it does not name come after, in
        declaration order. Naming an undeclared provider, or one twice, is an error.
    type: list
    elements: str
    default: []
  failover_min_providers:
    description:
      - A combo is generated for every normalized model name offered by at least this many providers. C(1) also
        makes single-provider combos (so every model gets a stable, normalized name).
    type: int
    default: 2
  combo_strategy:
    description: Strategy of generated combos (and default of explicit ones). C(priority) means ordered failover.
    type: str
    default: priority
  combo_config:
    description:
      - C(config) of every managed combo (C(maxRetries) 0-10, C(retryDelayMs), C(timeoutMs), ...). Empty means
        OmniRoute's combo defaults apply (see O(combo_defaults)). An explicit combo's O(combos[].config) is merged
        over it.
    type: dict
    default: {}
  combos:
    description: Explicit combos, in addition to the generated ones.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Combo name, the model name clients ask for. Letters, digits, C(_), C(/), C(.) and C(-).
        type: str
        required: true
      models:
        description:
          - Legs in order, each C(<provider name>/<model id>) (or a mapping with C(provider) and C(model)). The
            provider must be declared in O(providers) and serve that model.
        type: list
        elements: raw
        required: true
      strategy:
        description: Combo strategy; defaults to O(combo_strategy).
        type: str
      config:
        description: Combo config merged over O(combo_config).
        type: dict
  client_keys:
    description:
      - Client API keys (what OpenCode sends as C(Authorization - Bearer <key>)). With O(client_keys[].key) the key has
        that value (from a vault, say); without, OmniRoute generates one when the key does not exist yet and the
        module returns it once in RV(client_key).
      - A managed key that is no longer declared is revoked (O(purge)).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Key name (unique among the declared keys).
        type: str
        required: true
      key:
        description: The key value (at least 16 characters). Changing it replaces the key.
        type: str
  resilience:
    description:
      - Settings deep-merged into C(PATCH /api/resilience); only the keys given are compared and set.
      - The default turns off the request queue OmniRoute enables for API-key providers, which spaces requests
        C(minTimeBetweenRequestsMs=200) apart. Measured here (OmniRoute 3.7.9 in podman, local stand-in upstream
        answering in 1 ms, C(bench/omniroute_config_tuning.py)) - non-streaming p50 about 200 ms with the queue
        on, about 30 ms with it off. Pass C({}) to leave OmniRoute's resilience settings alone.
    type: dict
    default: {requestQueue: {autoEnableApiKeyProviders: false}}
  combo_defaults:
    description:
      - Keys merged into OmniRoute's combo defaults (C(/api/settings/combo-defaults)); only the keys given are
        compared and set, the others are kept.
      - The default C(maxRetries=0) moves on to the next leg at the first failure instead of retrying the failing
        leg (OmniRoute's own default is one retry after C(retryDelayMs=2000)). Measured for a combo
        C([failing, healthy]) - first leg answering 500 - about 2.1 s with OmniRoute's default, about 45 ms with
        C(maxRetries=0); first leg answering 429 - about 6.2 s against about 4.1 s (OmniRoute 3.7.9 itself retries
        a 429 twice, 2 s apart, before it moves on; no setting found changes that). A leg that failed is then
        cooling down and skipped by the next requests. Pass C({}) to leave the combo defaults alone.
    type: dict
    default: {maxRetries: 0}
  purge:
    description: Remove managed providers, combos and client keys that are no longer declared.
    type: bool
    default: true
  adopt:
    description:
      - Take over existing entries that this module did not create when their name (a combo or key name, an
        OpenAI-compatible provider's prefix, a builtin connection's name) matches a declared one. Without it such
        a collision is an error.
    type: bool
    default: false
notes:
  - OmniRoute 3.7.9 has no management tokens; the module logs in with the dashboard password for every run.
  - Built-in provider connections are checked against OmniRoute's provider list by the server only, when they are
    created.
seealso:
  - module: omniroute.opencode.opencode_provider
  - plugin: omniroute.opencode.failover_combos
    plugin_type: filter
author:
  - omniroute.opencode maintainers (@omniroute)
"""

EXAMPLES = r"""
- name: Fail over between two upstreams for every model they both serve
  omniroute.opencode.omniroute_config:
    api_url: http://127.0.0.1:20128
    admin_password: "{{ vault_omniroute_admin_password }}"
    providers:
      - name: bedrock
        base_url: https://bedrock-gateway.example.com/v1
        api_key: "{{ vault_bedrock_gateway_key }}"
        models:
          - us.anthropic.claude-sonnet-4-5-20250929-v1:0
          - us.anthropic.claude-opus-4-5-20251101-v1:0
      - name: openrouter
        type: builtin
        provider_id: openrouter
        api_key: "{{ vault_openrouter_key }}"
        models:
          - anthropic/claude-sonnet-4-5
          - anthropic/claude-opus-4-5
    provider_priority: [bedrock, openrouter]
    client_keys:
      - name: opencode
        key: "{{ vault_omniroute_client_key }}"
  register: omniroute
  # combos: {"claude-opus-4-5": [...], "claude-sonnet-4-5": ["bedrock/us.anthropic...", "openrouter/anthropic/..."]}

- name: An explicit combo next to the generated ones, and a generated client key kept as a fact
  omniroute.opencode.omniroute_config:
    admin_password: "{{ vault_omniroute_admin_password }}"
    wait_timeout: 120
    providers:
      - name: primary
        base_url: http://10.0.0.5:8000/v1
        api_key: "{{ vault_primary_key }}"
        models: [gpt-4o-mini, claude-sonnet-4-5]
      - name: backup
        base_url: https://llm.example.net/v1
        api_key: "{{ vault_backup_key }}"
        models: [gpt-4o-mini]
    combos:
      - name: fast
        models: [primary/gpt-4o-mini, backup/gpt-4o-mini]
        config: {timeoutMs: 20000}
    client_keys:
      - name: opencode
  register: omniroute
  no_log: true   # the result carries the generated key on the run that creates it

- name: Remember a newly generated client key
  ansible.builtin.set_fact:
    omniroute_client_key: "{{ omniroute.client_key }}"
  when: omniroute.client_key is defined
  no_log: true

- name: Report drift without changing anything
  omniroute.opencode.omniroute_config:
    admin_password: "{{ vault_omniroute_admin_password }}"
    providers: "{{ omniroute_providers }}"
    provider_priority: "{{ omniroute_priority }}"
  check_mode: true
  register: omniroute_drift
"""

RETURN = r"""
changed:
  description: Whether anything was (or, in check mode, would be) changed.
  returned: always
  type: bool
combos:
  description: Every managed combo (generated and explicit) with its legs in failover order, as declared.
  returned: always
  type: dict
  sample: {"claude-sonnet-4-5": ["bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0", "openrouter/anthropic/claude-sonnet-4-5"]}
combo_names:
  description: Sorted names of the managed combos - the model names clients such as OpenCode should list.
  returned: always
  type: list
  elements: str
  sample: [claude-opus-4-5, claude-sonnet-4-5]
drift:
  description:
    - What differs between the declared and the live state (empty when in sync), one item per entry -
      C(entity) (C(provider), C(combo), C(client_key), C(resilience), C(combo_defaults)), C(name), C(action)
      (C(create), C(update), C(delete), C(adopt)) and C(fields) (what differs for C(update), for example
      C(models), C(strategy), C(config), C(base_url), C(api_key), C(display_name), C(priority),
      C(requestQueue.autoEnableApiKeyProviders)).
    - A combo C(update) also carries C(details), short descriptions of what differs - C(legs reordered) when
      only the order of the legs (the failover priority) differs, else the missing and undeclared legs, the
      strategy, the config keys.
    - Secrets are never in it; C(api_key) in C(fields) only says that the key differs or cannot be confirmed.
  returned: always
  type: list
  elements: dict
  sample: [{"entity": "combo", "name": "claude-sonnet-4-5", "action": "update", "fields": ["models"],
            "details": ["legs reordered"]}]
diff:
  description: Before/after of managed providers, combos, client keys and tuning; every secret replaced by C(********).
  returned: when diff mode is on
  type: dict
client_key:
  description:
    - The value of a client key that OmniRoute generated in this run (the first, if several were). Returned only
      on the run that creates it - OmniRoute never shows it again - and never in check mode, diffs or warnings.
    - It is a secret. Set C(no_log) on the task (the whole result is printed at C(-v) otherwise) and store it
      (for example with M(ansible.builtin.set_fact) under C(no_log)); or declare O(client_keys[].key) yourself
      from a vault so the value is known on every run.
  returned: when a key was generated
  type: str
client_keys_created:
  description: Names of the client keys created in this run (or that would be, in check mode).
  returned: always
  type: list
  elements: str
generated_client_keys:
  description: Name to value of every client key OmniRoute generated in this run. A secret, like RV(client_key).
  returned: when a key was generated
  type: dict
actions:
  description: Number of API write operations carried out (or planned, in check mode), the ownership record excluded.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.omniroute.opencode.plugins.module_utils._failover import PlanError
from ansible_collections.omniroute.opencode.plugins.module_utils._omniroute_api import (
    OmniRouteClient,
    OmniRouteError,
)
from ansible_collections.omniroute.opencode.plugins.module_utils._omniroute_state import (
    DEFAULT_COMBO_DEFAULTS,
    DEFAULT_RESILIENCE,
    apply_changes,
    build_desired,
    compute_changes,
    read_state,
)


def argument_spec():
    return dict(
        api_url=dict(type="str", default="http://127.0.0.1:20128", aliases=["url"]),
        admin_password=dict(type="str", required=True, no_log=True),
        timeout=dict(type="float", default=30),
        wait_timeout=dict(type="float", default=60),
        validate_certs=dict(type="bool", default=True),
        providers=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                name=dict(type="str", required=True),
                type=dict(type="str", default="openai-compatible", choices=["openai-compatible", "builtin"]),
                base_url=dict(type="str"),
                api_key=dict(type="str", required=True, no_log=True),
                provider_id=dict(type="str"),
                prefix=dict(type="str"),
                display_name=dict(type="str"),
                api_type=dict(type="str", default="chat", choices=["chat", "responses"]),
                priority=dict(type="int", default=1),
                models=dict(type="list", elements="raw", default=[]),
            ),
        ),
        provider_priority=dict(type="list", elements="str", default=[]),
        failover_min_providers=dict(type="int", default=2),
        combo_strategy=dict(type="str", default="priority"),
        combo_config=dict(type="dict", default={}),
        combos=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                name=dict(type="str", required=True),
                models=dict(type="list", elements="raw", required=True),
                strategy=dict(type="str"),
                config=dict(type="dict"),
            ),
        ),
        client_keys=dict(
            type="list",
            elements="dict",
            default=[],
            no_log=False,
            options=dict(name=dict(type="str", required=True), key=dict(type="str", no_log=True)),
        ),
        resilience=dict(type="dict", default=DEFAULT_RESILIENCE),
        combo_defaults=dict(type="dict", default=DEFAULT_COMBO_DEFAULTS),
        purge=dict(type="bool", default=True),
        adopt=dict(type="bool", default=False),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        desired = build_desired(params)
    except PlanError as exc:
        module.fail_json(msg="invalid declaration, nothing was changed: " + "; ".join(exc.errors), errors=exc.errors)

    combos = {name: list(spec["models"]) for name, spec in desired["combos"].items()}
    try:
        client = OmniRouteClient(params["api_url"], timeout=params["timeout"], validate_certs=params["validate_certs"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        client.wait_healthy(params["wait_timeout"])
        client.login(params["admin_password"])
        live = read_state(client)
    except OmniRouteError as exc:
        module.fail_json(msg=str(exc), status=exc.status)

    changes = compute_changes(desired, live, purge=params["purge"], adopt=params["adopt"])
    if changes["errors"]:
        module.fail_json(
            msg="conflicts with the live OmniRoute state, nothing was changed: " + "; ".join(changes["errors"]),
            errors=changes["errors"],
            drift=changes["drift"],
        )
    changed = bool(changes["actions"]) or changes["ledger_changed"]
    result = dict(
        changed=changed,
        combos=combos,
        combo_names=sorted(combos),
        drift=changes["drift"],
        actions=len(changes["actions"]),
        client_keys_created=sorted({a["name"] for a in changes["actions"] if a["op"] == "create_key"}),
    )
    if module._diff:
        result["diff"] = dict(before=changes["before"], after=changes["after"])
    if changed and not module.check_mode:
        try:
            generated = apply_changes(client, changes)
        except OmniRouteError as exc:
            module.fail_json(
                msg=f"{exc} (applied part of the plan; fix the cause and run again - the next run completes it)",
                status=exc.status,
                drift=changes["drift"],
            )
        generated = {name: value for name, value in generated.items() if value}
        if generated:
            result["generated_client_keys"] = generated
            result["client_key"] = next(iter(generated.values()))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
