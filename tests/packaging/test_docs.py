"""`ansible-doc` renders every module, filter and role of the collection, and the examples hold up.

- every plugins/modules/*.py, every filter (plugins/filter/*) and every role with
  meta/argument_specs.yml renders with `ansible-doc -t <type> omniroute.opencode.<name>`: exit 0,
  non-empty text, no warnings;
- EXAMPLES are YAML task lists that use FQCNs; module examples pass `ansible-playbook --syntax-check`
  and only use documented options (with every required one); filter examples (pure functions) run
  as written on localhost;
- every documented thing says which version added it (the changelog lists it as new from that);
- every variable in a role's defaults/ is documented in its argument specs.
"""
import functools
import json
import re

import pytest
import yaml

from tests.support.packaging import (
    COLLECTION_DIR, FQCN_PREFIX, ansible_env, check, describe, filters, modules, roles,
    roles_with_argument_specs, run, tool, warnings_in,
)

TASK_KEYWORDS = {
    "name", "vars", "when", "register", "loop", "loop_control", "tags", "become", "become_user",
    "delegate_to", "run_once", "check_mode", "diff", "no_log", "changed_when", "failed_when",
    "notify", "environment", "ignore_errors", "until", "retries", "delay", "with_items", "args",
    "module_defaults", "throttle", "timeout", "become_method", "connection", "any_errors_fatal",
}


def _params(kind, names):
    # A check over an empty list would pass without looking at anything: make that a failure.
    return names or [pytest.param(f"<no {kind} found>", marks=pytest.mark.xfail(strict=True, reason="nothing to check"))]


def ansible_doc(plugin_type, name, *extra):
    return run([tool("ansible-doc"), "-t", plugin_type, *extra, f"{FQCN_PREFIX}.{name}"], env=ansible_env(), timeout=120)


@functools.lru_cache(maxsize=None)
def doc_json(plugin_type, name):
    proc = check(ansible_doc(plugin_type, name, "--json"))
    data = json.loads(proc.stdout)
    assert f"{FQCN_PREFIX}.{name}" in data, describe(proc)
    return data[f"{FQCN_PREFIX}.{name}"]


def assert_renders(plugin_type, name):
    proc = ansible_doc(plugin_type, name)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.strip(), f"ansible-doc printed nothing\n{describe(proc)}"
    assert f"{FQCN_PREFIX}.{name}" in proc.stdout, describe(proc)
    warnings = warnings_in(proc.stdout + proc.stderr)
    assert not warnings, "ansible-doc warned:\n" + "\n".join(warnings) + "\n" + describe(proc)
    assert "UNDOCUMENTED" not in proc.stdout, describe(proc)
    return proc.stdout


def example_tasks(plugin_type, name):
    data = doc_json(plugin_type, name)
    text = data.get("examples") or ""
    assert text.strip(), f"{name} has no EXAMPLES"
    try:
        tasks = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        pytest.fail(f"EXAMPLES of {name} is not YAML: {exc}\n{text}")
    assert isinstance(tasks, list) and tasks, f"EXAMPLES of {name} is not a list of tasks:\n{text}"
    for task in tasks:
        assert isinstance(task, dict) and task.get("name"), f"example task without a name in {name}: {task}"
    return data, tasks, text


def syntax_check(tmp_path, tasks):
    playbook = tmp_path / "examples.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Examples", "hosts": "localhost", "gather_facts": False,
                                         "tasks": tasks}], sort_keys=False))
    proc = run([tool("ansible-playbook"), "--syntax-check", "-i", "localhost,", playbook], env=ansible_env(),
               cwd=tmp_path)
    assert proc.returncode == 0, describe(proc)


@pytest.mark.parametrize("name", _params("module", modules()))
def test_module_doc_renders(name):
    text = assert_renders("module", name)
    for section in ("EXAMPLES", "RETURN"):
        assert section in text, f"{name}: ansible-doc shows no {section}\n{text}"


@pytest.mark.parametrize("name", _params("module", modules()))
def test_module_examples_use_documented_options(name, tmp_path):
    data, tasks, text = example_tasks("module", name)
    options = data["doc"].get("options") or {}
    known = set(options)
    for option in options.values():
        known.update(option.get("aliases") or [])
    required = {key for key, option in options.items() if option.get("required")}
    fqcn = f"{FQCN_PREFIX}.{name}"
    used = 0
    for task in tasks:
        modules_in_task = [key for key in task if key not in TASK_KEYWORDS]
        assert len(modules_in_task) == 1, f"example task {task.get('name')!r} of {name}: modules {modules_in_task}"
        module = modules_in_task[0]
        assert "." in module, f"example task {task.get('name')!r} of {name} uses a short name: {module}"
        if module != fqcn:
            continue
        used += 1
        args = task[module] or {}
        assert isinstance(args, dict), f"example {task['name']!r}: use YAML arguments, not k=v"
        unknown = set(args) - known
        assert not unknown, f"example {task['name']!r} of {name} uses undocumented options {sorted(unknown)}"
        missing = required - set(args)
        assert not missing, f"example {task['name']!r} of {name} lacks required options {sorted(missing)}"
        for key, value in args.items():
            choices = (options.get(key) or {}).get("choices")
            if choices and isinstance(value, (str, int, bool)) and "{{" not in str(value):
                assert value in choices, f"example {task['name']!r}: {key}={value!r} not in {choices}"
    assert used, f"no EXAMPLES task of {name} calls {fqcn}:\n{text}"
    syntax_check(tmp_path, tasks)


@pytest.mark.parametrize("name", _params("filter", filters()))
def test_filter_doc_renders(name):
    text = assert_renders("filter", name)
    assert "EXAMPLES" in text, f"{name}: ansible-doc shows no EXAMPLES\n{text}"


@pytest.mark.parametrize("name", _params("filter", filters()))
def test_filter_examples_run_as_written(name, tmp_path):
    _, tasks, text = example_tasks("filter", name)
    assert f"{FQCN_PREFIX}.{name}" in text, f"EXAMPLES of filter {name} never use {FQCN_PREFIX}.{name}"
    playbook = tmp_path / "examples.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": f"Examples of {FQCN_PREFIX}.{name}", "hosts": "localhost", "gather_facts": False,
        "connection": "local", "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "tasks": tasks}], sort_keys=False))
    proc = run([tool("ansible-playbook"), "-i", "localhost,", playbook], env=ansible_env(), cwd=tmp_path)
    assert proc.returncode == 0, f"EXAMPLES of {name} do not run as written:\n{text}\n{describe(proc)}"
    assert "failed=0" in proc.stdout, describe(proc)


@pytest.mark.parametrize("name", _params("role", roles_with_argument_specs()))
def test_role_doc_renders(name):
    text = assert_renders("role", name)
    assert re.search(r"^ENTRY POINT: \*?main\*? - \S", text, re.M), f"no documented main entry point:\n{text}"


@pytest.mark.parametrize("name", _params("role", roles()))
def test_every_role_has_argument_specs(name):
    assert (COLLECTION_DIR / "roles" / name / "meta" / "argument_specs.yml").exists(), \
        f"roles/{name}/meta/argument_specs.yml is missing: ansible-doc cannot document the role"


@pytest.mark.parametrize("name", _params("role", roles_with_argument_specs()))
def test_role_defaults_are_documented(name):
    role_dir = COLLECTION_DIR / "roles" / name
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    documented = set()
    for entry in specs.values():
        documented.update((entry.get("options") or {}).keys())
        for key, option in (entry.get("options") or {}).items():
            assert option.get("description"), f"roles/{name} argument spec {key} has no description"
            assert option.get("type") or option.get("choices"), f"roles/{name} argument spec {key} has no type"
    undocumented = []
    for path in sorted((role_dir / "defaults").glob("*.y*ml")):
        for key in yaml.safe_load(path.read_text()) or {}:
            if not key.startswith("_") and key not in documented:
                undocumented.append(f"{path.relative_to(COLLECTION_DIR)}: {key}")
    assert not undocumented, "defaults missing from meta/argument_specs.yml:\n" + "\n".join(undocumented)


def _version_added(plugin_type, name):
    data = doc_json(plugin_type, name)
    if plugin_type == "role":
        return (data.get("entry_points") or {}).get("main", {}).get("version_added")
    return data["doc"].get("version_added")


@pytest.mark.parametrize(
    "plugin_type,name",
    [("module", n) for n in modules()] + [("filter", n) for n in filters()]
    + [("role", n) for n in roles_with_argument_specs()] or [pytest.param("module", "<none>", marks=pytest.mark.xfail(strict=True))],
)
def test_version_added_is_documented(plugin_type, name):
    version = _version_added(plugin_type, name)
    assert version and re.fullmatch(r"\d+\.\d+\.\d+", str(version)), (
        f"{plugin_type} {name}: version_added missing or not a version ({version!r}); antsibull-changelog "
        f"only lists a {plugin_type} as new when it says which release added it"
        + (" (roles: set it on the entry point in meta/argument_specs.yml)" if plugin_type == "role" else ""))
