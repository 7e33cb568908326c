"""A private Docker daemon for tests: Debian's ``docker.io`` dockerd started and stopped by the tests themselves.

Nothing on the machine is disturbed: the daemon gets its own ``--data-root``, ``--exec-root`` (its managed
containerd lives there too), pidfile and socket (``--host unix://...``), no bridge and no iptables rules
(``--bridge=none --iptables=false``). Containers therefore use host networking, which is also what the proxy e2e
uses with podman (the container reaches the stand-in upstreams on the host's 127.0.0.1). It is stopped by the PID
this module started.

Public API:

``DockerDaemon.start(timeout=60) -> DockerDaemon``
    Starts dockerd under a fresh short directory in /tmp (unix socket paths must stay under 108 bytes) and waits
    until ``docker version`` answers. ``.host`` is the ``unix://`` URL, ``.environment()`` the variables a
    client needs (``DOCKER_HOST``), ``.docker(*args)`` runs the CLI against it, ``.stop()`` ends it by PID and
    removes its directories. Also a context manager.
``docker_available() -> str | None``
    Why the daemon cannot run here (None when dockerd and the docker CLI are installed).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path


def docker_available() -> str | None:
    missing = [exe for exe in ("dockerd", "docker") if shutil.which(exe) is None]
    if missing:
        return f"{', '.join(missing)} not installed: docker.io is in scripts/system-packages.txt (run scripts/test.sh)"
    return None


class DockerDaemon:
    """One dockerd owned by the test session (see the module doc)."""

    def __init__(self, root: Path):
        self.root = root
        self.socket = root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.log_path = root / "dockerd.log"
        self.process: subprocess.Popen | None = None

    @classmethod
    def start(cls, timeout: float = 60) -> DockerDaemon:
        reason = docker_available()
        if reason:
            raise RuntimeError(reason)
        daemon = cls(Path(tempfile.mkdtemp(prefix="omr-dk-", dir="/tmp")))
        daemon._spawn()
        try:
            daemon._wait_ready(timeout)
        except Exception:
            daemon.stop()
            raise
        return daemon

    def _spawn(self) -> None:
        cmd = [
            shutil.which("dockerd") or "dockerd",
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"),
            "--pidfile", str(self.root / "dockerd.pid"),
            "--host", self.host,
            # no docker0 bridge, no iptables/NAT rules: nothing of the host's network is touched
            "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
            "--userland-proxy=false",
            "--storage-driver", "overlay2",
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            # its own session: a Ctrl-C in pytest does not reach the daemon before stop() does
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.socket.exists() and self.docker("version", check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.25)
        raise TimeoutError(f"dockerd not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def environment(self) -> dict[str, str]:
        """What a docker client needs to reach this daemon (the role's omniroute_proxy_engine_environment)."""
        return {"DOCKER_HOST": self.host}

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.environment())
        return env

    def docker(self, *args: str, check: bool = True, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
        """Run ``docker <args>`` against this daemon, capturing text output."""
        return subprocess.run(
            ["docker", *args], env=self.env(), check=check, timeout=timeout, capture_output=True, text=True, **kwargs
        )

    def stop(self, timeout: float = 60) -> None:
        """Stop the daemon by its PID (SIGTERM, then SIGKILL) and remove its directories."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            # remove containers first: dockerd then has no mounts left to tear down on exit
            ids = self.docker("ps", "-aq", check=False, timeout=30).stdout.split()
            if ids:
                self.docker("rm", "--force", *ids, check=False, timeout=120)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.process = None
        data = self.root / "data"
        # overlay2 layers may still be mounted if the daemon died: unmount what lies under our own root only
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(str(self.root) + "/")), reverse=True):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> DockerDaemon:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
