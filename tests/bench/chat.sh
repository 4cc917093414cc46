#!/usr/bin/env bash
# make bench-chat: the a4 chat server.
#
# 1. Fan-out: one sender, 50 receivers, 2000 messages; the time from the
#    first message sent until every receiver holds all 2000, for
#    a4-chat-server and for `ncat -l --chat` in the same run (ROUNDS each,
#    alternating; medians and the ratio are printed). Nothing may be lost.
# 2. Scale: 1000 clients connected at once, each receiving 10 broadcasts;
#    the server's peak RSS from /usr/bin/time -v.
#
# The load comes from one Python process (selectors), the same for both
# servers. Chat has no framing: a server prefixes each read it relays
# (`[ip:port] ` here, `<userN> ` in ncat), and a read may cut a message
# anywhere, so a receiver strips the prefixes from everything it got and
# then counts `MSGnnnnn\n` tokens. While timing it only counts newlines
# (one per message, none in either server's prefixes); the full check
# runs after the clock stops.
source "$(dirname "$0")/lib.sh"
need_tool ncat ncat
need_tool python3 python3

ROUNDS=${ROUNDS:-9}
RECEIVERS=${RECEIVERS:-50}
MESSAGES=${MESSAGES:-2000}
CLIENTS=${CLIENTS:-1000}

# 1000 clients need 1000 descriptors in the load generator and the server.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 8192 ]; then ulimit -n 8192; else ulimit -n "$hard"; fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/chatload.py" <<'PY'
import re, selectors, socket, sys, time

PREFIX = re.compile(rb"\[[0-9a-fA-F.:]+\] |<user\d+> ")
DEADLINE = 120.0

def connect(host, port):
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    return s

class Pump:
    """Reads every socket into its buffer; counts newlines since reset()."""
    def __init__(self, socks):
        self.socks = socks
        self.sel = selectors.DefaultSelector()
        for i, s in enumerate(socks):
            self.sel.register(s, selectors.EVENT_READ, i)
        self.bufs = [bytearray() for _ in socks]
        self.lines = [0] * len(socks)
    def add(self, s):
        self.sel.register(s, selectors.EVENT_READ, len(self.socks))
        self.socks.append(s); self.bufs.append(bytearray()); self.lines.append(0)
    def poll(self, timeout):
        got = False
        for key, _ in self.sel.select(timeout):
            try:
                data = key.fileobj.recv(1 << 16)
            except BlockingIOError:
                continue
            if not data:
                sys.exit(f"connection {key.data} closed by the server")
            self.bufs[key.data] += data
            self.lines[key.data] += data.count(b"\n")
            got = True
        return got
    def until(self, done, what):
        limit = time.monotonic() + DEADLINE
        while not done():
            if time.monotonic() > limit:
                sys.exit(f"timed out: {what}")
            self.poll(0.05)
    def quiet(self, seconds=0.3):
        last = time.monotonic()
        while time.monotonic() - last < seconds:
            if self.poll(0.05):
                last = time.monotonic()
    def reset(self):
        self.bufs = [bytearray() for _ in self.socks]
        self.lines = [0] * len(self.socks)

def tokens(buf, word):
    return re.findall(rb"%s(\d+)\n" % word, PREFIX.sub(b"", bytes(buf)))

def fanout(host, port, receivers, messages):
    pump = Pump([connect(host, port) for _ in range(receivers)])
    pump.until(lambda: all(pump.bufs), "receivers' greetings")
    sender = connect(host, port)
    pump.add(sender)
    pump.until(lambda: pump.bufs[-1], "sender's greeting")
    pump.quiet()
    pump.reset()
    payload = [b"MSG%05d\n" % i for i in range(messages)]
    sender.setblocking(True)
    start = time.perf_counter()
    for line in payload:
        sender.sendall(line)
    sender.setblocking(False)
    pump.until(lambda: all(n >= messages for n in pump.lines[:receivers]), "messages")
    elapsed = time.perf_counter() - start
    expected = [b"%05d" % i for i in range(messages)]
    lost = sum(len(set(expected) - set(tokens(buf, b"MSG"))) for buf in pump.bufs[:receivers])
    print(f"{elapsed:.4f} {lost}")

def hold(host, port, clients, senders):
    socks = []
    for _ in range(clients):
        socks.append(connect(host, port))
    pump = Pump(socks)
    pump.until(lambda: all(pump.bufs), "greetings")
    pump.quiet(0.5)
    pump.reset()
    start = time.perf_counter()
    for i in range(senders):
        socks[i].sendall(b"PING%02d\n" % i)
    want = [senders - 1 if i < senders else senders for i in range(clients)]
    pump.until(lambda: all(n >= w for n, w in zip(pump.lines, want)), "broadcasts")
    elapsed = time.perf_counter() - start
    short = sum(len(tokens(buf, b"PING")) != w for buf, w in zip(pump.bufs, want))
    print(f"{clients} {elapsed:.4f} {short}")

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "fanout":
    fanout(host, port, int(sys.argv[4]), int(sys.argv[5]))
else:
    hold(host, port, int(sys.argv[4]), int(sys.argv[5]))
PY

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
    local port=$1 i
    for ((i = 0; i < 1000; i++)); do
        ss -ltnH "sport = :$port" | grep -q . && return 0
        sleep 0.01
    done
    echo "nothing listens on port $port" >&2
    return 1
}

# socklab_server LOG [time-log]: starts a4-chat-server on a free port in
# $work (uploads would go to $work/server); sets $server_pid, $server_port.
socklab_server() {
    local log=$1
    rm -f "$log" # a fresh log: wait_line must not see the previous server's line
    (cd "$work" && exec "$BIN/a4-chat-server" 127.0.0.1 0 >"$log" 2>&1) &
    server_pid=$!
    pids+=("$server_pid")
    wait_line "$log" "Listening on" 10
    server_port=$(sed -n 's/^Listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log")
}

# stop PID [SIGNAL]: stops a server (Ctrl-C by default) and reaps it.
stop() {
    kill "-${2:-INT}" "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

fanout_round() { # NAME → appends the time to $work/NAME.times
    local name=$1 result pid port
    if [ "$name" = socklab ]; then
        socklab_server "$work/socklab.log"
        pid=$server_pid port=$server_port
    else
        port=$(free_port)
        ncat -l --chat 127.0.0.1 "$port" >/dev/null 2>&1 &
        pid=$!
        pids+=("$pid")
        wait_port "$port"
    fi
    result=$(python3 "$work/chatload.py" fanout 127.0.0.1 "$port" "$RECEIVERS" "$MESSAGES")
    # A background job in a script ignores SIGINT unless it handles it (ncat does not).
    stop "$pid" "$([ "$name" = socklab ] && echo INT || echo TERM)"
    read -r seconds lost <<<"$result"
    if [ "$lost" != 0 ]; then
        echo "$name lost $lost messages" >&2
        exit 1
    fi
    echo "$seconds" >>"$work/$name.times"
    printf '  %-8s %8.1f ms\n' "$name" "$(awk -v s="$seconds" 'BEGIN {print s * 1000}')"
}

echo "== fan-out: 1 sender, $RECEIVERS receivers, $MESSAGES messages ($ROUNDS rounds each)"
for ((round = 1; round <= ROUNDS; round++)); do
    fanout_round socklab
    fanout_round ncat
done
ours=$(median $(cat "$work/socklab.times"))
theirs=$(median $(cat "$work/ncat.times"))
awk -v a="$ours" -v b="$theirs" 'BEGIN {
    printf "median: a4-chat-server %.1f ms, ncat --chat %.1f ms, ratio %.2fx ncat time (target <= 1.0), nothing lost\n", a * 1000, b * 1000, a / b
}'

echo "== scale: $CLIENTS concurrent clients, 10 broadcasts each"
(cd "$work" && exec /usr/bin/time -v -o "$work/time.log" \
    "$BIN/a4-chat-server" 127.0.0.1 0 --max-clients "$CLIENTS" --max-per-source "$CLIENTS" >"$work/scale.log" 2>&1) &
timed=$!
pids+=("$timed")
wait_line "$work/scale.log" "Listening on" 10
port=$(sed -n 's/^Listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/scale.log")
read -r held seconds short < <(python3 "$work/chatload.py" hold 127.0.0.1 "$port" "$CLIENTS" 10)
# /usr/bin/time ignores SIGINT while it waits; interrupt the server itself.
stop "$(pgrep -P "$timed" -x a4-chat-server)"
wait "$timed" || true
rss=$(peak_rss_kib "$work/time.log")
awk -v n="$held" -v s="$seconds" -v short="$short" -v kib="$rss" 'BEGIN {
    printf "held %d clients; 10 broadcasts reached all in %.1f ms (%d clients short); peak RSS %.1f MiB (target <= 100)\n", n, s * 1000, short, kib / 1024
}'
[ "$short" = 0 ]
