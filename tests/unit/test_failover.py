"""Failover planning (module_utils/_failover.py): combo-name normalization and priority combos."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.omniroute.opencode.plugins.module_utils._failover import (
    COMBO_NAME_RE,
    PlanError,
    combo_legs,
    normalize_model_name,
    plan_combos,
    plan_priority_combos,
)


# ------------------------------------------------------------------------------------------ normalization
@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("Claude-Sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("eu.anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
        ("apac.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("global.anthropic.claude-opus-4-5-20251101-v1:0", "claude-opus-4-5"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("openai/gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("openrouter/anthropic/claude-sonnet-4.5", "claude-sonnet-4.5"),
        ("meta.llama3-1-70b-instruct-v1:0", "llama3-1-70b-instruct"),
        ("us.meta.llama3-2-90b-instruct-v1:0", "llama3-2-90b-instruct"),
        ("gemini-2.5-pro", "gemini-2.5-pro"),
        ("google/gemini-2.5-pro", "gemini-2.5-pro"),
        ("deepseek-v3", "deepseek-v3"),  # a -vN that is part of the name stays
        ("amazon.titan-text-express-v1", "titan-text-express-v1"),
        ("  gpt-4.1  ", "gpt-4.1"),
        ("o3-mini:0", "o3-mini"),
    ],
)
def test_normalize_examples(model, expected):
    assert normalize_model_name(model) == expected


def test_bedrock_and_vendor_forms_meet():
    forms = [
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic/claude-sonnet-4-5",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "claude-sonnet-4-5-20250929",
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ]
    assert {normalize_model_name(f) for f in forms} == {"claude-sonnet-4-5"}


@pytest.mark.parametrize("model", ["", "   ", "us.", "-20250929", "model with spaces", "gpt-4o?", "ünïcode"])
def test_normalize_rejects_what_leaves_no_valid_name(model):
    with pytest.raises(ValueError) as err:
        normalize_model_name(model)
    assert "combo" in str(err.value)


def test_normalize_rejects_non_strings():
    with pytest.raises(ValueError):
        normalize_model_name(None)


model_ids = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFXYZ0123456789-._/:@"), min_size=1, max_size=40
)


@settings(max_examples=400, deadline=None)
@given(model_ids)
def test_normalize_is_idempotent_lowercase_and_valid(model):
    try:
        name = normalize_model_name(model)
    except ValueError:
        return
    assert COMBO_NAME_RE.match(name)
    assert name == name.lower()
    assert "/" not in name
    assert normalize_model_name(name) == name


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"\A[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,6}){0,3}\Z"),
    st.sampled_from(["", "us.", "eu.", "apac.", "global."]),
    st.sampled_from(["", "anthropic.", "anthropic/", "openai/", "openrouter/anthropic/"]),
    st.sampled_from(["", "-20250929", "-2024-08-06", "@20250929", "-v1:0", "-20250929-v1:0", ":0"]),
)
def test_decorations_are_stripped(base, region, vendor, suffix):
    # A plain base name (that does not itself end in a date or version) survives any decoration.
    if re.search(r"-\d{8}$|-\d{4}-\d{2}-\d{2}$", base):
        return
    prefix = region + vendor if not vendor.endswith("/") else vendor + region
    assert normalize_model_name(prefix + base + suffix) == normalize_model_name(base) == base


# ------------------------------------------------------------------------------------------------ planning
PROVIDERS = [
    {"name": "bedrock", "models": ["us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-opus-4-5-v1:0"]},
    {"name": "openrouter", "models": ["anthropic/claude-sonnet-4-5", "openai/gpt-4o-mini"]},
    {"name": "direct", "models": ["claude-sonnet-4-5", "gpt-4o-mini", "claude-opus-4-5"]},
]


def test_one_priority_combo_per_shared_model_in_priority_order():
    plan = plan_priority_combos(PROVIDERS, ["openrouter", "direct", "bedrock"])
    assert combo_legs(plan) == {
        "claude-opus-4-5": ["direct/claude-opus-4-5", "bedrock/us.anthropic.claude-opus-4-5-v1:0"],
        "claude-sonnet-4-5": [
            "openrouter/anthropic/claude-sonnet-4-5",
            "direct/claude-sonnet-4-5",
            "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ],
        "gpt-4o-mini": ["openrouter/openai/gpt-4o-mini", "direct/gpt-4o-mini"],
    }
    assert all(spec["strategy"] == "priority" and spec["source"] == "priority" for spec in plan.values())


def test_reordering_the_priority_reorders_the_legs():
    first = combo_legs(plan_priority_combos(PROVIDERS, ["bedrock", "openrouter", "direct"]))
    second = combo_legs(plan_priority_combos(PROVIDERS, ["direct", "openrouter", "bedrock"]))
    assert first["claude-sonnet-4-5"] == list(reversed(second["claude-sonnet-4-5"]))


def test_unlisted_providers_follow_in_declaration_order():
    legs = combo_legs(plan_priority_combos(PROVIDERS, ["direct"]))["claude-sonnet-4-5"]
    assert [leg.split("/")[0] for leg in legs] == ["direct", "bedrock", "openrouter"]


def test_single_provider_models_need_min_providers_1():
    assert "solo" not in plan_priority_combos([{"name": "a", "models": ["solo"]}, {"name": "b", "models": ["x"]}])
    plan = plan_priority_combos([{"name": "a", "models": ["solo"]}], min_providers=1)
    assert combo_legs(plan) == {"solo": ["a/solo"]}


def test_explicit_combo_name_override_and_prefix():
    providers = [
        {"name": "a", "prefix": "pa", "models": [{"id": "claude-x-fast", "combo": "claude-x"}]},
        {"name": "b", "models": ["claude-x"]},
    ]
    assert combo_legs(plan_priority_combos(providers, ["a", "b"])) == {"claude-x": ["pa/claude-x-fast", "b/claude-x"]}


def test_config_and_strategy_are_carried():
    plan = plan_combos(PROVIDERS, [], [], 2, "priority", {"maxRetries": 0})
    assert all(spec["config"] == {"maxRetries": 0} for spec in plan.values())


def test_explicit_combos_resolve_legs_and_win_over_generated():
    plan = plan_combos(
        PROVIDERS,
        ["bedrock"],
        [
            {"name": "claude-sonnet-4-5", "models": ["direct/claude-sonnet-4-5"]},
            {"name": "cheap", "models": [{"provider": "openrouter", "model": "openai/gpt-4o-mini"}], "config": {"timeoutMs": 5000}},
        ],
        config={"maxRetries": 0},
    )
    assert plan["claude-sonnet-4-5"]["models"] == ["direct/claude-sonnet-4-5"]
    assert plan["claude-sonnet-4-5"]["source"] == "explicit"
    assert plan["cheap"]["models"] == ["openrouter/openai/gpt-4o-mini"]
    assert plan["cheap"]["config"] == {"maxRetries": 0, "timeoutMs": 5000}


def errors_of(callable_, *args, **kwargs):
    with pytest.raises(PlanError) as err:
        callable_(*args, **kwargs)
    return err.value.errors


def test_all_problems_are_reported_at_once():
    errors = errors_of(
        plan_combos,
        [
            {"name": "a", "models": ["m1", "m1"]},
            {"name": "a", "models": ["m2"]},
            {"name": "bad name", "models": []},
        ],
    )
    assert any("listed twice" in e for e in errors)
    assert any("duplicate provider name" in e for e in errors)
    assert any("'bad name'" in e and "invalid" in e for e in errors)


@pytest.mark.parametrize(
    ("combos", "fragment"),
    [
        ([{"name": "bad name!", "models": ["direct/gpt-4o-mini"]}], "combo name 'bad name!' is invalid"),
        ([{"name": "x", "models": ["nobody/gpt-4o-mini"]}], "provider 'nobody', which is not declared"),
        ([{"name": "x", "models": ["direct/gpt-5"]}], "does not serve model 'gpt-5'"),
        ([{"name": "x", "models": ["direct"]}], "must be '<provider>/<model>'"),
        ([{"name": "x", "models": []}], "at least one model leg"),
        ([{"name": "x", "models": ["direct/gpt-4o-mini"]}, {"name": "x", "models": ["direct/gpt-4o-mini"]}], "declared twice"),
        ([{"name": "x", "models": ["direct/gpt-4o-mini", "direct/gpt-4o-mini"]}], "a leg is listed twice"),
        ([{"name": "x", "models": ["direct/gpt-4o-mini"], "strategy": "fastest"}], "strategy 'fastest' is unknown"),
        ([{"name": "x" * 101, "models": ["direct/gpt-4o-mini"]}], "longer than 100"),
    ],
)
def test_explicit_combo_errors(combos, fragment):
    errors = errors_of(plan_combos, PROVIDERS, [], combos)
    assert any(fragment in e for e in errors), errors


def test_priority_errors():
    errors = errors_of(plan_priority_combos, PROVIDERS, ["direct", "nobody", "direct"])
    assert any("'nobody', which is not a declared provider" in e for e in errors)
    assert any("lists 'direct' twice" in e for e in errors)


def test_prefix_collision_is_an_error():
    errors = errors_of(plan_priority_combos, [{"name": "a", "models": []}, {"name": "b", "prefix": "a", "models": []}])
    assert any("prefix 'a' is already used" in e for e in errors)


def test_unnormalizable_model_names_the_provider():
    errors = errors_of(plan_priority_combos, [{"name": "a", "models": ["what is this"]}])
    assert errors[0].startswith("provider 'a':") and "explicit combo name" in errors[0]


provider_lists = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.from_regex(r"\A[a-z]{1,6}\Z"),
            "models": st.lists(st.sampled_from(
                ["claude-sonnet-4-5", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic/claude-sonnet-4-5",
                 "gpt-4o-mini", "openai/gpt-4o-mini", "gemini-2.5-pro", "gpt-4o-2024-08-06"]),
                unique=True, max_size=4),
        }
    ),
    max_size=5,
    unique_by=lambda p: p["name"],
)


@settings(max_examples=200, deadline=None)
@given(provider_lists, st.randoms(use_true_random=False))
def test_plan_properties(providers, rnd):
    priority = [p["name"] for p in providers]
    rnd.shuffle(priority)
    plan = plan_priority_combos(providers, priority)
    rank = {name: i for i, name in enumerate(priority)}
    prefixes = {p["name"] for p in providers}
    for name, spec in plan.items():
        assert COMBO_NAME_RE.match(name)
        owners = [leg.split("/", 1)[0] for leg in spec["models"]]
        assert set(owners) <= prefixes
        assert len(set(owners)) >= 2  # only models offered by several providers
        assert owners == sorted(owners, key=rank.__getitem__)  # legs follow the priority
        for leg in spec["models"]:
            assert normalize_model_name(leg.split("/", 1)[1]) == name
    # every model offered by >= 2 providers has a combo
    offered = {}
    for p in providers:
        for m in p["models"]:
            offered.setdefault(normalize_model_name(m), set()).add(p["name"])
    assert {n for n, owners in offered.items() if len(owners) >= 2} == set(plan)
