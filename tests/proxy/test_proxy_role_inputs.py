"""The proxy role refuses bad input early, with messages that say what to fix, and never prints a secret.

Real ansible-playbook runs of the role against localhost; nothing is deployed (each case fails in preflight).
"""

from __future__ import annotations

import re
import secrets

import pytest

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
    ],
    ids=["short-jwt-secret", "no-admin-password", "no-storage-key", "unknown-priority-name", "bad-engine",
         "bad-network", "tls-omniroute-not-on-loopback", "tls-certificate-without-key", "tls-bad-service"],  # fmt: skip
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
