"""`ansible-test sanity` over the whole collection, offline, with the venv's Python and no docker.

scripts/ansible-test-bootstrap.sh puts the offline get-pip stand-in where ansible-test looks for it
and runs ansible-test from the real collection directory. Cold (venvs per sanity test built):
about a minute; warm: a few seconds.
"""
import re
import sys

import pytest

from tests.support.packaging import COLLECTION_DIR, REPO_ROOT, ansible_env, describe, run


@pytest.mark.slow  # cold run builds ~10 venvs (about a minute); warm about 10 s
def test_ansible_test_sanity_passes():
    env = ansible_env()
    proc = run([REPO_ROOT / "scripts" / "ansible-test-bootstrap.sh", "sanity"], env=env, timeout=1800)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, describe(proc)
    # ansible-test prints which tests ran; make sure it really looked at the collection.
    assert 'Running sanity test "validate-modules"' in output, describe(proc)
    assert f'Running sanity test "compile" on Python {sys.version_info[0]}.{sys.version_info[1]}' in output, describe(proc)
    # A sanity test that silently skipped because a tool is missing is a hole, not a pass.
    missing = re.findall(r'Required program "([^"]+)" not found', output)
    assert not missing, (
        f"sanity tests skipped for lack of {missing}: add them to scripts/system-packages.txt\n"
        + describe(proc))
    assert "Skipping sanity test" not in output, describe(proc)


def test_sanity_ignores_are_justified():
    """tests/sanity/ignore-*.txt may silence a sanity finding only with a reason on the same line."""
    unjustified = []
    for path in sorted((COLLECTION_DIR / "tests" / "sanity").glob("ignore-*.txt")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("#") and not re.search(r"\s#\s*\S", line):
                unjustified.append(f"{path.relative_to(COLLECTION_DIR)}:{number}: {line}")
    assert not unjustified, "sanity ignores without a `# reason`:\n" + "\n".join(unjustified)
