#!/usr/bin/env bash
# Installs the Debian packages the tests need (listed in scripts/system-packages.txt), only those missing.
set -euo pipefail
list="$(dirname "${BASH_SOURCE[0]}")/system-packages.txt"
missing=()
while read -r package _; do
  case "$package" in ""|"#"*) continue ;; esac
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done < "$list"
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-system-packages: installing ${missing[*]} with apt-get" >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
