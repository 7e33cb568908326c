"""A real OmniRoute in real Podman, for tests and benchmarks.

No container registry is reachable here, so the image is built from the npm package by the SAME code the
proxy role ships (``omniroute.opencode.proxy``, ``tasks_from: build_image``: ``templates/Containerfile.j2`` and
``files/build-omniroute-image.sh``), run through a real ``ansible-playbook``. The result is cached under
``$OMNIROUTE_OPENCODE_CACHE/images`` as a gzip docker-archive keyed by version and recipe, and restored with
``gzip -dc | podman load``.

Public API:

``podman_env() -> dict``
    ``os.environ`` plus ``CONTAINERS_CONF`` pointing at a containers.conf that makes Debian's podman 4.3 work
    on this kind of machine (runc, explicit nofile/nproc ulimits). Use it for every ``podman`` subprocess.
``engine_environment() -> dict``
    Only the variables podman needs (for the role's ``omniroute_proxy_engine_environment``).
``ensure_image() -> str``
    The image reference (``localhost/omniroute:3.7.9``); builds it (cold: about 2-4 min) or restores it from the
    cache (about 10-20 s) when podman does not have it with the current recipe. Safe to call concurrently from
    several processes (the build script takes a lock).
``start_omniroute(tmp_path, port, admin_password, **env) -> OmniRouteHandle``
    Runs the image with host networking bound to 127.0.0.1:``port`` (so it reaches stand-in upstreams on the
    host's 127.0.0.1), data in ``tmp_path/omniroute-data-<port>``, random JWT/API-key/storage secrets,
    ``INITIAL_PASSWORD=admin_password`` and ``OMNIROUTE_ALLOW_PRIVATE_PROVIDER_URLS=true``; extra keyword
    arguments become environment variables (``REQUIRE_API_KEY="true"``, ...). Waits until
    ``/api/monitoring/health`` answers. The handle has ``.base_url`` (``http://127.0.0.1:<port>``, no ``/v1``),
    ``.name``, ``.stop()``, ``.restart()``, ``.logs()``; it is also a context manager.
``free_port() -> int``, ``wait_healthy(base_url, timeout)``, ``admin_session(base_url, password)``
    Small helpers (the session carries the ``auth_token`` cookie of ``POST /api/auth/login``).
``ansible_playbook(playbook, *args, extra_vars=None, check=False, ...) -> CompletedProcess``
    Runs the venv's ``ansible-playbook`` on localhost with this checkout as the collection path.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLE_DIR = REPO_ROOT / "ansible_collections" / "omniroute" / "opencode" / "roles" / "proxy"
CACHE_DIR = Path(os.environ.get("OMNIROUTE_OPENCODE_CACHE") or "~/.cache/omniroute-opencode").expanduser()

OMNIROUTE_VERSION = "3.7.9"
NODE_VERSION = "24.15.0"
IMAGE_NAME = "localhost/omniroute"
IMAGE_REF = f"{IMAGE_NAME}:{OMNIROUTE_VERSION}"
#: Name prefix of every container this module starts (cleanup finds leftovers by it).
CONTAINER_PREFIX = "omniroute-test-"

# crun fails here (setrlimit under hybrid cgroups); runc works once both ulimits are explicit.
CONTAINERS_CONF_TEXT = """\
# Written by tests/support/omniroute.py: podman 4.3 on this kind of machine needs runc and explicit ulimits.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
"""


def containers_conf_path() -> Path:
    """Path of the containers.conf the tests use (written, atomically, when missing or different)."""
    path = CACHE_DIR / "podman" / "containers.conf"
    if not path.exists() or path.read_text() != CONTAINERS_CONF_TEXT:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".containers.conf.")
        with os.fdopen(fd, "w") as handle:
            handle.write(CONTAINERS_CONF_TEXT)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    return path


def engine_environment() -> dict[str, str]:
    """The variables podman needs here; pass them as the role's ``omniroute_proxy_engine_environment``."""
    return {"CONTAINERS_CONF": str(containers_conf_path())}


def podman_env() -> dict[str, str]:
    """``os.environ`` plus what podman needs here (``CONTAINERS_CONF``)."""
    if shutil.which("podman") is None:
        raise RuntimeError("podman is not installed: add it to scripts/system-packages.txt and run scripts/test.sh")
    env = dict(os.environ)
    env.update(engine_environment())
    return env


def podman(*args: str, check: bool = True, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run ``podman <args>`` with :func:`podman_env`, capturing text output."""
    return subprocess.run(
        ["podman", *args], env=podman_env(), check=check, timeout=timeout, capture_output=True, text=True, **kwargs
    )


# --------------------------------------------------------------------------------------------- ansible
def _venv_bin() -> Path:
    return Path(sys.executable).parent


def ansible_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for ansible-playbook: this checkout as the collection path, the venv first on PATH."""
    env = dict(os.environ)
    env.update(
        {
            # The checkout first (it shadows a pip-installed copy); the `ansible` package's bundled collections
            # (containers.podman, community.docker) come from the venv's site-packages, hence the sys.path scan.
            "ANSIBLE_COLLECTIONS_PATH": str(REPO_ROOT),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "true",
            "ANSIBLE_HOST_KEY_CHECKING": "false",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "false",
            "PATH": f"{_venv_bin()}{os.pathsep}{env.get('PATH', '')}",
            "OMNIROUTE_OPENCODE_CACHE": str(CACHE_DIR),
        }
    )
    if extra:
        env.update(extra)
    return env


LOCAL_INVENTORY = """\
all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""


def ansible_playbook(
    playbook: str | Path,
    *args: str,
    extra_vars: dict | None = None,
    check: bool = False,
    diff: bool = False,
    inventory: str | Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    workdir: str | Path | None = None,
) -> subprocess.CompletedProcess:
    """Run the venv's ansible-playbook against localhost (local connection, the controller's Python).

    ``playbook`` is a path or the YAML text of a playbook (written to a temporary file). ``extra_vars`` are
    passed as one JSON ``-e @file``. Output is captured as text; the caller checks ``returncode``.
    """
    exe = _venv_bin() / "ansible-playbook"
    if not exe.exists():
        exe = Path(shutil.which("ansible-playbook") or "ansible-playbook")
    with tempfile.TemporaryDirectory(prefix="omniroute-play.") as tmp:
        tmpdir = Path(tmp)
        if isinstance(playbook, str) and "\n" in playbook:
            path = tmpdir / "playbook.yml"
            path.write_text(playbook)
            playbook = path
        if inventory is None:
            inventory = tmpdir / "inventory.yml"
            Path(inventory).write_text(LOCAL_INVENTORY)
        cmd = [str(exe), "-i", str(inventory), str(playbook), *args]
        if extra_vars:
            vars_file = tmpdir / "extra-vars.json"
            vars_file.write_text(json.dumps(extra_vars))
            os.chmod(vars_file, 0o600)
            cmd += ["-e", f"@{vars_file}"]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        return subprocess.run(
            cmd, env=ansible_env(env), cwd=str(workdir or tmpdir), capture_output=True, text=True, timeout=timeout
        )


# ------------------------------------------------------------------------------------------------ image
BUILD_PLAYBOOK = """\
- name: Build or restore the OmniRoute image with the proxy role's own build code
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run omniroute.opencode.proxy tasks_from build_image
      ansible.builtin.include_role:
        name: omniroute.opencode.proxy
        tasks_from: build_image
"""

_ensured: str | None = None


def image_build_vars() -> dict:
    """Role variables that select the locally built image (what the e2e test passes to the role too)."""
    return {
        "omniroute_proxy_engine": "podman",
        "omniroute_proxy_engine_environment": engine_environment(),
        "omniroute_proxy_version": OMNIROUTE_VERSION,
        "omniroute_proxy_image_build": True,
        "omniroute_proxy_image_build_name": IMAGE_NAME,
        "omniroute_proxy_image_build_node_version": NODE_VERSION,
        "omniroute_proxy_image_build_cache_dir": str(CACHE_DIR / "images"),
    }


def ensure_image() -> str:
    """Make sure podman has the OmniRoute image built from the current recipe; return its reference.

    Runs the proxy role's ``build_image`` tasks with ansible-playbook (a few seconds when the image is present;
    10-20 s restoring from the cache; 2-4 min cold). Raises RuntimeError with the play output on failure.
    """
    global _ensured
    if _ensured:
        return _ensured
    podman_env()  # fails early and clearly when podman is missing
    started = time.monotonic()
    result = ansible_playbook(BUILD_PLAYBOOK, extra_vars=image_build_vars(), timeout=1500)
    if result.returncode != 0:
        raise RuntimeError(
            f"building the OmniRoute image failed (rc {result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    if podman("image", "exists", IMAGE_REF, check=False).returncode != 0:
        raise RuntimeError(f"the build play succeeded but podman has no {IMAGE_REF}:\n{result.stdout}")
    print(f"ensure_image: {IMAGE_REF} ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
    _ensured = IMAGE_REF
    return IMAGE_REF


# ------------------------------------------------------------------------------------------ containers
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(base_url: str, timeout: float = 3) -> dict | None:
    """The JSON of ``GET /api/monitoring/health``, or None when OmniRoute does not answer 200."""
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/api/monitoring/health", timeout=timeout) as resp:
            if resp.status == 200:
                return json.loads(resp.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return None


def wait_healthy(base_url: str, timeout: float = 90, is_alive=None) -> dict:
    """Poll the health endpoint until it answers 200; ``is_alive()`` returning False aborts early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = health(base_url)
        if body is not None:
            return body
        if is_alive is not None and not is_alive():
            raise RuntimeError(f"OmniRoute at {base_url} stopped before it became healthy")
        time.sleep(0.25)
    raise TimeoutError(f"OmniRoute at {base_url} not healthy after {timeout} s")


def admin_session(base_url: str, password: str):
    """A ``requests.Session`` logged in to OmniRoute's management API (cookie ``auth_token``)."""
    import requests

    session = requests.Session()
    resp = session.post(f"{base_url.rstrip('/')}/api/auth/login", json={"password": password}, timeout=10)
    resp.raise_for_status()
    if "auth_token" not in session.cookies:
        raise RuntimeError(f"login to {base_url} set no auth_token cookie (HTTP {resp.status_code})")
    return session


@dataclass
class OmniRouteHandle:
    """A running OmniRoute container started by :func:`start_omniroute`."""

    name: str
    port: int
    data_dir: Path
    admin_password: str
    env: dict[str, str] = field(repr=False)
    base_url: str = ""

    def __post_init__(self) -> None:
        self.base_url = f"http://127.0.0.1:{self.port}"

    @property
    def v1_url(self) -> str:
        return f"{self.base_url}/v1"

    def running(self) -> bool:
        res = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return res.returncode == 0 and res.stdout.strip() == "true"

    def logs(self, tail: int = 200) -> str:
        res = podman("logs", "--tail", str(tail), self.name, check=False)
        return res.stdout + res.stderr

    def restart(self, timeout: float = 90) -> None:
        podman("restart", "--time", "10", self.name, timeout=120)
        wait_healthy(self.base_url, timeout, is_alive=self.running)

    def session(self):
        return admin_session(self.base_url, self.admin_password)

    def stop(self) -> None:
        """Remove the container (idempotent). The data directory stays with tmp_path."""
        podman("rm", "--force", "--time", "10", self.name, check=False, timeout=120)

    def __enter__(self) -> OmniRouteHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_omniroute(
    tmp_path: str | Path,
    port: int,
    admin_password: str,
    *,
    image: str | None = None,
    name: str | None = None,
    health_timeout: float = 90,
    **env: str,
) -> OmniRouteHandle:
    """Start OmniRoute in podman on 127.0.0.1:``port`` and wait until it is healthy (see the module doc)."""
    image = image or ensure_image()
    name = name or f"{CONTAINER_PREFIX}{port}-{secrets.token_hex(3)}"
    data_dir = Path(tmp_path) / f"omniroute-data-{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {
        "HOSTNAME": "127.0.0.1",
        "PORT": str(port),
        "DATA_DIR": "/app/data",
        "NODE_ENV": "production",
        "JWT_SECRET": secrets.token_hex(32),
        "API_KEY_SECRET": secrets.token_hex(32),
        "STORAGE_ENCRYPTION_KEY": secrets.token_hex(32),
        "INITIAL_PASSWORD": admin_password,
        "OMNIROUTE_ALLOW_PRIVATE_PROVIDER_URLS": "true",
    }
    full_env.update({key: str(value) for key, value in env.items()})
    # Secrets go through an env file (0600), not the command line that `ps` shows.
    env_file = Path(tmp_path) / f".omniroute-{port}.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in full_env.items()))
    os.chmod(env_file, 0o600)
    podman(
        "run", "--detach", "--pull=never", "--name", name, "--network", "host",
        "--env-file", str(env_file), "--volume", f"{data_dir}:/app/data", "--stop-timeout", "10",
        "--label", "io.github.omniroute-opencode.test=1", image,
    )  # fmt: skip
    handle = OmniRouteHandle(name=name, port=port, data_dir=data_dir, admin_password=admin_password, env=full_env)
    try:
        wait_healthy(handle.base_url, health_timeout, is_alive=handle.running)
    except Exception as exc:
        logs = handle.logs()
        handle.stop()
        raise RuntimeError(f"OmniRoute container {name} did not become healthy: {exc}\n--- logs ---\n{logs}") from exc
    return handle
