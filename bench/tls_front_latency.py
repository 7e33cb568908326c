#!/usr/bin/env python3
"""Latency through the proxy role's TLS front (nginx) against OmniRoute's plain loopback port, in one run.

The proxy role deploys OmniRoute 3.7.9 (podman, host network, loopback) with its TLS front on 127.0.0.1 (nginx
started by the role, certificate from the role's private CA, verified by the client), one healthy stand-in
upstream behind it. Then, alternating between the two paths request by request (so both see the same load), N
chat completions each: non-streaming (time to the whole answer) and streaming (time to the first SSE event, and
to the end of the stream). Keep-alive sessions on both paths, as OpenCode keeps its connection. Reports p50/p95
and the TLS/plain ratio of each. Writes bench/results/tls_front_latency-<timestamp>.json.

Run: scripts/bench.sh tls_front_latency [--requests 50]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _results import write_results  # noqa: E402  (bench/, the script's own directory)
from tests.support import omniroute as omr  # noqa: E402
from tests.support import upstreams as ups  # noqa: E402

MODEL = "gpt-4o-mini"
PLAY = """\
- name: Deploy OmniRoute with its TLS front
  hosts: localhost
  gather_facts: false
  roles:
    - role: omniroute.opencode.proxy
"""


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def stats(values):
    return {"n": len(values), "p50_ms": round(pct(values, 50) * 1000, 1), "p95_ms": round(pct(values, 95) * 1000, 1)}


def chat(session, url, key, stream, verify=True):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "say hi"}], "stream": stream}
    started = time.perf_counter()
    resp = session.post(f"{url}/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"},
                        timeout=60, stream=stream, verify=verify)
    if resp.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {resp.status_code} {resp.text[:300]}")
    if not stream:
        assert resp.json()["choices"][0]["message"]["content"] == "hello from good"
        return time.perf_counter() - started, None
    first = None
    for line in resp.iter_lines():
        if line.startswith(b"data:") and first is None:
            first = time.perf_counter() - started
    return time.perf_counter() - started, first


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="omniroute-tls-bench."))
    container = f"{omr.CONTAINER_PREFIX}tlsbench-{secrets.token_hex(3)}"
    port, tls_port = omr.free_port(), omr.free_port()
    key = "sk-bench-" + secrets.token_hex(16)
    good = ups.start_upstream("healthy", name="good", models=[MODEL])
    role_vars = omr.image_build_vars()
    role_vars.update({
        "omniroute_proxy_admin_password": "adm-" + secrets.token_hex(8),
        "omniroute_proxy_jwt_secret": secrets.token_hex(32),
        "omniroute_proxy_api_key_secret": secrets.token_hex(32),
        "omniroute_proxy_storage_encryption_key": secrets.token_hex(32),
        "omniroute_proxy_client_key": key,
        "omniroute_proxy_container_name": container,
        "omniroute_proxy_volume": f"{container}-data",
        "omniroute_proxy_config_dir": str(tmp / "etc"),
        "omniroute_proxy_network_mode": "host",
        "omniroute_proxy_port": port,
        "omniroute_proxy_allow_private_provider_urls": True,
        "omniroute_proxy_providers": [{"name": "good", "base_url": good.url, "api_key": "k-good", "models": [MODEL]}],
        "omniroute_proxy_explicit_combos": [],
        "omniroute_proxy_failover_min_providers": 1,
        "omniroute_proxy_tls_address": "127.0.0.1",
        "omniroute_proxy_tls_port": tls_port,
        "omniroute_proxy_tls_service": "direct",
        "omniroute_proxy_tls_runtime_dir": str(tmp / "run"),
    })  # fmt: skip
    pid_file = tmp / "run" / "nginx.pid"
    try:
        result = omr.ansible_playbook(PLAY, extra_vars=role_vars)
        if result.returncode != 0:
            raise SystemExit(result.stdout[-6000:])
        ca = tmp / "etc" / "tls" / f"{container}-ca.crt"
        # verify per request: a REQUESTS_CA_BUNDLE in the environment would override a session-level CA.
        paths = {"plain": (requests.Session(), f"http://127.0.0.1:{port}/v1", True),
                 "tls": (requests.Session(), f"https://127.0.0.1:{tls_port}/v1", str(ca))}
        samples = {f"{p}_{m}": [] for p in paths for m in ("whole", "stream_first", "stream_end")}
        for _ in range(3):  # warm-up: connections, handshakes, first-request setup
            for session, url, verify in paths.values():
                chat(session, url, key, False, verify)
                chat(session, url, key, True, verify)
        for _ in range(args.requests):
            for name, (session, url, verify) in paths.items():
                samples[f"{name}_whole"].append(chat(session, url, key, False, verify)[0])
                end, first = chat(session, url, key, True, verify)
                samples[f"{name}_stream_first"].append(first)
                samples[f"{name}_stream_end"].append(end)
        out = {"requests": args.requests, "cpus": os.cpu_count()}
        for measure in ("whole", "stream_first", "stream_end"):
            p, t = stats(samples[f"plain_{measure}"]), stats(samples[f"tls_{measure}"])
            out[measure] = {"plain": p, "tls": t, "ratio_p50": round(t["p50_ms"] / p["p50_ms"], 2),
                            "ratio_p95": round(t["p95_ms"] / p["p95_ms"], 2)}
    finally:
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGQUIT)  # the front this run started, by its pid
            except ProcessLookupError:
                pass
        omr.podman("rm", "--force", "--time", "10", container, check=False)
        omr.podman("volume", "rm", "--force", f"{container}-data", check=False)
        good.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    write_results("tls_front_latency", out, timestamped=True)


if __name__ == "__main__":
    main()
