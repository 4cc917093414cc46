#!/usr/bin/env bash
# make bench-iperf: a1 UDP iPerf next to iperf3 and a plain C sendto loop,
# all on loopback in one run.
#
# RUNS runs each of
#   socklab: a1-iperf-server + a1-iperf-client 100 (unpaced, 1500-byte datagrams)
#   iperf3:  iperf3 -s -1  + iperf3 -c 127.0.0.1 -u -l 1500 -b 0 -n 100M
#   C loop:  a1-iperf-server + tests/bench/udp_blast.c (START, 100 MB in
#            1500-byte blocking sendto() calls, STOP), compiled with gcc
# and, at the kernel's limit (batches of datagrams per system call, 3 s of
# 1472-byte datagrams, unpaced):
#   socklab offload:    a1-iperf-client --time 3 --length 1472 (UDP_SEGMENT/UDP_GRO)
#   socklab no-offload: the same with --no-offload (sendmmsg/recvmmsg)
#   iperf3 --gsro:      iperf3 built from ../shared/peer-src (PEER_SRC) into
#                       target/peer/, -u -l 1472 -b 0 -t 3 --gsro
#   C GSO pair:         tests/bench/udp_gso_send.c -> udp_gro_recv.c
# Goodput is what the receiver counted over its receive time. Then peak RSS
# of each side at 200 MB (socklab, C loop) and -n 200M (iperf3).
# Targets: socklab >= 1.1x iperf3's goodput and >= 0.9x the C loop's;
# offloaded socklab >= 1.0x iperf3 --gsro and >= 0.9x the C GSO pair, loss
# <= 1 %; RSS <= 8 MiB per side. iperf3 is installed with apt-get when missing.
source "$(dirname "$0")/lib.sh"
need_tool iperf3 iperf3
need_tool python3 python3
need_tool gcc gcc
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
gcc -O2 -Wall -o "$tmp/udp_blast" "$(dirname "$0")/udp_blast.c"
gcc -O2 -Wall -o "$tmp/udp_gso_send" "$(dirname "$0")/udp_gso_send.c"
gcc -O2 -Wall -o "$tmp/udp_gro_recv" "$(dirname "$0")/udp_gro_recv.c"

# iperf3 with --gsro, built once from the peer sources into target/peer/.
PEER_SRC=${PEER_SRC:-$ROOT/../shared/peer-src}
PEER="$ROOT/target/peer"
gsro=""
tarball=$(ls "$PEER_SRC"/iperf3-*.tar.gz 2>/dev/null | head -n 1 || true)
if [ -x "$PEER/install/bin/iperf3" ]; then
    gsro="$PEER/install/bin/iperf3"
elif [ -n "$tarball" ]; then
    echo "building iperf3 --gsro from $tarball into $PEER (about a minute)..." >&2
    mkdir -p "$PEER"
    tar xzf "$tarball" -C "$PEER"
    (cd "$PEER/iperf3-src" && ./configure --prefix="$PEER/install" >/dev/null &&
        make -j2 >/dev/null && make install >/dev/null) && gsro="$PEER/install/bin/iperf3"
fi
if [ -z "$gsro" ]; then
    echo "iperf3 --gsro: no peer source in $PEER_SRC (set PEER_SRC): that column is skipped"
fi
gsro_run() { LD_LIBRARY_PATH="$PEER/install/lib" "$gsro" "$@"; }

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

# socklab_numbers FILE: "MB/s loss%" from a1-iperf-client --json (its
# iperf3-style receiver object).
socklab_numbers() {
    python3 - "$1" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
r = json.JSONDecoder().raw_decode(text[text.index("{"):])[0]["receiver"]
print(r["bits_per_second"] / 8e6, r["lost_percent"])
PY
}

# reply_numbers TOTAL "REPLY": "MB/s loss%" from an a1 server's reply.
reply_numbers() {
    python3 - "$1" "$2" <<'PY'
import re, sys
total, reply = int(sys.argv[1]), sys.argv[2]
rate = float(re.search(r"Throughput: ([0-9.]+) Kilobytes", reply).group(1)) / 1000
got = re.search(r"received (\d+) bytes", reply)
print(rate, 100.0 * (total - int(got.group(1))) / total if got else "nan")
PY
}

socklab_rates=() socklab_losses=() iperf_rates=() iperf_losses=() c_rates=() c_losses=()
o_rates=() o_losses=() n_rates=() n_losses=() g_rates=() g_losses=() p_rates=() p_losses=()
for run in $(seq "$RUNS"); do
    settle
    start_server "$tmp/server.log"
    "$BIN/a1-iperf-client" 100 --port "$port" --bind 127.0.0.1:0 --json >"$tmp/client.json"
    wait
    read -r rate loss < <(socklab_numbers "$tmp/client.json")
    socklab_rates+=("$rate") socklab_losses+=("$loss")

    settle
    iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
    sleep 0.3
    iperf3 -c 127.0.0.1 -p 5299 -u -l 1500 -b 0 -n 100M -J >"$tmp/iperf.json"
    wait
    iperf_rates+=("$(json_field "$tmp/iperf.json" "d['end']['sum_received']['bits_per_second']/8e6")")
    iperf_losses+=("$(json_field "$tmp/iperf.json" "d['end']['sum_received']['lost_percent']")")

    settle
    start_server "$tmp/server.log"
    reply=$("$tmp/udp_blast" 127.0.0.1 "$port" 100000000)
    wait
    read -r rate loss < <(reply_numbers 100000000 "$reply")
    c_rates+=("$rate") c_losses+=("$loss")
    printf 'run %d: socklab %7.1f MB/s loss %6.3f%%   iperf3 %7.1f MB/s loss %6.3f%%   C loop %7.1f MB/s loss %6.3f%%\n' \
        "$run" "${socklab_rates[-1]}" "${socklab_losses[-1]}" "${iperf_rates[-1]}" "${iperf_losses[-1]}" \
        "${c_rates[-1]}" "${c_losses[-1]}"

    # The kernel's limit: 3 s of 1472-byte datagrams in batches.
    for flag in "" --no-offload; do
        settle
        start_server "$tmp/server.log"
        "$BIN/a1-iperf-client" --time 3 --length 1472 $flag --port "$port" --bind 127.0.0.1:0 --json >"$tmp/client.json"
        wait
        read -r rate loss < <(socklab_numbers "$tmp/client.json")
        if [ -z "$flag" ]; then o_rates+=("$rate") o_losses+=("$loss"); else n_rates+=("$rate") n_losses+=("$loss"); fi
    done
    g_rates+=(nan) g_losses+=(nan)
    if [ -n "$gsro" ]; then
        settle
        gsro_run -s -1 -p 5298 >/dev/null 2>&1 &
        sleep 0.3
        gsro_run -c 127.0.0.1 -p 5298 -u -l 1472 -b 0 -t 3 --gsro -J >"$tmp/gsro.json"
        wait
        g_rates[-1]=$(json_field "$tmp/gsro.json" "d['end']['sum_received']['bits_per_second']/8e6")
        g_losses[-1]=$(json_field "$tmp/gsro.json" "d['end']['sum_received']['lost_percent']")
    fi
    settle
    rm -f "$tmp/gro.log"
    "$tmp/udp_gro_recv" 0 >"$tmp/gro.log" &
    wait_line "$tmp/gro.log" '^Listening on'
    gro_port=$(sed -n 's/^Listening on .*:\([0-9]*\) (udp)$/\1/p' "$tmp/gro.log")
    out=$("$tmp/udp_gso_send" 127.0.0.1 "$gro_port" 1472 3)
    wait
    read -r rate loss < <(reply_numbers "$(sed -n 's/^sent \([0-9]*\) bytes$/\1/p' <<<"$out")" "$(head -n 1 <<<"$out")")
    p_rates+=("$rate") p_losses+=("$loss")
    printf '       offload: socklab %7.1f MB/s loss %6.3f%%   --no-offload %7.1f MB/s loss %6.3f%%   iperf3 --gsro %7.1f MB/s loss %6.3f%%   C GSO pair %7.1f MB/s loss %6.3f%%\n' \
        "${o_rates[-1]}" "${o_losses[-1]}" "${n_rates[-1]}" "${n_losses[-1]}" "${g_rates[-1]}" "${g_losses[-1]}" \
        "${p_rates[-1]}" "${p_losses[-1]}"
done

s_rate=$(median "${socklab_rates[@]}") s_loss=$(median "${socklab_losses[@]}")
i_rate=$(median "${iperf_rates[@]}") i_loss=$(median "${iperf_losses[@]}")
c_rate=$(median "${c_rates[@]}") c_loss=$(median "${c_losses[@]}")
echo
printf 'median goodput: socklab %.1f MB/s (loss %.3f %%), iperf3 %.1f MB/s (loss %.3f %%), C loop %.1f MB/s (loss %.3f %%)\n' \
    "$s_rate" "$s_loss" "$i_rate" "$i_loss" "$c_rate" "$c_loss"
python3 - "$s_rate" "$i_rate" "$c_rate" <<'PY'
import sys
s, i, c = map(float, sys.argv[1:])
print(f"ratio socklab/iperf3 goodput: {s / i:.3f}x  (target >= 1.1x: {'ok' if s / i >= 1.1 else 'MISSED'})")
print(f"ratio socklab/C loop goodput: {s / c:.3f}x  (target >= 0.9x: {'ok' if s / c >= 0.9 else 'MISSED'})")
PY
o_rate=$(median "${o_rates[@]}") o_loss=$(median "${o_losses[@]}")
n_rate=$(median "${n_rates[@]}") n_loss=$(median "${n_losses[@]}")
p_rate=$(median "${p_rates[@]}") p_loss=$(median "${p_losses[@]}")
g_rate=nan g_loss=nan
[ -n "$gsro" ] && g_rate=$(median "${g_rates[@]}") g_loss=$(median "${g_losses[@]}")
printf 'median at the limit (1472-byte datagrams, batches of 44 = 64,768 bytes): socklab %.1f MB/s (loss %.3f %%), --no-offload %.1f MB/s (loss %.3f %%), iperf3 --gsro %.1f MB/s (loss %.3f %%), C GSO pair %.1f MB/s (loss %.3f %%)\n' \
    "$o_rate" "$o_loss" "$n_rate" "$n_loss" "$g_rate" "$g_loss" "$p_rate" "$p_loss"
python3 - "$o_rate" "$o_loss" "$g_rate" "$p_rate" <<'PY'
import math, sys
s, loss, g, p = map(float, sys.argv[1:])
if not math.isnan(g):
    print(f"ratio socklab/iperf3 --gsro goodput: {s / g:.3f}x  (target >= 1.0x: {'ok' if s / g >= 1.0 else 'MISSED'})")
print(f"ratio socklab/C GSO pair goodput: {s / p:.3f}x  (target >= 0.9x: {'ok' if s / p >= 0.9 else 'MISSED'})")
print(f"socklab loss at the limit: {loss:.3f} %  (target <= 1 %: {'ok' if loss <= 1 else 'MISSED'})")
PY

# Peak memory at the largest size.
start_server "$tmp/server.log"
/usr/bin/time -v -o "$tmp/client.time" "$BIN/a1-iperf-client" 200 --port "$port" --bind 127.0.0.1:0 --json >/dev/null
wait
s_server=$(peak_rss_kib "$tmp/server.log.time")
start_server "$tmp/server.log"
/usr/bin/time -v -o "$tmp/c.time" "$tmp/udp_blast" 127.0.0.1 "$port" 200000000 >/dev/null
wait
/usr/bin/time -v -o "$tmp/iperf-server.time" iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
sleep 0.3
/usr/bin/time -v -o "$tmp/iperf-client.time" iperf3 -c 127.0.0.1 -p 5299 -u -l 1500 -b 0 -n 200M >/dev/null
wait
echo "peak RSS at 200 MB (KiB): socklab server $s_server, client $(peak_rss_kib "$tmp/client.time");" \
    "iperf3 server $(peak_rss_kib "$tmp/iperf-server.time"), client $(peak_rss_kib "$tmp/iperf-client.time");" \
    "C loop client $(peak_rss_kib "$tmp/c.time")  (target <= 8192 KiB per socklab side)"
