"""The execution environment for AWX / Ansible Automation Platform (ansible-builder, schema v3).

No container registry is reachable, so the image itself is not built here. What is checked:
- `ansible-builder create` validates execution-environment.yml against the v3 schema and renders
  the build context: the release tarball, the collection requirements and the Python packages;
- the galaxy stage of the Containerfile, replayed offline on the rendered context (same commands,
  /build mapped to a temp dir, dependency collections from the `ansible` package instead of Galaxy),
  installs omniroute.opencode and its dependencies;
- ansible-builder's own introspection script, run on that install, finds the collection's Python
  packages (meta/execution-environment.yml);
- the packages the collection declares are exactly the third-party ones its controller-side plugins
  import, and modules/module_utils import nothing but the standard library and ansible.
"""
import ast
import glob
import json
import pathlib
import re
import shutil
import sys

import pytest
import yaml

from tests.support.packaging import (
    COLLECTION_DIR, FQCN_PREFIX, REPO_ROOT, ansible_env, check, describe, galaxy_version, run, tool,
)
from tests.packaging.test_install import bundled_dependency_sources

EE_FILE = REPO_ROOT / "execution-environment.yml"
META_EE = COLLECTION_DIR / "meta" / "execution-environment.yml"
# Imports ansible-core brings along (its own dependencies) on any controller and in any EE.
PROVIDED_BY_ANSIBLE_CORE = {"yaml", "jinja2", "markupsafe", "packaging", "resolvelib", "cryptography"}
# Import name -> the distribution to declare. `referencing` is part of jsonschema (>= 4.18).
IMPORT_TO_DISTRIBUTION = {"yaml": "pyyaml", "referencing": "jsonschema"}


def _requirement_names_of(line):
    return re.split(r"[<>=!~;\[ #]", line.strip(), maxsplit=1)[0].lower()


def _requirement_names(path):
    return {_requirement_names_of(line) for line in path.read_text().splitlines()
            if line.split("#", 1)[0].strip()}


def declared_python_deps():
    meta = yaml.safe_load(META_EE.read_text())
    return _requirement_names(COLLECTION_DIR / meta["dependencies"]["python"])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A copy of the EE inputs with a freshly built tarball, rendered by `ansible-builder create`."""
    root = tmp_path_factory.mktemp("ee")
    definition = yaml.safe_load(EE_FILE.read_text())
    for relative in (EE_FILE.name, definition["dependencies"]["galaxy"], definition["dependencies"]["python"]):
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, target)
    dist = root / "ee" / "dist"
    check(run([tool("ansible-galaxy"), "collection", "build", COLLECTION_DIR, "--output-path", dist],
              env=ansible_env(), timeout=300))
    context = root / "context"
    proc = run([tool("ansible-builder"), "create", "-f", root / EE_FILE.name, "-c", context, "-v", "2"],
               cwd=root, timeout=300)
    assert proc.returncode == 0, describe(proc)
    assert "WARNING" not in proc.stdout + proc.stderr, describe(proc)
    return definition, context


def test_definition_is_schema_v3_and_has_no_version_number():
    definition = yaml.safe_load(EE_FILE.read_text())
    assert definition["version"] == 3
    text = EE_FILE.read_text() + (REPO_ROOT / definition["dependencies"]["galaxy"]).read_text()
    assert galaxy_version() not in text, "the version lives in galaxy.yml only"


def test_create_renders_collection_and_python_deps(rendered):
    _, context = rendered
    build = context / "_build"
    containerfile = (context / "Containerfile").read_text()
    assert "FROM base AS galaxy" in containerfile and "FROM base AS final" in containerfile
    tarballs = sorted(p.name for p in (build / "collections").iterdir())
    assert tarballs == [f"omniroute-opencode-{galaxy_version()}.tar.gz"], tarballs
    requirements = yaml.safe_load((build / "requirements.yml").read_text())
    assert {"name": "/build/collections/omniroute-opencode.tar.gz", "type": "file"} in requirements["collections"]
    assert declared_python_deps(), "meta/ee-requirements.txt declares nothing"
    assert declared_python_deps() <= _requirement_names(build / "requirements.txt")


def _replay_galaxy_stage(context, scratch):
    """Run the galaxy stage's RUN/COPY steps with /build mapped to `scratch`."""
    build = scratch / "build"
    steps = (context / "Containerfile").read_text().split("FROM base AS galaxy", 1)[1].split("\nFROM ", 1)[0]
    for line in steps.splitlines():
        if line.startswith("COPY _build"):
            source, target = line.split()[1:3]
            target = pathlib.Path(str(build) + target.removeprefix("/build").rstrip("/"))
            shutil.copytree(context / source.rstrip("/"), target, dirs_exist_ok=True)
        elif line.startswith("RUN mv "):
            *sources, target = line.removeprefix("RUN mv ").replace("/build", str(build)).split()
            matches = [match for source in sources for match in glob.glob(source)]
            assert len(matches) == 1, f"{line}: matches {matches}"
            pathlib.Path(matches[0]).rename(target)
    return build


def test_galaxy_stage_installs_collection_and_introspection_finds_its_python_deps(rendered, tmp_path):
    _, context = rendered
    build = _replay_galaxy_stage(context, tmp_path)
    requirements = yaml.safe_load((build / "requirements.yml").read_text())
    for entry in requirements["collections"]:
        entry["name"] = entry["name"].replace("/build", str(build), 1)
    # Galaxy stands in: the dependency collections come from the `ansible` package.
    requirements["collections"] += bundled_dependency_sources()
    offline = tmp_path / "requirements-offline.yml"
    offline.write_text(yaml.safe_dump(requirements))
    collections = tmp_path / "usr-share-ansible-collections"
    env = ansible_env(collections, scan_sys_path=False)
    proc = run([tool("ansible-galaxy"), "collection", "install", "--offline", "-r", offline,
                "--collections-path", collections], env=env, cwd=build, timeout=600)
    check(proc)
    listed = json.loads(check(run([tool("ansible-galaxy"), "collection", "list", FQCN_PREFIX, "--format", "json"],
                                  env=env)).stdout)
    assert [found[FQCN_PREFIX]["version"] for found in listed.values() if FQCN_PREFIX in found] == [galaxy_version()]

    # ansible-builder's builder stage runs this script over /usr/share/ansible/collections.
    proc = run([sys.executable, build / "scripts" / "introspect.py", "introspect", "--sanitize",
                "--user-pip", build / "requirements.txt", collections], timeout=120)
    check(proc)
    found = {_requirement_names_of(line) for line in yaml.safe_load(proc.stdout)["python"]
             if line.endswith(f"# from collection {FQCN_PREFIX}")}
    assert found == declared_python_deps(), f"introspection found {found} for {FQCN_PREFIX}:\n{proc.stdout}"


def _imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


def _local_names():
    """Modules of the collection itself (a fallback `import _sibling` for tests is not third-party)."""
    return {path.stem for path in (COLLECTION_DIR / "plugins").rglob("*.py")}


def _third_party(name):
    return (name not in sys.stdlib_module_names and name not in {"ansible", "ansible_collections", "__future__"}
            and name not in _local_names())


def test_declared_python_deps_match_controller_imports():
    assert yaml.safe_load(META_EE.read_text())["version"] == 1
    declared = declared_python_deps()
    needed = set()
    for path in sorted((COLLECTION_DIR / "plugins").rglob("*.py")):
        kind = path.relative_to(COLLECTION_DIR / "plugins").parts[0]
        if kind in ("modules", "module_utils"):
            continue
        for name, _ in _imports(path):
            if _third_party(name) and name not in PROVIDED_BY_ANSIBLE_CORE:
                needed.add(IMPORT_TO_DISTRIBUTION.get(name, name).lower())
    assert needed == declared, (
        f"controller-side plugins import {sorted(needed)}, meta/ee-requirements.txt declares {sorted(declared)}")
    pyproject_deps = {re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0].lower()
                      for dep in _pyproject()["project"]["dependencies"]}
    assert declared <= pyproject_deps, f"pyproject.toml lacks {sorted(declared - pyproject_deps)}"


def test_modules_import_only_the_standard_library():
    bad = []
    for sub in ("modules", "module_utils"):
        for path in sorted((COLLECTION_DIR / "plugins" / sub).rglob("*.py")):
            for name, line in _imports(path):
                if _third_party(name):
                    bad.append(f"{path.relative_to(COLLECTION_DIR)}:{line}: imports {name}")
    assert not bad, "code that runs on targets must need only the standard library:\n" + "\n".join(bad)


def _pyproject():
    import tomllib
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
