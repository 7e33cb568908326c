# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failover planning for OmniRoute: combo-name normalization and priority combos (pure functions).

The one place that decides which OmniRoute combos a provider list and a provider priority produce. Used by the
``omniroute_config`` module and the ``failover_combos`` filter. Standard library only (runs on targets).

Vocabulary:

- A *provider* is a dict with ``name`` (what ``provider_priority`` and explicit combo legs refer to), ``prefix``
  (what OmniRoute puts before the model in a combo leg: ``<prefix>/<model>``; defaults to ``name``) and
  ``models`` (model ids, or dicts ``{id, combo}`` where ``combo`` overrides the normalized combo name).
- A *leg* is one ``"<prefix>/<model>"`` string of a combo, in failover order.
- A *plan* is an ordered dict ``combo name -> {"models": [legs], "strategy": str, "config": dict,
  "source": "priority" | "explicit"}``.
"""

from __future__ import annotations

import re

#: What OmniRoute 3.7.9 accepts as a combo name (its own zod schema).
COMBO_NAME_RE = re.compile(r"^[a-zA-Z0-9_/.-]+$")
COMBO_NAME_MAX = 100
#: Provider names double as OmniRoute model prefixes (``<prefix>/<model>``): no slash, no spaces.
PROVIDER_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]+$")
#: Combo strategies OmniRoute 3.7.9 knows.
STRATEGIES = (
    "priority",
    "weighted",
    "round-robin",
    "random",
    "least-used",
    "cost-optimized",
    "fill-first",
    "p2c",
    "strict-random",
    "auto",
    "lkgp",
    "context-optimized",
    "context-relay",
)

#: Leading ``<region>.`` tokens of cross-region inference profiles (Bedrock ``us.anthropic...``).
REGION_PREFIXES = frozenset(("us", "eu", "apac", "ap", "global", "us-gov", "jp", "au", "ca", "sa", "me"))
#: Leading ``<vendor>.`` tokens (Bedrock-style ids).
VENDOR_PREFIXES = frozenset(
    (
        "anthropic",
        "openai",
        "google",
        "meta",
        "mistral",
        "cohere",
        "amazon",
        "ai21",
        "deepseek",
        "qwen",
        "xai",
        "x-ai",
        "moonshot",
        "moonshotai",
        "writer",
        "nvidia",
        "minimax",
        "twelvelabs",
        "stability",
    )
)
_LEADING_TOKEN_RE = re.compile(r"^([a-z0-9_-]+)\.")
_SUFFIX_RES = (
    re.compile(r"-v\d+:\d+$"),  # Bedrock version: -v1:0, -v2:0
    re.compile(r":\d+$"),  # bare version: :0
    re.compile(r"@(\d{8}|latest|default)$"),  # Vertex snapshots: claude-sonnet-4-5@20250929
    re.compile(r"-\d{8}$"),  # date: -20250929
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # date: -2024-08-06
)


class PlanError(ValueError):
    """Invalid input for the planner; ``errors`` lists every problem found (not only the first)."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


def normalize_model_name(model):
    """The combo name for a model id: lower case, without region/vendor prefixes and date/version suffixes.

    ``us.anthropic.claude-sonnet-4-5-20250929-v1:0``, ``anthropic/claude-sonnet-4-5`` and
    ``Claude-Sonnet-4-5@20250929`` all give ``claude-sonnet-4-5``. Vendor path prefixes
    (``openrouter/anthropic/...``) are dropped up to the last ``/``. Raises ValueError when nothing valid is left
    (the message says what to do: give the model an explicit ``combo`` name).
    """
    if not isinstance(model, str):
        raise ValueError(f"model id must be a string, not {type(model).__name__}: {model!r}")
    name = model.strip().lower()
    previous = None
    while name != previous:
        previous = name
        if "/" in name:
            name = name.rsplit("/", 1)[1]
        match = _LEADING_TOKEN_RE.match(name)
        while match and (match.group(1) in REGION_PREFIXES or match.group(1) in VENDOR_PREFIXES):
            name = name[match.end():]
            match = _LEADING_TOKEN_RE.match(name)
        for suffix in _SUFFIX_RES:
            name = suffix.sub("", name)
        name = name.strip()
    problem = combo_name_problem(name)
    if problem:
        raise ValueError(
            f"model {model!r} normalizes to {name!r}, which is not a valid combo name ({problem}); "
            "give it an explicit combo name (models: [{id: ..., combo: ...}])"
        )
    return name


def combo_name_problem(name):
    """Why ``name`` is not a valid OmniRoute combo name, or None when it is."""
    if not isinstance(name, str) or not name:
        return "empty"
    if len(name) > COMBO_NAME_MAX:
        return f"longer than {COMBO_NAME_MAX} characters"
    if not COMBO_NAME_RE.match(name):
        return "only letters, digits, '_', '/', '.' and '-' are allowed"
    return None


def normalize_providers(providers):
    """Canonical provider dicts ``{name, prefix, models: [{id, combo}]}``; raises PlanError listing all problems."""
    result, errors = _normalize_providers(providers)
    if errors:
        raise PlanError(errors)
    return result


def _normalize_providers(providers):
    """``(valid providers, errors)``: the providers that are valid, and what is wrong with the others."""
    errors = []
    result = []
    seen_names = {}
    seen_prefixes = {}
    for index, raw in enumerate(providers or []):
        where = f"providers[{index}]"
        if not isinstance(raw, dict):
            errors.append(f"{where}: must be a mapping with name and models, not {raw!r}")
            continue
        name = raw.get("name")
        if not isinstance(name, str) or not PROVIDER_NAME_RE.match(name):
            errors.append(
                f"{where}: name {name!r} is invalid (letters, digits, '_', '.' and '-'; it is also the model "
                "prefix in combo legs)"
            )
            continue
        where = f"provider {name!r}"
        if name in seen_names:
            errors.append(f"{where}: duplicate provider name (also providers[{seen_names[name]}]); names must be unique")
            continue
        seen_names[name] = index
        prefix = raw.get("prefix") or name
        if not isinstance(prefix, str) or not PROVIDER_NAME_RE.match(prefix):
            errors.append(f"{where}: prefix {prefix!r} is invalid (letters, digits, '_', '.' and '-')")
            continue
        if prefix in seen_prefixes:
            errors.append(
                f"{where}: prefix {prefix!r} is already used by provider {seen_prefixes[prefix]!r}; "
                "combo legs could not tell them apart"
            )
            continue
        seen_prefixes[prefix] = name
        models = []
        seen_models = set()
        for mindex, model in enumerate(raw.get("models") or []):
            if isinstance(model, str):
                entry = {"id": model, "combo": None}
            elif isinstance(model, dict) and isinstance(model.get("id"), str):
                entry = {"id": model["id"], "combo": model.get("combo")}
            else:
                errors.append(f"{where}: models[{mindex}] must be a model id or a mapping with id, not {model!r}")
                continue
            if not entry["id"].strip():
                errors.append(f"{where}: models[{mindex}] is an empty model id")
                continue
            if entry["id"] in seen_models:
                errors.append(f"{where}: model {entry['id']!r} is listed twice")
                continue
            seen_models.add(entry["id"])
            if entry["combo"] is not None:
                problem = combo_name_problem(entry["combo"])
                if problem:
                    errors.append(f"{where}: model {entry['id']!r}: combo name {entry['combo']!r} is invalid ({problem})")
                    continue
            models.append(entry)
        result.append({"name": name, "prefix": prefix, "models": models})
    return result, errors


def order_providers(providers, provider_priority):
    """Provider names in failover order: ``provider_priority`` first, then the others in declaration order."""
    names = [p["name"] for p in providers]
    errors = []
    seen = set()
    for name in provider_priority or []:
        if name not in names:
            errors.append(
                f"provider_priority names {name!r}, which is not a declared provider (declared: {', '.join(names) or 'none'})"
            )
        elif name in seen:
            errors.append(f"provider_priority lists {name!r} twice")
        seen.add(name)
    if errors:
        raise PlanError(errors)
    ordered = [n for n in provider_priority or [] if n in names]
    return ordered + [n for n in names if n not in ordered]


def plan_priority_combos(providers, provider_priority=None, min_providers=2, strategy="priority", config=None):
    """One combo per normalized model name offered by at least ``min_providers`` providers.

    Legs follow ``provider_priority`` (providers it does not name come after, in declaration order); within one
    provider, models keep their declaration order. Returns an ordered dict of combo name -> spec (see the module
    docstring). ``providers`` may be raw (it is normalized and validated first).
    """
    providers = normalize_providers(providers)
    order = order_providers(providers, provider_priority)
    by_name = {p["name"]: p for p in providers}
    groups = {}
    errors = []
    for provider_name in order:
        provider = by_name[provider_name]
        for model in provider["models"]:
            try:
                combo = model["combo"] or normalize_model_name(model["id"])
            except ValueError as exc:
                errors.append(f"provider {provider_name!r}: {exc}")
                continue
            groups.setdefault(combo, []).append((provider_name, f"{provider['prefix']}/{model['id']}"))
    if errors:
        raise PlanError(errors)
    plan = {}
    for combo in sorted(groups):
        legs = groups[combo]
        if len({provider for provider, _leg in legs}) < max(1, int(min_providers)):
            continue
        plan[combo] = {
            "models": [leg for _provider, leg in legs],
            "strategy": strategy,
            "config": dict(config or {}),
            "source": "priority",
        }
    return plan


def resolve_leg(leg, providers):
    """Turn an explicit combo leg ``"<provider name>/<model>"`` (or a mapping ``{provider, model}``) into
    ``"<prefix>/<model>"``; raises ValueError saying what is unknown."""
    if isinstance(leg, dict):
        provider_name, model = leg.get("provider"), leg.get("model")
    elif isinstance(leg, str) and "/" in leg:
        provider_name, model = leg.split("/", 1)
    else:
        raise ValueError(f"leg {leg!r} must be '<provider>/<model>' or a mapping with provider and model")
    by_name = {p["name"]: p for p in providers}
    provider = by_name.get(provider_name)
    if provider is None:
        raise ValueError(
            f"leg {leg!r} names provider {provider_name!r}, which is not declared (declared: "
            f"{', '.join(sorted(by_name)) or 'none'})"
        )
    model_ids = [m["id"] for m in provider["models"]]
    if model not in model_ids:
        raise ValueError(
            f"leg {leg!r}: provider {provider_name!r} does not serve model {model!r} (its models: "
            f"{', '.join(model_ids) or 'none'}); add it to the provider's models"
        )
    return f"{provider['prefix']}/{model}"


def plan_combos(
    providers,
    provider_priority=None,
    combos=None,
    min_providers=2,
    strategy="priority",
    config=None,
):
    """The whole combo plan: priority combos from the providers, then explicit ``combos`` (which win on a name
    clash with a generated combo). Validates everything and raises PlanError listing every problem."""
    # Go on with the valid providers after a problem, so that one run reports every problem.
    canonical, errors = _normalize_providers(providers)
    plan = {}
    try:
        order_providers(canonical, provider_priority)
        plan = plan_priority_combos(canonical, provider_priority, min_providers, strategy, config)
    except PlanError as exc:
        errors.extend(exc.errors)
    seen = {}
    for index, raw in enumerate(combos or []):
        if not isinstance(raw, dict):
            errors.append(f"combos[{index}]: must be a mapping with name and models, not {raw!r}")
            continue
        name = raw.get("name")
        problem = combo_name_problem(name)
        if problem:
            errors.append(f"combos[{index}]: combo name {name!r} is invalid ({problem})")
            continue
        if name in seen:
            errors.append(f"combo {name!r}: declared twice (combos[{seen[name]}] and combos[{index}])")
            continue
        seen[name] = index
        legs = []
        raw_legs = raw.get("models") or []
        if not raw_legs:
            errors.append(f"combo {name!r}: needs at least one model leg")
        for leg in raw_legs:
            try:
                legs.append(resolve_leg(leg, canonical))
            except ValueError as exc:
                errors.append(f"combo {name!r}: {exc}")
        if len(set(legs)) != len(legs):
            errors.append(f"combo {name!r}: a leg is listed twice")
        combo_strategy = raw.get("strategy") or strategy
        if combo_strategy not in STRATEGIES:
            errors.append(f"combo {name!r}: strategy {combo_strategy!r} is unknown (one of {', '.join(STRATEGIES)})")
        combo_config = dict(config or {})
        combo_config.update(raw.get("config") or {})
        plan[name] = {"models": legs, "strategy": combo_strategy, "config": combo_config, "source": "explicit"}
    if strategy not in STRATEGIES:
        errors.append(f"combo strategy {strategy!r} is unknown (one of {', '.join(STRATEGIES)})")
    if errors:
        raise PlanError(errors)
    return plan


def combo_legs(plan):
    """``{combo name: [legs]}`` of a plan (what the module returns as ``combos``)."""
    return {name: list(spec["models"]) for name, spec in plan.items()}
