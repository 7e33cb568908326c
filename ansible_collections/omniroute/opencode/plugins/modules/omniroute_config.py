#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

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
