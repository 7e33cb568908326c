#!/usr/bin/env bash
# The main job on a local sandbox: a "fleet" of three developer machines (three directories
# here), configured with omniroute.opencode.opencode_provider. Shows the merge into a file with
# comments (diff, key masked), a second run that changes nothing, and check mode catching a
# file that drifted. Sets itself up on a fresh machine (venv, packages); leaves the sandbox
# in $SANDBOX_DIR (default: a new temp dir) for you to look at.
#
# --full: the whole product on this machine instead. Stand-in upstreams on 127.0.0.1 (one answering
# 500, one 429, one healthy), `ansible-playbook omniroute.opencode.site` deploying OmniRoute in podman
# (image built from npm, cached) with the failing upstreams first and configuring three sandbox
# machines, the real OpenCode answering through the failover, then `omniroute.opencode.drift` in
# sync, after a hand edit, and after converging. Stops what it started; secrets are random, never shown.
set -euo pipefail
case "${1:-}" in
  "") mode=default ;;
  --full) mode=full ;;
  *) echo "usage: $0 [--full]" >&2; exit 2 ;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
export SANDBOX_DIR="${SANDBOX_DIR:-$(mktemp -d /tmp/omniroute-opencode-sandbox.XXXXXX)}"
export SANDBOX_API_KEY="${SANDBOX_API_KEY:-sk-sandbox-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')}"
export ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-}"
playbooks=examples/sandbox
inventory="$playbooks/inventory.yml"
step() { printf '\n=== %s\n' "$*"; }

if [ "$mode" = full ]; then
  source examples/sandbox/full.sh
  exit 0
fi

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
