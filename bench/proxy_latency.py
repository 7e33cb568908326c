#!/usr/bin/env python3
"""Latency through a real OmniRoute deployed by the proxy role (podman, image built from npm), in one run.

Measures, against baselines taken in the same run:
  - request overhead (non-streaming chat completion, p50/p95): calling the healthy upstream directly, through
    OmniRoute configured with the role's defaults, and through OmniRoute with OmniRoute's own defaults
    (request queue on, combo maxRetries 1 / retryDelayMs 2000);
  - the added latency of one failover: a 2-leg priority combo whose first leg answers 500 (or 429) and whose
    second leg is healthy, each sample on a fresh failing leg (its own provider connection, so no cooldown from
    an earlier sample hides the failover), plus the next request while that leg cools down.

Bounded: N overhead requests per variant (default 30) and K failover samples per kind (default 4).
Prints a table with ratios and writes bench/results/proxy_latency-<timestamp>.json.

Run: source scripts/bootstrap.sh && python bench/proxy_latency.py [--requests 30] [--failovers 4]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _results import write_results  # noqa: E402
from tests.support import omniroute as omr  # noqa: E402
from tests.support import upstreams as ups  # noqa: E402

MODEL = "gpt-4o-mini"

PLAY = """\
- name: Deploy and configure OmniRoute with the proxy role (benchmark)
  hosts: localhost
  gather_facts: false
  roles:
    - role: omniroute.opencode.proxy
"""

# OmniRoute 3.7.9's own values for what the role tunes (GET /api/resilience, GET /api/settings/combo-defaults).
OMNIROUTE_DEFAULTS = {
    "omniroute_proxy_request_queue_auto_enable": True,
    "omniroute_proxy_combo_max_retries": 1,
    "omniroute_proxy_combo_retry_delay_ms": 2000,
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50_ms": round(pct(values, 50) * 1000, 1),
        "p95_ms": round(pct(values, 95) * 1000, 1),
        "mean_ms": round(statistics.fmean(values) * 1000, 1) if values else None,
        "max_ms": round(max(values) * 1000, 1) if values else None,
    }


def timed_chat(session: requests.Session, url: str, model: str, key: str | None) -> tuple[float, str]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": model, "messages": [{"role": "user", "content": "say hi"}], "stream": False}
    started = time.perf_counter()
    resp = session.post(f"{url}/chat/completions", json=body, headers=headers, timeout=120)
    elapsed = time.perf_counter() - started
    if resp.status_code != 200:
        raise RuntimeError(f"{model} via {url}: HTTP {resp.status_code} {resp.text[:300]}")
    return elapsed, resp.json()["choices"][0]["message"]["content"]


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="omniroute-bench."))
        self.container = f"{omr.CONTAINER_PREFIX}bench-{secrets.token_hex(3)}"
        self.volume = f"{self.container}-data"
        self.port = omr.free_port()
        self.secrets = {
            "omniroute_proxy_admin_password": "adm-" + secrets.token_hex(8),
            "omniroute_proxy_jwt_secret": secrets.token_hex(32),
            "omniroute_proxy_api_key_secret": secrets.token_hex(32),
            "omniroute_proxy_storage_encryption_key": secrets.token_hex(32),
            "omniroute_proxy_client_key": "sk-bench-" + secrets.token_hex(16),
        }
        self.good = ups.start_upstream("healthy", name="good", models=[MODEL])
        self.bad500 = ups.start_upstream("error500", name="bad500", models=[MODEL])
        self.bad429 = ups.start_upstream("ratelimit429", name="bad429", models=[MODEL])

    def deploy(self, phase: str, tuning: dict) -> None:
        """Run the role: a direct provider for the healthy upstream plus K fresh failing legs of each kind."""
        k = self.args.failovers
        providers = [{"name": "good", "base_url": self.good.url, "api_key": "k-good", "models": [MODEL]}]
        combos = [{"name": "single", "models": [f"good/{MODEL}"]}]
        for kind, up in (("e500", self.bad500), ("e429", self.bad429)):
            for i in range(k):
                name = f"{phase}{kind}n{i}"
                providers.append({"name": name, "base_url": up.url, "api_key": f"k-{name}", "models": [MODEL]})
                combos.append({"name": f"fo-{name}", "models": [f"{name}/{MODEL}", f"good/{MODEL}"]})
        role_vars = omr.image_build_vars()
        role_vars.update(self.secrets)
        role_vars.update(
            {
                "omniroute_proxy_container_name": self.container,
                "omniroute_proxy_volume": self.volume,
                "omniroute_proxy_config_dir": str(self.tmp / "etc"),
                "omniroute_proxy_network_mode": "host",
                "omniroute_proxy_tls_enabled": False,
                "omniroute_proxy_port": self.port,
                "omniroute_proxy_allow_private_provider_urls": True,
                "omniroute_proxy_providers": providers,
                "omniroute_proxy_provider_priority": [],
                "omniroute_proxy_explicit_combos": combos,
            }
        )
        role_vars.update(tuning)
        started = time.monotonic()
        result = omr.ansible_playbook(PLAY, extra_vars=role_vars)
        if result.returncode != 0:
            raise RuntimeError(f"role run ({phase}) failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}")
        print(f"  role run ({phase}) took {time.monotonic() - started:.1f} s", file=sys.stderr)

    def overhead(self, url: str, model: str, key: str | None) -> list[float]:
        session = requests.Session()
        for _ in range(3):  # warm-up: connections, JIT, first-request setup
            timed_chat(session, url, model, key)
        samples = []
        for _ in range(self.args.requests):
            elapsed, text = timed_chat(session, url, model, key)
            assert text == "hello from good", text
            samples.append(elapsed)
        return samples

    def failovers(self, phase: str, kind: str) -> tuple[list[float], list[float]]:
        """One request per fresh failing leg (a full failover), then one more while that leg cools down."""
        session = requests.Session()
        url, key = f"http://127.0.0.1:{self.port}/v1", self.secrets["omniroute_proxy_client_key"]
        first, cooling = [], []
        for i in range(self.args.failovers):
            combo = f"fo-{phase}{kind}n{i}"
            elapsed, text = timed_chat(session, url, combo, key)
            assert text == "hello from good", text
            first.append(elapsed)
            elapsed, _ = timed_chat(session, url, combo, key)
            cooling.append(elapsed)
        return first, cooling

    def run(self) -> dict:
        results: dict = {"omniroute": omr.OMNIROUTE_VERSION, "requests": self.args.requests,
                         "failover_samples": self.args.failovers, "cpus": os.cpu_count()}  # fmt: skip
        print(f"image: {omr.ensure_image()}", file=sys.stderr)
        print("baseline: the healthy upstream called directly", file=sys.stderr)
        results["direct"] = summary(self.overhead(self.good.url, MODEL, None))
        url, key = f"http://127.0.0.1:{self.port}/v1", self.secrets["omniroute_proxy_client_key"]
        for phase, label, tuning in (("a", "omniroute_defaults", OMNIROUTE_DEFAULTS), ("b", "role_defaults", {})):
            print(f"deploying with {label}", file=sys.stderr)
            self.deploy(phase, tuning)
            results[label] = {"overhead": summary(self.overhead(url, "single", key))}
            for kind in ("e500", "e429"):
                print(f"  {label}: failover on {kind[1:]}", file=sys.stderr)
                first, cooling = self.failovers(phase, kind)
                results[label][f"failover_{kind[1:]}"] = summary(first)
                results[label][f"cooling_{kind[1:]}"] = summary(cooling)
        return results

    def cleanup(self) -> None:
        omr.podman("rm", "--force", "--time", "10", self.container, check=False)
        omr.podman("volume", "rm", "--force", self.volume, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)
        for up in (self.good, self.bad500, self.bad429):
            up.stop()


def table(results: dict) -> str:
    direct = results["direct"]["p50_ms"]
    rows = [("direct to upstream", results["direct"], None)]
    for label in ("omniroute_defaults", "role_defaults"):
        rows.append((f"proxy, {label.replace('_', ' ')}", results[label]["overhead"], None))
    lines = [f"{'path':<44} {'p50 ms':>9} {'p95 ms':>9} {'x direct p50':>13} {'added p50 ms':>13}"]
    for name, stats, _ in rows:
        lines.append(f"{name:<44} {stats['p50_ms']:>9.1f} {stats['p95_ms']:>9.1f} "
                     f"{stats['p50_ms'] / direct:>13.1f} {stats['p50_ms'] - direct:>13.1f}")  # fmt: skip
    lines.append("")
    lines.append(f"{'one failover (fresh failing first leg)':<44} {'p50 ms':>9} {'p95 ms':>9} {'x no-fail p50':>13} {'added p50 ms':>13}")
    for label in ("omniroute_defaults", "role_defaults"):
        base = results[label]["overhead"]["p50_ms"]
        for key, what in (("failover_500", "500 on first leg"), ("failover_429", "429 on first leg"),
                          ("cooling_500", "next request, 500 leg cooling"), ("cooling_429", "next request, 429 leg cooling")):  # fmt: skip
            stats = results[label][key]
            lines.append(f"{label.replace('_', ' ') + ': ' + what:<44} {stats['p50_ms']:>9.1f} {stats['p95_ms']:>9.1f} "
                         f"{stats['p50_ms'] / base:>13.1f} {stats['p50_ms'] - base:>13.1f}")  # fmt: skip
    role, omni = results["role_defaults"], results["omniroute_defaults"]
    lines.append("")
    lines.append(f"role defaults vs OmniRoute defaults, p50: overhead x{omni['overhead']['p50_ms'] / role['overhead']['p50_ms']:.1f} "
                 f"faster, 500 failover x{omni['failover_500']['p50_ms'] / role['failover_500']['p50_ms']:.1f} faster, "
                 f"429 failover x{omni['failover_429']['p50_ms'] / role['failover_429']['p50_ms']:.1f} faster")  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=30, help="overhead requests per variant (default 30)")
    parser.add_argument("--failovers", type=int, default=4, help="failover samples per kind and variant (default 4)")
    args = parser.parse_args()
    bench = Bench(args)
    try:
        results = bench.run()
    finally:
        bench.cleanup()
    write_results("proxy_latency", results, timestamped=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
