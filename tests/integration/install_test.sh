#!/usr/bin/env bash
# The operator's and the plugin author's path, with the installed tree only:
#   cmake --install -> installed potluckd + potluck-worker (default plugin folder, found next
#   to the executable) run a matmul -> examples/plugin-minimal built against the installed SDK
#   with find_package(Potluck) -> dropped into the plugin folder -> worker restarted -> its
#   task runs.
set -euo pipefail
BUILD=${POTLUCK_BUILD_DIR:?run through ctest}
SRC=${POTLUCK_SOURCE_DIR:?run through ctest}
WORK=$(mktemp -d /tmp/potluck-install-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$WORK"/*.log; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Polls a command until it succeeds or the deadline passes.
until_ok() { local deadline=$((SECONDS + $1)); shift; until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.1; done; }  # -- allowed: polling under a deadline

PREFIX=$WORK/prefix
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log"
for f in bin/potluckd bin/potluck-worker include/potluck/plugin.h include/potluck/plugin.hpp \
         lib/cmake/Potluck/PotluckConfig.cmake lib/potluck/plugins/libpotluck-blas.so \
         lib/potluck/plugins/libpotluck-testing.so share/potluck/web/index.html; do
  [ -e "$PREFIX/$f" ] || fail "install lacks $f"
done

HTTP=$(free_port); WP=$(free_port)
"$PREFIX/bin/potluckd" --http 127.0.0.1:$HTTP --workers tcp://127.0.0.1:$WP --data-dir "$WORK/var" --heartbeat-ms 200 >"$WORK/daemon.log" 2>&1 &
PIDS+=($!)
until_ok 20 curl -fsS http://127.0.0.1:$HTTP/healthz || fail "installed potluckd did not start"
curl -fsS http://127.0.0.1:$HTTP/ | grep -q Potluck || fail "the installed dashboard is not served"

start_worker() {
  "$PREFIX/bin/potluck-worker" --daemon tcp://127.0.0.1:$WP --name installed --gpus none \
    --token-file "$WORK/var/admin-token" >>"$WORK/worker.log" 2>&1 &
  WORKER=$!
  PIDS+=($WORKER)
}
start_worker
has_task() { curl -fsS http://127.0.0.1:$HTTP/api/v1/tasks | grep -q "\"$1\""; }
until_ok 20 has_task linalg.matmul || fail "the installed worker did not find its plugins next to itself"

reply=$(curl -fsS -X POST "http://127.0.0.1:$HTTP/api/v1/jobs?wait=true" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $(cat "$WORK/var/admin-token")" \
  -d '{"task":"linalg.matmul","inputs":{"a":{"dtype":"f32","data":[[1,2],[3,4]]},"b":{"dtype":"f32","data":[[5,6],[7,8]]}}}')
echo "$reply" | grep -q '"data":\[19,22,43,50\]' || fail "matmul through the installed tree gave: $reply"

# The plugin author's path.
cmake -S "$SRC/examples/plugin-minimal" -B "$WORK/example" -DCMAKE_PREFIX_PATH="$PREFIX" >"$WORK/example.log" 2>&1 || fail "configuring the example"
cmake --build "$WORK/example" >>"$WORK/example.log" 2>&1 || fail "building the example"
cp "$WORK/example/libpotluck-example.so" "$PREFIX/lib/potluck/plugins/"
kill -TERM "$WORKER"; wait "$WORKER" || true
start_worker
until_ok 20 has_task example.scale || fail "example.scale did not appear after the worker restart"
reply=$(curl -fsS -X POST "http://127.0.0.1:$HTTP/api/v1/jobs?wait=true" -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $(cat "$WORK/var/admin-token")" \
  -d '{"task":"example.scale","inputs":{"x":{"dtype":"f32","shape":[2,2],"data":[1,2,3,4]}},"params":{"factor":2.5}}')
echo "$reply" | grep -q '"data":\[2.5,5,7.5,10\]' || fail "example.scale gave: $reply"
echo "install layout, installed daemon and worker, and plugin-minimal: ok"
