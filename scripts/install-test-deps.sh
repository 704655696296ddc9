#!/usr/bin/env bash
# Installs what the tests need beyond Go, from Debian's packages, and only
# what is missing, so a second run takes a second:
#   - promtool (package prometheus): `promtool check metrics` on /metrics.
set -euo pipefail

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install as root: apt-get install ${need[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  echo "installing ${need[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
promtool --version | head -1
