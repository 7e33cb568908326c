#!/usr/bin/env python3
"""Benchmark: the drift playbook over a simulated fleet, against a one-task ansible.builtin.stat play.

    source scripts/bootstrap.sh && python bench/drift_fleet.py [--hosts 200] [--users 3] [--forks 10]
        [--drifted 20] [--repeat 3]

The fleet is bench/client_fleet.py's: N local-connection hosts, each with its own homes under a temp dir,
in a private mount namespace where the bench users exist. One host is converged with the client role and its
files are copied to every other host (same content, owner and mode), so the fleet starts in sync; then one
user's file on --drifted hosts gets a wrong base URL.

Measured in the same run, over the same hosts and the same ansible.cfg, in --repeat turns (median reported):
- baseline: a play with one ansible.builtin.stat task per host (the cost of touching each host once);
- the client role in check mode (`--check`, what a converge of the role alone in check mode costs; applied as
  the playbooks apply it: import_role with rolespec_validate: false);
- `ansible-playbook omniroute.opencode.site --check` (what a converge of the fleet in check mode costs);
- `ansible-playbook omniroute.opencode.drift` (reachability, the client role in check mode, the report).
The drift run must find exactly the drifted files (checked here) and exit 2.

Results: bench/results/drift_fleet.json and a table on stdout; ratios are against the stat play.
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

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _results import write_results  # noqa: E402
from client_fleet import (  # noqa: E402  (the simulated fleet of bench/client_fleet.py)
    BASE_URL, ROLE_PLAY, STAT_PLAY, USERS, make_fleet, reexec_in_mount_namespace, setup_namespace,
)


def timed(work: pathlib.Path, args: list[str], hosts: int, forks: int, expect_rc: int = 0) -> dict:
    cfg = work / "ansible.cfg"
    cfg.write_text(f"[defaults]\nforks = {forks}\ngathering = explicit\ninterpreter_python = {sys.executable}\n"
                   "[connection]\npipelining = True\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), ANSIBLE_NOCOLOR="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([shutil.which("ansible-playbook"), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env, cwd=work)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != expect_rc:
        print(proc.stdout[-6000:])
        raise SystemExit(f"ansible-playbook {args[0]}: rc {proc.returncode}, expected {expect_rc}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "wall_per_host_ms": round(1000 * wall / hosts, 1),
            "stdout_tail": proc.stdout[-400:]}


def clone_converged_host(fleet_root: pathlib.Path, hosts: list[str], users: list[str]) -> None:
    """Copy the first host's converged files (and directory modes, owners) to every other host."""
    import pwd
    source = fleet_root / hosts[0]
    for host in hosts[1:]:
        for user in users:
            pw = pwd.getpwnam(user)
            src_cfg = source / user / "config"
            dst_cfg = fleet_root / host / user / "config"
            shutil.copytree(src_cfg, dst_cfg, dirs_exist_ok=True, copy_function=shutil.copy2)
            for path in [dst_cfg, *dst_cfg.rglob("*")]:
                os.chown(path, pw.pw_uid, pw.pw_gid)
                os.chmod(path, (src_cfg / path.relative_to(dst_cfg)).stat().st_mode & 0o7777)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--users", type=int, default=3, choices=range(1, len(USERS) + 1))
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--drifted", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="turns of the runs (median reported)")
    args = parser.parse_args()
    reexec_in_mount_namespace()

    users = USERS[:args.users]
    work = pathlib.Path(tempfile.mkdtemp(prefix="omniroute-drift-bench-"))
    results = {"hosts": args.hosts, "users_per_host": args.users, "forks": args.forks, "cpus": os.cpu_count(),
               "drifted_hosts": args.drifted}
    try:
        setup_namespace(work, users)
        inventory = make_fleet(work, "d", args.hosts, users)
        names = sorted(json.loads(inventory.read_text())["all"]["children"]["opencode_clients"]["hosts"])
        role_pb = work / "role.yml"
        role_pb.write_text(ROLE_PLAY)
        (work / "stat.yml").write_text(STAT_PLAY)
        timed(work, [str(role_pb), "-i", str(inventory), "--limit", names[0]], 1, args.forks)
        clone_converged_host(work / "d", names, users)
        drifted = names[1:1 + args.drifted]
        for host in drifted:
            path = work / "d" / host / users[0] / "config" / "opencode" / "opencode.json"
            path.write_text(path.read_text().replace(BASE_URL + "/v1", "http://stale.bench:1/v1"))

        report_path = work / "drift.json"
        # In turns (median reported), so that a slow spell of the shared machine falls on every kind of run alike.
        turns = {
            "stat": (["stat.yml", "-i", str(inventory)], 0),
            "role_check": ([str(role_pb), "-i", str(inventory), "--check"], 0),
            "site_check": (["omniroute.opencode.site", "-i", str(inventory), "--check"], 0),
            "drift": (["omniroute.opencode.drift", "-i", str(inventory),
                       "-e", f"opencode_drift_report_path={report_path}"], 2),
        }
        samples = {label: [] for label in turns}
        for turn in range(args.repeat):
            for label, (argv, rc) in turns.items():
                samples[label].append(timed(work, argv, args.hosts, args.forks, expect_rc=rc))
            print("turn", turn + 1, {label: runs[-1]["wall_s"] for label, runs in samples.items()}, flush=True)
        runs = {}
        for label, label_runs in samples.items():
            ordered = sorted(label_runs, key=lambda r: r["wall_s"])
            runs[label] = dict(ordered[len(ordered) // 2], wall_s_samples=[r["wall_s"] for r in label_runs])
        report = json.loads(report_path.read_text())
        found = sorted(h for h, r in report["hosts"].items() if r["status"] != "in_sync")
        assert found == sorted(drifted), f"the drift run flagged {found}, injected {drifted}"
        assert report["summary"]["files_not_in_sync"] == len(drifted)
        assert report["summary"]["files"] == args.hosts * args.users
        baseline, baseline_cpu = runs["stat"]["wall_s"], runs["stat"]["cpu_s"]
        for run in runs.values():
            run.pop("stdout_tail")
            run["wall_ratio_vs_stat"] = round(run["wall_s"] / baseline, 2)
            run["cpu_ratio_vs_stat"] = round(run["cpu_s"] / baseline_cpu, 2)
        for check in ("role_check", "site_check"):
            runs["drift"][f"wall_ratio_vs_{check}"] = round(runs["drift"]["wall_s"] / runs[check]["wall_s"], 2)
            runs["drift"][f"cpu_ratio_vs_{check}"] = round(runs["drift"]["cpu_s"] / runs[check]["cpu_s"], 2)
        results["runs"] = runs
        results["report_exact"] = True
    finally:
        subprocess.run(["umount", "/home"], check=False)
        shutil.rmtree(work, ignore_errors=True)

    write_results("drift_fleet", results)


if __name__ == "__main__":
    main()
