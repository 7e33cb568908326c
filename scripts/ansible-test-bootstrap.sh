#!/usr/bin/env bash
# Makes `ansible-test sanity` work offline and reproducibly on a fresh machine.
#
# ansible-test builds one virtualenv per sanity test and seeds pip in it by downloading
# https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py, a host these machines
# cannot reach. It first looks for ~/.ansible/test/cache/get_pip_<X_Y>.py, so this script puts a
# stand-in there, for the exact pip version the installed ansible-test asks for: the stand-in seeds
# pip from the Python's own `ensurepip` and then installs the pinned pip from the configured index.
#
# Usage:
#   scripts/ansible-test-bootstrap.sh                 # only (re)write the stand-in; prints its path
#   scripts/ansible-test-bootstrap.sh sanity [ARGS]   # ... then run `ansible-test sanity` from the
#                                                     # collection with the venv's Python, no docker
# Anything else after the script name is passed to ansible-test as is (e.g. `units`).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bootstrap.sh
source "$REPO_ROOT/scripts/bootstrap.sh"
COLLECTION_DIR="$REPO_ROOT/ansible_collections/omniroute/opencode"

# The pip version ansible-test will ask for (get_venv_packages is what ansible-test itself calls).
read -r PY_VERSION PIP_VERSION < <(python - <<'EOF'
import sys, types
from ansible_test._internal.python_requirements import get_venv_packages
version = "%d.%d" % sys.version_info[:2]
print(version, get_venv_packages(types.SimpleNamespace(version=version))["pip"])
EOF
)
CACHE_DIR="$HOME/.ansible/test/cache"
STANDIN="$CACHE_DIR/get_pip_${PIP_VERSION//./_}.py"
mkdir -p "$CACHE_DIR"
tmp="$(mktemp "$STANDIN.XXXXXX")"
cat >"$tmp" <<'EOF'
"""Offline stand-in for ansible-test's get-pip-<version>.py.

Written by scripts/ansible-test-bootstrap.sh of omniroute.opencode. ansible-test runs it inside a
fresh virtualenv (through its quiet_pip wrapper) with arguments such as
`--disable-pip-version-check pip==25.2 --no-setuptools --no-wheel`. The real script carries pip in
its body; this one seeds pip with ensurepip, then installs what ansible-test asked for from the
package index configured for this machine (pip.conf, PIP_* variables).
"""
import os
import subprocess
import sys

# get-pip.py understands these two; `pip install` does not.
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
env = dict(os.environ)
# ensurepip points PIP_CONFIG_FILE at /dev/null; keeping that would drop the machine's pip.conf
# (CA bundle, index mirrors) and TLS to the package index would fail.
env.pop("PIP_CONFIG_FILE", None)
subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, env=env,
               stdout=subprocess.DEVNULL)
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install"] + args, env=env).returncode)
EOF
mv "$tmp" "$STANDIN"

if [ "$#" -eq 0 ]; then
  echo "$STANDIN"
  exit 0
fi

# ansible-test only recognises the collection when the working directory really is
# .../ansible_collections/<namespace>/<name> (a symlink to it is not enough).
cd "$COLLECTION_DIR"
command="$1"
shift
if [ "$command" = sanity ]; then
  echo "ansible-test-bootstrap: running ansible-test sanity --python $PY_VERSION (first run builds" \
       "one venv per sanity test under ~/.ansible/test/venv: about a minute)" >&2
  exec ansible-test sanity --python "$PY_VERSION" --color no "$@"
fi
exec ansible-test "$command" "$@"
