#!/usr/bin/env python
"""Benchmark omniroute.opencode.opencode_provider at fleet scale and on a 1 MB file.

In one run, on the same simulated fleet (N inventory hosts on the local connection, each with
its own config dir holding a hand-written, commented opencode.json):

  (a) the module vs ansible.builtin.template writing the same entry (the naive way, which
      destroys the developer's comments and other providers), first run and steady state;
  (b) the module's steady state vs ansible.builtin.stat on the same hosts (the floor for one task);
  (c) the merge of a 1 MB config file (the text-edit engine, in process; bench/config_merge.py
      measures it in detail, against json.loads and an earlier commit).

Targets: steady state within 1.3x of stat; first run no slower than template; 1 MB merge under 20 ms.
Prints ratios against the baselines measured in this same run and writes bench/results/provider_fleet.json.

Usage: scripts/bench.sh provider_fleet [--hosts 50] [--forks 10] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from _results import write_results  # noqa: E402
from config_merge import KEY, MODELS, measure_tree  # noqa: E402
HAND_WRITTEN = """// my laptop
{
  "$schema": "https://opencode.ai/config.json",
  "model": "ollama/qwen3", // default model
  "provider": {
    "ollama": {
      "npm": "@ai-sdk/openai-compatible",
      "options": { "baseURL": "http://127.0.0.1:11434/v1" },
      "models": { "qwen3": { "name": "Qwen 3" } }
    }
  }
}
"""
TEMPLATE = """{{ {"$schema": "https://opencode.ai/config.json",
    "provider": {"omniroute": {"npm": "@ai-sdk/openai-compatible", "name": "OmniRoute",
                               "options": {"baseURL": base_url | omniroute.opencode.normalize_base_url, "apiKey": api_key},
                               "models": model_entries}}}
   | to_nice_json(indent=2) }}
"""

TASKS = {
    "module": {"name": "opencode_provider", "omniroute.opencode.opencode_provider": {
        "path": "{{ fleet_dir }}/{{ inventory_hostname }}/opencode.json", "base_url": "{{ base_url }}",
        "api_key": "{{ api_key }}", "models": "{{ models }}"}},
    "template": {"name": "template", "ansible.builtin.template": {
        "src": "{{ template_file }}", "dest": "{{ fleet_dir }}/{{ inventory_hostname }}/opencode.json", "mode": "0600"},
        "no_log": True},
    "stat": {"name": "stat", "ansible.builtin.stat": {"path": "{{ fleet_dir }}/{{ inventory_hostname }}/opencode.json"}},
}


def make_fleet(root: pathlib.Path, hosts: int) -> pathlib.Path:
    inventory = root / "inventory.ini"
    lines = ["[fleet]"] + ["dev%03d" % i for i in range(hosts)]
    lines += ["", "[fleet:vars]", "ansible_connection=local",
              "ansible_python_interpreter=%s" % sys.executable]
    inventory.write_text("\n".join(lines) + "\n")
    return inventory


def reset_configs(fleet_dir: pathlib.Path, hosts: int):
    if fleet_dir.exists():
        shutil.rmtree(fleet_dir)
    for i in range(hosts):
        host_dir = fleet_dir / ("dev%03d" % i)
        host_dir.mkdir(parents=True)
        (host_dir / "opencode.json").write_text(HAND_WRITTEN)
        (host_dir / "opencode.json").chmod(0o600)


def run_play(root, inventory, task_kind, fleet_dir, forks):
    play = [{"name": task_kind, "hosts": "fleet", "gather_facts": False,
             "vars": {"fleet_dir": str(fleet_dir), "base_url": "http://127.0.0.1:20128", "api_key": KEY,
                      "models": MODELS, "model_entries": {m: {"name": m} for m in MODELS},
                      "template_file": str(root / "opencode.json.j2")},
             "tasks": [TASKS[task_kind]]}]
    playbook = root / ("%s.yml" % task_kind)
    playbook.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT), ANSIBLE_FORKS=str(forks),
               ANSIBLE_DISPLAY_OK_HOSTS="false", ANSIBLE_DISPLAY_SKIPPED_HOSTS="false")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    completed = subprocess.run(["ansible-playbook", "-i", str(inventory), str(playbook)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise SystemExit("%s play failed:\n%s" % (task_kind, completed.stdout[-3000:]))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure_fleet(hosts, forks, repeat):
    root = pathlib.Path(tempfile.mkdtemp(prefix="bench-provider-fleet-"))
    try:
        (root / "opencode.json.j2").write_text(TEMPLATE)
        inventory = make_fleet(root, hosts)
        samples = {name: [] for name in ("template_first", "template_steady", "module_first", "module_steady", "stat")}
        for _ in range(repeat):
            for kind in ("template", "module"):
                fleet_dir = root / ("fleet-" + kind)
                reset_configs(fleet_dir, hosts)
                samples[kind + "_first"].append(run_play(root, inventory, kind, fleet_dir, forks))
                samples[kind + "_steady"].append(run_play(root, inventory, kind, fleet_dir, forks))
            samples["stat"].append(run_play(root, inventory, "stat", root / "fleet-module", forks))
        # The module really merged: comments and the other provider survived; template lost them.
        merged = (root / "fleet-module" / "dev000" / "opencode.json").read_text()
        templated = (root / "fleet-template" / "dev000" / "opencode.json").read_text()
        assert "// default model" in merged and '"ollama"' in merged and '"omniroute"' in merged
        assert "// default model" not in templated
        return {name: {"wall_s": min(w for w, _ in runs), "cpu_s": min(c for _, c in runs)}
                for name, runs in samples.items()}
    finally:
        shutil.rmtree(root)


def measure_big_merge(rounds=15):
    figures = measure_tree(REPO_ROOT, rounds)
    return {"bytes": figures["bytes"], "merge_ms": figures["merge_ms"], "steady_ms": figures["in_sync_ms"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    big = measure_big_merge()
    fleet = measure_fleet(args.hosts, args.forks, args.repeat)
    steady_vs_stat = fleet["module_steady"]["wall_s"] / fleet["stat"]["wall_s"]
    first_vs_template = fleet["module_first"]["wall_s"] / fleet["template_first"]["wall_s"]
    report = {"hosts": args.hosts, "forks": args.forks, "repeat": args.repeat, "fleet": fleet, "big_merge": big,
              "ratios": {"module_steady_vs_stat": steady_vs_stat, "module_first_vs_template_first": first_vs_template,
                         "module_steady_vs_template_steady": fleet["module_steady"]["wall_s"] / fleet["template_steady"]["wall_s"]},
              "targets_met": {"steady_within_1.3x_stat": steady_vs_stat <= 1.3,
                              "first_no_slower_than_template": first_vs_template <= 1.0,
                              "1mb_merge_under_20ms": big["merge_ms"] < 20 and big["steady_ms"] < 20}}
    write_results("provider_fleet", report)

    print("fleet of %d local hosts, forks=%d, best of %d" % (args.hosts, args.forks, args.repeat))
    print("%-18s %9s %9s %12s" % ("play", "wall s", "cpu s", "ms/host"))
    for name, figures in fleet.items():
        print("%-18s %9.2f %9.2f %12.1f" % (name, figures["wall_s"], figures["cpu_s"], figures["wall_s"] * 1000 / args.hosts))
    print("module steady / stat            = %.2fx (target <= 1.3x)" % steady_vs_stat)
    print("module first / template first   = %.2fx (target <= 1.0x)" % first_vs_template)
    print("1 MB merge (%d bytes): %.1f ms, in-sync check %.1f ms (target < 20 ms)" % (big["bytes"], big["merge_ms"], big["steady_ms"]))


if __name__ == "__main__":
    main()
