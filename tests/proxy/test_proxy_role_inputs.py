"""The proxy role refuses bad input early, with messages that say what to fix, and never prints a secret.

Real ansible-playbook runs of the role against localhost; nothing is deployed (each case fails in preflight).
"""

from __future__ import annotations

import re
import subprocess
import sys
import secrets

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import omniroute as omr

PLAY = """\
- name: Proxy role with bad input
  hosts: localhost
  gather_facts: false
  roles:
    - role: omniroute.opencode.proxy
"""


def good_vars(**overrides) -> dict:
    role_vars = {
        "omniroute_proxy_engine_environment": omr.engine_environment(),
        "omniroute_proxy_container_name": f"{omr.CONTAINER_PREFIX}inputs-{secrets.token_hex(3)}",
        "omniroute_proxy_admin_password": "adm-" + secrets.token_hex(8),
        "omniroute_proxy_jwt_secret": secrets.token_hex(32),
        "omniroute_proxy_api_key_secret": secrets.token_hex(32),
        "omniroute_proxy_storage_encryption_key": secrets.token_hex(32),
        "omniroute_proxy_providers": [
            {"name": "one", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-one-" + secrets.token_hex(8),
             "models": ["m"]},
        ],  # fmt: skip
        "omniroute_proxy_provider_priority": ["one"],
        "omniroute_proxy_tls_enabled": False,
    }
    role_vars.update(overrides)
    return role_vars


def run(role_vars: dict, tmp_path):
    role_vars.setdefault("omniroute_proxy_config_dir", str(tmp_path / "etc"))
    return omr.ansible_playbook(PLAY, extra_vars=role_vars, timeout=300)


def secret_values(role_vars: dict) -> list[str]:
    values = [v for k, v in role_vars.items() if re.search(r"password|secret|key$", k) and isinstance(v, str)]
    values += [p["api_key"] for p in role_vars.get("omniroute_proxy_providers", [])]
    return [v for v in values if len(v) >= 8]


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"omniroute_proxy_jwt_secret": "short"}, "omniroute_proxy_jwt_secret"),
        ({"omniroute_proxy_admin_password": ""}, "omniroute_proxy_admin_password"),
        ({"omniroute_proxy_storage_encryption_key": None}, "omniroute_proxy_storage_encryption_key"),
        ({"omniroute_proxy_provider_priority": ["one", "nope"]}, "not declared in omniroute_proxy_providers (nope)"),
        # choices are enforced by meta/argument_specs.yml before any task runs
        ({"omniroute_proxy_engine": "lxc"}, "value of omniroute_proxy_engine must be one of: podman, docker"),
        ({"omniroute_proxy_network_mode": "macvlan"}, "value of omniroute_proxy_network_mode must be one of: bridge, host"),
        # the TLS front: OmniRoute stays on loopback behind it; certificate and key go together
        ({"omniroute_proxy_tls_enabled": True, "omniroute_proxy_bind_address": "0.0.0.0"},
         "OmniRoute must stay on loopback behind the front (omniroute_proxy_bind_address is 0.0.0.0"),
        ({"omniroute_proxy_tls_enabled": True, "omniroute_proxy_tls_certificate": "-----BEGIN CERTIFICATE-----"},
         "omniroute_proxy_tls_certificate and omniroute_proxy_tls_private_key go together"),
        ({"omniroute_proxy_tls_enabled": True, "omniroute_proxy_tls_service": "launchd"},
         "value of omniroute_proxy_tls_service must be one of: auto, systemd, direct"),
        # replicas: one declared key for all of them, one URL, well-formed entries
        ({"omniroute_proxy_replicas": ["127.0.0.1:20128", "127.0.0.1:20129"],
          "omniroute_proxy_public_url": "https://front.example"},
         "declare the shared client key (omniroute_proxy_client_key, from ansible-vault) or per-developer keys"),
        ({"omniroute_proxy_replicas": ["127.0.0.1:20128", "127.0.0.1:20129"],
          "omniroute_proxy_client_key": "sk-" + secrets.token_hex(12)},
         "needs omniroute_proxy_public_url set to the front's URL"),
        ({"omniroute_proxy_replicas": ["proxy2.internal"]}, "each must be address:port"),
        ({"omniroute_proxy_replicas": ["127.0.0.1:20128", "127.0.0.1:20128"]}, "each must be address:port"),
        ({"omniroute_proxy_tls_enabled": True, "omniroute_proxy_bind_address": "10.0.5.11",
          "omniroute_proxy_replicas": ["10.0.5.12:20128"]},
         "list 10.0.5.11:20128 in omniroute_proxy_replicas"),
        ({"omniroute_proxy_tls_next_upstream": ["error", "http_418"]},
         "value of omniroute_proxy_tls_next_upstream must be one or more of"),
    ],
    ids=["short-jwt-secret", "no-admin-password", "no-storage-key", "unknown-priority-name", "bad-engine",
         "bad-network", "tls-omniroute-not-on-loopback", "tls-certificate-without-key", "tls-bad-service",
         "replicas-generated-key", "replica-without-front-or-url", "replica-without-port", "replica-twice",
         "front-on-unlisted-private-address", "bad-next-upstream"],  # fmt: skip
)
def test_bad_input_fails_in_preflight_with_a_clear_message(tmp_path, overrides, expected):
    role_vars = good_vars(**overrides)
    role_vars = {k: v for k, v in role_vars.items() if v is not None}
    result = run(role_vars, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert expected in output, output[-3000:]
    leaked = [s[:6] for s in secret_values(role_vars) if s in output]
    assert not leaked, f"secrets in the output: {leaked}"
    assert not (tmp_path / "etc").exists(), "a failed preflight wrote files"


def test_missing_engine_is_named(tmp_path):
    # The docker CLI is here but no daemon runs: the role must say so instead of failing deep in a module.
    result = run(good_vars(omniroute_proxy_engine="docker"), tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "docker does not run on localhost" in output, output[-3000:]


def test_docker_without_requests_on_the_target_is_named(tmp_path):
    # community.docker needs requests on the target: a Python with only its standard library must get a clear
    # preflight error, not a failure deep inside the container task.
    venv = tmp_path / "bare-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        f"all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {venv / 'bin' / 'python'}\n"
    )
    role_vars = good_vars(omniroute_proxy_engine="docker")
    role_vars["omniroute_proxy_config_dir"] = str(tmp_path / "etc")
    result = omr.ansible_playbook(PLAY, extra_vars=role_vars, inventory=inventory, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "community.docker needs the Python package requests on localhost" in output, output[-3000:]
    assert str(venv / "bin" / "python") in output
    assert not (tmp_path / "etc").exists()


VERSION_PLAY = """\
- name: Classify version changes with the role's own rule
  hosts: localhost
  gather_facts: false
  vars_files:
    - {vars_file}
  tasks:
    - name: Print one classification per pair
      ansible.builtin.debug:
        msg: "CHANGE {{{{ item.0 }}}} {{{{ item.1 }}}} {{{{ _omniroute_proxy_version_change }}}}"
      vars:
        _omniroute_proxy_running_version: "{{{{ item.0 }}}}"
        omniroute_proxy_version: "{{{{ item.1 }}}}"
      loop: "{{{{ e2e_pairs }}}}"
"""

dotted = st.lists(st.integers(0, 30), min_size=1, max_size=4).map(lambda parts: ".".join(map(str, parts)))


def expected_change(running: str, declared: str) -> str:
    """Independent reference: numeric comparison of the dotted parts."""
    if running == declared:
        return "none"
    as_tuple = lambda v: tuple(int(p) for p in v.split("."))  # noqa: E731
    return "downgrade" if as_tuple(declared) < as_tuple(running) else "upgrade"


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(dotted, dotted), min_size=25, max_size=25))
def test_version_change_is_classified_numerically(pairs, tmp_path):
    # Upgrades and refused downgrades hang on this rule: "3.10.0" is newer than "3.9.9", whatever strings say.
    pairs = pairs + [("3.9.9", "3.10.0"), ("3.10.0", "3.9.9"), ("3.7.9", "3.7.9"), ("latest", "3.7.9"), ("", "3.7.9")]
    play = VERSION_PLAY.format(vars_file=omr.ROLE_DIR / "vars" / "main.yml")
    result = omr.ansible_playbook(play, extra_vars={"e2e_pairs": [list(p) for p in pairs]}, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    got = re.findall(r'"msg": "CHANGE (\S*) (\S+) (\w+)"', result.stdout)
    expected = [(r, d, expected_change(r, d)) for r, d in pairs[:-2]]
    expected += [("latest", "3.7.9", "change"), ("", "3.7.9", "none")]
    assert got == expected
