# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter that turns the proxy role's check results into one drift entry per proxy entity.

Documentation for ansible-doc lives next to this file in proxy_report_entities.yml.

Every entity comes from one small function (container, API, configuration entities from
omniroute.opencode.omniroute_config's ``drift``, certificate); an entity is a dict with ``entity``, ``name``,
``status`` (``in_sync``, ``drift``, ``unreachable``, ``failed``), ``drift`` (codes), ``details`` (words) and
``msg``. A new kind of entity is one more function whose result is appended in ``proxy_report_entities``.
"""

from __future__ import annotations

from collections.abc import Mapping

# The omniroute_config drift entities and the report's names for them.
_CONFIG_ENTITIES = {"provider": "provider", "combo": "combo", "client_key": "client_key",
                    "resilience": "tuning", "combo_defaults": "tuning"}

_ACTION_WORDS = {
    "create": ("missing", "declared but missing on the proxy"),
    "delete": ("undeclared", "no longer declared but still on the proxy"),
    "adopt": ("unmanaged", "exists but is not managed by omniroute.opencode"),
}
_CLIENT_KEY_WORDS = {
    "create": ("missing", "declared but missing on the proxy (revoked by hand?)"),
    "delete": ("revoked_present", "revoked in the declaration but still accepted by the proxy"),
}
_FIELD_WORDS = {
    "api_key": "API key differs or cannot be confirmed",
    "base_url": "base URL differs",
    "api_type": "API type differs",
    "display_name": "display name differs",
    "priority": "connection priority differs",
    "is_active": "connection disabled",
    "connection": "API-key connection missing",
    "key": "key value differs",
    "duplicates": "several keys share the name",
}


def entity(kind, name, drift=None, details=None, status=None, msg="", **extra):
    """One report entity; ``status`` defaults to ``drift`` when there are codes, else ``in_sync``."""
    item = {"entity": kind, "name": str(name), "status": status or ("drift" if drift else "in_sync"),
            "drift": list(drift or []), "details": list(details or []), "msg": msg}
    item.update(extra)
    return item


def _normalize_image(ref):
    """An image reference without the default registry/namespace, so that ``docker.io/library/x:1`` == ``x:1``."""
    ref = (ref or "").strip()
    for prefix in ("docker.io/", "index.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
    if ref.startswith("library/"):
        ref = ref[len("library/"):]
    return ref


def _split_tag(ref):
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, ""
    return name, tag


def container_entities(container):
    """The container: exists, runs, runs the declared image and version, and would not be changed by a real run."""
    if not isinstance(container, Mapping) or not container.get("name"):
        return []
    name = container["name"]
    if not container.get("exists"):
        return [entity("container", name, ["missing"], ["the container does not exist"])]
    codes, words = [], []
    if not container.get("running"):
        codes.append("stopped")
        words.append("the container exists but does not run")
    declared = _normalize_image(container.get("declared_image"))
    running = _normalize_image(container.get("running_image"))
    if declared and running and declared != running:
        (d_name, d_tag), (r_name, r_tag) = _split_tag(declared), _split_tag(running)
        if d_name == r_name:
            codes.append("version")
            words.append("runs version %s, declared %s" % (r_tag or "(untagged)", d_tag or "(untagged)"))
        else:
            codes.append("image")
            words.append("runs image %s, declared %s" % (running, declared))
    if container.get("env_file_changed"):
        codes.append("secrets_file")
        words.append("the secrets file differs from the declared secrets")
    if container.get("changed") and not codes:
        codes.append("settings")
        words.append("a real run would recreate or change it (environment, ports, volume or labels differ)")
    return [entity("container", name, codes, words)]


def api_entity(api):
    """The management API, when it could not be reached: the proxy's declared state was not compared."""
    if not isinstance(api, Mapping) or not api.get("unreachable"):
        return []
    url = api.get("url") or "OmniRoute API"
    msg = str(api.get("msg") or "OmniRoute's API cannot be reached, so the declared state was not compared")
    return [entity("api", url, ["api_unreachable"], [msg], status="unreachable", msg=msg)]


def _drift_words(item):
    kind, action = item.get("entity"), item.get("action")
    if action in ("create", "delete", "adopt"):
        words = (_CLIENT_KEY_WORDS if kind == "client_key" else {}).get(action) or _ACTION_WORDS[action]
        return [words[0]], [words[1]]
    fields = [str(f) for f in item.get("fields") or []]
    details = [str(d) for d in item.get("details") or []]
    if details:
        return fields, details
    if kind in ("resilience", "combo_defaults"):
        return fields, ["%s differs" % f for f in fields]
    return fields, [_FIELD_WORDS.get(f, "%s differs" % f) for f in fields]


def config_entities(config, providers=(), client_keys=()):
    """Providers, combos, client keys and tuning from a registered omniroute.opencode.omniroute_config result:
    one entity per declared name (in sync unless the result's ``drift`` names it) and per undeclared one that
    the result says is still on the proxy."""
    if not isinstance(config, Mapping) or config.get("skipped") or "drift" not in config:
        return []
    declared = [("provider", p) for p in providers or []]
    declared += [("combo", c) for c in sorted(config.get("combos") or {})]
    declared += [("client_key", k) for k in client_keys or []]
    declared += [("tuning", "resilience"), ("tuning", "combo_defaults")]
    found = {}
    for item in config.get("drift") or []:
        if not isinstance(item, Mapping):
            continue
        key = (_CONFIG_ENTITIES.get(item.get("entity"), str(item.get("entity"))), str(item.get("name")))
        codes, words = _drift_words(item)
        found.setdefault(key, ([], []))
        found[key][0].extend(codes)
        found[key][1].extend(words)
    entities = []
    for key in declared + [k for k in found if k not in declared]:
        codes, words = found.get(key, ([], []))
        entities.append(entity(key[0], key[1], codes, words))
    return entities


def certificate_entity(certificate):
    """The TLS certificate in front of the proxy: days to expiry against the renewal threshold.

    ``certificate``: ``{"name" (its path), "days_to_expiry", "renew_days"}``; nothing when it is not known.
    """
    if not isinstance(certificate, Mapping) or certificate.get("days_to_expiry") is None:
        return []
    days = int(certificate["days_to_expiry"])
    threshold = int(certificate.get("renew_days") or 0)
    codes, words = [], []
    if days < 0:
        codes, words = ["expired"], ["expired %d day%s ago" % (-days, "" if days == -1 else "s")]
    elif days <= threshold:
        codes, words = ["expiring"], ["expires in %d days (renewal threshold %d)" % (days, threshold)]
    return [entity("certificate", certificate.get("name") or "certificate", codes, words,
                   days_to_expiry=days, renew_days=threshold)]


def proxy_report_entities(config, container=None, api=None, providers=None, client_keys=None, certificate=None):
    """Every entity of one proxy host, in a stable order: container, API, configuration, certificate."""
    entities = container_entities(container)
    unreachable = api_entity(api)
    entities += unreachable
    if not unreachable:
        entities += config_entities(config, providers or [], client_keys or [])
    entities += certificate_entity(certificate)
    return entities


class FilterModule(object):
    """Proxy drift report filter."""

    def filters(self):
        return {"proxy_report_entities": proxy_report_entities}
