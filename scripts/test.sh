#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: Debian packages, the venv(s), then pytest.
#
# With no arguments (what CI runs): the fast tests (`-m "not slow"`) on the machine's stock
# `python3` with the newest ansible-core it supports (.venv-stock), then the whole suite on the
# newest Python on PATH (.venv). When both are the same Python version, only the whole suite runs.
# With arguments, they go to pytest on the newest Python only, e.g. `scripts/test.sh tests/unit -x`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-system-packages.sh
stock_python="$(command -v python3)"

if [ $# -eq 0 ]; then
  newest_version="$(bash -c 'source scripts/bootstrap.sh >/dev/null && python -c "import sys; print(sys.version_info[:2])"')"
  stock_version="$("$stock_python" -c 'import sys; print(sys.version_info[:2])')"
  if [ "$newest_version" != "$stock_version" ]; then
    echo "test.sh: fast tests on the stock $stock_python $stock_version (.venv-stock)" >&2
    OMNIROUTE_OPENCODE_PYTHON="$stock_python" OMNIROUTE_OPENCODE_VENV="$PWD/.venv-stock" \
      bash -c 'source scripts/bootstrap.sh && exec python -m pytest -m "not slow"'
  fi
  echo "test.sh: the whole suite on Python $newest_version (.venv)" >&2
fi
source scripts/bootstrap.sh
exec python -m pytest "$@"
