#!/usr/bin/env python3
"""Declaring 1,000 developer keys against 1 key: omniroute.opencode.omniroute_config on a real OmniRoute 3.7.9.

In one run, on one OmniRoute (podman, stand-in upstream on 127.0.0.1), each step an ansible-playbook run of the
module (what the site playbook does), wall time measured around ansible-playbook:
  1. converge with 1 key (from an empty OmniRoute)        2. steady run with that 1 key (no change)
  3. converge with N keys (N created, the 1 key purged)   4. steady run with the N keys (no change)
Every key is checked to work (a sample of 20 plus the first and last) after step 3. Ratios: 3/1 and 4/2.
Writes bench/results/developer_keys-<timestamp>.json.

Run: scripts/bench.sh developer_keys [--keys 1000]
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ansible_collections.omniroute.opencode.plugins.module_utils._developer_keys import developer_keys  # noqa: E402
from _results import write_results  # noqa: E402  (bench/, the script's own directory)
from tests.support import omniroute as omr  # noqa: E402
from tests.support import upstreams as ups  # noqa: E402

PLAY = """\
- name: Declare client keys
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Bring OmniRoute to the declared keys
      omniroute.opencode.omniroute_config:
        api_url: "{{ bench_url }}"
        admin_password: "{{ bench_password }}"
        providers: "{{ bench_providers }}"
        client_keys: "{{ bench_keys }}"
      register: bench_result
    - name: Report the change
      ansible.builtin.debug:
        msg: "BENCH changed={{ bench_result.changed }}"
"""


def run(base, password, providers, keys):
    started = time.perf_counter()
    result = omr.ansible_playbook(PLAY, extra_vars={"bench_url": base, "bench_password": password,
                                                    "bench_providers": providers, "bench_keys": keys})
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stdout[-4000:])
    return elapsed, "BENCH changed=True" in result.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=1000)
    args = parser.parse_args()
    secret = secrets.token_hex(32)
    fleet = {f"ws{h:03d}": [f"dev{u}" for u in range(10)] for h in range(args.keys // 10)}
    many = [{"name": k["name"], "key": k["key"]} for k in developer_keys(fleet, secret)][: args.keys]
    password = "adm-" + secrets.token_hex(8)
    up = ups.start_upstream("healthy", name="good", models=["m"])
    providers = [{"name": "good", "base_url": up.url, "api_key": "sk-up-" + secrets.token_hex(8), "models": ["m"]}]
    out = {"keys": len(many)}
    with tempfile.TemporaryDirectory() as tmp, omr.start_omniroute(tmp, omr.free_port(), password,
                                                                   REQUIRE_API_KEY="true") as handle:
        base = handle.base_url
        one_key = [{"name": "single", "key": "sk-single-" + secrets.token_hex(16)}]
        out["converge_1"], changed1 = run(base, password, providers, one_key)
        out["steady_1"], changed2 = run(base, password, providers, one_key)
        out["converge_n"], changed3 = run(base, password, providers, many)
        out["steady_n"], changed4 = run(base, password, providers, many)
        assert (changed1, changed2, changed3, changed4) == (True, False, True, False), (changed1, changed2, changed3,
                                                                                       changed4)
        sample = [many[0], many[-1]] + random.sample(many, min(20, len(many)))
        statuses = {requests.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {k['key']}"},
                                 timeout=10).status_code for k in sample}
        old = requests.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {one_key[0]['key']}"}, timeout=10)
        assert statuses == {200} and old.status_code == 401, (statuses, old.status_code)
    up.stop()
    out["ratio_converge"] = round(out["converge_n"] / out["converge_1"], 2)
    out["ratio_steady"] = round(out["steady_n"] / out["steady_1"], 2)
    for key in ("converge_1", "steady_1", "converge_n", "steady_n"):
        out[key] = round(out[key], 2)
    write_results("developer_keys", out, timestamped=True)


if __name__ == "__main__":
    main()
