#!/usr/bin/env bash
# setup.sh: make the dashboard's browser test runnable; safe to run again.
#   - Debian's Chromium at /usr/bin/chromium (apt-get, through sudo when not root)
#   - playwright-core from npm into tests/browser/node_modules (npm ci, pinned by the lock file;
#     playwright never downloads a browser of its own)
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '==> %s\n' "$*"; }

if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian's chromium"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup.sh: the browser test needs Node.js 20+ and npm (apt-get install nodejs npm)" >&2
  exit 1
fi

# node_modules is current when its stamp (npm's own hidden lock file) is newer than ours.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing playwright-core (npm ci)"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi
