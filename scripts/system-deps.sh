#!/usr/bin/env bash
# System packages some tests need, from Debian's archive (no browser downloads): chromium for the
# end-to-end dashboard test, and PostgreSQL server binaries for the PostgreSQL store tests.
# The servers are started by the tests themselves, on loopback only.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "==> need ${need[*]} but not root; run: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "==> apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
