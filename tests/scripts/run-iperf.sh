#!/usr/bin/env bash
# make run-iperf SIZE=N: the a1 UDP iPerf on loopback. Starts the server on
# a free port, runs the client, prints both reports, leaves no process behind.
# Arguments after the size go to the client, e.g.
#   bash tests/scripts/run-iperf.sh 100 --parallel 4 --rate 800M
set -euo pipefail
size=${1:-100}
shift || true
# The release binaries: make passes SOCKLAB_BIN; else CARGO_TARGET_DIR's, else target/.
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin=${SOCKLAB_BIN:-${CARGO_TARGET_DIR:-$root/target}/release}
log=$(mktemp)
"$bin/a1-iperf-server" --port 0 >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$log"' EXIT

# Wait (at most 5 s) for the readiness line naming the bound port.
port=""
for _ in $(seq 500); do
    port=$(sed -n 's/^Listening on .*:\([0-9]*\) (udp)$/\1/p' "$log")
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.01
done
if [ -z "$port" ]; then
    echo "the server did not start:" >&2
    cat "$log" >&2
    exit 1
fi

echo "=== client (a1-iperf-client $size $*) ==="
status=0
"$bin/a1-iperf-client" "$size" --port "$port" --bind 127.0.0.1:0 "$@" || status=$?
wait "$server" || status=$?
echo
echo "=== server (a1-iperf-server) ==="
cat "$log"
exit "$status"
