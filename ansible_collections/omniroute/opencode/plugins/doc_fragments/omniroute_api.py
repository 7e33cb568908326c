# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Connection to OmniRoute's management API (cookie session opened with the dashboard password).
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Root URL of the OmniRoute server, as seen from where the module runs. A trailing C(/v1) or C(/api) is
        ignored, so the client-facing base URL works too.
    type: str
    default: http://127.0.0.1:20128
    aliases: [url]
  admin_password:
    description:
      - The dashboard (admin) password; the module logs in with C(POST /api/auth/login) and uses the session cookie.
        A wrong password fails the task before anything is read or changed.
    type: str
    required: true
  timeout:
    description: Seconds each API request may take.
    type: float
    default: 30
  wait_timeout:
    description:
      - Seconds to wait for C(GET /api/monitoring/health) to answer before giving up (OmniRoute needs a few
        seconds after its container starts). C(0) checks once.
    type: float
    default: 60
  validate_certs:
    description: Verify the TLS certificate of an C(https) O(api_url).
    type: bool
    default: true
"""
