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
# Then the pacing measured from outside (issue 14): an external receiver
# (tests/bench/pace_rx.c) takes the kernel's arrival timestamp of every probe
# and judges the schedule from those; an ideal C pacer
# (tests/bench/pace_tx.c: clock_nanosleep(TIMER_ABSTIME) + send, one thread)
# alternates with a3-ping-client in the same run: PACE_ROUNDS rounds of
# PACE_COUNT probes every 10 ms. As root, a third column runs a3-ping-client
# without CAP_SYS_NICE (setpriv), i.e. without the real-time pacing thread a
# normal user gets. Target: median p99 of socklab <= 1.3 x the ideal's
# + 50 us, no round with |drift| > 1 ms. The same for a1-iperf-client
# --length 1000 --rate 8M (1 ms gaps), whose first PACE_COUNT datagrams are
# timed and which is then stopped.
#
# Environment: COUNT (1000), INTERVAL (0.01 s), SIZE (64 bytes),
# PACE_ROUNDS (5), PACE_COUNT (500); SKIP_SOCKPERF=1 runs only the pacing part.
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"
[ "${SKIP_SOCKPERF:-0}" = 1 ] || need_tool sockperf sockperf
need_tool gcc gcc

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

# verdict VALUE LIMIT: "ok" if VALUE <= LIMIT, else "MISSED".
verdict() { awk -v v="$1" -v limit="$2" 'BEGIN { print ((v <= limit) ? "ok" : "MISSED") }'; }

if [ "${SKIP_SOCKPERF:-0}" != 1 ]; then
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
fi

# --- pacing measured from outside ---------------------------------------------
PACE_ROUNDS=${PACE_ROUNDS:-5}
PACE_COUNT=${PACE_COUNT:-500}
gcc -O2 -Wall -o "$work/pace_rx" "$here/pace_rx.c"
gcc -O2 -Wall -o "$work/pace_tx" "$here/pace_tx.c"
no_rt=()
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    no_rt=(setpriv --inh-caps=-sys_nice --bounding-set=-sys_nice)
fi

# start_rx PERIOD_US: starts pace_rx for PACE_COUNT datagrams; sets $rx_pid
# and $rx_port, output in $work/rx.out.
start_rx() {
    rm -f "$work/rx.out"
    "$work/pace_rx" 127.0.0.1 "$PACE_COUNT" "$1" >"$work/rx.out" 2>"$work/rx.err" &
    rx_pid=$!
    wait_line "$work/rx.out" "^Listening on "
    rx_port=$(sed -n 's/^Listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/rx.out")
}

# finish_rx NAME: waits for pace_rx and appends "NAME p50 p99 max drift" to
# $work/pace.txt (or "NAME failed").
finish_rx() {
    if wait "$rx_pid" && line=$(grep '^count=' "$work/rx.out"); then
        echo "$1 $(echo "$line" | sed 's/[a-z0-9_]*=//g' | cut -d' ' -f2-)" >>"$work/pace.txt"
    else
        echo "$1 failed" >>"$work/pace.txt"
        cat "$work/rx.err" >&2
    fi
}

# ping_round: the ideal pacer and a3-ping-client (and without RT), 10 ms gaps.
ping_round() {
    start_rx 10000
    "$work/pace_tx" 127.0.0.1 "$rx_port" "$PACE_COUNT" 10000 "$SIZE"
    finish_rx ping-ideal
    start_rx 10000
    "$BIN/a3-ping-client" -ip 127.0.0.1 -port "$rx_port" -n "$PACE_COUNT" -i 0.01 -s "$SIZE" \
        >/dev/null 2>&1 || true
    finish_rx ping-socklab
    if [ ${#no_rt[@]} -gt 0 ]; then
        start_rx 10000
        "${no_rt[@]}" "$BIN/a3-ping-client" -ip 127.0.0.1 -port "$rx_port" -n "$PACE_COUNT" \
            -i 0.01 -s "$SIZE" >/dev/null 2>&1 || true
        finish_rx ping-socklab-no-rt
    fi
}

# a1_round: the ideal pacer and a1-iperf-client --rate at 1 ms gaps
# (1000-byte datagrams at 8 Mbit/s); the client is stopped once timed.
a1_round() {
    start_rx 1000
    "$work/pace_tx" 127.0.0.1 "$rx_port" "$PACE_COUNT" 1000 1000
    finish_rx a1-ideal
    start_rx 1000
    "$BIN/a1-iperf-client" 25 --server 127.0.0.1 --port "$rx_port" --bind 127.0.0.1:0 \
        --length 1000 --rate 8M >/dev/null 2>&1 &
    local client=$!
    finish_rx a1-socklab
    kill "$client" 2>/dev/null || true
    wait "$client" 2>/dev/null || true
}

echo
echo "== pacing from outside: $PACE_ROUNDS rounds of $PACE_COUNT probes, kernel arrival timestamps =="
: >"$work/pace.txt"
for round in $(seq "$PACE_ROUNDS"); do
    ping_round
    a1_round
done

# column NAME FIELD: the values of FIELD (2 p50, 3 p99, 4 max, 5 drift) of NAME.
column() { awk -v n="$1" -v f="$2" '$1 == n && $2 != "failed" { print $f }' "$work/pace.txt"; }
printf '%-20s %-7s %10s %10s %10s %10s\n' sender round "p50 us" "p99 us" "max us" "drift us"
for name in ping-ideal ping-socklab ping-socklab-no-rt a1-ideal a1-socklab; do
    grep -q "^$name " "$work/pace.txt" || continue
    awk -v n="$name" '$1 == n { r++; if ($2 == "failed") printf "%-20s %-7s failed\n", n, r;
        else printf "%-20s %-7s %10.1f %10.1f %10.1f %10.1f\n", n, r, $2, $3, $4, $5 }' "$work/pace.txt"
done
echo
# summary NAME IDEAL: medians of NAME, and the verdict against IDEAL.
summary() {
    local p50 p99 worst ip99 limit
    [ -n "$(column "$1" 3)" ] || { echo "$1: no successful round"; return; }
    p50=$(median $(column "$1" 2)) p99=$(median $(column "$1" 3))
    worst=$(column "$1" 5 | awk '{ v = ($1 < 0 ? -$1 : $1); if (v > m) m = v } END { print m + 0 }')
    ip99=$(median $(column "$2" 3))
    limit=$(awk -v i="$ip99" 'BEGIN { printf "%.1f", 1.3 * i + 50 }')
    printf '%-20s median p50 %8.1f us, median p99 %8.1f us, worst |drift| %7.1f us' "$1" "$p50" "$p99" "$worst"
    if [ "$1" = "$2" ]; then
        echo
    else
        printf '   (target p99 <= %s us: %s, drift <= 1000 us: %s)\n' "$limit" \
            "$(verdict "$p99" "$limit")" "$(verdict "$worst" 1000)"
    fi
}
summary ping-ideal ping-ideal
summary ping-socklab ping-ideal
[ ${#no_rt[@]} -eq 0 ] || summary ping-socklab-no-rt ping-ideal
summary a1-ideal a1-ideal
summary a1-socklab a1-ideal
