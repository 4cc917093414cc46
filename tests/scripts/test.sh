#!/usr/bin/env bash
# `make test`: the format and lint checks, then every unit and integration
# test. Prints a short summary — each step's verdict, every skipped test with
# its reason, failures in full — and keeps the whole output in a log.
#
# A test that cannot check what it is for here (no root for the network lab,
# no IPv6 loopback, no raw sockets) records itself through SOCKLAB_SKIP_LOG
# (tests/common/mod.rs, `skip`); it is counted and listed as skipped, never
# as passed.
set -uo pipefail
cd "$(dirname "$0")/../.."

CARGO=${CARGO:-cargo}
target=${CARGO_TARGET_DIR:-target}
mkdir -p "$target"
target=$(cd "$target" && pwd)
log="$target/test.log"
skips="$target/skipped-tests.txt"
: >"$log"
rm -f "$skips"
started=$SECONDS

# step NAME COMMAND...: runs COMMAND into the log; on failure shows its end.
step() {
    local name=$1
    shift
    echo "== $name: $*" >>"$log"
    if "$@" >>"$log" 2>&1; then
        echo "$name: ok"
    else
        echo "$name: FAILED (the end of its output; all of it in $log)"
        tail -n 40 "$log"
        echo "total: 0 passed, 1 failed"
        exit 1
    fi
}

step fmt "$CARGO" fmt --check
step clippy "$CARGO" clippy --release --all-targets --quiet -- -D warnings

echo "== tests" >>"$log"
SOCKLAB_SKIP_LOG="$skips" "$CARGO" test --release --quiet --no-fail-fast >>"$log" 2>&1
status=$?

# libtest's per-binary lines: "test result: ok. 12 passed; 0 failed; 1 ignored; ..."
read -r binaries passed failed ignored < <(awk '
    /^test result:/ {
        n++
        for (i = 1; i <= NF; i++) {
            if ($(i+1) ~ /^passed/) p += $i
            if ($(i+1) ~ /^failed/) f += $i
            if ($(i+1) ~ /^ignored/) g += $i
        }
    }
    END { print n+0, p+0, f+0, g+0 }' "$log")
skipped=0
[ -f "$skips" ] && skipped=$(wc -l <"$skips")

if [ "$failed" -gt 0 ] || [ "$status" -ne 0 ]; then
    echo "tests: FAILED — the failures (all output in $log):"
    # Each test binary's "failures:" section, up to its result line.
    awk '/^failures:$/ {on = 1} on {print} /^test result:/ {on = 0}' "$log" | head -n 150
    grep -E '^error(\[|:)' "$log" | head -n 20
    [ "$failed" -gt 0 ] || failed=1
fi
echo "tests: $binaries test binaries, $ignored ignored, $((SECONDS - started)) s"
if [ "$skipped" -gt 0 ]; then
    echo "skipped (could not check here):"
    sed 's/^/  /' "$skips"
fi
echo "total: $((passed - skipped)) passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
