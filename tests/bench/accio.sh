#!/usr/bin/env bash
# a5 accio benchmark (part of `make bench-files`).
#
# 1. One big random file over loopback, socklab accio next to ncat in the
#    same run (alternating, RUNS times each): median MB/s, the ratio, and
#    each side's peak RSS. Every received copy is checked with cmp.
#      socklab:  a5-accio-server 0 DIR      <- a5-accio-client 127.0.0.1 PORT FILE
#      ncat:     ncat -l --recv-only > OUT  <- ncat --send-only < FILE
#    A transfer is timed from the client's start until the received file is
#    complete: the socklab client returns after the server's close (which
#    follows the rename), the ncat receiver exits after writing everything.
# 2. CONCURRENT simultaneous uploads of CONCURRENT_MB each to one socklab
#    server: the aggregate rate, the server's peak RSS, every file checked.
#
# Temporary files live on disk (under target/ unless BENCH_DIR says where)
# and are removed at the end. Tunables: SIZE_MB RUNS CONCURRENT CONCURRENT_MB.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tool ncat ncat
need_tool cmp diffutils

SIZE_MB=${SIZE_MB:-1000}
RUNS=${RUNS:-5}
CONCURRENT=${CONCURRENT:-100}
CONCURRENT_MB=${CONCURRENT_MB:-10}
SERVER="$BIN/a5-accio-server"
CLIENT="$BIN/a5-accio-client"
[ -x "$SERVER" ] && [ -x "$CLIENT" ] || { echo "build first: cargo build --release" >&2; exit 1; }

base_dir=${BENCH_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}}
mkdir -p "$base_dir"
WORK=$(mktemp -d "$base_dir/bench-accio.XXXXXX")
started_pids=()
cleanup() {
    local pid
    for pid in "${started_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
# mb_per_s BYTES START END
mb_per_s() { awk -v b="$1" -v s="$2" -v e="$3" 'BEGIN {printf "%.1f", b / (e - s) / 1e6}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }

# start_server DIR LOG TIMELOG: starts a socklab server under /usr/bin/time
# on a free port; sets server_time_pid, server_pid and server_port.
start_server() {
    rm -f "$2" # a fresh log: wait_line must not see the previous server's line
    /usr/bin/time -v -o "$3" "$SERVER" --bind 127.0.0.1 0 "$1" >"$2" 2>&1 &
    server_time_pid=$!
    started_pids+=("$server_time_pid")
    wait_line "$2" "^Listening on"
    server_port=$(sed -n 's/^Listening on 127.0.0.1:\([0-9]*\) .*/\1/p' "$2")
    server_pid=$(pgrep -P "$server_time_pid")
}

# stop_server: SIGTERM to the server itself (time passes it nothing), then wait.
stop_server() {
    kill -TERM "$server_pid"
    wait "$server_time_pid"
}

echo "== a5 accio: $SIZE_MB MB file on loopback, socklab vs ncat, $RUNS runs each =="
source_file="$WORK/source.bin"
head -c "$((SIZE_MB * 1000000))" /dev/urandom >"$source_file"
bytes=$(stat -c %s "$source_file")

socklab_rates=() ncat_rates=()
socklab_server_rss=0 socklab_client_rss=0 ncat_server_rss=0 ncat_client_rss=0
max() { [ "$1" -gt "$2" ] && echo "$1" || echo "$2"; }

run_socklab() {
    local dir="$WORK/received" t0 t1
    start_server "$dir" "$WORK/server.log" "$WORK/server.time"
    settle
    t0=$(now)
    /usr/bin/time -v -o "$WORK/client.time" "$CLIENT" 127.0.0.1 "$server_port" "$source_file" >/dev/null
    t1=$(now)
    stop_server
    cmp "$source_file" "$dir/1.file"
    socklab_rates+=("$(mb_per_s "$bytes" "$t0" "$t1")")
    socklab_server_rss=$(max "$socklab_server_rss" "$(peak_rss_kib "$WORK/server.time")")
    socklab_client_rss=$(max "$socklab_client_rss" "$(peak_rss_kib "$WORK/client.time")")
    rm -rf "$dir"
}

run_ncat() {
    local out="$WORK/ncat.out" port t0 t1 tries listening=no
    # ncat cannot pick a free port itself: try random ones until one binds.
    for tries in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 30000))
        : >"$WORK/ncat.log"
        /usr/bin/time -v -o "$WORK/server.time" ncat -v -l --recv-only 127.0.0.1 "$port" >"$out" 2>"$WORK/ncat.log" &
        server_time_pid=$!
        started_pids+=("$server_time_pid")
        if wait_line "$WORK/ncat.log" "Listening on" 5; then
            listening=yes
            break
        fi
        kill $(pgrep -P "$server_time_pid") 2>/dev/null || true
        wait "$server_time_pid" || true
    done
    [ "$listening" = yes ] || { echo "ncat could not listen" >&2; exit 1; }
    settle
    t0=$(now)
    /usr/bin/time -v -o "$WORK/client.time" ncat --send-only 127.0.0.1 "$port" <"$source_file"
    wait "$server_time_pid"
    t1=$(now)
    cmp "$source_file" "$out"
    ncat_rates+=("$(mb_per_s "$bytes" "$t0" "$t1")")
    ncat_server_rss=$(max "$ncat_server_rss" "$(peak_rss_kib "$WORK/server.time")")
    ncat_client_rss=$(max "$ncat_client_rss" "$(peak_rss_kib "$WORK/client.time")")
    rm -f "$out"
}

# One untimed round first: the first gigabyte written after a quiet spell
# is much slower (fresh memory for the page cache), whichever tool writes it.
run_socklab
run_ncat
socklab_rates=() ncat_rates=()
for ((run = 1; run <= RUNS; run++)); do
    # Alternate which goes first, so neither always meets a warmer cache.
    if ((run % 2)); then run_socklab; run_ncat; else run_ncat; run_socklab; fi
    echo "run $run: socklab ${socklab_rates[-1]} MB/s, ncat ${ncat_rates[-1]} MB/s (cmp identical)"
done

socklab_median=$(median "${socklab_rates[@]}")
ncat_median=$(median "${ncat_rates[@]}")
ratio=$(awk -v a="$socklab_median" -v b="$ncat_median" 'BEGIN {printf "%.2f", a / b}')
printf '%-8s median %8s MB/s   peak RSS server %s, client %s\n' \
    socklab "$socklab_median" "$(mib "$socklab_server_rss")" "$(mib "$socklab_client_rss")" \
    ncat "$ncat_median" "$(mib "$ncat_server_rss")" "$(mib "$ncat_client_rss")"
echo "ratio socklab/ncat: ${ratio}x (target >= 1.2x, RSS target <= 8 MiB per side)"
rm -f "$source_file"

echo "== a5 accio: $CONCURRENT concurrent uploads of $CONCURRENT_MB MB =="
upload="$WORK/upload.bin"
head -c "$((CONCURRENT_MB * 1000000))" /dev/urandom >"$upload"
dir="$WORK/concurrent"
start_server "$dir" "$WORK/server.log" "$WORK/server.time"
client_pids=()
t0=$(now)
for ((i = 0; i < CONCURRENT; i++)); do
    "$CLIENT" 127.0.0.1 "$server_port" "$upload" >/dev/null &
    client_pids+=($!)
    started_pids+=($!)
done
failed=0
for pid in "${client_pids[@]}"; do
    wait "$pid" || failed=$((failed + 1))
done
t1=$(now)
stop_server
intact=0
for ((i = 1; i <= CONCURRENT; i++)); do
    cmp -s "$upload" "$dir/$i.file" && intact=$((intact + 1))
done
total=$((CONCURRENT * CONCURRENT_MB * 1000000))
echo "aggregate $(mb_per_s "$total" "$t0" "$t1") MB/s over $(awk -v s="$t0" -v e="$t1" 'BEGIN {printf "%.2f", e - s}') s;" \
    "$intact/$CONCURRENT files intact, $failed client(s) failed;" \
    "server peak RSS $(mib "$(peak_rss_kib "$WORK/server.time")")"
[ "$intact" -eq "$CONCURRENT" ] && [ "$failed" -eq 0 ]
