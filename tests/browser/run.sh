#!/usr/bin/env bash
# run.sh: the dashboard's browser test, as CTest runs it (browser_dashboard).
#   POTLUCK_BUILD_DIR=build POTLUCK_PLUGIN_DIR=build/lib/potluck/plugins bash tests/browser/run.sh
# Sets up Chromium and playwright-core when missing (setup.sh), then runs node --test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export POTLUCK_SOURCE_DIR=${POTLUCK_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
export POTLUCK_BUILD_DIR=${POTLUCK_BUILD_DIR:-$POTLUCK_SOURCE_DIR/build}
export POTLUCK_PLUGIN_DIR=${POTLUCK_PLUGIN_DIR:-$POTLUCK_BUILD_DIR/lib/potluck/plugins}
export POTLUCK_SCREENSHOT_DIR=${POTLUCK_SCREENSHOT_DIR:-$POTLUCK_BUILD_DIR/screenshots}
bash "$here/setup.sh"
cd "$here"
exec node --test --test-reporter=spec dashboard.test.mjs
