# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one base-URL rule, shared by the module, the action plugin and the filter."""

from __future__ import annotations

import re

from urllib.parse import urlsplit

# Trailing slashes and any number of trailing /v1 segments (a stale "/v1/v1" included).
_TRAILING_V1 = re.compile(r"(?:/+v1)*/*$")
STALE_V1 = re.compile(r"/v1/+v1/*$")


class BaseUrlError(ValueError):
    """The base URL is not an http(s) URL this collection can use."""


def normalize_base_url(url):
    """Return ``url`` with exactly one trailing ``/v1`` and no trailing slash.

    ``http://h:20128``, ``http://h:20128/``, ``http://h:20128/v1`` and
    ``http://h:20128/v1/v1///`` all become ``http://h:20128/v1``.
    Raises BaseUrlError for anything that is not an absolute http(s) URL.
    """
    if not isinstance(url, str):
        raise BaseUrlError("base_url must be a string, got %s" % type(url).__name__)
    candidate = url.strip()
    try:
        parts = urlsplit(candidate)
        port = parts.port  # raises ValueError on a non-numeric port
    except ValueError as exc:
        raise BaseUrlError("base_url %r is not a valid URL: %s" % (url, exc))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BaseUrlError(
            "base_url %r is not an http(s) URL; expected something like http://omniroute.example:20128" % (url,))
    if parts.query or parts.fragment:
        raise BaseUrlError("base_url %r must not carry a query string or fragment" % (url,))
    if parts.username or parts.password:
        raise BaseUrlError("base_url must not embed credentials; use api_key or api_key_env")
    if port == 0:
        raise BaseUrlError("base_url %r has port 0" % (url,))
    path = _TRAILING_V1.sub("", parts.path)
    return "%s://%s%s/v1" % (parts.scheme, parts.netloc, path)


def has_stale_v1(url):
    """True when ``url`` ends in a doubled ``/v1/v1`` (the most common breakage)."""
    return isinstance(url, str) and bool(STALE_V1.search(url))
