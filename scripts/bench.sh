#!/usr/bin/env bash
# Run one benchmark from bench/ with the project's venv: scripts/bench.sh provider_fleet [args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name="${1:?usage: scripts/bench.sh <name in bench/> [args]}"; shift
source scripts/bootstrap.sh
exec python "bench/${name}.py" "$@"
