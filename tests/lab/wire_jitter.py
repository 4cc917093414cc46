"""wire_jitter.py OUT: the jitter of an a1 or iperf3 transfer as the wire saw it.

Run inside the server namespace (make bench-lab starts it around each a1
transfer). It reads every IPv4 packet arriving on s0 through an AF_PACKET
socket with the kernel's receive timestamp (SO_TIMESTAMPNS), keeps the UDP
data datagrams (1000 bytes or more) and, on SIGTERM, computes the RFC 3550
interarrival jitter (gain 1/16, transit = kernel arrival - the send time the
datagram carries; its last value, as both tools report it) independently of
either tool's receiver:

- socklab's a1 header: "SLB1", stream (4 hex digits), sequence (16), send
  time in ns since the Unix epoch (16 hex digits);
- iperf3's UDP header: seconds and microseconds of the send time (32 bits
  each, big-endian).

It writes one line to OUT: `wire_jitter_ms send_gap_p50_us send_gap_p90_us
datagrams`, where the send gaps are between consecutive datagrams' send
times (a paced sender's even spacing, or iperf3's bursts per timer tick).
Part of the lab benchmark only.
"""

import signal
import socket
import struct
import sys

SO_TIMESTAMPNS = 35  # Linux
ETH_P_IP = 0x0800


def main(out):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    sock.bind(("s0", 0))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.settimeout(0.2)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    print("sniffing", flush=True)
    pairs = []  # (kernel arrival ns, send ns)
    while not stopping:
        try:
            packet, ancillary, _, address = sock.recvmsg(128, 64)
        except (socket.timeout, InterruptedError):
            continue
        if address[2] == socket.PACKET_OUTGOING or len(packet) < 28 or packet[9] != 17:
            continue
        udp = (packet[0] & 15) * 4
        if struct.unpack("!H", packet[udp + 4 : udp + 6])[0] < 1000:
            continue
        payload = packet[udp + 8 : udp + 48]
        arrival = None
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", data[:16])
                arrival = sec * 10**9 + nsec
        if arrival is None:
            continue
        if payload[:4] == b"SLB1":
            sent = int(payload[24:40], 16)
        else:
            sec, usec = struct.unpack("!II", payload[:8])
            sent = sec * 10**9 + usec * 1000
        pairs.append((arrival, sent))
    jitter, previous = 0.0, None
    for arrival, sent in pairs:
        transit = arrival - sent
        if previous is not None:
            jitter += (abs(transit - previous) - jitter) / 16.0
        previous = transit
    gaps = sorted(b[1] - a[1] for a, b in zip(pairs, pairs[1:])) or [0]
    p50, p90 = gaps[len(gaps) // 2], gaps[int(0.9 * (len(gaps) - 1))]
    with open(out, "w") as f:
        f.write(f"{jitter / 1e6:.4f} {p50 / 1000:.0f} {p90 / 1000:.0f} {len(pairs)}\n")


if __name__ == "__main__":
    main(sys.argv[1])
