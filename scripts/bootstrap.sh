#!/usr/bin/env bash
# Sourced by the other scripts: makes a venv and installs the project with its test extras, then
# puts the venv first on PATH and the checkout on ANSIBLE_COLLECTIONS_PATH. Idempotent: a warm run
# takes a second or two.
#
# The interpreter: $OMNIROUTE_OPENCODE_PYTHON when set, else the newest python3.N found on PATH
# (python3.13, python3.12, ...), else `python3`. Python 3.11 is enough: pip then picks the newest
# ansible-core that the interpreter supports (2.19 on 3.11, 2.20+ on 3.12 and later).
# The venv: $OMNIROUTE_OPENCODE_VENV, else .venv in the checkout.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${OMNIROUTE_OPENCODE_VENV:-$REPO_ROOT/.venv}"
export OMNIROUTE_OPENCODE_CACHE="${OMNIROUTE_OPENCODE_CACHE:-$HOME/.cache/omniroute-opencode}"
mkdir -p "$OMNIROUTE_OPENCODE_CACHE"

# Prints the command of the newest Python >= 3.11 on PATH (python3.N before plain python3).
newest_python() {
  local minor candidate
  for minor in 15 14 13 12 11; do
    candidate="python3.$minor"
    # pyenv shims exist for versions that are not selected: ask the interpreter itself.
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys' >/dev/null 2>&1; then
      echo "$candidate"; return 0
    fi
  done
  if command -v python3 >/dev/null 2>&1 \
      && python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
    echo python3; return 0
  fi
  echo "bootstrap: no Python >= 3.11 on PATH (install python3, 3.11 or newer)" >&2
  return 1
}

python_bin="${OMNIROUTE_OPENCODE_PYTHON:-$(newest_python)}"
python_version="$("$python_bin" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
stamp="$VENV/.installed-py$python_version-$(sha256sum < "$REPO_ROOT/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: creating $VENV with $python_bin ($python_version) and installing the project with its test dependencies (first run: about a minute)" >&2
  # A venv made by another interpreter version is replaced, not patched.
  if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$python_version" ]; then
    rm -rf "$VENV"
  fi
  [ -x "$VENV/bin/python" ] || "$python_bin" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet "$REPO_ROOT[test]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
# The checkout itself is searched first, so edits are live without reinstalling; the
# dependency collections (ansible.posix, containers.podman, ...) come from the `ansible` package.
export ANSIBLE_COLLECTIONS_PATH="$REPO_ROOT"
