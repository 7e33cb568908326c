# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declared state of an OmniRoute server: desired state, comparison with the live state, and application.

``build_desired`` and ``compute_changes`` are pure (unit-tested directly); ``read_state`` and ``apply_changes``
talk to the server through :class:`~._omniroute_api.OmniRouteClient`.

Ownership. The module only ever deletes or rewrites what it manages. It records what it manages in one
OmniRoute setting, ``omnirouteOpencodeManaged`` (written with ``POST /api/settings/import-json``, read back with
``GET /api/settings``): the names of its providers, combos and client keys, plus salted SHA-256 fingerprints of
the secrets it set (the server never shows them back). The record is written *before* anything is created
(so an interrupted run is repaired by the next one) and again at the end. Entries an operator made in the
dashboard are not in it: they are left alone, and a declared name that collides with one is an error unless
``adopt`` is set.
"""

from __future__ import annotations

import copy
import hashlib
import secrets

from ansible_collections.omniroute.opencode.plugins.module_utils._failover import (
    STRATEGIES,
    PlanError,
    plan_combos,
)

LEDGER_KEY = "omnirouteOpencodeManaged"
LEDGER_VERSION = 1
OWNER = "omniroute.opencode.omniroute_config"
#: What diffs show instead of a secret.
MASK = "********"
MASK_CHANGED = "******** (changed)"
PROVIDER_TYPES = ("openai-compatible", "builtin")
API_TYPES = ("chat", "responses")
#: Defaults that favour fast failover (see the module documentation for the measured effect).
DEFAULT_RESILIENCE = {"requestQueue": {"autoEnableApiKeyProviders": False}}
DEFAULT_COMBO_DEFAULTS = {"maxRetries": 0}
_CONFIG_INT_RANGES = {"maxRetries": (0, 10), "retryDelayMs": (0, 600000), "timeoutMs": (1, 3600000)}


# ------------------------------------------------------------------------------------------------ helpers
def fingerprint(salt, kind, name, secret):
    """Salted SHA-256 of a secret; what the ledger keeps instead of the secret."""
    data = "\0".join((salt, kind, name, secret)).encode("utf-8")
    return "sha256:" + hashlib.sha256(data).hexdigest()


def deep_subset_diff(wanted, current, path=""):
    """Dotted paths of the leaves of ``wanted`` that differ in ``current`` (missing counts as different)."""
    diffs = []
    for key, value in (wanted or {}).items():
        here = f"{path}.{key}" if path else str(key)
        have = current.get(key) if isinstance(current, dict) else None
        if isinstance(value, dict) and value:
            diffs.extend(deep_subset_diff(value, have if isinstance(have, dict) else {}, here))
        elif have != value or (isinstance(current, dict) and key not in current):
            diffs.append(here)
    return diffs


def deep_merge(base, patch):
    result = copy.deepcopy(base) if isinstance(base, dict) else {}
    for key, value in (patch or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def deep_project(current, shape):
    """The part of ``current`` with the keys of ``shape`` (for diffs of tuning settings)."""
    out = {}
    for key, value in (shape or {}).items():
        have = current.get(key) if isinstance(current, dict) else None
        if isinstance(value, dict) and value:
            out[key] = deep_project(have if isinstance(have, dict) else {}, value)
        else:
            out[key] = have
    return out


def combo_model_strings(combo):
    """The legs of a combo as the server returns it (strings or ``{"model": ...}`` step objects)."""
    legs = []
    for item in combo.get("models") or []:
        if isinstance(item, str):
            legs.append(item)
        elif isinstance(item, dict):
            legs.append(item.get("model") or item.get("comboName") or item.get("combo") or item.get("id"))
    return legs


def masked_key_matches(masked, value):
    """Whether the masked key the server lists (``sk-abcde****wxyz``: 8 characters, ``****``, the last 4) can be
    ``value``. An unknown masking format counts as a match (it proves nothing)."""
    if not isinstance(masked, str) or "****" not in masked or not isinstance(value, str):
        return True
    head, _sep, tail = masked.partition("****")
    return value.startswith(head) and value.endswith(tail)


def strip_url(url):
    return url.strip().rstrip("/") if isinstance(url, str) else url


# ------------------------------------------------------------------------------------------ desired state
def build_desired(params):
    """Validate the module parameters and build the desired state; raises PlanError listing every problem.

    Returns ``{"providers": [...], "combos": plan, "client_keys": [...], "resilience": dict,
    "combo_defaults": dict}``.
    """
    errors = []
    providers = []
    for index, raw in enumerate(params.get("providers") or []):
        name = raw.get("name")
        where = f"provider {name!r}" if name else f"providers[{index}]"
        kind = raw.get("type") or "openai-compatible"
        if kind not in PROVIDER_TYPES:
            errors.append(f"{where}: type {kind!r} is unknown (one of {', '.join(PROVIDER_TYPES)})")
            continue
        entry = {
            "name": name,
            "type": kind,
            "prefix": raw.get("prefix") or (raw.get("provider_id") if kind == "builtin" else None) or name,
            "api_key": raw.get("api_key"),
            "priority": raw.get("priority") if raw.get("priority") is not None else 1,
            "models": raw.get("models") or [],
        }
        if kind == "openai-compatible":
            base_url = strip_url(raw.get("base_url"))
            if not base_url:
                errors.append(f"{where}: base_url is required for an openai-compatible provider")
            elif not (base_url.startswith("http://") or base_url.startswith("https://")):
                errors.append(f"{where}: base_url {base_url!r} is not an http(s) URL")
            api_type = raw.get("api_type") or "chat"
            if api_type not in API_TYPES:
                errors.append(f"{where}: api_type {api_type!r} is unknown (one of {', '.join(API_TYPES)})")
            if raw.get("provider_id"):
                errors.append(f"{where}: provider_id is only for type builtin")
            entry.update(
                {"base_url": base_url, "api_type": api_type, "display_name": raw.get("display_name") or name}
            )
        else:
            if not raw.get("provider_id"):
                errors.append(f"{where}: provider_id (the OmniRoute provider id, e.g. openai) is required for type builtin")
            if raw.get("base_url"):
                errors.append(f"{where}: base_url is only for type openai-compatible")
            entry["provider_id"] = raw.get("provider_id")
        if not entry["api_key"]:
            errors.append(f"{where}: api_key is required (the key OmniRoute sends upstream)")
        providers.append(entry)

    builtin_seen = {}
    for entry in providers:
        if entry["type"] == "builtin" and entry.get("provider_id"):
            builtin_seen.setdefault(entry["prefix"], []).append(entry["name"])

    combo_config = dict(params.get("combo_config") or {})
    errors.extend(_config_problems("combo_config", combo_config))
    for index, combo in enumerate(params.get("combos") or []):
        if isinstance(combo, dict):
            errors.extend(_config_problems(f"combo {combo.get('name')!r} config", combo.get("config") or {}))
    strategy = params.get("combo_strategy") or "priority"
    plan = {}
    try:
        plan = plan_combos(
            [{"name": p["name"], "prefix": p["prefix"], "models": p["models"]} for p in providers],
            params.get("provider_priority") or [],
            params.get("combos") or [],
            params.get("failover_min_providers") if params.get("failover_min_providers") is not None else 2,
            strategy,
            combo_config,
        )
    except PlanError as exc:
        errors.extend(exc.errors)

    client_keys = []
    seen_keys = set()
    for index, raw in enumerate(params.get("client_keys") or []):
        name = raw.get("name") if isinstance(raw, dict) else raw
        if not isinstance(name, str) or not name.strip():
            errors.append(f"client_keys[{index}]: name is required")
            continue
        if name in seen_keys:
            errors.append(f"client key {name!r}: declared twice; names must be unique")
            continue
        seen_keys.add(name)
        key = raw.get("key") if isinstance(raw, dict) else None
        if key is not None and (not isinstance(key, str) or len(key) < 16):
            errors.append(f"client key {name!r}: key must be a string of at least 16 characters")
        client_keys.append({"name": name, "key": key})

    if errors:
        raise PlanError(errors)
    return {
        "providers": providers,
        "combos": plan,
        "client_keys": client_keys,
        "resilience": params.get("resilience") if params.get("resilience") is not None else DEFAULT_RESILIENCE,
        "combo_defaults": params.get("combo_defaults")
        if params.get("combo_defaults") is not None
        else DEFAULT_COMBO_DEFAULTS,
    }


def _config_problems(where, config):
    problems = []
    if not isinstance(config, dict):
        return [f"{where}: must be a mapping"]
    for key, (low, high) in _CONFIG_INT_RANGES.items():
        if key in config:
            value = config[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                problems.append(f"{where}: {key} must be an integer from {low} to {high}, not {value!r}")
    if "strategy" in config and config["strategy"] not in STRATEGIES:
        problems.append(f"{where}: strategy {config['strategy']!r} is unknown")
    return problems


# -------------------------------------------------------------------------------------------- live state
def read_state(client):
    """Everything the comparison needs, in a handful of GET calls."""
    settings = client.get_settings()
    return {
        "ledger": settings.get(LEDGER_KEY) if isinstance(settings.get(LEDGER_KEY), dict) else None,
        "nodes": client.list_provider_nodes(),
        "connections": client.list_connections(),
        "combos": client.list_combos(),
        "keys": client.list_keys(),
        "resilience": client.get_resilience(),
        "combo_defaults": client.get_combo_defaults(),
    }


def empty_ledger(salt=None):
    return {
        "version": LEDGER_VERSION,
        "owner": OWNER,
        "salt": salt or secrets.token_hex(16),
        "providers": {},
        "combos": [],
        "clientKeys": {},
    }


# ---------------------------------------------------------------------------------------------- compare
class _Plan:
    """What the comparison accumulates, entity by entity: write operations, drift items, masked before/after views,
    the ownership record to store, and conflicts that forbid any change."""

    def __init__(self, salt):
        self.actions = []
        self.drift = []
        self.errors = []
        self.before = {"providers": {}, "combos": {}, "client_keys": {}}
        self.after = {"providers": {}, "combos": {}, "client_keys": {}}
        self.ledger = {
            "version": LEDGER_VERSION,
            "owner": OWNER,
            "salt": salt,
            "providers": {},
            "combos": [],
            "clientKeys": {},
        }

    def differs(self, entity, name, action, fields=None, details=None):
        self.drift.append(_drift(entity, name, action, fields, details))


class _Live:
    """The live state, indexed the way the reconcile functions look things up."""

    def __init__(self, live):
        self.nodes = [n for n in live.get("nodes") or [] if isinstance(n, dict)]
        self.connections = [c for c in live.get("connections") or [] if isinstance(c, dict)]
        self.nodes_by_prefix = {}
        for node in self.nodes:
            self.nodes_by_prefix.setdefault(node.get("prefix"), []).append(node)
        self.combos_by_name = {}
        for combo in live.get("combos") or []:
            if isinstance(combo, dict) and combo.get("name"):
                self.combos_by_name.setdefault(combo["name"], combo)
        self.keys_by_name = {}
        for key in live.get("keys") or []:
            if isinstance(key, dict) and key.get("name"):
                self.keys_by_name.setdefault(key["name"], []).append(key)
        self.resilience = live.get("resilience") or {}
        self.combo_defaults = live.get("combo_defaults") or {}

    def node_connection(self, node_id, name):
        conns = [c for c in self.connections if c.get("provider") == node_id]
        named = [c for c in conns if c.get("name") == name]
        return (named or conns or [None])[0]


def compute_changes(desired, live, purge=True, adopt=False):
    """Compare desired and live state. Pure: returns a dict with

    - ``actions``: ordered list of operations for :func:`apply_changes`;
    - ``drift``: list of ``{"entity", "name", "action", "fields"}`` (plus ``details``, short human descriptions,
      where there is more to say than the field names) describing every difference;
    - ``before`` / ``after``: masked views for the diff;
    - ``ledger``: the ownership record to store at the end (``ledger_pre``: the one to store first);
    - ``errors``: conflicts that forbid any change (the caller fails before applying anything).

    One reconcile function per entity (providers, combos, client keys, tuning) fills the plan.
    """
    ledger = copy.deepcopy(live.get("ledger")) or empty_ledger()
    ledger.setdefault("providers", {})
    ledger.setdefault("combos", [])
    ledger.setdefault("clientKeys", {})
    ledger["salt"] = ledger.get("salt") or secrets.token_hex(16)
    plan = _Plan(ledger["salt"])
    indexed = _Live(live)
    _reconcile_providers(plan, desired, indexed, ledger["providers"], purge, adopt)
    _reconcile_combos(plan, desired, indexed, set(ledger["combos"]), purge, adopt)
    _reconcile_client_keys(plan, desired, indexed, ledger["clientKeys"], purge, adopt)
    _reconcile_tuning(plan, desired, indexed)
    return _changes(plan, ledger, live.get("ledger"))


def _changes(plan, ledger, live_ledger):
    new_ledger = plan.ledger
    new_ledger["combos"] = sorted(set(new_ledger["combos"]))
    pre = copy.deepcopy(ledger)
    pre["version"], pre["owner"] = LEDGER_VERSION, OWNER
    for name, record in new_ledger["providers"].items():
        # Names and ownership first; fingerprints only once the secret is really set.
        pre["providers"].setdefault(name, dict(record, keyHash=None))
    pre["combos"] = sorted(set(pre["combos"]) | set(new_ledger["combos"]))
    for name, record in new_ledger["clientKeys"].items():
        pre["clientKeys"].setdefault(name, {"keyHash": None})
    return {
        "actions": plan.actions,
        "drift": plan.drift,
        "before": plan.before,
        "after": plan.after,
        "ledger": new_ledger,
        "ledger_pre": pre if pre != live_ledger else None,
        "ledger_changed": live_ledger != new_ledger,
        "errors": plan.errors,
    }


# ------------------------------------------------------------------------------------------ providers
def _reconcile_providers(plan, desired, live, managed, purge, adopt):
    # Nodes are identified by their prefix: a provider renamed with its prefix kept is still the same node.
    managed_node_prefixes = {
        r.get("prefix") for r in managed.values() if isinstance(r, dict) and r.get("type") != "builtin"
    }
    for provider in desired["providers"]:
        name = provider["name"]
        record = managed.get(name)
        is_managed = bool(record) and record.get("type", provider["type"]) == provider["type"]
        if provider["type"] == "openai-compatible":
            if record and record.get("prefix") != provider["prefix"]:
                record = None  # another node: its key fingerprint says nothing about this one
            is_managed = is_managed and record is not None or provider["prefix"] in managed_node_prefixes
        key_fp = fingerprint(plan.ledger["salt"], "provider", name, provider["api_key"])
        if provider["type"] == "openai-compatible":
            done = _reconcile_node_provider(plan, provider, live, record, key_fp, is_managed, adopt)
        else:
            done = _reconcile_builtin_provider(plan, provider, live, record, key_fp, is_managed, adopt)
        if not done:
            continue
        plan.ledger["providers"][name] = {
            "type": provider["type"],
            "prefix": provider["prefix"],
            "providerId": provider.get("provider_id"),
            "keyHash": key_fp,
        }
    _remove_stale_providers(plan, desired, live, managed, purge)


def _reconcile_node_provider(plan, provider, live, record, key_fp, is_managed, adopt):
    """An OpenAI-compatible provider: a provider node plus its API-key connection. False on a conflict."""
    name = provider["name"]
    candidates = live.nodes_by_prefix.get(provider["prefix"], [])
    if len(candidates) > 1:
        plan.errors.append(
            f"provider {name!r}: {len(candidates)} OmniRoute provider nodes use prefix {provider['prefix']!r} "
            f"(ids {', '.join(n.get('id', '?') for n in candidates)}); delete the extra ones in the dashboard"
        )
        return False
    node = candidates[0] if candidates else None
    if _refused_as_foreign(plan, name, node, is_managed, adopt,
                           f"a provider node with prefix {provider['prefix']!r}",
                           "delete or rename it in the dashboard, give the provider another name or prefix"):
        return False
    node_body = {
        "type": "openai-compatible",
        "name": provider["display_name"],
        "prefix": provider["prefix"],
        "apiType": provider["api_type"],
        "baseUrl": provider["base_url"],
    }
    conn_body = {"name": name, "apiKey": provider["api_key"], "priority": provider["priority"]}
    if node is None:
        _plan_provider_create(plan, provider, {"op": "create_node", "name": name, "node": node_body,
                                               "connection": conn_body})
        return True
    fields = []
    if node.get("name") != node_body["name"]:
        fields.append("display_name")
    if strip_url(node.get("baseUrl")) != node_body["baseUrl"]:
        fields.append("base_url")
    if (node.get("apiType") or "chat") != node_body["apiType"]:
        fields.append("api_type")
    if fields:
        plan.actions.append({"op": "update_node", "name": name, "id": node["id"], "node": node_body})
    conn = live.node_connection(node.get("id"), name)
    if conn is None:
        fields.append("connection")
        plan.actions.append({"op": "create_connection", "name": name, "node_id": node["id"], "connection": conn_body})
    _settle_existing(plan, provider, node, conn, conn_body, fields, record, key_fp, is_managed)
    return True


def _reconcile_builtin_provider(plan, provider, live, record, key_fp, is_managed, adopt):
    """One API-key connection of an OmniRoute built-in provider. False on a conflict."""
    name = provider["name"]
    matches = [c for c in live.connections if c.get("provider") == provider["provider_id"] and c.get("name") == name]
    conn = matches[0] if matches else None
    if _refused_as_foreign(plan, name, conn, is_managed, adopt,
                           f"a {provider['provider_id']} connection named {name!r}",
                           "rename or delete it in the dashboard, rename the provider"):
        return False
    conn_body = {"provider": provider["provider_id"], "name": name, "apiKey": provider["api_key"],
                 "priority": provider["priority"]}
    if conn is None:
        _plan_provider_create(plan, provider, {"op": "create_builtin", "name": name, "connection": conn_body})
        return True
    _settle_existing(plan, provider, None, conn, conn_body, [], record, key_fp, is_managed)
    return True


def _plan_provider_create(plan, provider, action):
    """A provider OmniRoute does not have yet: one create action, and the view it will have."""
    plan.actions.append(action)
    plan.differs("provider", provider["name"], "create")
    plan.after["providers"][provider["name"]] = _provider_view(provider)


def _refused_as_foreign(plan, name, found, is_managed, adopt, what, remedy):
    """True, with the error recorded, when ``found`` exists but is not ours and adopt is off."""
    if found is None or is_managed or adopt:
        return False
    plan.errors.append(f"provider {name!r}: {what} (id {found.get('id')}) exists that this module did not create; "
                       f"{remedy}, or set adopt=true to take it over")
    return True


def _settle_existing(plan, provider, node, conn, conn_body, fields, record, key_fp, is_managed):
    """An existing provider (node fields already compared): compare its connection, record what differs."""
    if conn is not None:
        conn_fields = _connection_fields(conn, conn_body, record, key_fp, is_managed)
        if conn_fields:
            # A connection keeps the provider it was made for: the update does not name it.
            update_body = {k: v for k, v in conn_body.items() if k != "provider"}
            plan.actions.append({"op": "update_connection", "name": provider["name"], "id": conn["id"],
                                 "connection": update_body})
        fields.extend(conn_fields)
    name = provider["name"]
    plan.before["providers"][name] = _live_provider_view(provider, node, conn)
    plan.after["providers"][name] = dict(_provider_view(provider), api_key=MASK_CHANGED if "api_key" in fields else MASK)
    if fields or not is_managed:
        plan.differs("provider", name, "update" if is_managed else "adopt", fields)


def _remove_stale_providers(plan, desired, live, managed, purge):
    declared = {p["name"]: p for p in desired["providers"]}
    declared_node_prefixes = {p["prefix"] for p in desired["providers"] if p["type"] == "openai-compatible"}
    for name, record in sorted(managed.items()):
        if not isinstance(record, dict):
            continue
        same = declared.get(name)
        if same is not None and same["type"] == record.get("type") and (
            same["type"] == "builtin" or same["prefix"] == record.get("prefix")
        ):
            continue
        if not purge:
            plan.ledger["providers"].setdefault(name, record)
            continue
        if record.get("type") == "builtin":
            stale = [c for c in live.connections if c.get("provider") == record.get("providerId") and c.get("name") == name]
            for conn in stale:
                plan.actions.append({"op": "delete_connection", "name": name, "id": conn["id"]})
        elif record.get("prefix") in declared_node_prefixes:
            stale = []  # the node lives on under a declared provider (renamed, prefix kept)
        else:
            stale = live.nodes_by_prefix.get(record.get("prefix"), [])
            for node in stale:
                plan.actions.append({"op": "delete_node", "name": name, "id": node["id"]})
        if stale:
            label = name if same is None else f"{name} (previous {record.get('type')})"
            plan.differs("provider", label, "delete")
            plan.before["providers"][label] = {"type": record.get("type"), "prefix": record.get("prefix"), "api_key": MASK}


# --------------------------------------------------------------------------------------------- combos
def _reconcile_combos(plan, desired, live, managed, purge, adopt):
    for name, spec in desired["combos"].items():
        body = {"name": name, "models": list(spec["models"]), "strategy": spec["strategy"], "config": spec["config"]}
        plan.after["combos"][name] = {k: body[k] for k in ("models", "strategy", "config")}
        current = live.combos_by_name.get(name)
        if current is None:
            plan.actions.append({"op": "create_combo", "name": name, "combo": body})
            plan.differs("combo", name, "create")
            plan.ledger["combos"].append(name)
            continue
        is_managed = name in managed
        if not is_managed and not adopt:
            plan.errors.append(
                f"combo {name!r}: a combo of that name (id {current.get('id')}) exists that this module did not "
                "create; rename or delete it in the dashboard, rename the combo (models: [{id, combo}] or "
                "combos), or set adopt=true to take it over"
            )
            continue
        live_view = _live_combo_view(current)
        plan.before["combos"][name] = live_view
        fields = [k for k in ("models", "strategy", "config") if live_view[k] != plan.after["combos"][name][k]]
        if fields:
            plan.actions.append({"op": "update_combo", "name": name, "id": current["id"], "combo": body})
        if fields or not is_managed:
            details = _combo_details(live_view, plan.after["combos"][name], fields)
            plan.differs("combo", name, "update" if is_managed else "adopt", fields, details)
        plan.ledger["combos"].append(name)
    for name in sorted(managed - set(desired["combos"])):
        current = live.combos_by_name.get(name)
        if not purge:
            plan.ledger["combos"].append(name)
            continue
        if current is not None:
            plan.actions.append({"op": "delete_combo", "name": name, "id": current["id"]})
            plan.differs("combo", name, "delete")
            plan.before["combos"][name] = _live_combo_view(current)


def _live_combo_view(combo):
    return {
        "models": combo_model_strings(combo),
        "strategy": combo.get("strategy") or "priority",
        "config": combo.get("config") or {},
    }


def describe_legs(live_legs, declared_legs):
    """How a combo's legs differ, in words: ``legs reordered`` when only the order differs (the failover
    priority changed), else which legs are missing and which are not declared."""
    if sorted(live_legs, key=str) == sorted(declared_legs, key=str):
        return "legs reordered"
    missing = [leg for leg in declared_legs if leg not in live_legs]
    extra = [leg for leg in live_legs if leg not in declared_legs]
    parts = []
    if missing:
        parts.append("missing " + ", ".join(map(str, missing)))
    if extra:
        parts.append("not declared " + ", ".join(map(str, extra)))
    return "legs differ (%s)" % "; ".join(parts) if parts else "legs differ"


def _combo_details(live_view, declared_view, fields):
    details = []
    if "models" in fields:
        details.append(describe_legs(live_view["models"], declared_view["models"]))
    if "strategy" in fields:
        details.append(f"strategy {live_view['strategy']}, declared {declared_view['strategy']}")
    if "config" in fields:
        keys = sorted(set(live_view["config"]) | set(declared_view["config"]))
        changed = [k for k in keys if live_view["config"].get(k) != declared_view["config"].get(k)]
        details.append("config differs (%s)" % ", ".join(changed))
    return details


# ---------------------------------------------------------------------------------------- client keys
def _reconcile_client_keys(plan, desired, live, managed, purge, adopt):
    for declared in desired["client_keys"]:
        name = declared["name"]
        existing = live.keys_by_name.get(name, [])
        is_managed = name in managed
        record = managed.get(name) or {}
        key_fp = fingerprint(plan.ledger["salt"], "client_key", name, declared["key"]) if declared["key"] else None
        if existing and not is_managed and not adopt:
            plan.errors.append(
                f"client key {name!r}: a client key of that name exists that this module did not create; rename "
                "or delete it in the dashboard, choose another name, or set adopt=true to take it over"
            )
            continue
        plan.after["client_keys"][name] = MASK
        if not existing:
            plan.actions.append({"op": "create_key", "name": name, "key": declared["key"], "fingerprint": key_fp})
            plan.differs("client_key", name, "create")
            plan.ledger["clientKeys"][name] = {"keyHash": key_fp}
            continue
        plan.before["client_keys"][name] = MASK
        fields = []
        if len(existing) > 1:
            fields.append("duplicates")
        if key_fp is not None and record.get("keyHash") != key_fp:
            fields.append("key")
        elif declared["key"] and not all(masked_key_matches(k.get("key"), declared["key"]) for k in existing):
            fields.append("key")  # changed behind the module's back (the dashboard shows a masked form)
        if fields:
            # A key's value cannot be read or changed in place: replace the key(s) of that name.
            for key in existing:
                plan.actions.append({"op": "delete_key", "name": name, "id": key["id"]})
            plan.actions.append({"op": "create_key", "name": name, "key": declared["key"], "fingerprint": key_fp})
            plan.after["client_keys"][name] = MASK_CHANGED
        if fields or not is_managed:
            plan.differs("client_key", name, "update" if is_managed else "adopt", fields)
        plan.ledger["clientKeys"][name] = {"keyHash": key_fp if key_fp else record.get("keyHash")}
    declared_keys = {k["name"] for k in desired["client_keys"]}
    for name in sorted(set(managed) - declared_keys):
        if not purge:
            plan.ledger["clientKeys"][name] = managed[name]
            continue
        existing = live.keys_by_name.get(name, [])
        for key in existing:
            plan.actions.append({"op": "delete_key", "name": name, "id": key["id"]})
        if existing:
            plan.differs("client_key", name, "delete")
            plan.before["client_keys"][name] = MASK


# --------------------------------------------------------------------------------------------- tuning
def _reconcile_tuning(plan, desired, live):
    resilience = desired["resilience"] or {}
    if resilience:
        plan.before["resilience"] = deep_project(live.resilience, resilience)
        plan.after["resilience"] = copy.deepcopy(resilience)
        fields = deep_subset_diff(resilience, live.resilience)
        if fields:
            plan.actions.append({"op": "patch_resilience", "name": "resilience", "body": resilience})
            plan.differs("resilience", "resilience", "update", fields)
    combo_defaults = desired["combo_defaults"] or {}
    if combo_defaults:
        current = live.combo_defaults.get("comboDefaults") or {}
        plan.before["combo_defaults"] = deep_project(current, combo_defaults)
        plan.after["combo_defaults"] = copy.deepcopy(combo_defaults)
        fields = deep_subset_diff(combo_defaults, current)
        if fields:
            # PATCH /api/settings/combo-defaults replaces comboDefaults whole: send the merged object.
            body = {
                "comboDefaults": deep_merge(current, combo_defaults),
                "providerOverrides": live.combo_defaults.get("providerOverrides") or {},
            }
            plan.actions.append({"op": "patch_combo_defaults", "name": "combo_defaults", "body": body})
            plan.differs("combo_defaults", "combo_defaults", "update", fields)


def _drift(entity, name, action, fields=None, details=None):
    item = {"entity": entity, "name": name, "action": action, "fields": list(fields or [])}
    if details:
        item["details"] = list(details)
    return item


def _connection_fields(conn, body, record, key_fp, is_managed):
    fields = []
    if conn.get("name") != body["name"]:
        fields.append("name")
    if conn.get("priority") != body["priority"]:
        fields.append("priority")
    if conn.get("isActive") is False:
        fields.append("is_active")
    if not is_managed or not record or record.get("keyHash") != key_fp:
        fields.append("api_key")
    return fields


def _provider_view(provider):
    view = {"type": provider["type"], "prefix": provider["prefix"], "api_key": MASK, "priority": provider["priority"]}
    if provider["type"] == "openai-compatible":
        view.update(
            {"base_url": provider["base_url"], "api_type": provider["api_type"], "display_name": provider["display_name"]}
        )
    else:
        view["provider_id"] = provider["provider_id"]
    return view


def _live_provider_view(provider, node, conn):
    view = {"type": provider["type"], "prefix": provider["prefix"], "api_key": MASK if conn else None}
    view["priority"] = conn.get("priority") if conn else None
    if node is not None:
        view.update(
            {
                "base_url": strip_url(node.get("baseUrl")),
                "api_type": node.get("apiType") or "chat",
                "display_name": node.get("name"),
            }
        )
    else:
        view["provider_id"] = conn.get("provider") if conn else provider.get("provider_id")
    return view


# ------------------------------------------------------------------------------------------------ apply
#: Order of operations: the ledger first, builtin connections (the server validates their provider ids, so a
#: wrong id fails before anything else changed), nodes and their connections, combos, keys, tuning, then
#: deletions, then the final ledger.
_ORDER = (
    "create_builtin",
    "create_node",
    "update_node",
    "create_connection",
    "update_connection",
    "create_combo",
    "update_combo",
    "delete_key",
    "create_key",
    "patch_resilience",
    "patch_combo_defaults",
    "delete_combo",
    "delete_connection",
    "delete_node",
)


def ordered_actions(actions):
    rank = {op: index for index, op in enumerate(_ORDER)}
    # delete_key before create_key of the same name (key replacement); stable otherwise.
    return sorted(actions, key=lambda a: rank[a["op"]])


def apply_changes(client, changes):
    """Carry out ``changes["actions"]``; returns ``{name: value}`` of client keys the server generated."""
    generated = {}
    if changes.get("ledger_pre") is not None:
        client.import_json({"settings": {LEDGER_KEY: changes["ledger_pre"]}})
    # POST /api/keys always generates the value: declared values go in through the bulk import, all in one
    # request (1,000 developer keys are one transaction, not 1,000 round trips).
    declared_keys = [
        {"id": "omniroute-opencode-" + secrets.token_hex(8), "name": a["name"], "key": a["key"]}
        for a in changes["actions"]
        if a["op"] == "create_key" and a["key"]
    ]
    for action in ordered_actions(changes["actions"]):
        op = action["op"]
        if op == "create_builtin":
            client.create_connection(action["connection"])
        elif op == "create_node":
            node = client.create_provider_node(action["node"])
            body = dict(action["connection"], provider=node["id"])
            client.create_connection(body)
        elif op == "update_node":
            client.update_provider_node(action["id"], action["node"])
        elif op == "create_connection":
            client.create_connection(dict(action["connection"], provider=action["node_id"]))
        elif op == "update_connection":
            client.update_connection(action["id"], action["connection"])
        elif op == "create_combo":
            client.create_combo(action["combo"])
        elif op == "update_combo":
            client.update_combo(action["id"], action["combo"])
        elif op == "delete_key":
            client.delete_key(action["id"])
        elif op == "create_key":
            if action["key"]:
                if declared_keys:  # the first one imports them all (deletions of replaced keys came before)
                    client.import_json({"apiKeys": declared_keys})
                    declared_keys = []
            else:
                created = client.create_key(action["name"]) or {}
                value = created.get("key")
                generated[action["name"]] = value
                if value:
                    # Remember the generated value's fingerprint: declaring that same value later is no change.
                    ledger = changes["ledger"]
                    ledger["clientKeys"][action["name"]] = {
                        "keyHash": fingerprint(ledger["salt"], "client_key", action["name"], value)
                    }
        elif op == "patch_resilience":
            client.patch_resilience(action["body"])
        elif op == "patch_combo_defaults":
            client.patch_combo_defaults(action["body"])
        elif op == "delete_combo":
            client.delete_combo(action["id"])
        elif op == "delete_connection":
            client.delete_connection(action["id"])
        elif op == "delete_node":
            client.delete_provider_node(action["id"])
        else:  # pragma: no cover
            raise ValueError(f"unknown action {op}")
    if changes.get("ledger_changed"):
        client.import_json({"settings": {LEDGER_KEY: changes["ledger"]}})
    return generated
