# Shared helpers for the benchmark scripts (sourced, not run).
# Installs peer tools with apt when missing, and measures peak RSS.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The release binaries: make passes SOCKLAB_BIN; else CARGO_TARGET_DIR's, else target/.
BIN=${SOCKLAB_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}

# need_tool CMD PACKAGE: installs PACKAGE with apt-get if CMD is missing.
need_tool() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "installing $2 (for $1)..." >&2
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    else
        sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    fi
}

need_tool /usr/bin/time time

# median N1 N2 ...: prints the median of the numbers.
median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}

# peak_rss_kib FILE: the "Maximum resident set size" from a /usr/bin/time -v log.
peak_rss_kib() {
    awk -F': ' '/Maximum resident set size/ {print $2}' "$1"
}

# settle: flushes dirty pages before a timed run, so the previous run's
# gigabyte of writeback does not throttle this one (same start for every tool).
settle() {
    sync
    sleep 0.2
}

# wait_line FILE PATTERN [SECONDS]: waits until FILE has a line matching PATTERN.
wait_line() {
    local file=$1 pattern=$2 limit=${3:-10} i
    for ((i = 0; i < limit * 100; i++)); do
        grep -q -- "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.01
    done
    echo "timed out waiting for '$pattern' in $file" >&2
    return 1
}
