# -*- coding: utf-8 -*-
# Copyright (c) omniroute.opencode contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The provider entry that omniroute.opencode writes into OpenCode configs.
    DOCUMENTATION = r"""
options:
  base_url:
    description:
      - The OmniRoute URL OpenCode sends requests to. Normalized to exactly one trailing C(/v1) -
        C(http://h:20128), C(http://h:20128/), C(http://h:20128/v1) and C(http://h:20128/v1/v1///) all
        become C(http://h:20128/v1). Anything that is not an http(s) URL is an error.
      - Required when O(state=present).
    type: str
  api_key:
    description:
      - The OmniRoute client key, written to C(options.apiKey). Never shown in output, diffs or logs.
      - When set and O(mode) is not, the file is kept at mode C(0600).
      - Mutually exclusive with O(api_key_env).
    type: str
  api_key_env:
    description:
      - Name of an environment variable holding the key. Writes the provider's C(env) list instead of
        a key, so no secret lands in the file.
    type: str
  models:
    description:
      - The models OpenCode lists under this provider - typically OmniRoute's failover combo names.
      - Each item is a model id, or a mapping with C(id) and any OpenCode model fields (C(name),
        C(limit), C(reasoning), ...), which are validated against the OpenCode schema.
      - When omitted, the four models OmniRoute's own OpenCode helper writes -
        C(claude-opus-4-5-thinking), C(claude-sonnet-4-5-thinking), C(gemini-3.1-pro-high), C(gemini-3-flash).
    type: list
    elements: raw
  model_labels:
    description:
      - Display names by model id; they win over a C(name) given in O(models). A model without a
        label is shown under its id.
    type: dict
    default: {}
  provider_id:
    description:
      - The key of the entry under C(provider); OpenCode model references read C(<provider_id>/<model>).
    type: str
    default: omniroute
  display_name:
    description:
      - The provider's display name in OpenCode.
    type: str
    default: OmniRoute
"""
