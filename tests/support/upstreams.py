"""Small OpenAI-compatible stand-ins for paid upstream AI providers, on 127.0.0.1, in threads.

Three behaviours (``kind``):

- ``"healthy"``: ``GET /v1/models`` lists its models; ``POST /v1/chat/completions`` answers with
  ``reply`` (default ``"hello from <name>"``), as SSE chunks when the request has ``"stream": true`` (ending
  with a usage chunk and ``data: [DONE]``), else one ``chat.completion`` JSON object.
- ``"error500"``: every chat completion gets HTTP 500 with an OpenAI-style error body.
- ``"ratelimit429"``: every chat completion gets HTTP 429 (``rate_limit_exceeded``); ``retry_after`` adds a
  ``Retry-After`` header.

All kinds answer ``/v1/models`` (OmniRoute probes it) and count what they receive.

API::

    up = start_upstream("healthy", name="good", models=["gpt-4o-mini"])
    up.url            # "http://127.0.0.1:<port>/v1"  (what an OpenAI-compatible client's baseURL takes)
    up.root           # "http://127.0.0.1:<port>"
    up.chat_count     # chat completion requests received (any outcome)
    up.requests       # list of RecordedRequest(method, path, model, stream, authorization)
    up.reset()        # clear counters
    up.stop()

    with running_upstreams(("healthy", "good"), ("error500", "bad")) as (good, bad): ...

``api_key`` makes a stand-in demand ``Authorization: Bearer <api_key>`` (401 otherwise), which proves that the
proxy forwards the provider key it was given. ``delay_s`` delays every chat answer (for benchmarks).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = ("healthy", "error500", "ratelimit429")
DEFAULT_MODELS = ("gpt-4o-mini", "claude-sonnet-4-5")


@dataclass
class RecordedRequest:
    method: str
    path: str
    model: str | None
    stream: bool | None
    authorization: str | None
    at: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    upstream: Upstream


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write (flushed by handle_one_request, or by _stream per event) and Nagle is
    # off: otherwise every keep-alive response waits for the client's delayed ACK (about 40 ms on Linux), which
    # would dwarf the proxy overhead the benchmark measures.
    wbufsize = -1
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, fmt, *args):  # keep pytest output clean
        pass

    # -------------------------------------------------------------------------------------- helpers
    def _send_json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _read_json(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/")

    # --------------------------------------------------------------------------------------- routes
    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        up = self.server.upstream
        path = self._path()
        up._record(self, "GET", path, None, None)
        if path in ("/v1/models", "/models"):
            if not up._authorized(self):
                return self._send_json(401, _error("invalid api key", "invalid_request_error", "invalid_api_key"))
            created = int(time.time())
            data = [{"id": m, "object": "model", "created": created, "owned_by": up.name} for m in up.models]
            return self._send_json(200, {"object": "list", "data": data})
        if path in ("", "/health", "/api/monitoring/health"):  # the last as OmniRoute's, for fronts put before it
            return self._send_json(200, {"status": "ok", "name": up.name, "kind": up.kind})
        return self._send_json(404, _error(f"no route {path}", "invalid_request_error", "not_found"))

    def do_POST(self) -> None:  # noqa: N802
        up = self.server.upstream
        path = self._path()
        body = self._read_json()
        model = body.get("model")
        stream = body.get("stream")
        up._record(self, "POST", path, model, stream)
        if path not in ("/v1/chat/completions", "/chat/completions"):
            return self._send_json(404, _error(f"no route {path}", "invalid_request_error", "not_found"))
        with up._lock:
            up.chat_count += 1
        if up.delay_s:
            time.sleep(up.delay_s)
        if not up._authorized(self):
            return self._send_json(401, _error("invalid api key", "invalid_request_error", "invalid_api_key"))
        if up.kind == "error500":
            return self._send_json(500, _error(f"{up.name}: internal server error", "server_error", "internal_error"))
        if up.kind == "ratelimit429":
            headers = {"Retry-After": str(up.retry_after)} if up.retry_after is not None else None
            return self._send_json(
                429, _error(f"{up.name}: rate limit exceeded", "rate_limit_error", "rate_limit_exceeded"), headers
            )
        model = model or up.models[0]
        if stream:
            return self._stream(up, model)
        created = int(time.time())
        return self._send_json(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": up.reply}, "finish_reason": "stop"}
                ],
                "usage": _usage(up.reply),
            },
        )

    def _stream(self, up: Upstream, model: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())

        def event(delta: dict, finish: str | None = None, usage: dict | None = None) -> None:
            payload = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage is not None:
                payload["usage"] = usage
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

        event({"role": "assistant", "content": ""})
        words = up.reply.split(" ")
        for index, word in enumerate(words):
            event({"content": word if index == 0 else " " + word})
        event({}, "stop", _usage(up.reply))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def _error(message: str, err_type: str, code: str) -> dict:
    return {"error": {"message": message, "type": err_type, "code": code}}


def _usage(reply: str) -> dict:
    completion = max(1, len(reply.split()))
    return {"prompt_tokens": 5, "completion_tokens": completion, "total_tokens": 5 + completion}


class Upstream:
    """One running stand-in (see the module docstring)."""

    def __init__(
        self,
        kind: str = "healthy",
        *,
        name: str | None = None,
        models: list[str] | tuple[str, ...] = DEFAULT_MODELS,
        reply: str | None = None,
        api_key: str | None = None,
        retry_after: int | None = None,
        delay_s: float = 0.0,
        port: int = 0,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.kind = kind
        self.name = name or kind
        self.models = list(models)
        self.reply = reply if reply is not None else f"hello from {self.name}"
        self.api_key = api_key
        self.retry_after = retry_after
        self.delay_s = delay_s
        self.chat_count = 0
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.upstream = self
        self.port = self._server.server_address[1]
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.root}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"upstream-{self.name}", daemon=True)
        self._thread.start()

    def _authorized(self, handler: BaseHTTPRequestHandler) -> bool:
        return self.api_key is None or handler.headers.get("Authorization") == f"Bearer {self.api_key}"

    def _record(self, handler: BaseHTTPRequestHandler, method: str, path: str, model, stream) -> None:
        with self._lock:
            self.requests.append(
                RecordedRequest(method, path, model, stream, handler.headers.get("Authorization"), time.time())
            )

    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.endswith("/chat/completions")]

    def reset(self) -> None:
        with self._lock:
            self.chat_count = 0
            self.requests.clear()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Upstream:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Upstream({self.kind!r}, name={self.name!r}, url={self.url!r}, chat_count={self.chat_count})"


def start_upstream(kind: str = "healthy", **kwargs) -> Upstream:
    """Start one stand-in in a daemon thread; returns it (``.url`` is the OpenAI base URL with ``/v1``)."""
    return Upstream(kind, **kwargs)


@contextlib.contextmanager
def running_upstreams(*specs):
    """Start several stand-ins: each spec is a kind, a (kind, name) tuple or a dict of Upstream kwargs."""
    started: list[Upstream] = []
    try:
        for spec in specs:
            if isinstance(spec, str):
                started.append(Upstream(spec))
            elif isinstance(spec, dict):
                started.append(Upstream(**spec))
            else:
                kind, name = spec
                started.append(Upstream(kind, name=name))
        yield tuple(started)
    finally:
        for up in started:
            up.stop()
