#!/usr/bin/env bash
# Installs Debian packages with apt-get (as root, or through sudo), skipping
# those already installed. Another apt/dpkg process (unattended upgrades, a
# second install) may hold apt's or dpkg's lock: this waits for it up to
# VEMBED_APT_LOCK_WAIT seconds (default 300), retrying while apt answers
# "Could not get lock", then fails saying what held it and what to do.
#
#   bash scripts/e2e/apt-install.sh PACKAGE...
set -euo pipefail
tag="${VEMBED_APT_TAG:-apt-install}"

missing=()
for pkg in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then missing+=("$pkg"); fi
done
[ ${#missing[@]} -gt 0 ] || exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "[$tag] need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi

lock_wait="${VEMBED_APT_LOCK_WAIT:-300}"
apt_run() {
  local deadline=$(( $(date +%s) + lock_wait )) out waited=0
  out="$(mktemp)"
  while true; do
    if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=5 "$@" >"$out" 2>&1; then
      cat "$out"; rm -f "$out"; return 0
    fi
    if grep -qiE 'could not get lock|unable to acquire the dpkg frontend lock|unable to lock' "$out" && [ "$(date +%s)" -lt "$deadline" ]; then
      [ "$waited" -eq 1 ] || echo "[$tag] apt/dpkg is busy (another apt or dpkg process holds its lock); waiting up to ${lock_wait} s" >&2
      waited=1; sleep 5; continue
    fi
    cat "$out" >&2; rm -f "$out"
    if [ "$waited" -eq 1 ]; then
      echo "[$tag] apt-get $1: another apt or dpkg process held the lock for over ${lock_wait} s." >&2
      echo "[$tag] See what it is (ps -C apt-get,apt,dpkg,unattended-upgr -o pid,etime,args), let it finish or set VEMBED_APT_LOCK_WAIT=SECONDS, then run again." >&2
    else
      echo "[$tag] apt-get $1 failed (above)." >&2
    fi
    echo "[$tag] Or install the packages yourself: apt-get install -y ${missing[*]}" >&2
    exit 1
  done
}
apt_run update -q
apt_run install -y -q "${missing[@]}"
echo "[$tag] installed ${missing[*]}"
