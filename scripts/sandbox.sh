#!/usr/bin/env bash
# The main job on a local sandbox: a "fleet" of three developer machines (three directories
# here), configured with omniroute.opencode.opencode_provider. Shows the merge into a file with
# comments (diff, key masked), a second run that changes nothing, and check mode catching a
# file that drifted. Sets itself up on a fresh machine (venv, packages); leaves the sandbox
# in $SANDBOX_DIR (default: a new temp dir) for you to look at.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
export SANDBOX_DIR="${SANDBOX_DIR:-$(mktemp -d /tmp/omniroute-opencode-sandbox.XXXXXX)}"
export SANDBOX_API_KEY="${SANDBOX_API_KEY:-sk-sandbox-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}"
export ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-}"
playbooks=examples/sandbox
inventory="$playbooks/inventory.yml"
step() { printf '\n=== %s\n' "$*"; }

step "Sandbox fleet in $SANDBOX_DIR: seeding the developers' own files"
ansible-playbook -i "$inventory" "$playbooks/seed.yml" >/dev/null

step "First run: merge the provider (diff mode; the key is masked)"
ansible-playbook -i "$inventory" "$playbooks/configure.yml" --diff

step "Alice's file afterwards: her comments and her own provider are still there"
sed "s/$SANDBOX_API_KEY/<key>/" "$SANDBOX_DIR/laptop-alice/.config/opencode/opencode.jsonc"

step "Second run: nothing to change"
ansible-playbook -i "$inventory" "$playbooks/configure.yml" | tail -n 6

step "Someone edits Bob's URL by hand and loosens the file mode"
bob="$SANDBOX_DIR/laptop-bob/.config/opencode/opencode.json"
sed -i 's#http://127.0.0.1:20128/v1#http://127.0.0.1:20128/v1/v1#' "$bob"
chmod 0644 "$bob"

step "Check mode finds the drift, writes nothing"
ansible-playbook -i "$inventory" "$playbooks/configure.yml" --check | grep -E '"msg"|changed=' || true

step "Converge again to repair it"
ansible-playbook -i "$inventory" "$playbooks/configure.yml" | tail -n 6
echo "The sandbox stays in $SANDBOX_DIR"
