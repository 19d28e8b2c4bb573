#!/usr/bin/env bash
# potluck.sh: set up, build, run and test Potluck from a fresh Debian 12 clone.
#
#   ./potluck.sh run     install what is missing, build, start potluckd + a local worker
#   ./potluck.sh test    install what is missing, build, run the whole test suite
#   ./potluck.sh build   install what is missing and build (into ./build)
#   ./potluck.sh bench   build and run the benchmarks in bench/
#   ./potluck.sh install PREFIX   build and install under PREFIX
#
# Every step is idempotent: run it again and it only does what is left to do.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
BUILD_DIR=${POTLUCK_BUILD_DIR:-$ROOT/build}
JOBS=${POTLUCK_JOBS:-$(nproc)}

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git curl
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-test1.81-dev
  libboost-program-options1.81-dev libboost-filesystem1.81-dev
  libzmq3-dev cppzmq-dev libsqlite3-dev libspdlog-dev libsodium-dev libopenblas-dev
  libtorch-dev python3-torch wamerican wfrench wngerman wspanish witalian
  libstb-dev python3 python3-zmq
)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then return; fi
  say "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
  install_packages
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    say "configuring into $BUILD_DIR"
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${POTLUCK_CMAKE_ARGS:-}
  fi
  say "building with $JOBS jobs"
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

wait_for_http() {
  local url=$1 deadline=$((SECONDS + 30))
  until curl -fsS "$url" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "potluck.sh: $url did not answer within 30 s" >&2; return 1; fi
    sleep 0.2
  done
}

run() {
  build
  local http=${POTLUCK_HTTP:-127.0.0.1:8080} workers=${POTLUCK_WORKERS:-tcp://127.0.0.1:5555}
  local data=${POTLUCK_DATA_DIR:-$ROOT/var}
  mkdir -p "$data"
  say "starting potluckd (http://$http, workers on $workers, data in $data)"
  # --local-session: the dashboard in a browser on this machine signs in as the operator.
  "$BUILD_DIR/bin/potluckd" --http "$http" --workers "$workers" --data-dir "$data" --local-session &
  local daemon_pid=$!
  trap 'kill $daemon_pid $worker_pid 2>/dev/null; wait 2>/dev/null; exit 0' INT TERM EXIT
  local worker_pid=""
  wait_for_http "http://$http/healthz"
  say "starting a local potluck-worker"
  # The local worker donates for the operator, with the admin token the daemon wrote.
  "$BUILD_DIR/bin/potluck-worker" --daemon "$workers" --name "local-$(hostname)" --token-file "$data/admin-token" &
  worker_pid=$!
  cat <<MSG

  Potluck is running.
    dashboard:  http://$http/
    API:        curl http://$http/api/v1/workers
                curl http://$http/api/v1/tasks
    a token:    export POTLUCK_TOKEN=\$(cat $data/admin-token)     (the operator's; keep it private)
    a job:      curl -X POST http://$http/api/v1/jobs -H "Authorization: Bearer \$POTLUCK_TOKEN" \\
                  -d '{"task":"linalg.matmul","inputs":{"a":{"dtype":"f32","data":[[1,2],[3,4]]},"b":{"dtype":"f32","data":[[5,6],[7,8]]}}}'
  Press Ctrl-C to stop.

MSG
  wait $daemon_pid
}

run_tests() {
  build
  say "preparing the browser test (Chromium, playwright-core)"
  bash "$ROOT/tests/browser/setup.sh"
  say "running the test suite"
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" ${POTLUCK_CTEST_ARGS:-}
}

case "${1:-}" in
  run) run ;;
  test) run_tests ;;
  build) build ;;
  bench) build; "$ROOT/bench/run.sh" "$BUILD_DIR" ;;
  install)
    [ -n "${2:-}" ] || { echo "usage: ./potluck.sh install PREFIX" >&2; exit 2; }
    build; cmake --install "$BUILD_DIR" --prefix "$2" ;;
  deps) install_packages ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
