#!/usr/bin/env bash
# Sourced by the other scripts: makes a venv and installs the project with its test extras, then
# puts the venv first on PATH and the checkout on ANSIBLE_COLLECTIONS_PATH. Idempotent: a warm run
# takes a second or two.
#
# The interpreter: $OMNIROUTE_OPENCODE_PYTHON when set, else the newest Python >= 3.11 found (on
# PATH, or held by pyenv when it is installed). Python 3.11 is enough: pip then picks the newest
# ansible-core that the interpreter supports (2.19 on 3.11, 2.20+ on 3.12 and later).
# The venv: $OMNIROUTE_OPENCODE_VENV, else .venv in the checkout.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${OMNIROUTE_OPENCODE_VENV:-$REPO_ROOT/.venv}"
export OMNIROUTE_OPENCODE_CACHE="${OMNIROUTE_OPENCODE_CACHE:-$HOME/.cache/omniroute-opencode}"
mkdir -p "$OMNIROUTE_OPENCODE_CACHE"

# Prints the newest Python >= 3.11 among the python3.N and python3 commands on PATH and, when
# pyenv is installed, the versions pyenv holds (asked of pyenv, not guessed from paths).
newest_python() {
  local candidate best="" best_version=0 version
  while read -r candidate; do
    # pyenv shims exist for versions that are not selected: ask the interpreter itself.
    version="$("$candidate" -c 'import sys; print(sys.version_info[0] * 100 + sys.version_info[1])' 2>/dev/null)" || continue
    if [ "$version" -ge 311 ] && [ "$version" -gt "$best_version" ]; then
      best="$candidate"; best_version="$version"
    fi
  done < <(
    for candidate in python3.15 python3.14 python3.13 python3.12 python3.11 python3; do
      command -v "$candidate" 2>/dev/null || true
    done
    if command -v pyenv >/dev/null 2>&1; then
      for version in $(pyenv versions --bare --skip-aliases 2>/dev/null); do
        echo "$(pyenv root)/versions/$version/bin/python3"
      done
    fi
  )
  if [ -z "$best" ]; then
    echo "bootstrap: no Python >= 3.11 found (install python3, 3.11 or newer)" >&2
    return 1
  fi
  echo "$best"
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
  "$VENV/bin/python" -m pip install --quiet "${REPO_ROOT}[test]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
# The checkout itself is searched first, so edits are live without reinstalling; the
# dependency collections (ansible.posix, containers.podman, ...) come from the `ansible` package.
export ANSIBLE_COLLECTIONS_PATH="$REPO_ROOT"
