#!/usr/bin/env bash
# Sourced by the other scripts: makes .venv with a Python >= 3.12 (ansible-core 2.20 needs it)
# and installs the project with its test extras. Idempotent: a warm run takes a second or two.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${OMNIROUTE_OPENCODE_VENV:-$REPO_ROOT/.venv}"
export OMNIROUTE_OPENCODE_CACHE="${OMNIROUTE_OPENCODE_CACHE:-$HOME/.cache/omniroute-opencode}"
mkdir -p "$OMNIROUTE_OPENCODE_CACHE"

find_python() {
  local candidate
  for candidate in python3.13 python3.12 \
      /root/.pyenv/versions/3.13*/bin/python3.13 /root/.pyenv/versions/3.12*/bin/python3.12 \
      /usr/bin/python3.13 /usr/bin/python3.12 python3; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return 0
    fi
  done
  echo "bootstrap: no Python >= 3.12 found (ansible-core 2.20 needs one); install python3.12" >&2
  return 1
}

stamp="$VENV/.installed-$(cat "$REPO_ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: creating $VENV and installing the project with its test dependencies (first run: about a minute)" >&2
  python_bin="$(find_python)"
  [ -x "$VENV/bin/python" ] || "$python_bin" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet "$REPO_ROOT[test]"
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
# The checkout itself is searched first, so edits are live without reinstalling; the
# dependency collections (ansible.posix, containers.podman, ...) come from the `ansible` package.
export ANSIBLE_COLLECTIONS_PATH="$REPO_ROOT"
