//! Attacks on the a3 UDP servers, played from other loopback addresses
//! (127.0.0.2, 127.0.0.3, … stand for other hosts), each asserting the
//! defence:
//!
//! - a3 ping: `exit` from another host does not stop a server bound to
//!   0.0.0.0 (only this host's loopback address may, or anyone with
//!   `--remote-exit`); a forged probe cannot set two servers acking each
//!   other.
//! - a3 relay: a datagram forged with another relay's address as its source
//!   is answered once, not ping-ponged forever; relay output sent to a relay
//!   gets no answer.
//! - Both: a flood of tiny requests gets replies bounded by the per-source
//!   limit, while the ramp at its fastest and a normal client are served.
//! - a1 iperf: a `JOIN` forged with a victim's address (from a second
//!   socket standing in for the victim, and from a raw socket) gets the
//!   victim one `PROBE` no longer than the `JOIN` and no test data; every
//!   message an unproved address can send gets back at most its own bytes
//!   (the amplification table of `docs/protocols/a1-iperf.md`, row by row).
//!
//! The forged-source tests need a raw socket (`IP_HDRINCL`, root or
//! CAP_NET_RAW); without one they say so on stderr and pass as skipped.

mod common;

use common::{Proc, DEADLINE};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PING_SERVER: &str = env!("CARGO_BIN_EXE_a3-ping-server");
const PING_CLIENT: &str = env!("CARGO_BIN_EXE_a3-ping-client");
const RAMP_CLIENT: &str = env!("CARGO_BIN_EXE_a3-ramp-client");
const RELAY_SERVER: &str = env!("CARGO_BIN_EXE_a3-relay-server");
const IPERF_SERVER: &str = env!("CARGO_BIN_EXE_a1-iperf-server");

/// How long a test waits before concluding that nothing (more) arrives.
const SILENCE: Duration = Duration::from_millis(700);

/// The ping server's settings for a perfect network: every probe is acked
/// at once, so every missing reply is the server's decision.
const PERFECT: [&str; 6] = ["--loss", "0", "--min-delay", "0", "--max-delay", "0"];

/// Tight reply limits for the flood tests, so a short flood shows them.
const BURST: u64 = 2000;
const RATE: u64 = 1000;

fn ping_server(bind: &str, extra: &[&str]) -> (Proc, SocketAddr) {
    let mut args = vec!["-p", "0", "--bind", bind];
    args.extend_from_slice(&PERFECT);
    args.extend_from_slice(extra);
    let server = Proc::spawn(PING_SERVER, &args);
    let addr = reachable(server.wait_listening());
    (server, addr)
}

fn relay_server(bind: &str, extra: &[&str]) -> (Proc, SocketAddr) {
    let mut args = vec!["0", "--bind", bind];
    args.extend_from_slice(extra);
    let server = Proc::spawn(RELAY_SERVER, &args);
    let addr = server.wait_listening();
    (server, addr)
}

/// Where a client reaches a server bound to `addr` (0.0.0.0 → 127.0.0.1).
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}

/// A UDP socket on `ip` (a loopback address standing for some host).
fn socket_on(ip: &str) -> UdpSocket {
    let socket = UdpSocket::bind((ip, 0)).unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    socket
}

fn receive(socket: &UdpSocket) -> String {
    let mut buffer = [0u8; 2048];
    let (len, _) = socket.recv_from(&mut buffer).expect("a reply arrives");
    String::from_utf8_lossy(&buffer[..len]).into_owned()
}

/// What arrives at `socket` within [`SILENCE`], if anything.
fn anything_within_silence(socket: &UdpSocket) -> Option<String> {
    socket.set_read_timeout(Some(SILENCE)).unwrap();
    let mut buffer = [0u8; 2048];
    let got = socket
        .recv_from(&mut buffer)
        .ok()
        .map(|(len, _)| String::from_utf8_lossy(&buffer[..len]).into_owned());
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    got
}

/// Stops a server with SIGINT and returns its summary line (the one that
/// starts with `prefix`).
fn stop(server: &mut Proc, prefix: &str) -> String {
    server.signal("INT");
    let status = server.expect_exit();
    assert!(status.success(), "{status:?}; {}", server.dump());
    summary(server, prefix)
}

fn summary(server: &Proc, prefix: &str) -> String {
    server
        .stdout_lines()
        .into_iter()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line; {}", server.dump()))
}

/// The number before `name` in a summary such as `Summary: 3 probes, 3 acked`.
fn count(summary: &str, name: &str) -> u64 {
    let summary = summary.split_once(": ").map_or(summary, |(_, rest)| rest);
    summary
        .split(", ")
        .find_map(|part| part.strip_suffix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name:?} in {summary:?}"))
}

/// Runs the ping client from 127.0.0.1 and asserts every probe was answered.
fn assert_ping_client_served(server: SocketAddr) {
    let port = server.port().to_string();
    let (status, client) = common::run(
        PING_CLIENT,
        &[
            "-ip",
            "127.0.0.1",
            "-port",
            &port,
            "-n",
            "3",
            "-i",
            "0.3",
            "-s",
            "32",
            "--timeout",
            "5",
            "--no-exit",
        ],
    );
    assert!(status.success(), "{}", client.dump());
    client.expect_stdout("3 packets transmitted, 3 received");
}

/// Sends `exit` from `socket` and returns the reply.
fn exit_from(socket: &UdpSocket, server: SocketAddr) -> String {
    socket.send_to(b"exit", server).unwrap();
    receive(socket)
}

#[test]
fn exit_from_another_host_does_not_stop_a_ping_server_bound_to_all_addresses() {
    let (mut server, addr) = ping_server("0.0.0.0", &[]);
    let attacker = socket_on("127.0.0.2");
    for _ in 0..3 {
        attacker.send_to(b"exit", addr).unwrap();
    }
    assert_eq!(anything_within_silence(&attacker), None);
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "{}",
        server.dump()
    );
    server
        .wait_stderr(|l| l.contains("ignored exit from 127.0.0.2"), DEADLINE)
        .unwrap_or_else(|| panic!("no warning; {}", server.dump()));

    assert_ping_client_served(addr);

    // This host's own loopback address still stops it.
    let operator = socket_on("127.0.0.1");
    assert_eq!(exit_from(&operator, addr), "Stopping the Server.");
    let status = server.expect_exit();
    assert!(status.success(), "{}", server.dump());
    let line = summary(&server, "Summary: ");
    assert_eq!(count(&line, "remote exits refused"), 3, "{line}");
    assert_eq!(count(&line, "probes"), 3, "{line}");
}

#[test]
fn remote_exit_lets_another_host_stop_the_ping_server() {
    let (mut server, addr) = ping_server("0.0.0.0", &["--remote-exit"]);
    let other = socket_on("127.0.0.2");
    assert_eq!(exit_from(&other, addr), "Stopping the Server.");
    let status = server.expect_exit();
    assert!(status.success(), "{}", server.dump());
    let line = summary(&server, "Summary: ");
    assert_eq!(count(&line, "remote exits refused"), 0, "{line}");
}

#[test]
fn ping_server_never_answers_a_ping_servers_reply() {
    let (mut server, addr) = ping_server("127.0.0.1", &[]);
    let other = socket_on("127.0.0.2");
    for reply in [
        "Packet Acknowledged",
        "Packet Acknowledged 7",
        "Buffer Size Calibrated at Server.",
        "Stopping the Server.",
    ] {
        other.send_to(reply.as_bytes(), addr).unwrap();
    }
    assert_eq!(anything_within_silence(&other), None);
    // A probe from the same address is still answered.
    other.send_to(b"Hello Server", addr).unwrap();
    assert_eq!(receive(&other), "Packet Acknowledged");
    let line = stop(&mut server, "Summary: ");
    assert_eq!(count(&line, "ignored"), 4, "{line}");
    assert_eq!(count(&line, "acked"), 1, "{line}");
}

#[test]
fn relay_output_sent_to_a_relay_gets_no_answer() {
    let (mut server, addr) = relay_server("127.0.0.1", &["--quiet"]);
    let other_relay = socket_on("127.0.0.3");
    let outputs = [
        "400",
        "401",
        "404",
        "405, Could not send the message to the requested address",
        "200, UDP Packet Sent Successfully",
        "('127.0.0.3', 4000)",
        "127.0.0.2/4000 ; content : hello",
    ];
    for output in outputs {
        other_relay.send_to(output.as_bytes(), addr).unwrap();
    }
    assert_eq!(anything_within_silence(&other_relay), None);
    // Requests from the same address are still answered.
    other_relay.send_to(b"hello", addr).unwrap();
    assert_eq!(receive(&other_relay), "400");
    let line = stop(&mut server, "Relay stopped: ");
    assert_eq!(count(&line, "ignored"), outputs.len() as u64, "{line}");
    assert_eq!(
        count(&line, "datagrams"),
        outputs.len() as u64 + 1,
        "{line}"
    );
}

/// A raw IPv4 socket that writes its own headers (`IP_HDRINCL`), or `None`
/// (recording the test as skipped) when this process may not open one.
fn raw_sender() -> Option<Socket> {
    match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)) {
        Ok(socket) => {
            socket.set_header_included_v4(true).unwrap();
            Some(socket)
        }
        Err(e) => {
            common::skip(&format!(
                "raw-socket spoofing needs root or CAP_NET_RAW ({e})"
            ));
            None
        }
    }
}

fn v4(addr: SocketAddr) -> SocketAddrV4 {
    match addr {
        SocketAddr::V4(addr) => addr,
        SocketAddr::V6(addr) => panic!("{addr} is not IPv4"),
    }
}

/// Sends one UDP datagram to `to` whose IPv4 source claims to be `from`.
/// The kernel fills in the IP checksum, length and id; the UDP checksum is
/// 0 (none), which IPv4 allows.
fn spoof(raw: &Socket, from: SocketAddr, to: SocketAddr, payload: &[u8]) {
    let (from, to) = (v4(from), v4(to));
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut packet = Vec::with_capacity(total);
    packet.extend_from_slice(&[0x45, 0]);
    packet.extend_from_slice(&(total as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
    packet.extend_from_slice(&from.ip().octets());
    packet.extend_from_slice(&to.ip().octets());
    packet.extend_from_slice(&from.port().to_be_bytes());
    packet.extend_from_slice(&to.port().to_be_bytes());
    packet.extend_from_slice(&(udp_len as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(payload);
    let sent = raw
        .send_to(&packet, &SockAddr::from(SocketAddr::V4(to)))
        .unwrap();
    assert_eq!(sent, total);
}

/// Waits until `server` has logged `n` stdout lines containing `text`.
fn wait_for_lines(server: &Proc, text: &str, n: usize) {
    let until = Instant::now() + DEADLINE;
    loop {
        let seen = server
            .stdout_lines()
            .iter()
            .filter(|l| l.contains(text))
            .count();
        if seen >= n {
            return;
        }
        assert!(
            Instant::now() < until,
            "saw {seen} of {n} {text:?} lines; {}",
            server.dump()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_datagram_forged_between_two_relays_is_answered_once_not_forever() {
    let Some(raw) = raw_sender() else {
        return;
    };
    let (mut a, a_addr) = relay_server("127.0.0.2", &[]);
    let (mut b, b_addr) = relay_server("127.0.0.3", &[]);
    // In B's name: junk (A answers 400), a `hii` (A answers B's address
    // tuple and registers B), and a message to B itself (A forwards it to
    // B and answers 200). Before the fix each one started an endless
    // exchange of 400s between the two relays.
    let to_b = format!("to:127.0.0.3/{};content:ping-pong", b_addr.port());
    for payload in [&b"x"[..], b"hii", to_b.as_bytes()] {
        spoof(&raw, b_addr, a_addr, payload);
    }
    // B receives four datagrams from A and answers none of them.
    wait_for_lines(&b, "-> ignored", 4);
    std::thread::sleep(SILENCE);
    let a_line = stop(&mut a, "Relay stopped: ");
    let b_line = stop(&mut b, "Relay stopped: ");
    assert_eq!(count(&a_line, "datagrams"), 3, "{a_line}");
    assert_eq!(count(&a_line, "forwarded"), 1, "{a_line}");
    assert_eq!(count(&b_line, "datagrams"), 4, "{b_line}");
    assert_eq!(count(&b_line, "ignored"), 4, "{b_line}");
}

#[test]
fn a_probe_forged_between_two_ping_servers_is_acked_once_not_forever() {
    let Some(raw) = raw_sender() else {
        return;
    };
    let (mut a, a_addr) = ping_server("127.0.0.2", &[]);
    let (mut b, b_addr) = ping_server("127.0.0.3", &[]);
    spoof(&raw, b_addr, a_addr, b"Hello Server 1");
    b.wait_stderr(|l| l.contains("a ping server's reply"), DEADLINE)
        .unwrap_or_else(|| panic!("B never saw A's ack; {}", b.dump()));
    std::thread::sleep(SILENCE);
    let a_line = stop(&mut a, "Summary: ");
    let b_line = stop(&mut b, "Summary: ");
    assert_eq!(count(&a_line, "probes"), 1, "{a_line}");
    assert_eq!(count(&a_line, "acked"), 1, "{a_line}");
    assert_eq!(count(&b_line, "probes"), 0, "{b_line}");
    assert_eq!(count(&b_line, "ignored"), 1, "{b_line}");
}

/// What a flood got: bytes sent and received by the attacker, when it
/// started, and how long from the first send to the end of the replies.
struct Flood {
    sent: u64,
    received: u64,
    started: Instant,
    elapsed: Duration,
}

/// Sends `count` copies of `request` from `attacker` to `server` as fast as
/// it can (for at most 10 s) while counting the replies, until the replies
/// have stopped for [`SILENCE`].
fn flood(attacker: UdpSocket, server: SocketAddr, request: &[u8], count: usize) -> Flood {
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let socket = attacker.try_clone().unwrap();
        let done = done.clone();
        std::thread::spawn(move || {
            socket.set_read_timeout(Some(SILENCE)).unwrap();
            let mut buffer = [0u8; 2048];
            let mut received = 0u64;
            let until = Instant::now() + DEADLINE;
            while Instant::now() < until {
                match socket.recv_from(&mut buffer) {
                    Ok((len, _)) => received += len as u64,
                    Err(_) if done.load(Ordering::SeqCst) => break,
                    Err(_) => {}
                }
            }
            received
        })
    };
    let start = Instant::now();
    let mut sent = 0u64;
    for _ in 0..count {
        if start.elapsed() > Duration::from_secs(10) {
            break;
        }
        if attacker.send_to(request, server).is_ok() {
            sent += request.len() as u64;
        }
    }
    done.store(true, Ordering::SeqCst);
    let received = receiver.join().unwrap();
    Flood {
        sent,
        received,
        started: start,
        elapsed: start.elapsed(),
    }
}

#[test]
fn a_flood_of_tiny_probes_gets_replies_bounded_by_the_reply_limit() {
    let (burst, rate) = (BURST.to_string(), RATE.to_string());
    let (mut server, addr) = ping_server(
        "127.0.0.1",
        &["--reply-burst", &burst, "--reply-rate", &rate],
    );
    // 1-byte probes: each would get a 19-byte `Packet Acknowledged`.
    let result = flood(socket_on("127.0.0.2"), addr, b"x", 20_000);
    // The default probe credit is 2 bytes of reply per byte of probe.
    let bound =
        BURST as f64 + 2.0 * result.sent as f64 + RATE as f64 * result.elapsed.as_secs_f64();
    assert!(
        (result.received as f64) <= bound,
        "received {} bytes for {} sent in {:?} (bound {bound})",
        result.received,
        result.sent,
        result.elapsed
    );

    // Another host is served as usual meanwhile.
    assert_ping_client_served(addr);

    // The server may still have read flood probes after the attacker
    // stopped listening: its own count gets the time up to its stop.
    let server_bound = BURST as f64
        + 2.0 * result.sent as f64
        + RATE as f64 * result.started.elapsed().as_secs_f64();
    let line = stop(&mut server, "Summary: ");
    let (probes, acked, limited) = (
        count(&line, "probes"),
        count(&line, "acked"),
        count(&line, "rate-limited"),
    );
    // Every flood probe was either acked or refused by the limit, and the
    // server's own count of ack bytes keeps the bound too (3 client probes
    // of 32 bytes earn more than their acks).
    assert_eq!(probes, acked + limited, "{line}");
    assert!(limited > 0, "{line}");
    let flood_acks = acked - 3;
    assert!(
        (flood_acks * 19) as f64 <= server_bound,
        "{line}: {flood_acks} acks of 19 bytes for {} bytes (bound {server_bound})",
        result.sent
    );
}

#[test]
fn a_flood_of_hii_gets_replies_bounded_by_the_reply_limit() {
    let (burst, rate) = (BURST.to_string(), RATE.to_string());
    let (mut server, addr) = relay_server(
        "127.0.0.1",
        &["--quiet", "--reply-burst", &burst, "--reply-rate", &rate],
    );
    // 3-byte `hii`s: each would get a 20-byte `('127.0.0.2', PORT)`.
    let result = flood(socket_on("127.0.0.2"), addr, b"hii", 10_000);
    let bound = BURST as f64 + RATE as f64 * result.elapsed.as_secs_f64();
    assert!(
        (result.received as f64) <= bound,
        "received {} bytes for {} sent in {:?} (bound {bound})",
        result.received,
        result.sent,
        result.elapsed
    );

    // Another host is served as usual meanwhile.
    let client = socket_on("127.0.0.1");
    client.send_to(b"hii", addr).unwrap();
    let port = client.local_addr().unwrap().port();
    assert_eq!(receive(&client), format!("('127.0.0.1', {port})"));

    let line = stop(&mut server, "Relay stopped: ");
    assert!(count(&line, "rate-limited") > 0, "{line}");
}

#[test]
fn the_ramp_at_its_fastest_is_never_rate_limited() {
    // The default limits, and limits so tight that only the probe credit
    // can carry the ramp.
    let tight = ["--reply-burst", "2000", "--reply-rate", "1000"];
    for limits in [&[][..], &tight[..]] {
        let (mut server, addr) = ping_server("127.0.0.1", limits);
        let port = addr.port().to_string();
        let dir = common::TempDir::new("attack-udp-ramp");
        // 150 probes from 20 ms down to 10 µs apart: the last ones leave
        // as fast as the sender can go. The smallest probe that carries
        // its number, and the largest datagram there is.
        for size in ["18", "65507"] {
            let (status, ramp) = common::run_in(
                RAMP_CLIENT,
                &[
                    "-ip",
                    "127.0.0.1",
                    "-port",
                    &port,
                    "-n",
                    "150",
                    "-i",
                    "0.02",
                    "-s",
                    size,
                    "--no-plot",
                    "--no-exit",
                ],
                Some(dir.path()),
            );
            assert!(status.success(), "{}", ramp.dump());
            ramp.expect_stdout("150 messages sent");
        }
        let line = stop(&mut server, "Summary: ");
        // At 10 µs apart the kernel may drop some 64 KiB probes before the
        // server reads them; every probe the server did read was acked.
        assert_eq!(count(&line, "rate-limited"), 0, "{limits:?}: {line}");
        assert_eq!(count(&line, "probes"), count(&line, "acked"), "{line}");
        assert!(count(&line, "probes") >= 150, "{line}");
    }
}

#[test]
fn relay_exit_server_from_another_loopback_address_is_refused() {
    let (mut server, addr) = relay_server("0.0.0.0", &["--quiet"]);
    let addr = reachable(addr);
    let other = socket_on("127.0.0.2");
    other.send_to(b"exit server", addr).unwrap();
    assert_eq!(receive(&other), "400");
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "{}",
        server.dump()
    );
    let operator = socket_on("127.0.0.1");
    operator.send_to(b"exit server", addr).unwrap();
    let status = server.expect_exit();
    assert!(status.success(), "{}", server.dump());
}

fn iperf_server(extra: &[&str]) -> (Proc, SocketAddr) {
    let mut args = vec!["--port", "0", "--forever"];
    args.extend_from_slice(extra);
    let server = Proc::spawn(IPERF_SERVER, &args);
    let addr = server.wait_listening();
    (server, addr)
}

/// Every datagram that reaches `socket` until `quiet` passes without one.
fn datagrams_until_quiet(socket: &UdpSocket, quiet: Duration) -> Vec<Vec<u8>> {
    socket.set_read_timeout(Some(quiet)).unwrap();
    let mut buffer = vec![0u8; 65_536];
    let mut got = Vec::new();
    while let Ok((len, _)) = socket.recv_from(&mut buffer) {
        got.push(buffer[..len].to_vec());
        assert!(got.len() < 100_000, "a flood");
    }
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    got
}

/// A reverse `HELLO` for 40 Mbit/s over 60 s, within the default caps.
fn reverse_hello() -> socklab::a1_iperf::protocol::Hello {
    socklab::a1_iperf::protocol::Hello {
        token: 0xa77ac,
        streams: 1,
        reverse: true,
        length: 1500,
        rate: 40_000_000,
        bytes: 0,
        time_ms: 60_000,
        pacing_us: 0,
    }
}

/// `START` and a padded `HELLO` from `attacker`; the cookie from the `ACK`.
fn iperf_cookie(attacker: &UdpSocket, server: SocketAddr) -> u64 {
    use socklab::a1_iperf::protocol::Control;
    attacker.send_to(b"START", server).unwrap();
    let hello = Control::Hello(reverse_hello()).encode_padded();
    attacker.send_to(&hello, server).unwrap();
    match Control::parse(receive(attacker).as_bytes()) {
        Some(Control::Ack(_, cookie)) => cookie,
        other => panic!("no ACK: {other:?}"),
    }
}

/// What a victim may see after a forged `JOIN` of `join_len` bytes: one
/// `PROBE` no longer than the `JOIN`, never test data.
fn assert_victim_got_only_a_probe(got: &[Vec<u8>], join_len: usize) {
    use socklab::a1_iperf::protocol::Control;
    assert!(got.len() <= 1, "{} datagrams to the victim", got.len());
    for datagram in got {
        assert!(datagram.len() <= join_len, "{} bytes", datagram.len());
        assert!(
            matches!(Control::parse(datagram), Some(Control::Probe(..))),
            "{:?}",
            String::from_utf8_lossy(datagram)
        );
    }
}

/// Issue 18's attack: `START`, a reverse `HELLO` and then a `JOIN` with the
/// cookie but the victim's address as its source. Before the fix the
/// victim got 40 Mbit/s for 60 s; now it gets one `PROBE` it never echoes,
/// no test data, and the attacker's test ends at the idle timeout.
#[test]
fn a1_forged_join_gets_the_victim_no_test_data() {
    use socklab::a1_iperf::protocol::Control;
    let (mut server, addr) = iperf_server(&["--idle-timeout", "1"]);
    let attacker = socket_on("127.0.0.2");
    let cookie = iperf_cookie(&attacker, addr);
    let join = Control::Join(cookie, 0).encode_padded();
    // A second socket stands in for the victim: the JOIN leaves from its
    // address, and everything the server sends there is counted.
    let victim = socket_on("127.0.0.3");
    victim.send_to(&join, addr).unwrap();
    // The raw socket forges the victim's address outright (root only).
    let forged_victim = socket_on("127.0.0.4");
    let raw = raw_sender();
    if let Some(raw) = &raw {
        spoof(raw, forged_victim.local_addr().unwrap(), addr, &join);
    }
    let quiet = Duration::from_millis(1500);
    assert_victim_got_only_a_probe(&datagrams_until_quiet(&victim, quiet), join.len());
    assert_victim_got_only_a_probe(&datagrams_until_quiet(&forged_victim, quiet), join.len());
    wait_for_lines(&server, "Test ended: the client went silent", 1);
    let summary = stop(&mut server, "Server stopped: ");
    assert_eq!(summary, "Server stopped: 1 test(s) served");
}

/// The amplification table of `docs/protocols/a1-iperf.md`, row by row:
/// for every message an address that has not proved it receives can send,
/// the bytes the server sends back to that address are at most the bytes
/// it received from it — and each row gets exactly the answer the table
/// says.
#[test]
fn a1_amplification_table_row_by_row() {
    use socklab::a1_iperf::protocol::{Control, Hello};
    let caps = ["--server-bitrate-limit", "50M", "--idle-timeout", "10"];
    let (mut server, addr) = iperf_server(&caps);
    let quiet = Duration::from_millis(300);
    // One row: a fresh socket on another loopback address sends
    // `datagrams`; returns (bytes in, what came back).
    let row = |socket: &UdpSocket, datagrams: &[&[u8]]| {
        for datagram in datagrams {
            socket.send_to(datagram, addr).unwrap();
        }
        let bytes_in: usize = datagrams.iter().map(|d| d.len()).sum();
        (bytes_in, datagrams_until_quiet(socket, quiet))
    };
    let out = |got: &[Vec<u8>]| got.iter().map(Vec::len).sum::<usize>();
    let fresh = || socket_on("127.0.0.2");
    // Between tests: junk, a lone STOP, a HELLO without START.
    let hello = Control::Hello(reverse_hello()).encode_padded();
    for datagrams in [&[&b"\xff\x00junk"[..]][..], &[b"STOP"], &[&hello]] {
        let (bytes_in, got) = row(&fresh(), datagrams);
        assert!(got.is_empty(), "{bytes_in} bytes in, {} out", out(&got));
    }
    // START, STOP, no data: 9 bytes in, no 57-byte reply.
    let (_, got) = row(&fresh(), &[b"START", b"STOP"]);
    assert!(got.is_empty(), "{} bytes to 9", out(&got));
    // START, HELLO above the caps: the REFUSED line, within the HELLO.
    let greedy = Control::Hello(Hello {
        rate: 60_000_000,
        ..reverse_hello()
    })
    .encode_padded();
    let (bytes_in, got) = row(&fresh(), &[b"START", &greedy]);
    assert!(
        matches!(Control::parse(&got[0]), Some(Control::Refused(_))),
        "{got:?}"
    );
    assert!(
        got.len() == 1 && out(&got) <= bytes_in,
        "{} bytes to {bytes_in}",
        out(&got)
    );
    // START, unpadded HELLO: the ACK only because it is no longer; its
    // STOP then gets no reply (57 bytes in, 42 already out).
    let short = Control::Hello(reverse_hello()).encode();
    let socket = fresh();
    let (bytes_in, got) = row(&socket, &[b"START", short.as_bytes()]);
    assert!(
        matches!(Control::parse(&got[0]), Some(Control::Ack(..))),
        "{got:?}"
    );
    assert!(
        got.len() == 1 && out(&got) <= short.len(),
        "{} bytes to {bytes_in}",
        out(&got)
    );
    let (_, got) = row(&socket, &[b"STOP"]);
    assert!(got.is_empty(), "{} bytes more", out(&got));
    // START, padded HELLO: the ACK; this socket is the running test's client.
    let client = fresh();
    let (client_in, got) = row(&client, &[b"START", &hello]);
    let Some(Control::Ack(_, cookie)) = Control::parse(&got[0]) else {
        panic!("no ACK: {got:?}")
    };
    let mut client_out = out(&got);
    // During that test, from other unproved addresses: a padded JOIN gets
    // a PROBE no longer than it; an unpadded JOIN (the PROBE would be one
    // byte longer), a wrong cookie, a guessed ECHO, ALIVE, STOP and junk
    // get nothing.
    let (bytes_in, got) = row(&fresh(), &[&Control::Join(cookie, 0).encode_padded()]);
    assert!(
        matches!(Control::parse(&got[0]), Some(Control::Probe(..))),
        "{got:?}"
    );
    assert!(
        got.len() == 1 && out(&got) <= bytes_in,
        "{} bytes to {bytes_in}",
        out(&got)
    );
    for datagram in [
        Control::Join(cookie, 0).encode().into_bytes(),
        Control::Join(cookie ^ 1, 0).encode_padded(),
        Control::Echo(0x1234, 0).encode_padded(),
        Control::Alive(cookie).encode().into_bytes(),
        b"STOP".to_vec(),
        b"junk".to_vec(),
    ] {
        let (bytes_in, got) = row(&fresh(), &[&datagram]);
        assert!(
            got.is_empty(),
            "{bytes_in} bytes in, {} out: {:?}",
            out(&got),
            String::from_utf8_lossy(&datagram)
        );
    }
    // The client's STOP ends its test: reply and statistics, within all
    // it sent; repeated STOPs add at most their own bytes' worth.
    let stops: [&[u8]; 4] = [b"STOP"; 4];
    let (stop_in, got) = row(&client, &stops);
    client_out += out(&got);
    assert!(!got.is_empty(), "no reply at all");
    assert!(
        client_out <= client_in + stop_in,
        "{client_out} bytes to {}",
        client_in + stop_in
    );
    stop(&mut server, "Server stopped: ");
}
