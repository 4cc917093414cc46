#!/usr/bin/env bash
# make bench-ping: the a3 ping client's pacing and RTT on loopback, next to
# `sockperf ping-pong` measured in the same run.
#
# socklab: 1000 probes of 64 bytes every 10 ms against an a3-ping-server
# with no delay and no loss. Reported from the client's --json summary:
# schedule error (actual - planned send time) p50/p99/max, total drift over
# the run, RTT p50/p99. sockperf: ping-pong at 100 messages/s for 10 s,
# 64-byte messages, full round trips (--full-rtt).
# Targets (issue 5): schedule error p99 <= 200 us, drift <= 2 ms over 10 s,
# RTT p50 within 20 us of sockperf's.
#
# Environment: COUNT (1000), INTERVAL (0.01 s), SIZE (64 bytes).
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
need_tool sockperf sockperf

COUNT=${COUNT:-1000}
INTERVAL=${INTERVAL:-0.01}
SIZE=${SIZE:-64}
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        pkill -TERM -P "$pid" 2>/dev/null || true  # the program under /usr/bin/time
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# json_field FILE KEY: a number from the flat JSON object on FILE's last line.
json_field() {
    tail -n 1 "$1" | grep -o "\"$2\":[-0-9.e+]*" | cut -d: -f2
}

echo "== a3 ping: $COUNT probes of $SIZE bytes every ${INTERVAL}s on loopback =="

# --- socklab ---------------------------------------------------------------
/usr/bin/time -v -o "$work/server.time" "$BIN/a3-ping-server" --bind 127.0.0.1 -p 0 \
    --loss 0 --min-delay 0 --max-delay 0 >"$work/server.out" 2>&1 &
pids+=($!)
wait_line "$work/server.out" "^Listening on "
port=$(sed -n 's/^Listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/server.out")
/usr/bin/time -v -o "$work/client.time" "$BIN/a3-ping-client" -ip 127.0.0.1 -port "$port" \
    -n "$COUNT" -i "$INTERVAL" -s "$SIZE" --json >"$work/client.out" 2>"$work/client.err"
wait "${pids[0]}" 2>/dev/null || true   # the client's `exit` stops the server

sched_p50=$(json_field "$work/client.out" schedule_error_p50_us)
sched_p99=$(json_field "$work/client.out" schedule_error_p99_us)
sched_max=$(json_field "$work/client.out" schedule_error_max_us)
drift=$(json_field "$work/client.out" drift_us)
rtt_p50=$(json_field "$work/client.out" rtt_p50_us)
rtt_p99=$(json_field "$work/client.out" rtt_p99_us)
received=$(json_field "$work/client.out" received)

# --- sockperf ----------------------------------------------------------------
sp_port=$((20000 + RANDOM % 20000))
sockperf server -i 127.0.0.1 -p "$sp_port" >"$work/sockperf-server.out" 2>&1 &
pids+=($!)
wait_line "$work/sockperf-server.out" "IP = 127.0.0.1"
duration=$(awk -v n="$COUNT" -v i="$INTERVAL" 'BEGIN { d = n * i; printf "%d", (d < 1 ? 1 : d) }')
mps=$(awk -v i="$INTERVAL" 'BEGIN { printf "%d", 1 / i }')
sockperf ping-pong -i 127.0.0.1 -p "$sp_port" -m "$SIZE" -t "$duration" --mps="$mps" --full-rtt \
    >"$work/sockperf.out" 2>&1
sp_p50=$(sed -n 's/.*percentile 50\.000 = *\([0-9.]*\).*/\1/p' "$work/sockperf.out")
sp_p99=$(sed -n 's/.*percentile 99\.000 = *\([0-9.]*\).*/\1/p' "$work/sockperf.out")

# --- report -------------------------------------------------------------------
verdict() { awk -v v="$1" -v limit="$2" 'BEGIN { print ((v <= limit) ? "ok" : "MISSED") }'; }
abs() { awk -v v="$1" 'BEGIN { print (v < 0 ? -v : v) }'; }
rtt_gap=$(awk -v a="$rtt_p50" -v b="$sp_p50" 'BEGIN { printf "%.1f", a - b }')
rtt_ratio=$(awk -v a="$rtt_p50" -v b="$sp_p50" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
span=$(awk -v n="$COUNT" -v i="$INTERVAL" 'BEGIN { printf "%.1f", (n - 1) * i }')

printf 'probes acked          %s / %s\n' "$received" "$COUNT"
printf 'schedule error        p50 %.1f us, p99 %.1f us, max %.1f us   (target p99 <= 200 us: %s)\n' \
    "$sched_p50" "$sched_p99" "$sched_max" "$(verdict "$sched_p99" 200)"
printf 'drift                 %.1f us over %s s   (target <= 2000 us: %s)\n' \
    "$drift" "$span" "$(verdict "$(abs "$drift")" 2000)"
printf 'RTT socklab           p50 %.1f us, p99 %.1f us\n' "$rtt_p50" "$rtt_p99"
printf 'RTT sockperf          p50 %.1f us, p99 %.1f us\n' "$sp_p50" "$sp_p99"
printf 'RTT p50 socklab-sockperf %s us, ratio %s   (target within 20 us: %s)\n' \
    "$rtt_gap" "$rtt_ratio" "$(verdict "$(abs "$rtt_gap")" 20)"
printf 'peak RSS              client %s KiB, server %s KiB\n' \
    "$(peak_rss_kib "$work/client.time")" "$(peak_rss_kib "$work/server.time")"
