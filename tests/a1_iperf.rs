//! a1 UDP iPerf: the real binaries on loopback, against each other and
//! against a raw UDP socket playing the seed's part of the protocol.

mod common;

use common::{run, Proc, DEADLINE};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const SERVER: &str = env!("CARGO_BIN_EXE_a1-iperf-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_a1-iperf-client");

fn start_server(extra: &[&str]) -> (Proc, SocketAddr) {
    let mut args = vec!["--port", "0"];
    args.extend_from_slice(extra);
    let server = Proc::spawn(SERVER, &args);
    let addr = server.wait_listening();
    (server, addr)
}

/// A raw UDP socket standing in for the seed client.
fn raw_client() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    socket
}

fn recv_text(socket: &UdpSocket) -> String {
    let mut buffer = [0u8; 4096];
    let (len, _) = socket.recv_from(&mut buffer).expect("a reply");
    String::from_utf8(buffer[..len].to_vec()).unwrap()
}

/// Checks a reply has the seed sentence with three decimals and our count.
fn assert_reply(reply: &str, bytes: u64) {
    let (sentence, count) = reply.split_once(", ").expect("reply has a count");
    let number = sentence
        .strip_prefix("Throughput: ")
        .and_then(|s| s.strip_suffix(" Kilobytes per second"))
        .unwrap_or_else(|| panic!("not the seed sentence: {reply:?}"));
    let (_, decimals) = number.split_once('.').unwrap();
    assert_eq!(decimals.len(), 3, "three decimals in {reply:?}");
    assert!(number.parse::<f64>().unwrap() > 0.0);
    assert_eq!(count, format!("received {bytes} bytes"));
}

#[test]
fn client_and_server_account_for_every_byte() {
    let (mut server, addr) = start_server(&[]);
    let port = addr.port().to_string();
    // Paced so a busy test machine cannot overflow the receive buffer.
    let (status, client) = run(
        CLIENT,
        &[
            "25",
            "--port",
            &port,
            "--bind",
            "127.0.0.1:0",
            "--rate",
            "800M",
        ],
    );
    assert!(status.success(), "{}", client.dump());
    client.expect_stdout("Time of first packet sent: ");
    client.expect_stdout("Server IP address:  127.0.0.1");
    let reply = client.expect_stdout("Throughput: ");
    assert_reply(&reply, 25_000_000);
    client.expect_stdout("Sent 25000000 bytes in 16667 datagrams");
    client.expect_stdout("Server received 25000000 bytes: loss 0.000%");
    client.expect_stdout("Client process completed iPerfectly!");

    assert!(server.expect_exit().success(), "{}", server.dump());
    server.expect_stdout("Time that first packet was received: ");
    server.expect_stdout("Client IP address:  127.0.0.1");
    server.expect_stdout("Size of data received (bytes):  25000000");
    server.expect_stdout("Time taken to receive (seconds):  ");
    server.expect_stdout("Server process completed iPerfectly!");
}

#[test]
fn client_json_reports_the_same_accounting() {
    let (mut server, addr) = start_server(&[]);
    let port = addr.port().to_string();
    let (status, client) = run(
        CLIENT,
        &[
            "25",
            "--port",
            &port,
            "--bind",
            "127.0.0.1:0",
            "--rate",
            "800M",
            "--json",
            "--length",
            "1000",
        ],
    );
    assert!(status.success(), "{}", client.dump());
    let lines = client.stdout_lines();
    assert_eq!(lines.len(), 1, "one JSON object: {lines:?}");
    let json = &lines[0];
    assert!(json.starts_with('{') && json.ends_with('}'), "{json}");
    assert!(json.contains("\"bytes_sent\":25000000"), "{json}");
    assert!(json.contains("\"datagrams_sent\":25000,"), "{json}");
    assert!(json.contains("\"bytes_received\":25000000"), "{json}");
    assert!(json.contains("\"loss_percent\":0,"), "{json}");
    assert!(json.contains("\"interrupted\":false"), "{json}");
    assert!(server.expect_exit().success());
}

#[test]
fn bad_sizes_get_the_seed_messages_and_exit_1() {
    for (args, message) in [
        (&["abc"][..], "Not a number!"),
        (&["-5"][..], "Not a number!"),
        (&["24"][..], "size must be between 25 and 200"),
        (&["201"][..], "size must be between 25 and 200"),
        (&[][..], "Usage: a1-iperf-client [size in MB to send]"),
        (
            &["25", "26"][..],
            "Usage: a1-iperf-client [size in MB to send]",
        ),
    ] {
        let (status, client) = run(CLIENT, args);
        assert_eq!(status.code(), Some(1), "{args:?}: {}", client.dump());
        assert_eq!(client.stderr_lines(), [message], "{args:?}");
        assert!(client.stdout_lines().is_empty(), "{args:?}");
    }
}

#[test]
fn server_serves_the_seed_protocol_after_junk() {
    let (mut server, addr) = start_server(&[]);
    let client = raw_client();
    // Junk before START: empty, non-UTF-8, text, and a lone STOP.
    for junk in [&b""[..], &[0xff, 0xfe, 0x00][..], b"hello", b"STOP"] {
        client.send_to(junk, addr).unwrap();
    }
    client.send_to(b"START", addr).unwrap();
    let datagram: Vec<u8> = (0..1500).map(|i| b'a' + (i % 26) as u8).collect();
    for _ in 0..10 {
        client.send_to(&datagram, addr).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    // A datagram from another socket mid-test is not counted.
    raw_client().send_to(b"intruder", addr).unwrap();
    client.send_to(b"STOP", addr).unwrap();
    assert_reply(&recv_text(&client), 15_000);

    assert!(server.expect_exit().success(), "{}", server.dump());
    server.expect_stdout("Size of data received (bytes):  15000");
    server.expect_stdout("Stray datagrams ignored: 1");
    let log = server.stderr_text();
    assert!(log.contains("ignoring a 0-byte datagram"), "{log}");
    assert!(log.contains("ignoring a 3-byte datagram"), "{log}");
}

#[test]
fn start_then_stop_with_no_data_does_not_divide_by_zero() {
    let (mut server, addr) = start_server(&[]);
    let client = raw_client();
    client.send_to(b"START", addr).unwrap();
    client.send_to(b"STOP", addr).unwrap();
    let reply = recv_text(&client);
    assert_eq!(
        reply,
        "Throughput: 0.000 Kilobytes per second, received 0 bytes"
    );
    assert!(server.expect_exit().success());
    server.expect_stdout("Size of data received (bytes):  0");
}

#[test]
fn server_ends_a_test_whose_client_vanished() {
    let (mut server, addr) = start_server(&["--idle-timeout", "0.5"]);
    let client = raw_client();
    client.send_to(b"START", addr).unwrap();
    client.send_to(&[b'a'; 1000], addr).unwrap();
    // No STOP: the client "died".
    let status = server.expect_exit();
    assert!(status.success(), "{}", server.dump());
    assert!(
        server.stderr_text().contains("sent nothing for 0.5 s"),
        "{}",
        server.dump()
    );
    server.expect_stdout("Size of data received (bytes):  1000");
    server.expect_stdout("Test ended: the client went silent (no STOP)");
}

#[test]
fn sigint_mid_test_prints_the_report_and_exits_0() {
    let (mut server, addr) = start_server(&[]);
    let client = raw_client();
    client.send_to(b"START", addr).unwrap();
    client.send_to(&[b'a'; 1500], addr).unwrap();
    client.send_to(&[b'a'; 500], addr).unwrap();
    // Wait until the server has certainly counted them: a STOP-less test
    // has no other observable, so give the loopback a moment.
    std::thread::sleep(Duration::from_millis(200));
    let signalled = Instant::now();
    server.signal("INT");
    let status = server.expect_exit();
    assert!(status.success(), "{}", server.dump());
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "slow shutdown"
    );
    server.expect_stdout("Size of data received (bytes):  2000");
    server.expect_stdout("Test ended: interrupted");
}

#[test]
fn sigterm_stops_an_idle_server_quickly() {
    let (mut server, _) = start_server(&[]);
    let signalled = Instant::now();
    server.signal("TERM");
    assert!(server.expect_exit().success());
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "slow shutdown"
    );
}

#[test]
fn forever_serves_tests_in_a_row_and_answers_a_repeated_stop() {
    let (mut server, addr) = start_server(&["--forever"]);
    let client = raw_client();
    for test in 1..=2u64 {
        client.send_to(b"START", addr).unwrap();
        for _ in 0..test {
            client.send_to(&[b'a'; 100], addr).unwrap();
        }
        client.send_to(b"STOP", addr).unwrap();
        assert_reply(&recv_text(&client), test * 100);
        // As if our reply were lost: the client sends STOP again.
        client.send_to(b"STOP", addr).unwrap();
        assert_reply(&recv_text(&client), test * 100);
    }
    server.signal("INT");
    assert!(server.expect_exit().success());
    assert_eq!(
        server
            .stdout_lines()
            .iter()
            .filter(|l| l.as_str() == "Server process completed iPerfectly!")
            .count(),
        2
    );
}

/// The client's bytes on the wire, checked by a raw socket playing a seed
/// server that ignores the first STOP (so the client must send it again)
/// and replies with the seed sentence alone.
#[test]
fn client_wire_bytes_and_stop_retry_against_a_seed_style_server() {
    let options = socklab::net::SocketOptions {
        recv_buffer: Some(4 << 20),
        ..Default::default()
    };
    let server = socklab::net::bind_udp("127.0.0.1:0".parse().unwrap(), &options).unwrap();
    server.set_read_timeout(Some(DEADLINE)).unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let mut client = Proc::spawn(
        CLIENT,
        &[
            "25",
            "--port",
            &port,
            "--bind",
            "127.0.0.1:0",
            "--rate",
            "400M",
            "--length",
            "4000",
        ],
    );
    let pattern: Vec<u8> = (0..4026).map(|i| b'a' + (i % 26) as u8).collect();
    let mut buffer = vec![0u8; 65_536];
    let (len, client_addr) = server.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..len], b"START");
    let mut offset = 0u64;
    let mut stops = 0;
    let mut first_stop = None;
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        let (len, from) = server.recv_from(&mut buffer).unwrap();
        assert_eq!(from, client_addr);
        if &buffer[..len] == b"STOP" {
            stops += 1;
            match first_stop {
                None => first_stop = Some(Instant::now()),
                Some(first) => {
                    let gap = first.elapsed();
                    assert!(
                        gap >= Duration::from_millis(900),
                        "STOP resent after {gap:?}"
                    );
                    server
                        .send_to(b"Throughput: 12.500 Kilobytes per second", from)
                        .unwrap();
                    break;
                }
            }
            continue;
        }
        assert!(first_stop.is_none(), "payload after STOP");
        assert!(len <= 4000);
        let start = (offset % 26) as usize;
        assert!(
            buffer[..len] == pattern[start..start + len],
            "payload at byte {offset}"
        );
        offset += len as u64;
    }
    assert_eq!(stops, 2);
    assert_eq!(
        offset, 25_000_000,
        "loopback at 200 Mbit/s should lose nothing"
    );
    assert!(client.expect_exit().success(), "{}", client.dump());
    client.expect_stdout("Throughput: 12.500 Kilobytes per second");
    client.expect_stdout("Receiver throughput: 12.50 kB/s");
    client.expect_stdout("Client process completed iPerfectly!");
    assert!(
        !client.stdout_text().contains("loss"),
        "no count, no loss line"
    );
}

#[test]
fn client_gives_up_with_a_clear_error_when_no_server_replies() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port().to_string();
    let (status, client) = run(
        CLIENT,
        &[
            "25",
            "--port",
            &port,
            "--bind",
            "127.0.0.1:0",
            "--stop-timeout",
            "2",
        ],
    );
    assert_eq!(status.code(), Some(1), "{}", client.dump());
    assert!(
        client
            .stderr_text()
            .contains("error: no reply from 127.0.0.1:"),
        "{}",
        client.dump()
    );
}

#[test]
fn sigint_stops_a_slow_client_with_its_summary() {
    let (mut server, addr) = start_server(&[]);
    let port = addr.port().to_string();
    // 25 MB at 1 Mbit/s would take minutes.
    let mut client = Proc::spawn(
        CLIENT,
        &[
            "25",
            "--port",
            &port,
            "--bind",
            "127.0.0.1:0",
            "--rate",
            "1M",
        ],
    );
    client.expect_stdout("Time of first packet sent:");
    std::thread::sleep(Duration::from_millis(300));
    client.signal("INT");
    let status = client.expect_exit();
    assert!(status.success(), "{}", client.dump());
    client.expect_stdout("Test interrupted");
    let summary = client.expect_stdout("Sent ");
    assert!(!summary.starts_with("Sent 25000000 "), "{summary}");
    // The client's STOP ended the server's test too.
    assert!(server.expect_exit().success(), "{}", server.dump());
    server.expect_stdout("Server process completed iPerfectly!");
}
