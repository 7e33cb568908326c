#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: Debian packages, the venv, then pytest.
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/unit -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-system-packages.sh
source scripts/bootstrap.sh
exec python -m pytest "$@"
