"""Run real ansible-playbook against localhost and read the results back."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
from dataclasses import dataclass, field

import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    results: list = field(default_factory=list)  # one result dict per task (first host), json callback only

    def result(self, name):
        """The result of the task called ``name``."""
        for task_name, result in self.results:
            if task_name == name:
                return result
        raise KeyError("no task %r in %s" % (name, [n for n, _ in self.results]))


def ansible_env(**extra) -> dict:
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_HOST_KEY_CHECKING="0",
    )
    env.update(extra)
    return env


def run_tasks(tasks, workdir, *, check=False, diff=False, verbosity=0, json_output=True,
              env=None, play_vars=None) -> PlaybookRun:
    """Run ``tasks`` in one play on localhost (local connection) and return the outcome."""
    workdir = pathlib.Path(workdir)
    play = {
        "name": "test",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": dict({"ansible_python_interpreter": "{{ ansible_playbook_python }}"}, **(play_vars or {})),
        "tasks": tasks,
    }
    playbook = workdir / "playbook.yml"
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    return run_playbook(playbook, check=check, diff=diff, verbosity=verbosity, json_output=json_output, env=env)


def run_playbook(playbook, *, inventory="localhost,", check=False, diff=False, verbosity=0, json_output=True,
                 env=None, extra_args=()) -> PlaybookRun:
    command = ["ansible-playbook", "-i", inventory, "-c", "local", str(playbook), *extra_args]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if verbosity:
        command.append("-" + "v" * verbosity)
    run_env = ansible_env(**(env or {}))
    if json_output:
        run_env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    completed = subprocess.run(command, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=900, cwd=str(pathlib.Path(playbook).parent))
    results = []
    if json_output:
        try:
            report = json.loads(completed.stdout)
        except json.JSONDecodeError:
            report = {"plays": []}
        for play in report.get("plays", []):
            for task in play.get("tasks", []):
                hosts = task.get("hosts", {})
                results.append((task["task"]["name"], next(iter(hosts.values()), {})))
    return PlaybookRun(completed.returncode, completed.stdout, completed.stderr, results)
