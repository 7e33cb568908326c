"""The real OpenCode binary (npm opencode-ai, pinned) as the oracle our files must load.

Installed once into the cache, keyed by version; every run is isolated in its own HOME/XDG dirs.
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import subprocess

OPENCODE_VERSION = "1.18.33"
CACHE = pathlib.Path(os.environ.get("OMNIROUTE_OPENCODE_CACHE", pathlib.Path.home() / ".cache" / "omniroute-opencode"))


def opencode_binary() -> pathlib.Path:
    """Path of the opencode binary, installing opencode-ai from npm on first use."""
    prefix = CACHE / f"opencode-{OPENCODE_VERSION}"
    binary = prefix / "node_modules" / "opencode-linux-x64" / "bin" / "opencode"
    if binary.exists():
        return binary
    prefix.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".opencode-{OPENCODE_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test sessions install once
        if not binary.exists():
            print(f"installing opencode-ai@{OPENCODE_VERSION} from npm into {prefix} (once, about 15 s)", flush=True)
            subprocess.run(
                ["npm", "install", "--prefix", str(prefix), "--no-save", "--ignore-scripts", "--no-audit",
                 "--no-fund", f"opencode-ai@{OPENCODE_VERSION}"],
                check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    if not binary.exists():
        raise RuntimeError(f"npm installed opencode-ai but {binary} is missing")
    return binary


def isolated_env(home: pathlib.Path, config_home: pathlib.Path | None = None, **extra) -> dict:
    """An environment in which OpenCode sees only ``home`` (and ``config_home``) and no network."""
    home = pathlib.Path(home)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(config_home or home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "TMPDIR": str(home / "tmp"),
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "OPENCODE_DISABLE_PROJECT_CONFIG": "1",
        "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    }
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(extra)
    return env


def run_opencode(args, home, config_home=None, timeout=120, **extra_env) -> subprocess.CompletedProcess:
    """Run ``opencode <args>`` isolated in ``home``; returns the completed process (never raises on rc)."""
    env = isolated_env(pathlib.Path(home), config_home and pathlib.Path(config_home), **extra_env)
    return subprocess.run([str(opencode_binary()), *args], env=env, cwd=str(home), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


def load_config(config_file, workdir, provider="omniroute"):
    """Have OpenCode load ``config_file`` as the global config of a fresh home under ``workdir``.

    Returns (``opencode debug config``, ``opencode models <provider>``, rewritten) where
    ``rewritten`` tells whether OpenCode changed the file it loaded (it does so to files it
    considers incomplete, which would show as drift forever).
    """
    import shutil
    import tempfile

    config_file = pathlib.Path(config_file)
    home = pathlib.Path(tempfile.mkdtemp(prefix="opencode-home-", dir=workdir))
    target = home / ".config" / "opencode" / config_file.name
    target.parent.mkdir(parents=True)
    shutil.copyfile(config_file, target)
    original = target.read_bytes()
    debug = run_opencode(["debug", "config"], home)
    models = run_opencode(["models", provider], home)
    return debug, models, target.read_bytes() != original
