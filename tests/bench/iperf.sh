#!/usr/bin/env bash
# make bench-iperf: a1 UDP iPerf next to iperf3, both on loopback in one run.
#
# Five runs each of
#   socklab: a1-iperf-server + a1-iperf-client 100 (unpaced, 1500-byte datagrams)
#   iperf3:  iperf3 -s -1  + iperf3 -c 127.0.0.1 -u -l 1500 -b 0 -n 100M
# Goodput is what the receiver counted over its receive time. Then peak RSS
# of each side at SIZE=200 (socklab) and -n 200M (iperf3).
source "$(dirname "$0")/lib.sh"
need_tool iperf3 iperf3
need_tool python3 python3
RUNS=${RUNS:-5}
tmp=$(mktemp -d)
# Stop whatever is still running (servers run under /usr/bin/time, so their
# grandchildren too) and remove the scratch files.
cleanup() {
    local job
    for job in $(jobs -p); do
        pkill -P "$job" 2>/dev/null || true
        kill "$job" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

# start_server LOG: starts a1-iperf-server (one test) on a free port and
# sets $port to the port it bound.
start_server() {
    # A fresh log: wait_line must not find the previous server's line.
    rm -f "$1" "$1.time"
    /usr/bin/time -v -o "$1.time" "$BIN/a1-iperf-server" --port 0 >"$1" 2>&1 &
    wait_line "$1" '^Listening on'
    port=$(sed -n 's/^Listening on .*:\([0-9]*\) (udp)$/\1/p' "$1")
}



json_field() { # json_field FILE EXPR  (EXPR over the parsed object d)
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

socklab_rates=() socklab_losses=() iperf_rates=() iperf_losses=()
for run in $(seq "$RUNS"); do
    start_server "$tmp/server.log"
    "$BIN/a1-iperf-client" 100 --port "$port" --bind 127.0.0.1:0 --json >"$tmp/client.json"
    wait
    socklab_rates+=("$(json_field "$tmp/client.json" "d['receive_bytes_per_second']/1e6")")
    socklab_losses+=("$(json_field "$tmp/client.json" "d['loss_percent']")")

    iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
    sleep 0.3
    iperf3 -c 127.0.0.1 -p 5299 -u -l 1500 -b 0 -n 100M -J >"$tmp/iperf.json"
    wait
    iperf_rates+=("$(json_field "$tmp/iperf.json" "d['end']['sum_received']['bits_per_second']/8e6")")
    iperf_losses+=("$(json_field "$tmp/iperf.json" "d['end']['sum_received']['lost_percent']")")
    printf 'run %d: socklab %8.1f MB/s loss %6.3f%%   iperf3 %8.1f MB/s loss %6.3f%%\n' "$run" \
        "${socklab_rates[-1]}" "${socklab_losses[-1]}" "${iperf_rates[-1]}" "${iperf_losses[-1]}"
done

s_rate=$(median "${socklab_rates[@]}") s_loss=$(median "${socklab_losses[@]}")
i_rate=$(median "${iperf_rates[@]}") i_loss=$(median "${iperf_losses[@]}")
echo
printf 'median goodput: socklab %.1f MB/s (loss %.3f %%), iperf3 %.1f MB/s (loss %.3f %%)\n' \
    "$s_rate" "$s_loss" "$i_rate" "$i_loss"
echo "ratio socklab/iperf3 goodput: $(python3 -c "print(f'{$s_rate/$i_rate:.2f}')")x  (target >= 1.1x, loss <= 0.5 %)"

# Peak memory at the largest size.
start_server "$tmp/server.log"
/usr/bin/time -v -o "$tmp/client.time" "$BIN/a1-iperf-client" 200 --port "$port" --bind 127.0.0.1:0 --json >/dev/null
wait
/usr/bin/time -v -o "$tmp/iperf-server.time" iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
sleep 0.3
/usr/bin/time -v -o "$tmp/iperf-client.time" iperf3 -c 127.0.0.1 -p 5299 -u -l 1500 -b 0 -n 200M >/dev/null
wait
echo "peak RSS at 200 MB: socklab server $(peak_rss_kib "$tmp/server.log.time") KiB, client $(peak_rss_kib "$tmp/client.time") KiB;" \
    "iperf3 server $(peak_rss_kib "$tmp/iperf-server.time") KiB, client $(peak_rss_kib "$tmp/iperf-client.time") KiB  (target <= 4096 KiB each)"
