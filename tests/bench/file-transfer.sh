#!/usr/bin/env bash
# a3 file transfer benchmark (not a test): one random file over loopback to
# disk, socklab (a3-file-server --once → a3-file-client) against
# `ncat --send-only` → `ncat -l --recv-only > file`, runs interleaved in the
# same session. Prints the median rate of each, the ratio, and the peak RSS
# of each side; every copy is checked with cmp.
#
#   SIZE_MB=1000 RUNS=5 BENCH_DIR=/some/disk/dir bash tests/bench/file-transfer.sh
#
# The files live on disk (not /dev/shm), in a directory removed at the end.
source "$(dirname "$0")/lib.sh"

need_tool ncat ncat
need_tool cmp diffutils

SIZE_MB=${SIZE_MB:-1000}
RUNS=${RUNS:-5}
BENCH_DIR=${BENCH_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}}
SIZE=$((SIZE_MB * 1000000))

for binary in a3-file-server a3-file-client; do
    [ -x "$BIN/$binary" ] || { echo "build first: cargo build --release" >&2; exit 1; }
done

mkdir -p "$BENCH_DIR"
WORK=$(mktemp -d "$BENCH_DIR/bench-file-transfer.XXXXXX")
cleanup() {
    # Stop only the processes this script started.
    for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "a3 file transfer: $SIZE_MB MB random file over loopback to disk, $RUNS runs each"
echo "work directory: $WORK"
head -c "$SIZE" /dev/urandom >"$WORK/source"

now() { date +%s.%N; }
# mb_per_s START END: the file's size over the interval, in MB/s.
mb_per_s() { awk -v s="$1" -v e="$2" -v n="$SIZE" 'BEGIN {printf "%.1f", n / (e - s) / 1e6}'; }
# free_port: a loopback port nothing listens on right now.
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 30000))
        ss -Htln "sport = :$port" | grep -q . || { echo "$port"; return; }
    done
}
# check_copy: the received file must equal the source; then it is removed.
check_copy() {
    cmp -s "$WORK/source" "$WORK/received" || { echo "FAIL: $1 copy differs from the source" >&2; exit 1; }
    rm -f "$WORK/received"
}

socklab_run() {
    # Fresh logs too: wait_line must not see the previous server's line.
    rm -f "$WORK/received" "$WORK/server.log"
    settle
    /usr/bin/time -v -o "$WORK/socklab-server.time" \
        "$BIN/a3-file-server" 0 "$WORK/source" --bind 127.0.0.1 --once >"$WORK/server.log" 2>&1 &
    local server=$!
    wait_line "$WORK/server.log" "Listening on" 10
    local port
    port=$(sed -n 's/^Listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$WORK/server.log")
    local start end
    start=$(now)
    /usr/bin/time -v -o "$WORK/socklab-client.time" \
        "$BIN/a3-file-client" 127.0.0.1 "$port" -o "$WORK/received" >"$WORK/client.log" 2>&1
    end=$(now)
    wait "$server"
    check_copy socklab
    socklab_rates+=("$(mb_per_s "$start" "$end")")
    socklab_server_rss+=("$(peak_rss_kib "$WORK/socklab-server.time")")
    socklab_client_rss+=("$(peak_rss_kib "$WORK/socklab-client.time")")
}

ncat_run() {
    rm -f "$WORK/received" "$WORK/ncat.log"
    settle
    local port
    port=$(free_port)
    /usr/bin/time -v -o "$WORK/ncat-receiver.time" \
        ncat -v -l 127.0.0.1 "$port" --recv-only >"$WORK/received" 2>"$WORK/ncat.log" &
    local receiver=$!
    wait_line "$WORK/ncat.log" "Listening on" 10
    local start end
    start=$(now)
    /usr/bin/time -v -o "$WORK/ncat-sender.time" \
        ncat --send-only 127.0.0.1 "$port" <"$WORK/source"
    wait "$receiver"
    end=$(now)
    check_copy ncat
    ncat_rates+=("$(mb_per_s "$start" "$end")")
    ncat_sender_rss+=("$(peak_rss_kib "$WORK/ncat-sender.time")")
    ncat_receiver_rss+=("$(peak_rss_kib "$WORK/ncat-receiver.time")")
}

# One untimed round first: the first gigabyte written after a quiet spell
# is much slower (fresh memory for the page cache), whichever tool writes it.
socklab_run
ncat_run
socklab_rates=() socklab_server_rss=() socklab_client_rss=()
ncat_rates=() ncat_sender_rss=() ncat_receiver_rss=()
for ((run = 1; run <= RUNS; run++)); do
    # Alternate who goes first, so neither always follows the other's writeback.
    if ((run % 2)); then socklab_run; ncat_run; else ncat_run; socklab_run; fi
    echo "run $run: socklab ${socklab_rates[-1]} MB/s, ncat ${ncat_rates[-1]} MB/s (both copies identical)"
done

max() { printf '%s\n' "$@" | sort -g | tail -1; }
socklab=$(median "${socklab_rates[@]}")
ncat=$(median "${ncat_rates[@]}")
echo
echo "median over $RUNS runs, $SIZE_MB MB, wall time from starting the connecting side until the file is on disk:"
printf '  socklab a3-file  %8.1f MB/s   peak RSS server %s KiB, client %s KiB\n' \
    "$socklab" "$(max "${socklab_server_rss[@]}")" "$(max "${socklab_client_rss[@]}")"
printf '  ncat             %8.1f MB/s   peak RSS sender %s KiB, receiver %s KiB\n' \
    "$ncat" "$(max "${ncat_sender_rss[@]}")" "$(max "${ncat_receiver_rss[@]}")"
awk -v a="$socklab" -v b="$ncat" 'BEGIN {printf "  ratio socklab / ncat: %.2fx (target >= 1.20x, RSS <= 8192 KiB)\n", a / b}'
