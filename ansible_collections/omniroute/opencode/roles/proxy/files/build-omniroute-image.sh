#!/usr/bin/env bash
# Build an OmniRoute container image from the npm package, for sites that reach an npm registry and a
# Debian mirror but no container registry. Shipped by the omniroute.opencode.proxy role
# (omniroute_proxy_image_build: true, tasks/build_image.yml) and used unchanged by the tests.
#
# Steps: 1) image already present with this recipe -> nothing to do; 2) a cached gzip docker-archive
# for this recipe -> `gzip -dc | <engine> load`; 3) otherwise build:
#   a) base image: `debootstrap --variant=minbase <suite>` trimmed and imported (`tar | <engine> import`),
#   b) `npm pack` omniroute@<version> and node-linux-<arch>@<node version> (Node binary + headers),
#   c) better-sqlite3 (the version bundled in app/node_modules) compiled from source against that Node
#      with an explicit --nodedir (the bundled copy ships without its .node file),
#   d) wreq-js (bundled version) installed at the package root's node_modules with its native binary,
#   e) a smoke test of both native modules with that Node, then `<engine> build --pull=never`,
#   f) `<engine> save --format docker-archive | gzip -1` into the cache directory.
#
# Environment (inputs):
#   OMNIROUTE_IMAGE            image reference to produce (required), e.g. localhost/omniroute:3.7.9
#   OMNIROUTE_VERSION          npm version of the omniroute package (required)
#   OMNIROUTE_NODE_VERSION     version of the node-linux-<arch> npm package (required)
#   OMNIROUTE_CONTAINERFILE    the rendered Containerfile (required; takes ARG BASE_IMAGE)
#   OMNIROUTE_RECIPE           recipe id stored as a label; a different id means rebuild (required)
#   OMNIROUTE_ENGINE           podman (default) or docker
#   OMNIROUTE_BASE_IMAGE       base image reference (default localhost/omniroute-base:<suite>)
#   OMNIROUTE_DEBIAN_SUITE     default bookworm
#   OMNIROUTE_DEBIAN_MIRROR    default: the first Debian mirror apt uses here, else http://deb.debian.org/debian
#   OMNIROUTE_CACHE_DIR        where gzip docker-archives are kept; empty disables the cache
#   OMNIROUTE_BUILD_DIR        scratch directory (default: a new temporary directory, removed afterwards)
#   OMNIROUTE_CHECK_ONLY       1: only report what would be done (present / restore / build), change nothing
#   NPM                        npm command (default npm)
# Output: progress on stderr; the last stdout line is OMNIROUTE_IMAGE_RESULT=<present|restored|built>
# (or would-restore / would-build with OMNIROUTE_CHECK_ONLY=1).
set -euo pipefail

log() { printf '[omniroute-image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

: "${OMNIROUTE_IMAGE:?set OMNIROUTE_IMAGE}"
: "${OMNIROUTE_VERSION:?set OMNIROUTE_VERSION}"
: "${OMNIROUTE_NODE_VERSION:?set OMNIROUTE_NODE_VERSION}"
: "${OMNIROUTE_RECIPE:?set OMNIROUTE_RECIPE}"
ENGINE="${OMNIROUTE_ENGINE:-podman}"
SUITE="${OMNIROUTE_DEBIAN_SUITE:-bookworm}"
BASE_IMAGE="${OMNIROUTE_BASE_IMAGE:-localhost/omniroute-base:$SUITE}"
CACHE_DIR="${OMNIROUTE_CACHE_DIR:-}"
NPM="${NPM:-npm}"
LABEL_KEY="io.github.omniroute-opencode.recipe"

case "$(uname -m)" in
  x86_64) ARCH=x64; WREQ_PLATFORM=linux-x64-gnu ;;
  aarch64) ARCH=arm64; WREQ_PLATFORM=linux-arm64-gnu ;;
  *) die "unsupported architecture $(uname -m) (x86_64 and aarch64 are supported)" ;;
esac
case "$ENGINE" in
  podman) PULL_NEVER=(--pull=never) ;;
  docker) PULL_NEVER=(--pull=false) ;;
  *) die "OMNIROUTE_ENGINE must be podman or docker, not $ENGINE" ;;
esac
command -v "$ENGINE" >/dev/null || die "$ENGINE is not installed"

image_recipe() {  # prints the recipe label of an image, empty if the image does not exist
  "$ENGINE" image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$1" 2>/dev/null || true
}

CACHE_FILE=""
if [ -n "$CACHE_DIR" ]; then
  CACHE_FILE="$CACHE_DIR/omniroute-$OMNIROUTE_VERSION-node$OMNIROUTE_NODE_VERSION-$ARCH-${OMNIROUTE_RECIPE:0:16}.docker.tar.gz"
fi

result() { echo "OMNIROUTE_IMAGE_RESULT=$1"; exit 0; }

if [ "$(image_recipe "$OMNIROUTE_IMAGE")" = "$OMNIROUTE_RECIPE" ]; then
  log "$OMNIROUTE_IMAGE is present with recipe ${OMNIROUTE_RECIPE:0:16}: nothing to do"
  result present
fi
if [ "${OMNIROUTE_CHECK_ONLY:-0}" = 1 ]; then
  if [ -n "$CACHE_FILE" ] && [ -s "$CACHE_FILE" ]; then result would-restore; fi
  result would-build
fi

if [ -n "$CACHE_DIR" ]; then
  mkdir -p "$CACHE_DIR"
  # Two builds of the same image at once (two test sessions, two plays) would waste minutes: serialize.
  exec 9>"$CACHE_DIR/.build.lock"
  if ! flock -n 9; then
    log "another build holds $CACHE_DIR/.build.lock; waiting for it"
    flock 9
  fi
  if [ "$(image_recipe "$OMNIROUTE_IMAGE")" = "$OMNIROUTE_RECIPE" ]; then
    log "$OMNIROUTE_IMAGE was produced meanwhile: nothing to do"
    result present
  fi
fi

if [ -n "$CACHE_FILE" ] && [ -s "$CACHE_FILE" ]; then
  log "restoring $OMNIROUTE_IMAGE from $CACHE_FILE (about 10 s)"
  if gzip -dc "$CACHE_FILE" | "$ENGINE" load >&2 \
      && [ "$(image_recipe "$OMNIROUTE_IMAGE")" = "$OMNIROUTE_RECIPE" ]; then
    result restored
  fi
  log "the cached archive did not yield $OMNIROUTE_IMAGE with recipe ${OMNIROUTE_RECIPE:0:16}; rebuilding"
  rm -f "$CACHE_FILE"
fi

: "${OMNIROUTE_CONTAINERFILE:?set OMNIROUTE_CONTAINERFILE}"
[ -f "$OMNIROUTE_CONTAINERFILE" ] || die "no Containerfile at $OMNIROUTE_CONTAINERFILE"

if [ -n "${OMNIROUTE_BUILD_DIR:-}" ]; then
  WORK="$OMNIROUTE_BUILD_DIR"; mkdir -p "$WORK"
else
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/omniroute-image.XXXXXX")"
  trap 'rm -rf "$WORK"' EXIT
fi
started=$SECONDS

# --- a) base image -------------------------------------------------------------------------------
if "$ENGINE" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "step 1/6: base image $BASE_IMAGE present"
else
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  mirror="${OMNIROUTE_DEBIAN_MIRROR:-}"
  if [ -z "$mirror" ]; then
    mirror="$(grep -rhoE '(URIs:|^deb)[[:space:]]+https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
      /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep -oE 'https?://[^[:space:]]+' | head -n1 || true)"
    mirror="${mirror:-http://deb.debian.org/debian}"
  fi
  log "step 1/6: debootstrap --variant=minbase $SUITE from $mirror (about 30-60 s)"
  rootfs="$WORK/rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  rm -rf "$rootfs"/usr/share/{doc,man,info,locale}/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* \
    "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/* "$rootfs"/debootstrap 2>/dev/null || true
  tar -C "$rootfs" -c . | "$ENGINE" import - "$BASE_IMAGE" >&2
  rm -rf "$rootfs"
fi

# --- b) npm packages -------------------------------------------------------------------------------
log "step 2/6: npm pack omniroute@$OMNIROUTE_VERSION and node-linux-$ARCH@$OMNIROUTE_NODE_VERSION"
ctx="$WORK/context"
rm -rf "$ctx" "$WORK/npm"
mkdir -p "$ctx/omniroute" "$ctx/nodejs" "$ctx/data" "$WORK/npm"
(cd "$WORK/npm" && "$NPM" pack --silent "omniroute@$OMNIROUTE_VERSION" "node-linux-$ARCH@$OMNIROUTE_NODE_VERSION" >/dev/null)
tar -xzf "$WORK/npm/omniroute-$OMNIROUTE_VERSION.tgz" -C "$ctx/omniroute" --strip-components=1
tar -xzf "$WORK/npm/node-linux-$ARCH-$OMNIROUTE_NODE_VERSION.tgz" -C "$ctx/nodejs" --strip-components=1
NODE="$ctx/nodejs/bin/node"
[ -x "$NODE" ] || die "node-linux-$ARCH@$OMNIROUTE_NODE_VERSION has no bin/node"
log "node $("$NODE" --version) unpacked"
pkgver() { "$NODE" -p "require(process.argv[1]).version" "$1"; }
APP_MODULES="$ctx/omniroute/app/node_modules"

# --- c) better-sqlite3 compiled against that Node -------------------------------------------------
BSQL_VERSION="$(pkgver "$APP_MODULES/better-sqlite3/package.json")"
log "step 3/6: compiling better-sqlite3@$BSQL_VERSION against node $OMNIROUTE_NODE_VERSION (about 1-2 min)"
(cd "$WORK/npm" && "$NPM" pack --silent "better-sqlite3@$BSQL_VERSION" >/dev/null)
mkdir -p "$WORK/better-sqlite3"
tar -xzf "$WORK/npm/better-sqlite3-$BSQL_VERSION.tgz" -C "$WORK/better-sqlite3" --strip-components=1
node_gyp="$(dirname "$(readlink -f "$(command -v "$NPM")")")/../node_modules/node-gyp/bin/node-gyp.js"
if [ ! -f "$node_gyp" ]; then
  log "npm has no bundled node-gyp here; installing node-gyp from the registry"
  mkdir -p "$WORK/node-gyp" && echo '{"private":true}' >"$WORK/node-gyp/package.json"
  (cd "$WORK/node-gyp" && "$NPM" install --silent --no-package-lock --ignore-scripts node-gyp >/dev/null)
  node_gyp="$WORK/node-gyp/node_modules/node-gyp/bin/node-gyp.js"
fi
python_bin="$(command -v /usr/bin/python3 || command -v python3)"
# --nodedir explicitly: an ~/.npmrc may set nodedir to the system Node, whose ABI differs.
(cd "$WORK/better-sqlite3" && PYTHON="$python_bin" JOBS="$(nproc)" \
  "$NODE" "$node_gyp" rebuild --release --nodedir="$ctx/nodejs" >"$WORK/node-gyp.log" 2>&1) \
  || { tail -n 30 "$WORK/node-gyp.log" >&2; die "building better-sqlite3 failed (log above)"; }
mkdir -p "$APP_MODULES/better-sqlite3/build/Release"
cp "$WORK/better-sqlite3/build/Release/better_sqlite3.node" "$APP_MODULES/better-sqlite3/build/Release/"

# --- d) wreq-js at the package root -----------------------------------------------------------------
WREQ_VERSION="$(pkgver "$APP_MODULES/wreq-js/package.json")"
log "step 4/6: installing wreq-js@$WREQ_VERSION at the package root (server imports it from there)"
mkdir -p "$WORK/wreq" && echo '{"private":true}' >"$WORK/wreq/package.json"
(cd "$WORK/wreq" && "$NPM" install --silent --no-package-lock --ignore-scripts "wreq-js@$WREQ_VERSION" >/dev/null)
wreq_bin="$WORK/wreq/node_modules/wreq-js/rust/wreq-js.$WREQ_PLATFORM.node"
[ -f "$wreq_bin" ] || die "wreq-js@$WREQ_VERSION carries no $WREQ_PLATFORM binary"
find "$WORK/wreq/node_modules/wreq-js/rust" -name '*.node' ! -name "wreq-js.$WREQ_PLATFORM.node" -delete
mkdir -p "$ctx/omniroute/node_modules" "$APP_MODULES/wreq-js/rust"
rm -rf "$ctx/omniroute/node_modules/wreq-js"
cp -a "$WORK/wreq/node_modules/wreq-js" "$ctx/omniroute/node_modules/"
cp "$wreq_bin" "$APP_MODULES/wreq-js/rust/"  # what the package's own postinstall would do

# --- e) smoke test, then build --------------------------------------------------------------------
log "step 5/6: smoke test of the native modules with node $OMNIROUTE_NODE_VERSION"
(cd "$ctx/omniroute/app" && "$NODE" -e '
  const Database = require("better-sqlite3");
  const db = new Database(":memory:");
  if (db.prepare("select 41 + 1 as x").get().x !== 42) process.exit(1);
  import(require.resolve("wreq-js", { paths: [".."] })).then(() => process.exit(0),
    (e) => { console.error(e); process.exit(1); });') >&2 \
  || die "native modules do not load with node $OMNIROUTE_NODE_VERSION"
cp "$NODE" "$ctx/node"
rm -rf "$ctx/nodejs"
cp "$OMNIROUTE_CONTAINERFILE" "$ctx/Containerfile"
log "step 6/6: $ENGINE build ${PULL_NEVER[*]} -t $OMNIROUTE_IMAGE"
build_args=("${PULL_NEVER[@]}" --build-arg "BASE_IMAGE=$BASE_IMAGE" --label "$LABEL_KEY=$OMNIROUTE_RECIPE"
  -t "$OMNIROUTE_IMAGE" -f "$ctx/Containerfile")
# HEALTHCHECK and STOPSIGNAL are Docker-format instructions; OCI format would drop them.
if [ "$ENGINE" = podman ]; then build_args+=(--format docker --layers=false); fi
"$ENGINE" build "${build_args[@]}" "$ctx" >"$WORK/build.log" 2>&1 \
  || { tail -n 30 "$WORK/build.log" >&2; die "$ENGINE build failed (log above)"; }
[ "$(image_recipe "$OMNIROUTE_IMAGE")" = "$OMNIROUTE_RECIPE" ] || die "built image lacks the recipe label"

if [ -n "$CACHE_FILE" ]; then
  log "saving $OMNIROUTE_IMAGE to $CACHE_FILE"
  if [ "$ENGINE" = podman ]; then save_args=(--format docker-archive); else save_args=(); fi
  "$ENGINE" save "${save_args[@]}" "$OMNIROUTE_IMAGE" | gzip -1 >"$CACHE_FILE.tmp.$$"
  mv "$CACHE_FILE.tmp.$$" "$CACHE_FILE"
fi
log "built $OMNIROUTE_IMAGE in $((SECONDS - started)) s"
result built
