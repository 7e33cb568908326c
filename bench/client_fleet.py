#!/usr/bin/env python3
"""Benchmark: the client role over a simulated fleet, against ansible.builtin.template.

    source scripts/bootstrap.sh && python bench/client_fleet.py [--hosts 100] [--users 3]
        [--repeat 3] [--settings-hosts 30] [--ssh-hosts 5] [--skip-template] [--skip-settings] [--skip-ssh]
        [--host-python /usr/bin/python3]

Part 1 (the baselines in the same run): N local-connection hosts, each with its own homes under a
temp dir (the bench runs in a private mount namespace where three bench users exist and /home is
a temp dir; each host's users get their own XDG_CONFIG_HOME below that host's directory). The
ansible-playbook runs: the role on fresh hosts and ansible.builtin.file + ansible.builtin.template
writing the same files with the same content, owner and mode on other fresh hosts (first runs);
template again (steady); then, in --repeat turns (median reported): a one-task ansible.builtin.stat
play (the floor: one module execution per host), the role again (steady state), the role with --check
on the converged fleet, and the role applied with the roles: keyword (steady and --check: ansible-core then
adds its argument-spec validation task, a second task per host). The role is applied as the site and
drift playbooks do: import_role with rolespec_validate: false (its module task validates the role's
variables). Reported per host: wall time and CPU (with a local connection the "controller" CPU
includes the module processes, which run on the same machine). Targets (issue 13): steady state and
check mode at most 1.1x stat, first run at most 0.6x template.

Part 2: ansible.cfg settings on the role's steady state (forks, pipelining, fact gathering) on a
smaller local fleet, and (Part 3) ControlPersist and pipelining over real SSH on a small fleet of
sshd hosts in network namespaces (tests/support/fleet.py).

Results: bench/results/client_fleet.json and a table on stdout. Ratios are against the template
baseline / the default setting measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _results import write_results  # noqa: E402  (bench/, the script's own directory)
MARK = "OMNIROUTE_BENCH_IN_NS"
USERS = ["benchalice", "benchbob", "benchcarol", "benchdan", "bencherin"]
BASE_URL = "http://omniroute.bench:20128"
MODELS = ["combo-default", "combo-fast", "combo-reasoning"]
SECRET = "sk-bench-0000000000"

TEMPLATE = """{
  "$schema": "https://opencode.ai/config.json",
  "provider": {
    "omniroute": {
      "npm": "@ai-sdk/openai-compatible",
      "name": "OmniRoute",
      "options": {
        "baseURL": "{{ opencode_client_base_url | omniroute.opencode.normalize_base_url }}",
        "apiKey": "{{ opencode_client_api_key }}"
      },
      "models": {
{% for m in opencode_client_models %}
        "{{ m }}": {"name": "{{ m }}"}{{ "," if not loop.last else "" }}
{% endfor %}
      }
    }
  }
}
"""

# As the site and drift playbooks apply the role: imported (an include is a task per host), without ansible-core's
# validation task (the role's module task validates the role's variables itself).
ROLE_PLAY = """---
- name: Client role
  hosts: opencode_clients
  gather_facts: "{{ bench_gather | default(false) }}"
  tasks:
    - name: Apply the client role
      ansible.builtin.import_role:
        name: omniroute.opencode.client
        rolespec_validate: false
"""

# The roles: keyword: ansible-core adds its validation task, a second task per host.
ROLES_KEYWORD_PLAY = """---
- name: Client role
  hosts: opencode_clients
  gather_facts: false
  roles:
    - role: omniroute.opencode.client
"""

STAT_PLAY = """---
- name: One stat per host
  hosts: opencode_clients
  gather_facts: false
  tasks:
    - name: Stat the first user's config directory
      ansible.builtin.stat:
        path: "{{ opencode_client_users[0].xdg_config_home }}"
"""

TEMPLATE_PLAY = """---
- name: Same files with ansible.builtin.template
  hosts: opencode_clients
  gather_facts: "{{ bench_gather | default(false) }}"
  tasks:
    - name: Config directories
      ansible.builtin.file:
        path: "{{ item.xdg_config_home }}/opencode"
        state: directory
        owner: "{{ item.name }}"
        group: "{{ item.name }}"
        mode: "0700"
      loop: "{{ opencode_client_users }}"
    - name: Config files
      ansible.builtin.template:
        src: opencode.json.j2
        dest: "{{ item.xdg_config_home }}/opencode/opencode.json"
        owner: "{{ item.name }}"
        group: "{{ item.name }}"
        mode: "0600"
      loop: "{{ opencode_client_users }}"
      no_log: true
"""


def reexec_in_mount_namespace():
    """Run this script again in a private mount namespace with the bench users and a temp /home."""
    if os.environ.get(MARK):
        return
    if os.geteuid() != 0:
        sys.exit("the bench needs root (it makes a private mount namespace with its own users)")
    env = dict(os.environ, **{MARK: "1"})
    os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private", "--", sys.executable,
                           *sys.argv], env)


def setup_namespace(work: pathlib.Path, users: list[str]):
    etc = work / "etc"
    etc.mkdir()
    for name in ("passwd", "group"):
        shutil.copy2(f"/etc/{name}", etc / name)
    home = work / "home"
    home.mkdir()
    with open(etc / "passwd", "a") as pw, open(etc / "group", "a") as gr:
        for i, user in enumerate(users):
            uid = 32001 + i
            pw.write(f"{user}:x:{uid}:{uid}::/home/{user}:/bin/sh\n")
            gr.write(f"{user}:x:{uid}:\n")
            (home / user).mkdir()
            os.chown(home / user, uid, uid)
    for name in ("passwd", "group"):
        subprocess.run(["mount", "--bind", str(etc / name), f"/etc/{name}"], check=True)
    subprocess.run(["mount", "--bind", str(home), "/home"], check=True)


def make_fleet(work: pathlib.Path, name: str, hosts: int, users: list[str],
               host_python: str = sys.executable) -> pathlib.Path:
    """An inventory of local hosts, each with its own directory per user (its XDG_CONFIG_HOME)."""
    root = work / name
    inv_hosts = {}
    for h in range(hosts):
        host = f"{name}{h:03d}"
        entries = []
        for user in users:
            d = root / host / user
            d.mkdir(parents=True)
            os.chown(d, *(_ids(user)))
            entries.append({"name": user, "xdg_config_home": str(d / "config")})
        inv_hosts[host] = {"opencode_client_users": entries}
    inventory = {"all": {"children": {"opencode_clients": {
        "hosts": inv_hosts,
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": host_python,
                 "opencode_client_base_url": BASE_URL, "opencode_client_api_key": SECRET,
                 "opencode_client_models": MODELS}}}}}
    path = work / f"{name}.json"
    path.write_text(json.dumps(inventory))
    return path


def _ids(user):
    import pwd
    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


def run(work: pathlib.Path, playbook: pathlib.Path, inventory: pathlib.Path, hosts: int, cfg: dict,
        extra: list[str] | None = None, runner: list[str] | None = None, env_extra: dict | None = None) -> dict:
    lines = ["[defaults]"] + [f"{k} = {v}" for k, v in cfg.get("defaults", {}).items()]
    lines += ["[connection]"] + [f"{k} = {v}" for k, v in cfg.get("connection", {}).items()]
    lines += ["[ssh_connection]"] + [f"{k} = {v}" for k, v in cfg.get("ssh_connection", {}).items()]
    cfg_path = work / "ansible.cfg"
    cfg_path.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg_path), ANSIBLE_NOCOLOR="1")
    env.update(env_extra or {})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([*(runner or []), shutil.which("ansible-playbook"), str(playbook), "-i", str(inventory),
                           *(extra or [])], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                          cwd=playbook.parent)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        failures = [line for line in proc.stdout.splitlines() if line.startswith(("fatal:", "failed:", "[ERROR]"))]
        print("\n".join(failures[:5]) or proc.stdout[-5000:])
        raise SystemExit(f"ansible-playbook failed ({playbook.name}, {cfg})")
    from tests.support.fleet import parse_recap
    recap = parse_recap(proc.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "wall_per_host_ms": round(1000 * wall / hosts, 1),
            "cpu_per_host_ms": round(1000 * cpu / hosts, 1),
            "changed_hosts": sum(1 for c in recap.values() if c.get("changed")), "hosts": len(recap)}


def _median_run(runs: list[dict]) -> dict:
    """The run with the median wall time, with every sample's wall time alongside."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return dict(ordered[len(ordered) // 2], wall_s_samples=[r["wall_s"] for r in runs])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--users", type=int, default=3, choices=range(1, len(USERS) + 1))
    parser.add_argument("--forks", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="turns of the repeated runs (median reported)")
    parser.add_argument("--settings-hosts", type=int, default=30)
    parser.add_argument("--ssh-hosts", type=int, default=5)
    parser.add_argument("--host-python", default=sys.executable,
                        help="the Python the simulated hosts run modules with (default: this one; a Debian 12 "
                             "developer machine runs /usr/bin/python3, 3.11)")
    parser.add_argument("--skip-template", action="store_true", help="no template runs (no first-run ratio)")
    parser.add_argument("--skip-settings", action="store_true")
    parser.add_argument("--skip-ssh", action="store_true")
    args = parser.parse_args()
    reexec_in_mount_namespace()

    users = USERS[:args.users]
    work = pathlib.Path(tempfile.mkdtemp(prefix="omniroute-bench-"))
    host_python = subprocess.run([args.host_python, "-c", "import platform; print(platform.python_version())"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    results = {"hosts": args.hosts, "users_per_host": args.users, "forks": args.forks, "cpus": os.cpu_count(),
               "controller_python": platform.python_version(), "host_python": host_python}
    try:
        setup_namespace(work, users)
        (work / "opencode.json.j2").write_text(TEMPLATE)
        role_pb = work / "role.yml"
        role_pb.write_text(ROLE_PLAY)
        tpl_pb = work / "template.yml"
        tpl_pb.write_text(TEMPLATE_PLAY)
        base_cfg = {"defaults": {"forks": args.forks, "gathering": "explicit", "interpreter_python": args.host_python},
                    "connection": {"pipelining": "True"}}

        # Part 1: role vs template and vs stat, first run, steady state and check mode, same hosts and files.
        # The runs that are repeated go round in turns (stat, steady, check, ...) and report their median, so that
        # a slow spell of the shared machine falls on every kind of run alike.
        stat_pb = work / "stat.yml"
        stat_pb.write_text(STAT_PLAY)
        keyword_pb = work / "role-keyword.yml"
        keyword_pb.write_text(ROLES_KEYWORD_PLAY)
        role_inv = make_fleet(work, "role", args.hosts, users, args.host_python)
        tpl_inv = make_fleet(work, "tpl", args.hosts, users, args.host_python)
        # template is slow (a worker per file and a few round trips each): once is enough for its ratios.
        part1 = {"role_first": run(work, role_pb, role_inv, args.hosts, base_cfg)}
        if not args.skip_template:
            part1["template_first"] = run(work, tpl_pb, tpl_inv, args.hosts, base_cfg)
            part1["template_steady"] = run(work, tpl_pb, tpl_inv, args.hosts, base_cfg)
        print("template and first runs", part1, flush=True)
        turns = {"stat": (stat_pb, role_inv, []), "role_steady": (role_pb, role_inv, []),
                 "role_check": (role_pb, role_inv, ["--check"]),
                 "roles_keyword_steady": (keyword_pb, role_inv, []),
                 "roles_keyword_check": (keyword_pb, role_inv, ["--check"])}
        samples = {label: [] for label in turns}
        for turn in range(args.repeat):
            for label, (pb, inv, extra) in turns.items():
                samples[label].append(run(work, pb, inv, args.hosts, base_cfg, extra))
            print("turn", turn + 1, {label: runs[-1]["wall_s"] for label, runs in samples.items()}, flush=True)
        for label, runs in samples.items():
            part1[label] = _median_run(runs)
        assert part1["role_first"]["changed_hosts"] == args.hosts
        assert args.skip_template or part1["template_steady"]["changed_hosts"] == 0
        assert all(r["changed_hosts"] == 0 for label, runs in samples.items() if label != "stat" for r in runs)
        for phase in ("first", "steady") if not args.skip_template else ():
            for metric in ("wall_s", "cpu_s"):
                part1[f"ratio_{phase}_{metric}"] = round(part1[f"role_{phase}"][metric] /
                                                         part1[f"template_{phase}"][metric], 2)
        for metric in ("wall_s", "cpu_s"):
            stat = part1["stat"][metric]
            for label in ("role_first", "role_steady", "role_check", "template_steady", "roles_keyword_steady",
                          "roles_keyword_check"):
                if label in part1:
                    part1[f"ratio_{label}_{metric}_vs_stat"] = round(part1[label][metric] / stat, 2)
        results["role_vs_template"] = part1

        # Part 2: ansible.cfg settings on the role's steady state (local connection).
        if not args.skip_settings:
            n = args.settings_hosts
            inv = make_fleet(work, "set", n, users)
            run(work, role_pb, inv, n, base_cfg)  # converge once
            variants = {
                "default_forks5_pipelining": {"forks": 5},
                f"forks{args.forks}": {},
                "forks20": {"forks": 20},
                "forks40": {"forks": 40},
                "no_pipelining": {"pipelining": "False"},
                "gather_facts": {"gather": True},
            }
            part2 = {}
            for label, change in variants.items():
                cfg = json.loads(json.dumps(base_cfg))
                if "forks" in change:
                    cfg["defaults"]["forks"] = change["forks"]
                if "pipelining" in change:
                    cfg["connection"]["pipelining"] = change["pipelining"]
                extra = ["-e", "bench_gather=true"] if change.get("gather") else []
                part2[label] = run(work, role_pb, inv, n, cfg, extra)
                print("settings", label, part2[label], flush=True)
            ref = part2[f"forks{args.forks}"]
            for label, res in part2.items():
                res["wall_ratio"] = round(res["wall_s"] / ref["wall_s"], 2)
                res["cpu_ratio"] = round(res["cpu_s"] / ref["cpu_s"], 2)
            results["settings_local"] = {"hosts": n, "reference": f"forks{args.forks} with pipelining", **part2}

        # Part 3: over real SSH (sshd hosts in network namespaces): ControlPersist and pipelining.
        if not args.skip_ssh:
            results["settings_ssh"] = ssh_settings(work, args, role_pb)
    finally:
        subprocess.run(["umount", "/home"], check=False)
        shutil.rmtree(work, ignore_errors=True)

    # A run with another host Python keeps its own file (the default run's figures are the README's table).
    suffix = "" if args.host_python == sys.executable else "-host-python" + host_python.rsplit(".", 1)[0]
    write_results("client_fleet" + suffix, results)


def ssh_settings(work: pathlib.Path, args, role_pb: pathlib.Path) -> dict:
    from tests.support.fleet import Fleet, Host

    names = USERS[:args.users]
    fleet = Fleet([Host(f"s{i}", list(names)) for i in range(1, args.ssh_hosts + 1)], tag=f"ocb{os.getpid() % 10000}")
    try:
        fleet.start()
        inv_path = fleet.write_inventory({"opencode_client_base_url": BASE_URL, "opencode_client_api_key": SECRET,
                                          "opencode_client_models": MODELS})
        inv = json.loads(inv_path.read_text())
        for hv in inv["all"]["children"]["opencode_clients"]["hosts"].values():
            hv["opencode_client_users"] = names
        inv_path.write_text(json.dumps(inv))
        ssh_common = (f"-o BatchMode=yes -o IdentitiesOnly=yes -o UserKnownHostsFile={fleet.known_hosts} "
                      f"-o StrictHostKeyChecking=yes")
        runner = ["ip", "netns", "exec", fleet.ctl_netns]
        n = len(fleet.hosts)

        def cfg(persist: bool, pipelining: bool):
            cp = "-o ControlMaster=auto -o ControlPersist=60s" if persist else "-o ControlMaster=no"
            return {"defaults": {"forks": args.forks, "gathering": "explicit", "host_key_checking": "True",
                                 "private_key_file": str(fleet.key)},
                    "connection": {"pipelining": str(pipelining)},
                    "ssh_connection": {"pipelining": str(pipelining), "ssh_args": f"{cp} {ssh_common}",
                                       "control_path_dir": str(fleet.control_dir)}}

        run(work, role_pb, inv_path, n, cfg(True, True), runner=runner)  # converge
        out = {"hosts": n}
        for label, persist, pipe in (("controlpersist_pipelining", True, True),
                                     ("controlpersist_no_pipelining", True, False),
                                     ("no_controlpersist_pipelining", False, True),
                                     ("no_controlpersist_no_pipelining", False, False)):
            fleet.close_control_masters()
            out[label] = run(work, role_pb, inv_path, n, cfg(persist, pipe), runner=runner)
            print("ssh", label, out[label], flush=True)
        ref = out["controlpersist_pipelining"]
        for label, res in out.items():
            if isinstance(res, dict):
                res["wall_ratio"] = round(res["wall_s"] / ref["wall_s"], 2)
        return out
    finally:
        fleet.stop()


if __name__ == "__main__":
    main()
