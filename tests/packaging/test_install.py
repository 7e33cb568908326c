"""The two doors a user installs through, each checked from scratch.

ansible-galaxy: `ansible-galaxy collection build` makes a lean tarball, which installs with offline
dependency resolution into an EMPTY collections path (the dependency collections come from the
`ansible` pip package, standing in for Galaxy), and a playbook using the module, the filter and the
roles runs from that install with ANSIBLE_COLLECTIONS_PATH pointing only at it.

pip: `pip install '.[containers]'` from a fresh copy of the source into a clean venv provides the same
collection: `ansible-galaxy collection list` shows it at galaxy.yml's version, and the same playbook
runs from it (the `containers` extra brings the container collections the proxy role uses).

Both installs also run the drift playbook by its FQCN (omniroute.opencode.drift) over the files the
first playbook wrote: it must find the fleet in sync.
The venv's dependencies are cached under $OMNIROUTE_OPENCODE_CACHE keyed by pyproject/setup.py;
the project itself is reinstalled from the current source on every run.
"""
import getpass
import json
import pathlib
import shutil
import sysconfig
import tarfile

import pytest
import yaml

from tests.support.packaging import (
    CACHE_DIR, COLLECTION_DIR, FQCN_PREFIX, ansible_env, check, copy_source_tree, describe, galaxy,
    galaxy_version, is_junk, make_venv, pyproject_key, run, source_files, tool,
)

pytestmark = pytest.mark.slow

PLAYBOOK = pathlib.Path(__file__).parent / "playbooks" / "from_install.yml"
BUNDLED_COLLECTIONS = pathlib.Path(sysconfig.get_paths()["purelib"]) / "ansible_collections"
COLLECTION_REL = pathlib.PurePosixPath("ansible_collections/omniroute/opencode")


# --- ansible-galaxy door ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = run([tool("ansible-galaxy"), "collection", "build", COLLECTION_DIR, "--output-path", out],
               env=ansible_env(), timeout=300)
    check(proc)
    built = sorted(out.glob("omniroute-opencode-*.tar.gz"))
    assert [p.name for p in built] == [f"omniroute-opencode-{galaxy_version()}.tar.gz"], describe(proc)
    return built[0]


def test_tarball_is_lean_and_complete(tarball):
    with tarfile.open(tarball) as archive:
        names = [member.name.removeprefix("./") for member in archive.getmembers() if member.isfile()]
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    junk = [name for name in names if is_junk(name)]
    assert not junk, f"build_ignore in galaxy.yml lets these into the tarball: {junk}"
    # Everything in the tarball is a source file a fresh clone has (nothing ignored by git: caches,
    # outputs, local experiments), except the two files ansible-galaxy generates.
    in_git = {str(pathlib.PurePosixPath(name).relative_to(COLLECTION_REL))
              for name in source_files() if name.startswith(str(COLLECTION_REL) + "/")}
    stray = sorted(set(names) - in_git - {"MANIFEST.json", "FILES.json"})
    assert not stray, f"files in the tarball that git ignores or does not know: {stray}"
    missing = sorted(in_git - set(names) - set(galaxy().get("build_ignore", [])) - {"galaxy.yml"})
    missing = [name for name in missing if not is_junk(name)]
    assert not missing, f"source files missing from the tarball: {missing}"
    for required in ("meta/runtime.yml", "README.md", "changelogs/changelog.yaml", "CHANGELOG.rst"):
        assert required in names, f"{required} not in the tarball"
    assert any(name.startswith("plugins/modules/") for name in names)
    assert manifest["collection_info"]["version"] == galaxy_version()
    assert manifest["collection_info"]["dependencies"] == galaxy().get("dependencies", {})


def bundled_dependency_sources():
    """Requirements entries for galaxy.yml's dependencies, transitively, from the `ansible` package."""
    wanted = list(galaxy().get("dependencies", {}))
    seen, entries = set(), []
    while wanted:
        fqcn = wanted.pop()
        if fqcn in seen:
            continue
        seen.add(fqcn)
        path = BUNDLED_COLLECTIONS.joinpath(*fqcn.split("."))
        assert (path / "MANIFEST.json").exists(), (
            f"dependency {fqcn} is not in the `ansible` package at {path}: install the `test` extra")
        entries.append({"name": str(path), "type": "dir"})
        wanted.extend(json.loads((path / "MANIFEST.json").read_text())["collection_info"].get("dependencies") or {})
    return entries


@pytest.fixture(scope="module")
def galaxy_install(tarball, tmp_path_factory):
    root = tmp_path_factory.mktemp("galaxy-install")
    collections = root / "collections"
    collections.mkdir()
    assert not any(collections.iterdir())
    requirements = root / "requirements.yml"
    requirements.write_text(yaml.safe_dump({"collections": [{"name": str(tarball), "type": "file"},
                                                            *bundled_dependency_sources()]}))
    env = ansible_env(collections, scan_sys_path=False)
    # No --no-deps: dependencies are resolved against galaxy.yml's constraints, offline.
    proc = run([tool("ansible-galaxy"), "collection", "install", "--offline", "-r", requirements,
                "-p", collections], env=env, cwd=root, timeout=600)
    check(proc)
    return collections, env


def test_galaxy_install_lists_the_collection(galaxy_install):
    collections, env = galaxy_install
    proc = check(run([tool("ansible-galaxy"), "collection", "list", "--format", "json"], env=env))
    listed = json.loads(proc.stdout)
    assert list(listed) == [str(collections / "ansible_collections")], listed
    found = listed[str(collections / "ansible_collections")]
    assert found[FQCN_PREFIX]["version"] == galaxy_version()
    for dependency in galaxy().get("dependencies", {}):
        assert dependency in found, f"dependency {dependency} not installed: {found}"


SECRET = "packaging-not-a-secret-key"  # the key from_install.yml writes; must never be printed


def run_playbooks(bindir, env, work_dir):
    """from_install.yml, then omniroute.opencode.drift over what it wrote; both must pass."""
    from tests.support.omniroute import engine_environment  # containers.conf that makes podman work here

    work_dir.mkdir(parents=True, exist_ok=True)
    proc = run([bindir / "ansible-playbook", "-i", "localhost,", PLAYBOOK, "-e", json.dumps({
        "work_dir": str(work_dir), "test_user": getpass.getuser(),
        "proxy_engine_environment": engine_environment()})], env=env, cwd=work_dir, timeout=600)
    assert proc.returncode == 0 and "failed=0" in proc.stdout, describe(proc)
    assert SECRET not in proc.stdout + proc.stderr, "the key was printed"

    inventory = work_dir / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "children": {"opencode_clients": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}},
        "vars": {"opencode_client_base_url": "http://127.0.0.1:20128", "opencode_client_api_key": SECRET,
                 "opencode_client_models": ["fast", "smart"],
                 "opencode_client_users": [{"name": getpass.getuser(), "xdg_config_home": str(work_dir / "xdg")}]},
    }}))
    drift = run([bindir / "ansible-playbook", "-i", inventory, f"{FQCN_PREFIX}.drift"], env=env, cwd=work_dir,
                timeout=600)
    assert drift.returncode == 0 and "failed=0" in drift.stdout, describe(drift)
    assert SECRET not in drift.stdout + drift.stderr, "the key was printed"


def test_playbook_runs_from_tarball_install(galaxy_install, tmp_path):
    collections, env = galaxy_install
    doc = check(run([tool("ansible-doc"), "-t", "module", f"{FQCN_PREFIX}.opencode_provider"], env=env))
    assert str(collections) in doc.stdout.splitlines()[0], doc.stdout.splitlines()[0]
    run_playbooks(pathlib.Path(tool("ansible-playbook")).parent, env, tmp_path / "run")


# --- pip door -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pip_venv(tmp_path_factory):
    """A venv holding `pip install .` of the current source; dependencies cached by pyproject hash."""
    venv_dir = CACHE_DIR / "packaging" / f"pip-venv-containers-{pyproject_key()}"
    bindir = venv_dir / "bin"
    stamp = venv_dir / ".deps-installed"
    source = copy_source_tree(tmp_path_factory.mktemp("pip-src") / "omniroute-opencode")
    if not stamp.exists():
        make_venv(venv_dir)
        # Cold: a plain `pip install '.[containers]'` into the brand-new venv, resolving every dependency.
        check(run([bindir / "python", "-m", "pip", "install", "--quiet", f"{source}[containers]"], timeout=1200))
        stamp.touch()
    else:
        # Warm: dependencies are there; replace the project with the current source.
        check(run([bindir / "python", "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps",
                   source], timeout=600))
    check(run([bindir / "python", "-m", "pip", "check"]))
    return bindir


def test_pip_install_provides_the_collection(pip_venv, tmp_path):
    empty = tmp_path / "no-collections-here"
    empty.mkdir()
    # Only the venv's site-packages can provide the collection here.
    env = ansible_env(empty, scan_sys_path=True, PATH=f"{pip_venv}:/usr/bin:/bin")
    proc = check(run([pip_venv / "ansible-galaxy", "collection", "list", FQCN_PREFIX, "--format", "json"],
                     env=env, cwd=tmp_path))
    listed = {path: found for path, found in json.loads(proc.stdout).items() if FQCN_PREFIX in found}
    site = pathlib.Path(run([pip_venv / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                            ).stdout.strip())
    assert list(listed) == [str(site / "ansible_collections")], listed
    assert listed[str(site / "ansible_collections")][FQCN_PREFIX]["version"] == galaxy_version()

    installed = site / COLLECTION_REL
    junk = [str(p.relative_to(installed)) for p in installed.rglob("*")
            if p.is_file() and is_junk(str(p.relative_to(installed)))
            and "__pycache__" not in p.parts]  # pip byte-compiles on install
    assert not junk, f"the wheel carries files it should not: {junk}"
    # A module's documentation is beside it (plugins/modules/<name>.yml): ansible-doc needs it installed.
    for required in ("galaxy.yml", "meta/runtime.yml", "plugins/modules/opencode_provider.py",
                     "plugins/modules/opencode_provider.yml"):
        assert (installed / required).is_file(), f"{required} missing from the pip install"

    # Module, filter, both roles and the drift playbook run from the pip-installed copy.
    run_playbooks(pip_venv, env, tmp_path / "run")
