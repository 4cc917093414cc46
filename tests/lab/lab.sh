# The network lab (sourced, not run): three network namespaces joined by
# veth pairs, a rate limit on the router's link toward the server.
#
#   client ns              router ns                       server ns
#   c0 198.18.1.2/24 ---- r0 198.18.1.1/24
#                          r1 198.18.2.1/24 ---- s0 198.18.2.2/24
#                          (egress: tc tbf LAB_RATE)
#
# Every link has MTU 1500. The limit sits on the router (r1's egress), so a
# sender that exceeds it loses datagrams there, as on a real bottleneck; a
# tbf on the sender's own interface would only push back on its socket.
# Addresses are from 198.18.0.0/15 (reserved for benchmarks) and exist only
# inside the namespaces; neighbours are static and IPv6 is off, so the only
# packets on the links are the ones the tests send. Names are unique per run
# (socklab-<id>-client, ...); the veths are created inside the namespaces,
# so no host interface (and no qdisc of the host's lo) is ever touched.
#
# lab_up / lab_down; lab_exec NS CMD...; lab_counter NS DEV FIELD;
# lab_tbf_drops; lab_udp_rcvbuf_errors NS.
# Environment: LAB_ID (part of the names; default PID-RANDOM), LAB_RATE
# (100mbit), LAB_NETEM (netem options for the router's egress toward the
# server, e.g. "delay 5ms loss 1%"; used only where the kernel has netem).

LAB_RATE=${LAB_RATE:-100mbit}
LAB_NETEM=${LAB_NETEM:-}
LAB_BURST=${LAB_BURST:-64kb}
LAB_CLIENT_IP=198.18.1.2
LAB_ROUTER_IP=198.18.1.1
LAB_ROUTER_IP2=198.18.2.1
LAB_SERVER_IP=198.18.2.2
# Bytes on the wire (Ethernet header included, as the counters count) of a
# UDP datagram of PAYLOAD bytes over IPv4: PAYLOAD + 8 + 20 + 14.
lab_frame_bytes() { echo $(($1 + 42)); }

# lab_available: root and `ip netns` works; else prints why and fails.
lab_available() {
    if [ "$(id -u)" -ne 0 ]; then
        LAB_WHY="not root"
        return 1
    fi
    if ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
        LAB_WHY="ip or tc (iproute2) missing"
        return 1
    fi
    local probe="socklab-probe-$$-$RANDOM"
    if ! ip netns add "$probe" 2>/dev/null; then
        LAB_WHY="'ip netns add' is not permitted here"
        return 1
    fi
    ip netns del "$probe"
}

# lab_up: creates the namespaces and links; sets LAB_NS_CLIENT/ROUTER/SERVER
# and LAB_NETEM_STATUS. Call lab_down (trap it) whatever happens.
lab_up() {
    local id
    id="${LAB_ID:-$$-$RANDOM}"
    LAB_NS_CLIENT="socklab-$id-client"
    LAB_NS_ROUTER="socklab-$id-router"
    LAB_NS_SERVER="socklab-$id-server"
    LAB_CREATED=()
    local ns
    for ns in "$LAB_NS_CLIENT" "$LAB_NS_ROUTER" "$LAB_NS_SERVER"; do
        ip netns add "$ns"
        LAB_CREATED+=("$ns")
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done
    ip -n "$LAB_NS_CLIENT" link add c0 mtu 1500 type veth peer name r0 mtu 1500 netns "$LAB_NS_ROUTER"
    ip -n "$LAB_NS_SERVER" link add s0 mtu 1500 type veth peer name r1 mtu 1500 netns "$LAB_NS_ROUTER"
    ip -n "$LAB_NS_CLIENT" addr add "$LAB_CLIENT_IP/24" dev c0
    ip -n "$LAB_NS_ROUTER" addr add "$LAB_ROUTER_IP/24" dev r0
    ip -n "$LAB_NS_ROUTER" addr add "$LAB_ROUTER_IP2/24" dev r1
    ip -n "$LAB_NS_SERVER" addr add "$LAB_SERVER_IP/24" dev s0
    ip -n "$LAB_NS_CLIENT" link set c0 up
    ip -n "$LAB_NS_ROUTER" link set r0 up
    ip -n "$LAB_NS_ROUTER" link set r1 up
    ip -n "$LAB_NS_SERVER" link set s0 up
    ip -n "$LAB_NS_CLIENT" route add default via "$LAB_ROUTER_IP"
    ip -n "$LAB_NS_SERVER" route add default via "$LAB_ROUTER_IP2"
    ip netns exec "$LAB_NS_ROUTER" sysctl -qw net.ipv4.ip_forward=1
    # Static neighbours: no ARP on the links.
    local mac
    mac() { ip -n "$1" -br link show "$2" | awk '{ print $3 }'; }
    ip -n "$LAB_NS_CLIENT" neigh replace "$LAB_ROUTER_IP" lladdr "$(mac "$LAB_NS_ROUTER" r0)" dev c0 nud permanent
    ip -n "$LAB_NS_ROUTER" neigh replace "$LAB_CLIENT_IP" lladdr "$(mac "$LAB_NS_CLIENT" c0)" dev r0 nud permanent
    ip -n "$LAB_NS_ROUTER" neigh replace "$LAB_SERVER_IP" lladdr "$(mac "$LAB_NS_SERVER" s0)" dev r1 nud permanent
    ip -n "$LAB_NS_SERVER" neigh replace "$LAB_ROUTER_IP2" lladdr "$(mac "$LAB_NS_ROUTER" r1)" dev s0 nud permanent
    # The bottleneck: the router's egress toward the server. Burst: at least
    # one tick's worth at HZ=250 (100 Mbit/s / 250 = 50 kB).
    local parent="root"
    LAB_NETEM_STATUS="not asked for (LAB_NETEM empty)"
    if [ -n "$LAB_NETEM" ]; then
        # shellcheck disable=SC2086 # LAB_NETEM holds several tc words
        if tc -n "$LAB_NS_ROUTER" qdisc add dev r1 root handle 1: netem $LAB_NETEM 2>/dev/null; then
            parent="parent 1:"
            LAB_NETEM_STATUS="netem $LAB_NETEM on the router's egress toward the server"
        else
            LAB_NETEM_STATUS="NOT applied: this kernel has no netem qdisc (asked: $LAB_NETEM)"
        fi
    fi
    # shellcheck disable=SC2086 # $parent is one or two words
    tc -n "$LAB_NS_ROUTER" qdisc add dev r1 $parent handle 2: tbf rate "$LAB_RATE" burst "$LAB_BURST" latency 20ms
}

# lab_down: deletes the namespaces this run created (their veths go with
# them). Kill the processes started inside them first.
lab_down() {
    local ns
    for ns in "${LAB_CREATED[@]:-}"; do
        if [ -n "$ns" ]; then
            ip netns del "$ns" 2>/dev/null || echo "lab: could not delete namespace $ns" >&2
        fi
    done
    LAB_CREATED=()
    return 0
}

# lab_exec NS CMD...: runs CMD inside namespace NS.
lab_exec() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# lab_counter NS DEV FIELD: an interface counter (tx_packets, rx_bytes, ...).
lab_counter() {
    ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"
}

# lab_tbf_drops: packets the router's tbf has dropped so far.
lab_tbf_drops() {
    tc -s -n "$LAB_NS_ROUTER" qdisc show dev r1 |
        awk '/^qdisc tbf/ { tbf = 1; next } tbf { if (match($0, /dropped [0-9]+/)) print substr($0, RSTART + 8, RLENGTH - 8); exit }'
}

# lab_udp_rcvbuf_errors NS: UDP datagrams NS's kernel dropped so far because
# a socket's receive buffer was full (/proc/net/snmp is per namespace).
lab_udp_rcvbuf_errors() {
    ip netns exec "$1" awk '/^Udp:/ { if (!n) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; n = 1 }
        else { print $c; exit } }' /proc/net/snmp
}
