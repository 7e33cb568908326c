"""scripts/sandbox.sh as a user runs it: the default mode (the merge on three sandbox directories) and
--full (stand-in upstreams, OmniRoute in podman, the real OpenCode through the failover, drift and repair)."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
from pathlib import Path

import pytest

from tests.support.secrets import find_leaks, find_leaks_in_files

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "sandbox.sh"
# Every ansible-playbook run of the script at -vvv with --diff, as CI and AWX logs are often kept.
VERBOSE_ENV = {"ANSIBLE_VERBOSITY": "3", "ANSIBLE_DIFF_ALWAYS": "1"}


def run_sandbox(tmp_path: Path, *args: str, timeout: float, **env: str) -> subprocess.CompletedProcess:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    proc = subprocess.run(
        ["bash", str(SCRIPT), *args], env={**os.environ, "SANDBOX_DIR": str(sandbox), **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
    )  # fmt: skip
    assert proc.returncode == 0, f"sandbox.sh {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-6000:]}"
    return proc


def sections(output: str) -> dict[str, str]:
    """The script's output by step: the text after each '=== <title>' line, keyed by the title's start."""
    parts = re.split(r"^=== (.*)$", output, flags=re.M)
    return {title: body for title, body in zip(parts[1::2], parts[2::2])}


def section(output: str, start: str) -> str:
    matches = [body for title, body in sections(output).items() if title.startswith(start)]
    assert len(matches) == 1, f"no single step starting with {start!r} in:\n{output[-4000:]}"
    return matches[0]


def recap_changed(text: str) -> dict[str, int]:
    return {m[0]: int(m[1]) for m in re.findall(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)", text, re.M)}


def test_default_mode_merges_then_changes_nothing_then_catches_drift(tmp_path):
    key = "sk-sandbox-test-" + secrets.token_hex(8)
    out = run_sandbox(tmp_path, timeout=600, SANDBOX_API_KEY=key, **VERBOSE_ENV).stdout
    # the key, and the old key of Carol's entry that the merge replaces (shown masked in the diff)
    planted = {"client key": key, "carol's old key": "sk-old-key"}
    assert find_leaks(out, planted) == [], "the sandbox printed a key"
    assert find_leaks_in_files(tmp_path / "sandbox", planted) == []

    merge = section(out, "First run: merge the provider")
    assert re.search(r'^\+\s+"omniroute": \{', merge, re.M), merge[-3000:]
    assert recap_changed(merge) == {"laptop-alice": 1, "laptop-bob": 1, "laptop-carol": 1}
    alice = section(out, "Alice's file afterwards")
    assert "// Alice's OpenCode config: written by hand" in alice and '"ollama": {' in alice
    assert '"baseURL": "http://127.0.0.1:20128/v1"' in alice and '"apiKey": "<key>"' in alice

    assert recap_changed(section(out, "Second run: nothing to change")) == dict.fromkeys(
        ["laptop-alice", "laptop-bob", "laptop-carol"], 0)
    check = section(out, "Check mode finds the drift")
    assert '"msg": "laptop-bob: base_url, base_url_stale_v1, mode"' in check, check
    assert recap_changed(section(out, "Converge again"))["laptop-bob"] == 1


@pytest.mark.slow
def test_full_mode_answers_through_the_failover_and_catches_drift(tmp_path):
    proc = run_sandbox(tmp_path, "--full", timeout=1800, **VERBOSE_ENV)
    out = proc.stdout
    sandbox = tmp_path / "sandbox"

    # OpenCode got the healthy upstream's answer, after the failing legs were tried in the priority's order.
    answer = section(out, "OpenCode on dev-alice")
    assert "OpenCode answered: 'hello from good'" in answer, answer
    seen = [line.strip() for line in answer.splitlines() if line.startswith("  ")]
    assert seen[0] == "bad500: chat completion model=gpt-4o-mini stream=True -> 500", seen
    assert "bad429: chat completion model=gpt-4o-mini stream=True -> 429" in seen, seen
    assert seen[-1] == "good: chat completion model=gpt-4o-mini stream=True -> 200", seen

    # The drift playbook checks the proxy (localhost) and the three machines.
    in_sync = section(out, "Drift playbook (check mode)")
    assert "4 hosts: 4 in sync, 0 drifted" in in_sync and re.search(r"^IN SYNC +localhost \(\d+ proxy entities\)",
                                                                      in_sync, re.M), in_sync
    drift = section(out, "Drift playbook again")
    assert re.search(r"^DRIFT +dev-bob \S+ .*/dev-bob/\.config/opencode/opencode\.json: base_url: ", drift, re.M), drift
    assert "4 hosts: 3 in sync, 1 drifted" in drift and "exit code 2" in drift
    # the playbook's own failure
    assert "Action failed: 4 hosts: 3 in sync, 1 drifted" in (sandbox / "logs" / "drift-2.log").read_text()
    converge = section(out, "Converge")
    assert recap_changed(converge)["dev-bob"] == 1 and "4 in sync, 0 drifted" in converge
    bob = json.loads((sandbox / "dev-bob" / ".config" / "opencode" / "opencode.json").read_text())
    assert bob["provider"]["omniroute"]["options"]["baseURL"].endswith("/v1")
    assert not bob["provider"]["omniroute"]["options"]["baseURL"].endswith("/v1/v1")

    # No secret in the output or the logs the sandbox leaves.
    generated = json.loads((sandbox / "secrets.json").read_text())
    values = [v for v in generated.values() if isinstance(v, str)] + list(generated["sandbox_upstream_keys"].values())
    texts = [out] + [p.read_text(errors="replace") for p in (sandbox / "logs").iterdir()]
    assert [leak for text in texts for leak in find_leaks(text, values)] == [], "a secret was printed"
    assert find_leaks_in_files(sandbox, values) == []
    assert (sandbox / "secrets.json").stat().st_mode & 0o777 == 0o600

    # It stopped what it started: the container and its volume, the stand-ins.
    container = re.search(r"OmniRoute (omniroute-sandbox-[0-9a-f]+) on", out).group(1)
    podman_env = {**os.environ, "CONTAINERS_CONF": str(sandbox / "containers.conf")}
    for what in (["container", "exists", container], ["volume", "exists", f"{container}-data"]):
        assert subprocess.run(["podman", *what], env=podman_env).returncode == 1, f"{what} still there"
    for port_file in (sandbox / "upstreams").glob("*.port"):
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
            sock.connect(("127.0.0.1", int(port_file.read_text())))
