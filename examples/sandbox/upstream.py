#!/usr/bin/env python3
"""One stand-in upstream AI provider for the sandbox: a tiny OpenAI-compatible server on 127.0.0.1.

    upstream.py KIND NAME PORT_FILE [MODEL ...]

KIND is ``healthy`` (answers every chat completion with "hello from NAME", as SSE when the request streams),
``error500`` (HTTP 500) or ``ratelimit429`` (HTTP 429). Every kind lists its models on ``GET /v1/models``.
It listens on a free port, writes that port to PORT_FILE once it accepts connections, and logs one line
per chat completion to stdout. With ``UPSTREAM_API_KEY`` in the environment it demands
``Authorization: Bearer <key>`` (401 otherwise), so an answer proves the proxy forwarded the key it was given.
Standard library only, so the sandbox does not depend on the test suite (whose richer stand-in,
tests/support/upstreams.py, records requests in-process for assertions).
"""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KIND, NAME, PORT_FILE = sys.argv[1:4]
MODELS = sys.argv[4:] or ["gpt-4o-mini"]
API_KEY = os.environ.get("UPSTREAM_API_KEY")
REPLY = f"hello from {NAME}"
STATUS = {"healthy": 200, "error500": 500, "ratelimit429": 429}[KIND]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message, code):
        self.send_json(status, {"error": {"message": f"{NAME}: {message}", "type": code, "code": code}})

    def authorized(self):
        return API_KEY is None or self.headers.get("Authorization") == f"Bearer {API_KEY}"

    def do_GET(self):  # noqa: N802 (http.server naming)
        if self.path.split("?")[0].rstrip("/") not in ("/v1/models", "/models"):
            return self.error(404, "no such route", "not_found")
        if not self.authorized():
            return self.error(401, "invalid api key", "invalid_api_key")
        self.send_json(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": NAME} for m in MODELS]})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path.split("?")[0].rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            return self.error(404, "no such route", "not_found")
        status = STATUS if self.authorized() else 401
        print(f"{NAME}: chat completion model={body.get('model')} stream={bool(body.get('stream'))} -> {status}",
              flush=True)
        if status == 401:
            return self.error(401, "invalid api key", "invalid_api_key")
        if status == 500:
            return self.error(500, "internal server error", "server_error")
        if status == 429:
            return self.error(429, "rate limit exceeded", "rate_limit_exceeded")
        model, created, usage = body.get("model") or MODELS[0], int(time.time()), {
            "prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
        if not body.get("stream"):
            message = {"role": "assistant", "content": REPLY}
            return self.send_json(200, {"id": "chatcmpl-sandbox", "object": "chat.completion", "created": created,
                                        "model": model, "usage": usage,
                                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for delta, finish in (({"role": "assistant", "content": REPLY}, None), ({}, "stop")):
            chunk = {"id": "chatcmpl-sandbox", "object": "chat.completion.chunk", "created": created, "model": model,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if finish:
                chunk["usage"] = usage
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(PORT_FILE + ".tmp", "w") as handle:
    handle.write(str(server.server_address[1]))
os.replace(PORT_FILE + ".tmp", PORT_FILE)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
