"""OpenCode's own JSONC parser (npm jsonc-parser, pinned) as a reference, run in Node.

Installed once into the cache, keyed by version, like the OpenCode binary. One long-lived Node
process answers every request of a test session over a pipe (a JSON line each way), so a
property test costs no process start per example.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import pathlib
import subprocess
import threading

from tests.support.opencode import CACHE

JSONC_PARSER_VERSION = "3.3.1"  # the version OpenCode 1.18.33 bundles (its parse error codes match)
SCRIPT = pathlib.Path(__file__).with_name("jsonc_reference.js")
_NONFINITE = "\u0000nonfinite"


def jsonc_parser_module() -> pathlib.Path:
    """Path of the installed jsonc-parser package, installing it from npm on first use."""
    prefix = CACHE / f"jsonc-parser-{JSONC_PARSER_VERSION}"
    package = prefix / "node_modules" / "jsonc-parser"
    if (package / "package.json").exists():
        return package
    prefix.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".jsonc-parser-{JSONC_PARSER_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test sessions install once
        if not (package / "package.json").exists():
            subprocess.run(
                ["npm", "install", "--prefix", str(prefix), "--no-save", "--ignore-scripts", "--no-audit",
                 "--no-fund", f"jsonc-parser@{JSONC_PARSER_VERSION}"],
                check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    return package


def _decode_nonfinite(obj):
    if len(obj) == 1 and _NONFINITE in obj:
        return float(obj[_NONFINITE].replace("Infinity", "inf"))
    return obj


class JsoncReference:
    """Requests to one Node process running tests/support/jsonc_reference.js."""

    def __init__(self):
        self._process = subprocess.Popen(
            ["node", str(SCRIPT), str(jsonc_parser_module())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1)
        self._lock = threading.Lock()

    def _ask(self, request):
        # ensure_ascii: lone surrogates travel as \\udXXX escapes, which JSON.parse restores.
        with self._lock:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the jsonc-parser reference process died (rc %s)" % self._process.poll())
        answer = json.loads(line, object_hook=_decode_nonfinite)
        if "crashed" in answer:
            raise RuntimeError("the jsonc-parser reference failed on %r: %s" % (request, answer["crashed"]))
        return answer

    def merge(self, text, path, value, schema):
        """jsonc-parser's verdict on ``text`` (as OpenCode reads it) and its own merge of ``value``.

        Returns ``errors`` ([code, offset] pairs), ``value``, ``structure`` (root kind, how many
        times each key of ``path`` is written and the kind of the last one) and ``modified``
        (``text``, ``errors`` and ``value`` of modify+applyEdits, or ``threw``).
        """
        return self._ask({"text": text, "path": path, "value": value, "schema": schema})

    def parse(self, text):
        answer = self._ask({"text": text, "path": []})
        return answer["errors"], answer["value"]

    def tokens(self, text):
        """The scanner's tokens: [kind, offset, length]; 12 and 13 are line and block comments."""
        return self._ask({"tokens": text})["tokens"]

    def close(self):
        if self._process.poll() is None:
            self._process.stdin.close()
            self._process.wait(timeout=10)


_shared = None


def reference() -> JsoncReference:
    """The session's one reference process, started on first use."""
    global _shared
    if _shared is None:
        _shared = JsoncReference()
        atexit.register(_shared.close)
    return _shared
