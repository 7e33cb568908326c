"""ansible-lint (production profile, offline) over the collection's roles, playbooks and metadata.

The configuration is the repository's .ansible-lint: no rule skipped except var-naming[no-role-prefix],
whose intent (role variables carry the role's prefix) test_role_variables_carry_the_role_prefix
enforces with the prefixes of the collection's public interface.
"""
import os
import re

import pytest
import yaml

from tests.support.packaging import COLLECTION_DIR, REPO_ROOT, ansible_env, describe, roles, run, tool

LINT_CONFIG = REPO_ROOT / ".ansible-lint"
# The public variable prefix of each role (fixed interface); private names add a leading "_".
ROLE_PREFIXES = {"proxy": "omniroute_proxy_", "client": "opencode_client_"}
ALLOWED_SKIPS = {"var-naming[no-role-prefix]"}


def lint_targets():
    targets = ["galaxy.yml", "meta"]
    for name in ("roles", "playbooks", "changelogs"):
        if (COLLECTION_DIR / name).is_dir() and any((COLLECTION_DIR / name).iterdir()):
            targets.append(name)
    # The playbook the install checks run from installed copies is held to the same standard.
    targets.append(os.path.relpath(REPO_ROOT / "tests" / "packaging" / "playbooks", COLLECTION_DIR))
    return targets


def test_lint_config_skips_nothing_else():
    config = yaml.safe_load(LINT_CONFIG.read_text())
    assert config["profile"] == "production"
    assert config.get("offline") is True
    assert set(config.get("skip_list", [])) <= ALLOWED_SKIPS, config.get("skip_list")
    assert not config.get("warn_list"), f"warn_list downgrades findings: {config.get('warn_list')}"
    assert not config.get("enable_list") or "no-role-prefix" not in str(config.get("enable_list"))


def test_ansible_lint_production_profile_passes():
    assert roles(), "no role with tasks/ found under roles/: nothing to lint"
    proc = run(
        [tool("ansible-lint"), "-c", LINT_CONFIG, "--profile", "production", "--offline",
         "--nocolor", "-f", "pep8", *lint_targets()],
        cwd=COLLECTION_DIR, env=ansible_env(), timeout=900,
    )
    assert proc.returncode == 0, describe(proc)
    # ansible-lint reports files it could not load as warnings and still exits 0 in some versions.
    assert "load-failure" not in proc.stdout + proc.stderr, describe(proc)


def _names_in_tasks(tasks):
    """(kind, name) of every variable a task list defines: register, set_fact, vars, loop_var."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for key in ("block", "rescue", "always"):
            yield from _names_in_tasks(task.get(key))
        if isinstance(task.get("register"), str):
            yield "register", task["register"]
        for name in (task.get("vars") or {}):
            yield "vars", name
        loop_var = (task.get("loop_control") or {}).get("loop_var")
        if loop_var:
            yield "loop_var", loop_var
        for module in ("ansible.builtin.set_fact", "set_fact"):
            args = task.get(module)
            if isinstance(args, dict):
                for name in args:
                    if name != "cacheable":
                        yield "set_fact", name


def _role_variable_names(role_dir):
    for sub in ("defaults", "vars"):
        for path in sorted((role_dir / sub).glob("*.y*ml")):
            for name in (yaml.safe_load(path.read_text()) or {}):
                yield path, sub, name
    spec_file = role_dir / "meta" / "argument_specs.yml"
    if spec_file.exists():
        specs = (yaml.safe_load(spec_file.read_text()) or {}).get("argument_specs") or {}
        for entry in specs.values():
            for name in (entry.get("options") or {}):
                yield spec_file, "argument_specs", name
    for sub in ("tasks", "handlers"):
        for path in sorted((role_dir / sub).rglob("*.y*ml")):
            for kind, name in _names_in_tasks(yaml.safe_load(path.read_text())):
                yield path, kind, name


@pytest.mark.parametrize("role", roles() or ["<no roles yet>"])
def test_role_variables_carry_the_role_prefix(role):
    role_dir = COLLECTION_DIR / "roles" / role
    assert role_dir.is_dir(), "no roles found"
    prefix = ROLE_PREFIXES.get(role, f"{role}_")
    pattern = re.compile(rf"^_*{re.escape(prefix)}[a-z0-9_]+$")
    bad = [f"{path.relative_to(COLLECTION_DIR)}: {kind} {name!r}"
           for path, kind, name in _role_variable_names(role_dir)
           if not name.startswith("ansible_") and not pattern.match(name)]
    assert not bad, f"role {role} variables must start with {prefix!r} (private ones with '_'):\n" + "\n".join(bad)
