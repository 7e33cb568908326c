# shellcheck shell=bash
# Sourced by `scripts/sandbox.sh --full` (which has set up the venv, $SANDBOX_DIR and step()).
# The product's main job on this one machine; see full-inventory.yml for the fleet it declares.
# Every ansible-playbook run logs to $SANDBOX_DIR/logs/; only short, labelled extracts are shown.

bash scripts/install-system-packages.sh   # podman, runc, debootstrap, ... (only those missing)
for tool in podman npm; do
  command -v "$tool" >/dev/null || { echo "sandbox --full needs $tool on PATH" >&2; exit 1; }
done

full_inventory=examples/sandbox/full-inventory.yml
secrets="$SANDBOX_DIR/secrets.json"
logs="$SANDBOX_DIR/logs"
rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
SANDBOX_CONTAINER="omniroute-sandbox-$(rand_hex 4)"
SANDBOX_PROXY_PORT="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export SANDBOX_CONTAINER SANDBOX_PROXY_PORT
# The three sandbox machines' home directories (their users' XDG config homes go inside).
mkdir -p "$SANDBOX_DIR/upstreams" "$logs" "$SANDBOX_DIR"/dev-{alice,bob,carol}

# podman 4.3 on this kind of machine: runc and explicit ulimits (crun fails on setrlimit here).
cat >"$SANDBOX_DIR/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
EOF
podman_cmd() { CONTAINERS_CONF="$SANDBOX_DIR/containers.conf" podman "$@"; }

# Random secrets, in a 0600 file handed to ansible-playbook with -e @file; never printed.
declare -A upstream_key=([bad500]="k500-$(rand_hex 12)" [bad429]="k429-$(rand_hex 12)" [good]="kgood-$(rand_hex 12)")
(
  umask 077
  printf '{"omniroute_proxy_admin_password": "adm-%s", "omniroute_proxy_jwt_secret": "%s",
 "omniroute_proxy_api_key_secret": "%s", "omniroute_proxy_storage_encryption_key": "%s",
 "omniroute_proxy_client_key": "sk-sandbox-%s", "omniroute_site_client_key_secret": "%s",
 "sandbox_upstream_keys": {"bad500": "%s", "bad429": "%s", "good": "%s"}}\n' \
    "$(rand_hex 8)" "$(rand_hex 32)" "$(rand_hex 32)" "$(rand_hex 32)" "$(rand_hex 16)" "$(rand_hex 32)" \
    "${upstream_key[bad500]}" "${upstream_key[bad429]}" "${upstream_key[good]}" >"$secrets"
)

# Stop what this run started, also when a step fails: the stand-ins by PID, and the container and volume
# this run created, by name (the teardown step removes them with the role first; this is the safety net).
upstream_pids=()
full_cleanup() {
  local pid
  for pid in "${upstream_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if podman_cmd container exists "$SANDBOX_CONTAINER" 2>/dev/null; then
    podman_cmd rm --force --time 10 "$SANDBOX_CONTAINER" >/dev/null 2>&1 || true
  fi
  podman_cmd volume rm --force "$SANDBOX_CONTAINER-data" >/dev/null 2>&1 || true
}
trap full_cleanup EXIT

# ansible-playbook with its output in $logs/<name>.log; on an unexpected failure show the log's tail.
play() {
  local name="$1" expect_rc="$2" rc=0
  shift 2
  ansible-playbook -i "$full_inventory" -e "@$secrets" "$@" >"$logs/$name.log" 2>&1 || rc=$?
  if [ "$rc" -ne "$expect_rc" ]; then
    echo "ansible-playbook $* exited $rc (expected $expect_rc); the end of $logs/$name.log:" >&2
    tail -n 40 "$logs/$name.log" >&2
    exit 1
  fi
  return 0
}
recap() { sed -n '/^PLAY RECAP/,$p' "$logs/$1.log" | grep -E ':.*ok=' | sed 's/ \+/ /g'; }
drift_lines() { grep -E '^ *"(IN SYNC|DRIFT|UNREACHABLE|FAILED|[0-9]+ hosts:)' "$logs/$1.log" | sed -E 's/^ *"//; s/",?$//'; }

step "Stand-in upstreams on 127.0.0.1: bad500 answers 500, bad429 answers 429, good answers"
for name in bad500 bad429 good; do
  case "$name" in bad500) kind=error500 ;; bad429) kind=ratelimit429 ;; good) kind=healthy ;; esac
  UPSTREAM_API_KEY="${upstream_key[$name]}" python examples/sandbox/upstream.py "$kind" "$name" \
    "$SANDBOX_DIR/upstreams/$name.port" gpt-4o-mini claude-sonnet-4-5 >"$SANDBOX_DIR/upstreams/$name.log" 2>&1 &
  upstream_pids+=("$!")
done
for name in bad500 bad429 good; do
  for _ in $(seq 50); do [ -s "$SANDBOX_DIR/upstreams/$name.port" ] && break; sleep 0.1; done
  [ -s "$SANDBOX_DIR/upstreams/$name.port" ] || { echo "stand-in $name did not start" >&2; exit 1; }
  echo "$name: http://127.0.0.1:$(cat "$SANDBOX_DIR/upstreams/$name.port")/v1"
done

step "Site playbook: OmniRoute $SANDBOX_CONTAINER on 127.0.0.1:$SANDBOX_PROXY_PORT (priority bad500, bad429, good), then 3 machines"
play site-1 0 omniroute.opencode.site
grep -oE 'OmniRoute serves .*combos [^"]*' "$logs/site-1.log" | head -n 1 | sed -E 's/ - (drift|in sync).*//'
recap site-1

step "OpenCode on dev-alice: opencode run -m omniroute/gpt-4o-mini \"say hi\""
home="$SANDBOX_DIR/dev-alice"
mkdir -p "$home/tmp"
opencode_bin="$OMNIROUTE_OPENCODE_CACHE/sandbox-opencode-1.18.33/bin/opencode"
rc=0
env HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_DATA_HOME="$home/.local/share" XDG_CACHE_HOME="$home/.cache" \
  XDG_STATE_HOME="$home/.local/state" TMPDIR="$home/tmp" OPENCODE_DISABLE_MODELS_FETCH=1 \
  OPENCODE_DISABLE_AUTOUPDATE=1 OPENCODE_DISABLE_PROJECT_CONFIG=1 OPENCODE_DISABLE_DEFAULT_PLUGINS=1 \
  timeout 60 "$opencode_bin" run --pure --title sandbox -m omniroute/gpt-4o-mini --format json "say hi" \
  </dev/null >"$logs/opencode-run.json" 2>"$logs/opencode-run.err" || rc=$?
[ "$rc" -eq 0 ] || { echo "opencode run exited $rc:" >&2; tail -n 20 "$logs/opencode-run.err" >&2; exit 1; }
python - "$logs/opencode-run.json" <<'EOF'
import json, sys
events = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
text = "".join((e.get("part") or {}).get("text", "") for e in events if e.get("type") == "text")
print(f"OpenCode answered: {text!r}")
sys.exit(0 if text else 1)
EOF
echo "What the upstreams saw (in order of the priority):"
cat "$SANDBOX_DIR/upstreams/bad500.log" "$SANDBOX_DIR/upstreams/bad429.log" "$SANDBOX_DIR/upstreams/good.log" | sed 's/^/  /'

drift_args=(-e @examples/sandbox/drift-inputs.yml)
step "Drift playbook (check mode): the fleet is in sync"
play drift-1 0 omniroute.opencode.drift "${drift_args[@]}"
drift_lines drift-1
echo "exit code 0"

step "Someone edits Bob's file by hand: a stale /v1/v1 URL"
bob="$SANDBOX_DIR/dev-bob/.config/opencode/opencode.json"
sed -i "s#127.0.0.1:$SANDBOX_PROXY_PORT/v1\"#127.0.0.1:$SANDBOX_PROXY_PORT/v1/v1\"#" "$bob"
grep -o '"baseURL": *"[^"]*"' "$bob"

step "Drift playbook again: Bob's file drifted, and the run fails"
play drift-2 2 omniroute.opencode.drift "${drift_args[@]}"
drift_lines drift-2
echo "exit code 2"

step "Converge: the site playbook repairs it"
play site-2 0 omniroute.opencode.site
recap site-2
play drift-3 0 omniroute.opencode.drift "${drift_args[@]}"
echo "drift playbook afterwards: $(drift_lines drift-3 | tail -n 1)"

step "Tear down: the sandbox's OmniRoute container and volume (proxy role, state absent), the stand-ins"
play teardown 0 examples/sandbox/teardown.yml
recap teardown
full_cleanup
upstream_pids=()
echo "The sandbox stays in $SANDBOX_DIR (logs in $logs)"
