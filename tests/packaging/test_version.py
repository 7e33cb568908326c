"""One version number, kept in galaxy.yml, and a changelog managed by antsibull-changelog.

- pip's metadata version (setup.py reads galaxy.yml) is galaxy.yml's version;
- changelogs/changelog.yaml's latest release is that version, and it is up to date: a fresh
  `antsibull-changelog release` (which takes the version from galaxy.yml and records every new
  module, plugin, role and fragment) changes nothing;
- `antsibull-changelog lint` passes;
- no doc names another version of the collection.
"""
import json
import re
import shutil

import yaml
from packaging.version import Version

from tests.support.packaging import (
    COLLECTION_DIR, REPO_ROOT, ansible_env, check, copy_source_tree, describe, galaxy_version, run, tool,
)

CHANGELOG_DIR = COLLECTION_DIR / "changelogs"
CHANGELOG_YAML = CHANGELOG_DIR / "changelog.yaml"


def released_versions():
    data = yaml.safe_load(CHANGELOG_YAML.read_text())
    return sorted((data.get("releases") or {}), key=Version)


def test_galaxy_version_is_semver():
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", galaxy_version()), galaxy_version()


def test_pip_metadata_version_is_the_galaxy_version(tmp_path):
    # Metadata from a fresh copy of the source, as `pip install .` from a clone would build it.
    source = copy_source_tree(tmp_path / "src")
    report = tmp_path / "report.json"
    proc = run([tool("python"), "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
                "--quiet", "--report", report, source], timeout=600)
    check(proc)
    installs = json.loads(report.read_text())["install"]
    assert [item["metadata"]["name"] for item in installs] == ["omniroute-opencode"], installs
    assert installs[0]["metadata"]["version"] == galaxy_version(), describe(proc)


def test_changelog_latest_release_is_the_galaxy_version():
    assert CHANGELOG_YAML.exists(), "changelogs/changelog.yaml missing: run `antsibull-changelog release`"
    versions = released_versions()
    assert versions, "changelog.yaml records no release"
    assert versions[-1] == galaxy_version(), (
        f"changelog.yaml's latest release is {versions[-1]}, galaxy.yml says {galaxy_version()}: "
        "bump galaxy.yml (the one place the version lives) and run `antsibull-changelog release` "
        "in the collection directory")


def test_changelog_fragments_lint_clean():
    assert list((CHANGELOG_DIR / "fragments").glob("*.y*ml")), "no changelog fragment"
    proc = run([tool("antsibull-changelog"), "lint"], cwd=COLLECTION_DIR, env=ansible_env())
    assert proc.returncode == 0 and not proc.stdout.strip(), describe(proc)


def test_changelog_is_up_to_date(tmp_path):
    """Every fragment and every new module/plugin/role is recorded under galaxy.yml's version."""
    root = tmp_path / "collections"
    copy = root / "ansible_collections" / "omniroute" / "opencode"
    shutil.copytree(COLLECTION_DIR, copy, ignore=shutil.ignore_patterns(
        "tests", "__pycache__", ".plugin-cache.yaml", "*.tar.gz"))
    proc = run([tool("antsibull-changelog"), "release", "--reload-plugins"], cwd=copy,
               env=ansible_env(root), timeout=300)
    check(proc)
    before = yaml.safe_load(CHANGELOG_YAML.read_text())
    after = yaml.safe_load((copy / "changelogs" / "changelog.yaml").read_text())
    assert after == before, (
        "changelogs/changelog.yaml is stale (new fragments, modules, plugins or roles are not recorded): "
        "run `antsibull-changelog release` in ansible_collections/omniroute/opencode and commit "
        "changelogs/changelog.yaml and CHANGELOG.rst (if galaxy.yml's version was already published, "
        "bump it first).\n--- recorded ---\n" + yaml.safe_dump(before.get("releases", {}).get(galaxy_version()))
        + "\n--- would be ---\n" + yaml.safe_dump(after.get("releases", {}).get(galaxy_version())))
    rendered = (copy / "CHANGELOG.rst").read_text()
    assert (COLLECTION_DIR / "CHANGELOG.rst").read_text() == rendered, \
        "CHANGELOG.rst does not match changelog.yaml: run `antsibull-changelog generate`"
    assert f"v{galaxy_version()}" in rendered


VERSION_MENTIONS = [
    re.compile(r"omniroute[-_]opencode-(\d+\.\d+\.\d+)"),        # tarball / sdist / wheel names
    re.compile(r"omniroute\.opencode\s*(?:==|:|,|>=|version)\s*['\"]?(\d+\.\d+\.\d+)"),
]


def doc_files():
    files = [REPO_ROOT / "README.md", COLLECTION_DIR / "README.md"]
    files += sorted((REPO_ROOT / "docs").rglob("*.md")) if (REPO_ROOT / "docs").is_dir() else []
    files += sorted(COLLECTION_DIR.glob("meta/execution-environment*.yml"))
    files += sorted(COLLECTION_DIR.glob("execution-environment*.yml"))
    return [path for path in files if path.exists()]


def test_docs_name_no_other_version():
    files = doc_files()
    assert files, "no README.md or docs/*.md found"
    wrong = [f"{path.relative_to(REPO_ROOT)}: {match.group(0)}"
             for path in files for pattern in VERSION_MENTIONS for match in pattern.finditer(path.read_text())
             if match.group(1) != galaxy_version()]
    assert not wrong, f"docs name a version other than galaxy.yml's {galaxy_version()}: {wrong}"
