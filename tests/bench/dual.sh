#!/usr/bin/env bash
# The a3 dual server and client: round-trip time of one message /
# acknowledgement exchange, next to sockperf's TCP ping-pong (the practical
# floor for a request/response over loopback TCP) measured in the same run;
# then 20 clients at once against one server, with the server's peak RSS.
#
#   bash tests/bench/dual.sh            (after cargo build --release --bins)
#   RUNS=5 ROUNDS=20000 bash tests/bench/dual.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_tool sockperf sockperf
need_tool taskset util-linux
need_tool pgrep procps

RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-20000}
CLIENTS=${CLIENTS:-20}
HOST=127.0.0.1
# The round-trip runs pin both ends to one CPU: a loopback round trip is a
# few microseconds, and without pinning it measures where the scheduler put
# the two processes and how deep the idle CPU slept, not the programs.
PIN=(taskset -c "${PIN_CPU:-0}")
for bin in a3-dual-server a3-dual-client; do
    [ -x "$BIN/$bin" ] || { echo "missing $BIN/$bin: run cargo build --release --bins" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# socklab: one server, RUNS clients of ROUNDS rounds each; the client prints
# "N round(s) in X ms; round trip min A / median B / mean C / max D µs".
# Medians on both sides: the mean of a few thousand loopback round trips is
# dominated by scheduler hiccups on a busy machine.
/usr/bin/time -v -o "$work/server.time" "${PIN[@]}" "$BIN/a3-dual-server" "$HOST" 0 >"$work/server.log" 2>&1 &
time_pid=$!
pids+=("$time_pid")
wait_line "$work/server.log" "^Listening on "
# GNU time ignores SIGINT while it waits, so signal the server itself.
server_pid=$(pgrep -P "$time_pid")
port=$(sed -n 's/^Listening on .*:\([0-9]*\) (tcp)$/\1/p' "$work/server.log")

socklab_rtt=()
for ((run = 0; run < RUNS; run++)); do
    rtt=$("${PIN[@]}" "$BIN/a3-dual-client" "$HOST" "$port" --count "$ROUNDS" |
        sed -n 's/.*round trip .* median \([0-9.]*\) .*/\1/p')
    socklab_rtt+=("$rtt")
done

# 20 clients at once, ROUNDS/10 rounds each: wall time and messages per
# second (the clients are not pinned; the server stays on its CPU).
per_client=$((ROUNDS / 10))
start=$(date +%s.%N)
client_pids=()
for ((c = 0; c < CLIENTS; c++)); do
    "$BIN/a3-dual-client" "$HOST" "$port" --count "$per_client" >/dev/null &
    client_pids+=($!)
done
failed=0
for pid in "${client_pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
end=$(date +%s.%N)
[ "$failed" -eq 0 ] || { echo "$failed concurrent clients failed" >&2; exit 1; }
concurrent_rate=$(awk -v n=$((CLIENTS * per_client)) -v a="$start" -v b="$end" 'BEGIN {printf "%.0f", n / (b - a)}')

kill -INT "$server_pid"
wait "$time_pid" || { echo "server did not exit 0 on SIGINT" >&2; exit 1; }
server_rss=$(peak_rss_kib "$work/server.time")

# sockperf: TCP ping-pong with a 15-byte message (the acknowledgement's
# size); it reports one-way latency (half the round trip), so a round trip
# is twice its median.
sockperf_port=$((port + 1))
"${PIN[@]}" sockperf sr --tcp -i "$HOST" -p "$sockperf_port" >"$work/sockperf-server.log" 2>&1 &
pids+=($!)
wait_line "$work/sockperf-server.log" "IP = "
sockperf_rtt=()
for ((run = 0; run < RUNS; run++)); do
    latency=$("${PIN[@]}" sockperf pp --tcp -i "$HOST" -p "$sockperf_port" -m 15 -t 1 2>&1 |
        sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p')
    sockperf_rtt+=("$(awk -v l="$latency" 'BEGIN {printf "%.3f", 2 * l}')")
done

socklab_median=$(median "${socklab_rtt[@]}")
sockperf_median=$(median "${sockperf_rtt[@]}")
echo "a3 dual round trip over $HOST, both ends on CPU ${PIN_CPU:-0} (median of $RUNS runs' medians, $ROUNDS rounds each):"
printf '  socklab a3-dual   %10.1f µs per round trip\n' "$socklab_median"
printf '  sockperf pp --tcp %10.1f µs per round trip\n' "$sockperf_median"
awk -v a="$socklab_median" -v b="$sockperf_median" \
    'BEGIN {printf "  ratio socklab/sockperf: %.2f (lower is better; 1.00 = the floor)\n", a / b}'
echo "a3 dual with $CLIENTS clients at once ($per_client rounds each): $concurrent_rate acknowledged messages/s"
echo "a3-dual-server peak RSS: ${server_rss} KiB"
