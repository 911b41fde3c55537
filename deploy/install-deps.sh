#!/usr/bin/env bash
# Installs the Debian 12 packages of the given roles from deploy/packages.txt (the one list the
# README, CI and the Dockerfile share). Roles: build, test, runtime; default: build test.
# Needs root. Skips apt entirely when everything is already installed.
#   install-deps.sh --list ROLE...   prints the packages instead of installing them
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
list_only=0
if [ "${1:-}" = "--list" ]; then list_only=1; shift; fi
roles=("$@")
[ ${#roles[@]} -gt 0 ] || roles=(build test)
for role in "${roles[@]}"; do
  grep -qx "\[$role\]" "$here/packages.txt" || { echo "install-deps: no role [$role]" >&2; exit 2; }
done
mapfile -t packages < <(awk -v want=" ${roles[*]} " '
  /^[[:space:]]*(#|$)/ { next }
  /^\[.*\]$/ { role = substr($0, 2, length($0) - 2); next }
  index(want, " " role " ") { print $1 }' "$here/packages.txt")
if [ "$list_only" = 1 ]; then printf '%s\n' "${packages[@]}"; exit 0; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages of ${roles[*]} present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
