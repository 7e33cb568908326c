# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The client role's inputs taken from the proxy host, as the site and drift playbooks declare them
(opencode_client_inputs_from_proxy): the base URL, the shared key, the models and the CA from the proxy role's
facts, or each developer's own key derived from omniroute_site_client_key_secret - wherever the opencode_client_*
variable is not set by hand (the rule the playbooks' set_fact task had). Computed in the role's action, in
Python: as play variables the same rule cost a filter-plugin load and a dozen templates per host."""

from __future__ import annotations

from ansible_collections.omniroute.opencode.plugins.module_utils._developer_keys import host_user_keys

# The site playbook's settings: read on the client host, else on the proxy host (group_vars of either, or all).
SITE_SETTINGS = {
    "secret": ("omniroute_site_client_key_secret", ""),
    "mode": ("omniroute_site_client_keys", "per_developer"),
    "generation": ("omniroute_site_client_key_generation", 0),
    "rotations": ("omniroute_site_client_key_rotations", {}),
    "scope": ("omniroute_site_client_key_identity", "host_user"),
}


def proxy_host_name(groups, chosen):
    """opencode_site_proxy_host, else the first host of omniroute_proxy ('' when there is none)."""
    return chosen or next(iter(groups.get("omniroute_proxy") or []), "")


def site_settings(client_value, proxy):
    """{setting: value} from the client host's variables (client_value(name) -> value or None), else the proxy's."""
    settings = {}
    for setting, (name, default) in SITE_SETTINGS.items():
        value = client_value(name)
        settings[setting] = value if value is not None else proxy.get(name, default)
    return settings


def fill_from_proxy(values, proxy, settings, host, login_user, set_by_hand=frozenset()):
    """The role's values with what is not set taken from the proxy: a copy.

    A variable is set when it has a value, or when the host's own variables (inventory, facts, -e: ``set_by_hand``)
    define it, even empty - ``opencode_client_ca_certificate: ""`` on a host means no CA there. ``proxy`` maps the
    proxy host's variables (empty when there is no proxy host). In per-developer mode with the secret and no key set
    by hand, every user of this host gets the key derived for them - the one the proxy play declared from the same
    rule."""
    def is_set(name):
        return name in set_by_hand or values.get(name) not in (None, "", {})

    filled = dict(values)
    key_set_by_hand = (is_set("opencode_client_api_key") or is_set("opencode_client_user_api_keys")
                       or bool(values.get("opencode_client_api_key_env")))
    derive = settings["mode"] == "per_developer" and bool(settings["secret"]) and not key_set_by_hand
    if derive:
        users = values.get("opencode_client_users") or [login_user]
        filled["opencode_client_user_api_keys"] = host_user_keys(
            host, users, settings["secret"], settings["generation"], settings["rotations"], settings["scope"],
            proxy.get("omniroute_proxy_client_key_name") or "opencode")
    elif not key_set_by_hand:
        filled["opencode_client_api_key"] = proxy.get("omniroute_proxy_client_key") or ""
    for name, fact in (("opencode_client_base_url", "omniroute_proxy_base_url"),
                       ("opencode_client_ca_certificate", "omniroute_proxy_ca_certificate"),
                       ("opencode_client_models", "omniroute_proxy_combos")):
        if not is_set(name) and proxy.get(fact) is not None:
            filled[name] = proxy.get(fact)
    return filled
