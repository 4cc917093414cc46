#!/usr/bin/env bash
# socklab-check class on a generated class of SUBS submissions x 17
# programs built from the test fixtures (tests/fixtures/*.py): most
# submissions correct, every 4th with each of its programs in a fault mode,
# one hostile (tests/fixtures/class/submissions/hostile: floods its output,
# leaves 150 setsid sleepers, ignores SIGTERM, streams without end; as every
# one of its 17 programs), one empty. Reports with the default --jobs:
#   1. one correct submission's 17 programs: wall time (target <= 60 s);
#   2. the class: wall time (target <= 15 min) and the grader's peak RSS
#      (target <= 256 MiB, from /usr/bin/time -v);
#   3. the same programs one at a time (--jobs 1), measured on SERIAL_SUBS
#      submissions and scaled to the class, and the speed-up.
# Not a test: nothing here fails on a slow machine.
#
#   make bench-grade                 (builds first)
#   SUBS=10 SERIAL_SUBS=1 bash tests/bench/grade.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SUBS=${SUBS:-40}
SERIAL_SUBS=${SERIAL_SUBS:-2}
CHECK="$BIN/socklab-check"
FIX="$ROOT/tests/fixtures"
[ -x "$CHECK" ] || { echo "missing $CHECK: run cargo build --release --bins" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name script arguments broken-mode, per program (the fixtures' own args).
PROGRAMS=(
    "a1-server a1_server.py {port} wrong-decimals"
    "a1-client a1_client.py 25_{port} no-start"
    "a2-server a2_server.py {port} wrong-half"
    "a2-client a2_client.py {host}_{port} wrong-request"
    "ping-server ping_server.py -p_{port} wrong-ack"
    "ping-client ping_client.py ping_-ip_{host}_-port_{port}_-n_5_-i_0.3_-s_64 loss-off-by-one"
    "ramp-client ping_client.py ramp_-ip_{host}_-p_{port}_-n_10_-i_0.3_-s_64 lost-wrong"
    "file-server file_server.py {port}_{file} byte-changed"
    "file-client file_client.py {host}_{port} wrong-key"
    "relay-server relay_server.py {port} swap-codes"
    "relay-client relay_client.py {host}_{port} spaces"
    "dual-server dual_server.py {host}_{port} wrong-ack"
    "dual-client dual_client.py {host}_{port} recv-once"
    "chat-server chat_server.py {host}_{port} wrong-prefix"
    "chat-client chat_client.py {host}_{port} newline"
    "accio-server accio_server.py {port}_{dir}/files drop-last"
    "accio-client accio_client.py {host}_{port}_{file} drop-last"
)

# The course file: `a2 server sh {sub}/a2-server.sh ARGS` and so on.
course="$work/course.txt"
for line in "${PROGRAMS[@]}"; do
    read -r name _ args _ <<<"$line"
    printf '%s %s sh {sub}/%s.sh %s\n' "${name%-*}" "${name#*-}" "$name" "${args//_/ }" >>"$course"
done

# make_submission DIR KIND: KIND is good, broken or hostile.
make_submission() {
    local dir=$1 kind=$2 line name script mode
    mkdir -p "$dir"
    for line in "${PROGRAMS[@]}"; do
        read -r name script _ mode <<<"$line"
        case $kind in
            good) mode=good ;;
            hostile)
                # Its first all-digit argument is the port it grabs.
                printf '%s\n' '#!/bin/sh' 'for a in "$@"; do case $a in *[!0-9]*|"") ;; *) exec python3 '"'$FIX/class/submissions/hostile/a2/server.py'"' "$a" ;; esac; done' \
                    'exec python3 '"'$FIX/class/submissions/hostile/a2/server.py'"' 9' >"$dir/$name.sh"
                continue ;;
        esac
        printf '#!/bin/sh\nexec python3 %q %s "$@"\n' "$FIX/$script" "$mode" >"$dir/$name.sh"
    done
}

class="$work/class"
for i in $(seq -w 1 "$SUBS"); do
    if [ "$i" -eq 1 ]; then mkdir -p "$class/s$i-empty"
    elif [ "$i" -eq 2 ]; then make_submission "$class/s$i-hostile" hostile
    elif [ $((10#$i % 4)) -eq 0 ]; then make_submission "$class/s$i-broken" broken
    else make_submission "$class/s$i" good
    fi
done
one="$work/one"
make_submission "$one/correct" good
serial="$work/serial"
mkdir -p "$serial"
for sub in $(ls "$class" | head -n $((SERIAL_SUBS + 2)) | tail -n "$SERIAL_SUBS"); do
    cp -r "$class/$sub" "$serial/"
done

# run NAME DIR [ARGS...]: grades DIR, prints the wall time in seconds.
run() {
    local name=$1 dir=$2
    shift 2
    settle
    /usr/bin/time -v -o "$work/$name.time" "$CHECK" class "$course" "$dir" --out "$work/$name-report" -q "$@" \
        >"$work/$name.out" 2>&1 || true
    awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$work/$name.time"
}

echo "generated: $SUBS submissions x 17 programs (1 empty, 1 hostile, every 4th broken)"
t_one=$(run one "$one")
echo "one submission, 17 programs:   ${t_one} s wall (target <= 60 s)"
t_serial=$(run serial "$serial" --jobs 1)
echo "one at a time (--jobs 1), $SERIAL_SUBS submissions: ${t_serial} s wall"
t_class=$(run class "$class")
rss=$(peak_rss_kib "$work/class.time")
echo "class, $SUBS submissions:       ${t_class} s wall (target <= 900 s)"
echo "grader peak RSS:               $((rss / 1024)) MiB (target <= 256 MiB)"
awk -v s="$t_serial" -v n="$SERIAL_SUBS" -v total="$SUBS" -v c="$t_class" 'BEGIN {
    est = s / n * total
    printf "one at a time, scaled to the class: %.0f s; speed-up %.1fx\n", est, est / c }'
grep -c . "$work/class-report/summary.csv" | awk '{print "summary.csv rows: " $1 - 1}'
cut -d, -f1,19- "$work/class-report/summary.csv" | head -n 6
