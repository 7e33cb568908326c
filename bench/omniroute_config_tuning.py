#!/usr/bin/env python3
"""Effect of omniroute_config's tuning defaults on a real OmniRoute 3.7.9 (podman), one setting at a time.

Baselines are measured in the same run:
  - request overhead (non-streaming chat completion p50/p95): the healthy stand-in called directly, then through
    OmniRoute with the request queue of API-key providers on (OmniRoute's default) and off (the module's default,
    resilience.requestQueue.autoEnableApiKeyProviders=false);
  - failover latency of a 2-leg priority combo [failing, healthy] with combo_defaults.maxRetries 1 (OmniRoute's
    default, retryDelayMs 2000) against 0 (the module's default), for a first leg answering 500 and one answering
    429. Every sample uses its own failing provider (no cooldown from an earlier sample hides the failover).

Bounded: N overhead requests per variant (default 30), K failover samples per kind and variant (default 3).
Writes bench/results/omniroute_config_tuning-<timestamp>.json.

Run: source scripts/bootstrap.sh && python bench/omniroute_config_tuning.py [--requests 30] [--failovers 3]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _results import write_results  # noqa: E402
from ansible_collections.omniroute.opencode.plugins.module_utils._omniroute_api import OmniRouteClient  # noqa: E402
from ansible_collections.omniroute.opencode.plugins.module_utils._omniroute_state import (  # noqa: E402
    apply_changes,
    build_desired,
    compute_changes,
    read_state,
)
from tests.support import omniroute as omr  # noqa: E402
from tests.support import upstreams as ups  # noqa: E402

MODEL = "gpt-4o-mini"


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def chat(url, model, key=None):
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    resp = requests.post(
        f"{url}/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": False},
        headers=headers,
        timeout=120,
    )
    elapsed = time.perf_counter() - started
    if resp.status_code != 200:
        raise RuntimeError(f"{model}: HTTP {resp.status_code} {resp.text[:200]}")
    return elapsed


def apply(client, params):
    desired = build_desired(params)
    changes = compute_changes(desired, read_state(client))
    assert not changes["errors"], changes["errors"]
    apply_changes(client, changes)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--failovers", type=int, default=3)
    opts = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="omniroute-tuning."))
    good = ups.start_upstream("healthy", name="good", models=[MODEL])
    bad500 = ups.start_upstream("error500", name="bad500", models=[MODEL])
    bad429 = ups.start_upstream("ratelimit429", name="bad429", models=[MODEL])
    password = "bench-" + secrets.token_hex(6)
    server = omr.start_omniroute(tmp, omr.free_port(), password)
    results = {"requests": opts.requests, "failovers": opts.failovers}
    try:
        client = OmniRouteClient(server.base_url)
        client.login(password)
        providers = [{"name": "good", "base_url": good.url, "api_key": "k-good", "models": [MODEL]}]
        combos = []
        for variant in ("r1", "r0"):
            for kind, up in (("e500", bad500), ("e429", bad429)):
                for i in range(opts.failovers):
                    name = f"{kind}-{variant}-{i}"
                    providers.append({"name": name, "base_url": up.url, "api_key": "k-" + name, "models": [MODEL]})
                    combos.append({"name": f"fo-{name}", "models": [f"{name}/{MODEL}", f"good/{MODEL}"]})
        base = {"providers": providers, "combos": combos, "failover_min_providers": 99, "client_keys": []}

        def overhead(label, url, model):
            chat(url, model)  # warm-up
            samples = [chat(url, model) for _ in range(opts.requests)]
            results[label] = {"p50_ms": pct(samples, 0.5) * 1000, "p95_ms": pct(samples, 0.95) * 1000}

        overhead("direct", good.url, MODEL)
        apply(client, dict(base, resilience={"requestQueue": {"autoEnableApiKeyProviders": True}},
                           combo_defaults={"maxRetries": 1}))  # fmt: skip
        overhead("queue_on", server.v1_url, f"good/{MODEL}")
        apply(client, dict(base, resilience={"requestQueue": {"autoEnableApiKeyProviders": False}},
                           combo_defaults={"maxRetries": 1}))  # fmt: skip
        overhead("queue_off", server.v1_url, f"good/{MODEL}")

        for variant, retries in (("r1", 1), ("r0", 0)):
            apply(client, dict(base, resilience={"requestQueue": {"autoEnableApiKeyProviders": False}},
                               combo_defaults={"maxRetries": retries}))  # fmt: skip
            for kind in ("e500", "e429"):
                samples = [chat(server.v1_url, f"fo-{kind}-{variant}-{i}") for i in range(opts.failovers)]
                results[f"failover_{kind}_maxRetries{retries}"] = {
                    "median_ms": statistics.median(samples) * 1000,
                    "samples_ms": [round(s * 1000) for s in samples],
                }
    finally:
        server.stop()
        for up in (good, bad500, bad429):
            up.stop()

    print(f"{'measurement':40} {'p50/median ms':>14} {'p95 ms':>8} {'ratio':>8}")
    direct = results["direct"]["p50_ms"]
    for label in ("direct", "queue_on", "queue_off"):
        r = results[label]
        print(f"{label:40} {r['p50_ms']:14.1f} {r['p95_ms']:8.1f} {r['p50_ms'] / direct:8.2f}x direct")
    for kind in ("e500", "e429"):
        default = results[f"failover_{kind}_maxRetries1"]["median_ms"]
        for retries in (1, 0):
            r = results[f"failover_{kind}_maxRetries{retries}"]
            print(f"failover {kind} maxRetries={retries:<20} {r['median_ms']:14.1f} {'':>8} "
                  f"{r['median_ms'] / default:8.2f}x default  {r['samples_ms']}")  # fmt: skip
    write_results("omniroute_config_tuning", results, timestamped=True)


if __name__ == "__main__":
    main()
