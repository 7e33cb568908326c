"""Helpers for the release-quality checks in tests/packaging.

Everything here runs the real tools (ansible-test, ansible-lint, ansible-doc, ansible-galaxy,
antsibull-changelog, ansible-builder, pip) as subprocesses and hands back their output, so a failing
check shows exactly what the tool said.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import venv

import yaml

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
COLLECTION_DIR = REPO_ROOT / "ansible_collections" / "omniroute" / "opencode"
GALAXY_YML = COLLECTION_DIR / "galaxy.yml"
NAMESPACE = "omniroute"
NAME = "opencode"
FQCN_PREFIX = f"{NAMESPACE}.{NAME}"
CACHE_DIR = pathlib.Path(
    os.environ.get("OMNIROUTE_OPENCODE_CACHE", pathlib.Path.home() / ".cache" / "omniroute-opencode")
)
# The tools of the venv that runs pytest (scripts/bootstrap.sh's .venv in CI).
VENV_BIN = pathlib.Path(sys.executable).parent

# Files and directories that must never end up in a release artifact (tarball, wheel).
JUNK_PATTERNS = (
    re.compile(r"(^|/)tests/output(/|$)"),
    re.compile(r"(^|/)__pycache__(/|$)"),
    re.compile(r"\.py[co]$"),
    re.compile(r"(^|/)\.pytest_cache(/|$)"),
    re.compile(r"(^|/)\.hypothesis(/|$)"),
    re.compile(r"(^|/)\.mypy_cache(/|$)"),
    re.compile(r"(^|/)\.cache(/|$)"),
    re.compile(r"(^|/)\.git(/|$)"),
    re.compile(r"\.tar\.gz$"),
    re.compile(r"\.retry$"),
    re.compile(r"(^|/)\.ansible(/|$)"),
    re.compile(r"(^|/)node_modules(/|$)"),
)


def tool(name: str) -> str:
    """Path of a console script installed next to the running Python (the test venv)."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    assert found, f"{name} is not installed in {VENV_BIN}: run `source scripts/bootstrap.sh` (test extra)"
    return found


def galaxy() -> dict:
    return yaml.safe_load(GALAXY_YML.read_text())


def galaxy_version() -> str:
    return str(galaxy()["version"])


def ansible_env(collections_path: os.PathLike | str | None = None, scan_sys_path: bool = True,
                **extra: str) -> dict[str, str]:
    """Environment for ansible tools: only the given collections path (default: the checkout).

    scan_sys_path=True lets Ansible also find the collections bundled in the `ansible` pip
    package (containers.podman, community.docker, ...), which stand in for Galaxy here.
    A configured path always wins over sys.path, so a stale pip-installed copy of this collection
    in the venv cannot shadow the one under test.
    """
    env = dict(os.environ)
    for key in list(env):
        # A developer's ANSIBLE_* settings (config file, extra collection paths, callbacks) must
        # not change what the checks see.
        if key.startswith("ANSIBLE_"):
            del env[key]
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(collections_path or REPO_ROOT),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="true" if scan_sys_path else "false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_DEPRECATION_WARNINGS="true",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        NO_COLOR="1",
        PY_COLORS="0",
    )
    env.update(extra)
    return env


def run(cmd: list[str], *, cwd: os.PathLike | str = REPO_ROOT, env: dict | None = None,
        timeout: float = 600, input: str | None = None) -> subprocess.CompletedProcess:
    """Run a command, capturing stdout and stderr as text."""
    return subprocess.run(
        [str(part) for part in cmd], cwd=str(cwd), env=env, input=input, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, check=False,
    )


def describe(proc: subprocess.CompletedProcess) -> str:
    """The command, its exit code and everything it printed: the message of a failed assertion."""
    return (
        f"$ {' '.join(map(str, proc.args))}\nexit code {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )


def check(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, describe(proc)
    return proc


# Warnings ansible-core itself emits whatever the collection contains; each one is matched exactly.
KNOWN_FOREIGN_WARNINGS = (
    # ansible-core 2.21's internal `ansible._protomatter` collection ships without MANIFEST.json;
    # `ansible-doc -t role` (and antsibull-changelog through it) warns about it on every run.
    re.compile(r"Collection at '[^']*/ansible/_internal/ansible_collections/ansible/_protomatter' does not "
               r"have a MANIFEST\.json file, nor has it galaxy\.yml: cannot detect version\."),
)


def warnings_in(text: str) -> list[str]:
    """Ansible [WARNING]/[DEPRECATION WARNING] lines (and ansible-test's WARNING: lines)."""
    return [line for line in text.splitlines()
            if re.search(r"\[(DEPRECATION )?WARNING\]|^WARNING:", line)
            and not any(known.search(line) for known in KNOWN_FOREIGN_WARNINGS)]


def source_files() -> list[str]:
    """Repository files a fresh clone would have: tracked plus untracked-but-not-ignored."""
    proc = check(run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]))
    return sorted({name for name in proc.stdout.split("\0") if name and (REPO_ROOT / name).exists()})


def copy_source_tree(destination: pathlib.Path) -> pathlib.Path:
    """Copy the repository as a fresh clone would have it (no build/, .venv, egg-info, outputs).

    Building from the checkout itself would reuse setuptools' build/ directory, whose stale files
    (deleted from the source long ago) end up in the wheel.
    """
    for name in source_files():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target)
    return destination


def python_for_venvs() -> str:
    """The Python the test venv was made from (the packaging tests build their venvs with the same one)."""
    base = pathlib.Path(getattr(sys, "_base_executable", sys.executable))
    return str(base if base.exists() else sys.executable)


def pyproject_key() -> str:
    """Cache key of a venv holding this project: pyproject, setup.py, galaxy.yml and Python version."""
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "setup.py"):
        digest.update((REPO_ROOT / name).read_bytes())
    digest.update(galaxy_version().encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:16]


def make_venv(path: pathlib.Path) -> pathlib.Path:
    """A fresh venv with pip; returns its bin directory."""
    if path.exists():
        shutil.rmtree(path)
    proc = run([python_for_venvs(), "-m", "venv", str(path)], timeout=300)
    check(proc)
    return path / "bin"


def ensure_venv_with(path: pathlib.Path, requirements: list[str], stamp_key: str) -> pathlib.Path:
    """A venv at `path` holding `requirements`, rebuilt only when `stamp_key` changes."""
    stamp = path / f".stamp-{stamp_key}"
    bindir = path / "bin"
    if stamp.exists():
        return bindir
    print(f"packaging: building venv {path} with {' '.join(requirements)} (cold: about a minute)",
          file=sys.stderr)
    make_venv(path)
    check(run([bindir / "python", "-m", "pip", "install", "--quiet", *requirements], timeout=900))
    stamp.touch()
    return bindir


def is_junk(name: str) -> bool:
    return any(pattern.search(name) for pattern in JUNK_PATTERNS)


def modules() -> list[str]:
    return sorted(p.stem for p in (COLLECTION_DIR / "plugins" / "modules").glob("*.py")
                  if not p.name.startswith("_"))


def filter_plugin_files() -> list[pathlib.Path]:
    return sorted(p for p in (COLLECTION_DIR / "plugins" / "filter").glob("*")
                  if p.is_file() and not p.name.startswith(("_", ".")) and p.suffix in (".py", ".yml", ".yaml"))


def filters() -> list[str]:
    """Filter names: each filter plugin file's FilterModule().filters() keys plus documented YAML."""
    names: set[str] = set()
    for path in filter_plugin_files():
        if path.suffix == ".py":
            # Names are the keys of FilterModule.filters(); read them the way Ansible does.
            proc = run([sys.executable, "-c", _FILTER_NAMES_SNIPPET, str(path)],
                       env=ansible_env(), timeout=120)
            check(proc)
            names.update(line for line in proc.stdout.split() if line)
        else:
            names.add(path.stem)
    return sorted(names)


_FILTER_NAMES_SNIPPET = r"""
import importlib.util, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader()
spec = importlib.util.spec_from_file_location("_filter_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
for name in module.FilterModule().filters():
    print(name)
"""


def roles_with_argument_specs() -> list[str]:
    return sorted(p.parent.parent.name for p in (COLLECTION_DIR / "roles").glob("*/meta/argument_specs.yml"))


def roles() -> list[str]:
    return sorted(p.name for p in (COLLECTION_DIR / "roles").iterdir()
                  if p.is_dir() and (p / "tasks").is_dir()) if (COLLECTION_DIR / "roles").is_dir() else []


def playbooks() -> list[pathlib.Path]:
    root = COLLECTION_DIR / "playbooks"
    return sorted(p for p in root.glob("*.y*ml")) if root.is_dir() else []
