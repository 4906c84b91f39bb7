#!/usr/bin/env bash
# CI: installs what the end-to-end suite needs (Chromium, Node 24, code-server)
# into a cache folder; cheap when already done. Then run: node scripts/e2e/run.mjs
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/e2e/setup.sh "$@"
