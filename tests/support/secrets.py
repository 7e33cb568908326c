"""Find planted secrets in output text and files, in any form a leak could take.

``find_leaks(text, secrets)`` looks for each secret's full value, every 12-character piece of it
(a truncated or partly masked value still leaks), and its base64 form at each of the three byte
alignments (a secret inside a base64-encoded file, as ``slurp`` returns it). It returns
descriptions that never contain the secret itself, so an assertion message does not leak it
either. ``files_to_scan(root)`` lists the files under ``root`` that are readable by others than
their owner (anything not 0600/0400/0700 or stricter): the places a secret must never land.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

PIECE = 12


def _needles(secret: str) -> list[tuple[str, str]]:
    data = secret.encode()
    needles = [("value", secret)]
    if len(secret) > PIECE:
        needles += [("12-character piece", secret[i:i + PIECE]) for i in range(len(secret) - PIECE + 1)]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode().rstrip("=")
        # Drop the characters that mix in the unknown bytes around the secret.
        start = 4 if offset else 0
        end = (offset + len(data)) // 3 * 4
        middle = encoded[start:end]
        if len(middle) >= PIECE:
            needles.append(("base64 (alignment %d)" % offset, middle))
            needles.append(("urlsafe base64 (alignment %d)" % offset, middle.replace("+", "-").replace("/", "_")))
    return needles


def find_leaks(text: str, secrets, where: str = "output") -> list[str]:
    """One line per secret found in ``text`` (by label, never by value)."""
    found = []
    items = secrets.items() if isinstance(secrets, dict) else ((s[:4] + "...", s) for s in secrets)
    for label, secret in items:
        if not secret:
            continue
        for kind, needle in _needles(secret):
            if needle in text:
                found.append("%s: %s of secret %s" % (where, kind, label))
                break
    return found


def files_to_scan(root) -> list[Path]:
    """Regular files under ``root`` whose mode lets anyone but the owner read them."""
    paths = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode) and mode & 0o077:
                paths.append(path)
    return paths


def find_leaks_in_files(root, secrets, exclude=()) -> list[str]:
    """Leaks in the files under ``root`` that others than their owner may read (``exclude``: paths allowed to)."""
    found = []
    skip = {str(path) for path in exclude}
    for path in files_to_scan(root):
        if str(path) not in skip:
            found += find_leaks(path.read_text(errors="replace"), secrets, where=str(path))
    return found


def planted_config(tag: str) -> tuple[str, dict[str, str]]:
    """A valid OpenCode 1.18.33 config (JSONC) with a distinct secret in every place the masking rule names.

    Returns (text, {label: secret}). ``tag`` keeps values distinct between runs; the omniroute entry
    holds an old key that a merge replaces.
    """
    names = ["old_omniroute_key", "other_apikey", "header_authorization", "header_x_api_key",
             "provider_option_token", "deep_password", "mcp_env", "mcp_remote_header", "mcp_oauth_secret"]
    # Random values only: a word in a value ("authorization") would match ordinary output as a 12-character piece.
    planted = {name: "lk%d%s%s" % (index, tag[:4], os.urandom(10).hex()) for index, name in enumerate(names)}
    text = """// planted secrets for the leak test: every one must stay out of all output
{
  "$schema": "https://opencode.ai/config.json",
  "provider": {
    "omniroute": {
      "npm": "@ai-sdk/openai-compatible",
      "name": "OmniRoute",
      "options": {"baseURL": "http://127.0.0.1:20128/v1/v1", "apiKey": "%(old_omniroute_key)s"},
      "models": {"old-model": {"name": "Old"}},
    },
    "team": {
      "npm": "@ai-sdk/openai-compatible",
      "name": "Team",
      "options": {
        "baseURL": "https://llm.example.invalid/v1",
        "apiKey": "%(other_apikey)s",
        "headers": {"Authorization": "Bearer %(header_authorization)s", "x-api-key": "%(header_x_api_key)s",
                    "X-From-Env": "Bearer {env:TEAM_TOKEN}"},
        "sessionToken": "%(provider_option_token)s",
        "extra": {"nested": {"Password": "%(deep_password)s"}},
      },
      "models": {"team-model": {"name": "Team model"}},
    },
  },
  "mcp": {
    "local-tool": {"type": "local", "command": ["tool"], "environment": {"TOOL_SETTING": "%(mcp_env)s"}},
    "remote-tool": {
      "type": "remote", "url": "https://mcp.example.invalid/sse",
      "headers": {"X-Custom": "%(mcp_remote_header)s"},
      "oauth": {"clientId": "team-client", "clientSecret": "%(mcp_oauth_secret)s"},
    },
  },
}
""" % planted
    return text, planted
