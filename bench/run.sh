#!/usr/bin/env bash
# Runs the benchmarks in bench/ against a build tree: ./bench/run.sh BUILD_DIR [bench flags...]
# Called by `./potluck.sh bench`. Extra arguments go to potluck-e2e-bench (--jobs, --workers, --quick).
set -euo pipefail
BUILD=${1:?usage: bench/run.sh BUILD_DIR [potluck-e2e-bench flags...]}
shift
BENCH="$BUILD/bin/potluck-e2e-bench"
if [ ! -x "$BENCH" ]; then
  echo "bench/run.sh: building potluck-e2e-bench in $BUILD" >&2
  cmake --build "$BUILD" --target potluck-e2e-bench -j "${POTLUCK_JOBS:-2}" || {
    echo "bench/run.sh: cannot build potluck-e2e-bench; configure with -DPOTLUCK_BUILD_BENCH=ON" >&2
    exit 1
  }
fi
exec "$BENCH" --build-dir "$BUILD" "$@"
