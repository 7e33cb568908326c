"""The omniroute_config module entry point, run in-process with patched arguments (no server needed)."""

from __future__ import annotations

import json
import socket

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.omniroute.opencode.plugins.modules import omniroute_config


def run_module(capsys, args):
    with patch_module_args(args), pytest.raises(SystemExit):
        omniroute_config.main()
    return json.loads(capsys.readouterr().out)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_invalid_declaration_lists_every_problem_before_contacting_anything(capsys):
    result = run_module(capsys, {
        "api_url": f"http://127.0.0.1:{closed_port()}",  # never contacted: validation comes first
        "admin_password": "pw-not-printed-1234",
        "providers": [
            {"name": "a", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-secret-a-123456", "models": ["m1"]},
            {"name": "a", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-secret-b-123456", "models": ["m1"]},
        ],
        "combos": [{"name": "no spaces allowed", "models": ["a/m1"]}, {"name": "x", "models": ["ghost/m1"]}],
        "provider_priority": ["a", "zzz"],
    })  # fmt: skip
    assert result["failed"] is True
    assert result["msg"].startswith("invalid declaration, nothing was changed")
    assert len(result["errors"]) >= 3
    text = json.dumps(result)
    assert "duplicate provider name" in text and "'no spaces allowed' is invalid" in text and "'zzz'" in text
    assert "sk-secret" not in text and "pw-not-printed" not in text


def test_unreachable_server_fails_with_what_to_fix(capsys):
    result = run_module(capsys, {
        "api_url": f"http://127.0.0.1:{closed_port()}/v1",
        "admin_password": "pw-not-printed-1234",
        "wait_timeout": 0,
    })  # fmt: skip
    assert result["failed"] is True
    assert "is unreachable" in result["msg"] and "wait_timeout" in result["msg"]


def test_bad_api_url(capsys):
    result = run_module(capsys, {"api_url": "127.0.0.1:20128", "admin_password": "x"})
    assert result["failed"] is True and "is not an http(s) URL" in result["msg"]


def test_argument_spec_matches_documentation():
    import yaml

    # The documentation is beside the module (plugins/modules/omniroute_config.yml), not in it.
    with open(omniroute_config.__file__[:-len(".py")] + ".yml", encoding="utf-8") as sidecar:
        doc = yaml.safe_load(sidecar)["DOCUMENTATION"]
    spec = omniroute_config.argument_spec()
    fragment_options = {"api_url", "admin_password", "timeout", "wait_timeout", "validate_certs"}
    assert set(doc["options"]) | fragment_options == set(spec)
    for name, option in doc["options"].items():
        assert option.get("default") == spec[name].get("default"), name
