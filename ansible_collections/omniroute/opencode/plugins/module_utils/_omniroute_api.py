# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client for OmniRoute's management API (checked against 3.7.9), on the standard library only.

- ``POST /api/auth/login {"password"}`` sets the ``auth_token`` cookie; every ``/api/*`` call sends it back.
  (Bearer tokens get 403 on ``/api/*``; 3.7.9 has no management API keys.) The cookie is kept by hand, not
  with ``http.cookiejar``, so a ``Secure`` flag on a plain-http loopback URL cannot make it disappear.
- ``GET /api/monitoring/health`` answers without authentication once the server is up.

Errors are :class:`OmniRouteError` with a message that says what to fix; no secret is ever part of one.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request


class OmniRouteError(Exception):
    """A failed API call. ``status`` is the HTTP status (None when the server could not be reached)."""

    def __init__(self, message, status=None, method=None, path=None, body=None):
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path
        self.body = body


class OmniRouteUnreachable(OmniRouteError):
    """The server did not answer (connection refused, timeout, DNS)."""


class OmniRouteAuthError(OmniRouteError):
    """The admin password was refused."""


def management_root(url):
    """The server root for management calls: ``http://h:20128/v1/`` or ``http://h:20128/api`` -> ``http://h:20128``."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("api_url must be an http(s) URL such as http://127.0.0.1:20128")
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"api_url {url!r} is not an http(s) URL such as http://127.0.0.1:20128")
    path = parsed.path.rstrip("/")
    for suffix in ("/v1", "/api"):
        while path.endswith(suffix):
            path = path[: -len(suffix)].rstrip("/")
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))


def _error_text(body):
    """The human part of an OmniRoute error body (``{"error": "..."}`` or ``{"error": {"message", "details"}}``)."""
    if isinstance(body, dict):
        err = body.get("error", body.get("message"))
        if isinstance(err, dict):
            text = err.get("message") or json.dumps(err)
            details = err.get("details")
            if isinstance(details, list) and details:
                parts = []
                for detail in details:
                    if isinstance(detail, dict):
                        parts.append(f"{detail.get('field', '?')}: {detail.get('message', '')}")
                text = f"{text} ({'; '.join(parts)})" if parts else text
            return text
        if err is not None:
            return str(err)
    if isinstance(body, str):
        return body.strip()[:300]
    return json.dumps(body)[:300]


class OmniRouteClient:
    """Cookie session against one OmniRoute server.

    ``timeout`` bounds every request (seconds). ``validate_certs=False`` accepts any TLS certificate.
    """

    def __init__(self, url, timeout=30, validate_certs=True, opener=None):
        self.root = management_root(url)
        self.timeout = timeout
        self._cookie = None
        if opener is None:
            handlers = []
            if self.root.startswith("https") and not validate_certs:
                import ssl

                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                handlers.append(urllib.request.HTTPSHandler(context=context))
            # No proxy handler: the management API is usually on loopback, and an http_proxy in the environment
            # must not receive the admin password.
            handlers.append(urllib.request.ProxyHandler({}))
            opener = urllib.request.build_opener(*handlers)
        self._opener = opener

    # ------------------------------------------------------------------------------------------ transport
    def request(self, method, path, body=None, expect=(200, 201), auth=True):
        """Send one request; returns the decoded JSON (or text). Raises OmniRouteError on any other status."""
        url = self.root + path
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if auth and self._cookie:
            headers["Cookie"] = self._cookie
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                status, resp_headers, raw = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            status, resp_headers = exc.code, exc.headers
            try:
                raw = exc.read()
            except OSError:
                raw = b""
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OmniRouteUnreachable(
                f"OmniRoute at {self.root} is unreachable ({method} {path}: {reason}); check api_url, that the "
                "container is running and listening there, or raise wait_timeout if it is still starting",
                method=method,
                path=path,
            ) from None
        cookies = (resp_headers.get_all("Set-Cookie") or []) if resp_headers is not None else []
        for header in cookies:
            name, _sep, rest = header.partition("=")
            if name.strip() == "auth_token":
                self._cookie = "auth_token=" + rest.split(";", 1)[0]
        text = raw.decode("utf-8", errors="replace") if raw else ""
        try:
            decoded = json.loads(text) if text else None
        except ValueError:
            decoded = text
        if status not in expect:
            if status == 401 and auth:
                raise OmniRouteAuthError(
                    f"OmniRoute refused {method} {path} (HTTP 401): not logged in or the session expired",
                    status=status,
                    method=method,
                    path=path,
                    body=decoded,
                )
            raise OmniRouteError(
                f"OmniRoute answered HTTP {status} to {method} {path}: {_error_text(decoded)}",
                status=status,
                method=method,
                path=path,
                body=decoded,
            )
        return decoded

    # ------------------------------------------------------------------------------------------- session
    def health(self):
        """The health JSON, or None when the server does not answer 200 yet."""
        try:
            body = self.request("GET", "/api/monitoring/health", auth=False, expect=(200,))
        except OmniRouteError:
            return None
        return body if isinstance(body, dict) else {}

    def wait_healthy(self, timeout, interval=1.0):
        """Poll the health endpoint for up to ``timeout`` seconds; raises OmniRouteUnreachable with the last error."""
        deadline = time.monotonic() + max(0.0, float(timeout))
        last = None
        while True:
            try:
                self.request("GET", "/api/monitoring/health", auth=False, expect=(200,))
                return True
            except OmniRouteError as exc:
                last = exc
            if time.monotonic() >= deadline:
                break
            time.sleep(min(interval, max(0.05, deadline - time.monotonic())))
        if isinstance(last, OmniRouteUnreachable):
            raise OmniRouteUnreachable(f"{last} (waited {timeout} s for /api/monitoring/health)")
        raise OmniRouteUnreachable(
            f"OmniRoute at {self.root} is not healthy after {timeout} s: {last}; raise wait_timeout or check the "
            "container logs"
        )

    def login(self, password):
        try:
            self.request("POST", "/api/auth/login", {"password": password}, auth=False, expect=(200,))
        except OmniRouteError as exc:
            if exc.status in (401, 403):
                raise OmniRouteAuthError(
                    f"OmniRoute at {self.root} rejected the admin password (HTTP {exc.status}: "
                    f"{_error_text(exc.body)}); set admin_password to the dashboard password (INITIAL_PASSWORD on "
                    "first boot, changed later in the dashboard)",
                    status=exc.status,
                ) from None
            if exc.status == 429:
                raise OmniRouteAuthError(
                    f"OmniRoute at {self.root} is throttling logins (HTTP 429, brute-force protection); wait and "
                    "retry with the right admin_password",
                    status=exc.status,
                ) from None
            raise
        if not self._cookie:
            raise OmniRouteAuthError(f"login to OmniRoute at {self.root} succeeded but set no auth_token cookie")

    # --------------------------------------------------------------------------------------- entities
    def get_settings(self):
        return self.request("GET", "/api/settings") or {}

    def import_json(self, payload):
        return self.request("POST", "/api/settings/import-json", payload)

    def list_provider_nodes(self):
        return (self.request("GET", "/api/provider-nodes") or {}).get("nodes") or []

    def create_provider_node(self, node):
        return (self.request("POST", "/api/provider-nodes", node) or {}).get("node") or {}

    def update_provider_node(self, node_id, node):
        return (self.request("PUT", f"/api/provider-nodes/{urllib.parse.quote(node_id, safe='')}", node) or {}).get(
            "node"
        ) or {}

    def delete_provider_node(self, node_id):
        return self.request("DELETE", f"/api/provider-nodes/{urllib.parse.quote(node_id, safe='')}")

    def list_connections(self):
        return (self.request("GET", "/api/providers") or {}).get("connections") or []

    def create_connection(self, conn):
        return (self.request("POST", "/api/providers", conn) or {}).get("connection") or {}

    def update_connection(self, conn_id, conn):
        return (self.request("PUT", f"/api/providers/{urllib.parse.quote(conn_id, safe='')}", conn) or {}).get(
            "connection"
        ) or {}

    def delete_connection(self, conn_id):
        return self.request("DELETE", f"/api/providers/{urllib.parse.quote(conn_id, safe='')}")

    def list_combos(self):
        return (self.request("GET", "/api/combos") or {}).get("combos") or []

    def create_combo(self, combo):
        return self.request("POST", "/api/combos", combo)

    def update_combo(self, combo_id, combo):
        return self.request("PUT", f"/api/combos/{urllib.parse.quote(combo_id, safe='')}", combo)

    def delete_combo(self, combo_id):
        return self.request("DELETE", f"/api/combos/{urllib.parse.quote(combo_id, safe='')}")

    def list_keys(self):
        return (self.request("GET", "/api/keys") or {}).get("keys") or []

    def create_key(self, name):
        return self.request("POST", "/api/keys", {"name": name})

    def delete_key(self, key_id):
        return self.request("DELETE", f"/api/keys/{urllib.parse.quote(key_id, safe='')}")

    def get_resilience(self):
        return self.request("GET", "/api/resilience") or {}

    def patch_resilience(self, patch):
        return self.request("PATCH", "/api/resilience", patch)

    def get_combo_defaults(self):
        return self.request("GET", "/api/settings/combo-defaults") or {}

    def patch_combo_defaults(self, body):
        return self.request("PATCH", "/api/settings/combo-defaults", body)
