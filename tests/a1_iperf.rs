//! a1 UDP iPerf: the real binaries on loopback, against each other and
//! against a raw UDP socket playing the seed's part of the protocol.

mod common;

use common::{json, run, Proc, DEADLINE};
use socklab::a1_iperf::protocol::{Header, HEADER_LEN};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const SERVER: &str = env!("CARGO_BIN_EXE_a1-iperf-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_a1-iperf-client");

fn start_server(extra: &[&str]) -> (Proc, SocketAddr) {
    let mut args = vec!["--port", "0"];
    args.extend_from_slice(extra);
    let server = Proc::spawn(SERVER, &args);
    let addr = if extra.contains(&"--json") {
        // With --json the readiness line goes to stderr: stdout is the JSON's.
        let line = server
            .wait_stderr(|l| l.starts_with("Listening on "), DEADLINE)
            .unwrap_or_else(|| panic!("no readiness line; {}", server.dump()));
        line["Listening on ".len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    } else {
        server.wait_listening()
    };
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

/// Loopback may drop datagrams on a loaded machine, so no test asserts an
/// exact loss; the accounting must hold instead: every datagram sent was
/// received or reported lost, and the bytes received plus the bytes of the
/// lost datagrams (each `length` bytes but the last, shorter one) are the
/// bytes sent.
fn assert_accounting(sent: (f64, f64), received: (f64, f64), lost: f64, length: f64) {
    let ((sent_bytes, sent_packets), (bytes, packets)) = (sent, received);
    assert_eq!(
        packets + lost,
        sent_packets,
        "received + lost = sent datagrams"
    );
    let missing = sent_bytes - bytes;
    assert!(
        missing == lost * length
            || (lost > 0.0 && missing > (lost - 1.0) * length && missing < lost * length),
        "{bytes} bytes received and {lost} datagrams of {length} lost, of {sent_bytes} sent"
    );
}

/// [`assert_accounting`] for one JSON side pair (`sender`, `receiver`).
fn assert_json_accounting(sender: &json::Value, receiver: &json::Value, length: f64) {
    let duplicates = receiver["duplicates"].num();
    assert_accounting(
        (sender["bytes"].num(), sender["packets"].num()),
        (
            receiver["bytes"].num(),
            receiver["packets"].num() - duplicates,
        ),
        receiver["lost_packets"].num(),
        length,
    );
}

/// The number after `prefix` in `line`.
fn number_after(line: &str, prefix: &str) -> f64 {
    let tail = &line[line
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} in {line:?}"))
        + prefix.len()..];
    let end = tail
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(tail.len());
    tail[..end]
        .parse()
        .unwrap_or_else(|_| panic!("a number after {prefix:?} in {line:?}"))
}

/// [`assert_accounting`] on a human client report: `Sent N bytes in P
/// datagrams`, `Server received R bytes`, `Lost datagrams: L`.
fn assert_human_accounting(client: &Proc, length: f64) -> f64 {
    let sent = client.expect_stdout("Sent ");
    let received = number_after(
        &client.expect_stdout("Server received "),
        "Server received ",
    );
    let lost = number_after(
        &client.expect_stdout("Lost datagrams: "),
        "Lost datagrams: ",
    );
    let sent_bytes = number_after(&sent, "Sent ");
    let sent_packets = number_after(&sent, " bytes in ");
    let packets = sent_packets - lost;
    assert_accounting(
        (sent_bytes, sent_packets),
        (received, packets),
        lost,
        length,
    );
    received
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
    let received = assert_human_accounting(&client, 1500.0);
    client.expect_stdout("Client process completed iPerfectly!");

    assert!(server.expect_exit().success(), "{}", server.dump());
    server.expect_stdout("Time that first packet was received: ");
    server.expect_stdout("Client IP address:  127.0.0.1");
    server.expect_stdout(&format!("Size of data received (bytes):  {received}"));
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
    let json = json::parse(&lines[0]);
    assert_eq!(json["sender"]["bytes"].num(), 25_000_000.0);
    assert_eq!(json["sender"]["packets"].num(), 25_000.0);
    assert_json_accounting(&json["sender"], &json["receiver"], 1000.0);
    let lost = json["receiver"]["lost_packets"].num();
    assert_eq!(
        json["receiver"]["lost_percent"].num(),
        lost * 100.0 / 25_000.0
    );
    assert!(json["receiver"]["out_of_order"].num() >= 0.0);
    assert!(json["receiver"]["jitter_ms"].num() >= 0.0);
    assert!(json["receiver"]["bits_per_second"].num() > 0.0);
    assert_eq!(json["interrupted"], json::Value::Bool(false));
    assert_eq!(json["reverse"], json::Value::Bool(false));
    assert!(
        json.get("streams").is_none(),
        "streams only with --parallel"
    );
    let intervals = json["intervals"].arr();
    assert!(!intervals.is_empty());
    let sum: f64 = intervals.iter().map(|i| i["bytes"].num()).sum();
    assert_eq!(sum, json["receiver"]["bytes"].num());
    let sent: f64 = intervals
        .iter()
        .filter(|i| i["sender"] != json::Value::Null)
        .map(|i| i["sender"]["bytes"].num())
        .sum();
    assert_eq!(sent, 25_000_000.0);
    for key in [
        "start",
        "end",
        "seconds",
        "bits_per_second",
        "packets",
        "lost_packets",
        "jitter_ms",
    ] {
        assert!(intervals[0].get(key).is_some(), "interval has {key}");
    }
    assert!(server.expect_exit().success());
}

#[test]
fn bad_sizes_get_the_seed_messages_as_usage_errors() {
    for (args, message) in [
        (&["abc"][..], "error: Not a number!"),
        (&["-5"][..], "error: Not a number!"),
        (&["24"][..], "error: size must be between 25 and 200"),
        (&["201"][..], "error: size must be between 25 and 200"),
        (
            &[][..],
            "error: Usage: a1-iperf-client [size in MB to send]",
        ),
        (&["25", "26"][..], "error: unexpected argument '26' found"),
    ] {
        let (status, client) = run(CLIENT, args);
        assert_eq!(status.code(), Some(2), "{args:?}: {}", client.dump());
        assert_eq!(client.stderr_lines()[0], message, "{args:?}");
        assert!(client.stdout_lines().is_empty(), "{args:?}");
    }
    // One size only, and the help says so.
    let (status, help) = run(CLIENT, &["--help"]);
    assert!(status.success());
    assert!(help.stdout_text().contains("[SIZE_MB]"), "{}", help.dump());
    assert!(
        !help.stdout_text().contains("[SIZE_MB]..."),
        "{}",
        help.dump()
    );
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

/// `START` then `STOP` (9 bytes) with nothing between: the server reports
/// 0 bytes without dividing by zero, and sends no 57-byte reply to an
/// address that sent it 9 bytes (no amplification; a seed client always
/// sends at least 25 MB first).
#[test]
fn start_then_stop_with_no_data_does_not_divide_by_zero_nor_amplify() {
    let (mut server, addr) = start_server(&[]);
    let client = raw_client();
    client.send_to(b"START", addr).unwrap();
    client.send_to(b"STOP", addr).unwrap();
    assert!(server.expect_exit().success());
    server.expect_stdout("Size of data received (bytes):  0");
    server.expect_stdout("Throughput: 0.000 Kilobytes per second, received 0 bytes");
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buffer = [0u8; 4096];
    assert!(client.recv_from(&mut buffer).is_err(), "an amplified reply");
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
fn sigterm_stops_an_idle_server_quickly_with_its_summary() {
    let (mut server, _) = start_server(&[]);
    let signalled = Instant::now();
    server.signal("TERM");
    assert!(server.expect_exit().success());
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "slow shutdown"
    );
    assert_eq!(
        server.stdout_lines().last().map(String::as_str),
        Some("Server stopped: 0 test(s) served"),
        "{}",
        server.dump()
    );
}

#[test]
fn forever_serves_tests_in_a_row_and_answers_a_repeated_stop() {
    let (mut server, addr) = start_server(&["--forever"]);
    let client = raw_client();
    for test in 1..=2u64 {
        client.send_to(b"START", addr).unwrap();
        for _ in 0..test {
            client.send_to(&[b'a'; 1000], addr).unwrap();
        }
        client.send_to(b"STOP", addr).unwrap();
        assert_reply(&recv_text(&client), test * 1000);
        // As if our reply were lost: the client sends STOP again.
        client.send_to(b"STOP", addr).unwrap();
        assert_reply(&recv_text(&client), test * 1000);
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
    let mut sequence = 0u64;
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
        // A socklab client opens each datagram with the 40-byte header
        // (ASCII, so the seed server's decode() accepts it); the rest is
        // the seed pattern at its offset in the payload.
        let header = Header::parse(&buffer[..len]).expect("a header");
        assert_eq!((header.stream, header.sequence), (0, sequence));
        assert!(std::str::from_utf8(&buffer[..HEADER_LEN]).is_ok());
        let start = ((offset + HEADER_LEN as u64) % 26) as usize;
        assert!(
            buffer[HEADER_LEN..len] == pattern[start..start + len - HEADER_LEN],
            "payload at byte {offset}"
        );
        offset += len as u64;
        sequence += 1;
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
fn client_fails_fast_when_no_server_listens() {
    let port = {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port().to_string()
    };
    for extra in [
        &["25"][..],
        &["--time", "10", "--rate", "10M"][..],
        &["25", "--reverse", "--timeout", "30"][..],
        &["25", "--parallel", "2"][..],
    ] {
        let mut args = vec!["--port", &port, "--bind", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let started = Instant::now();
        let (status, client) = run(CLIENT, &args);
        assert_eq!(status.code(), Some(1), "{extra:?}: {}", client.dump());
        assert!(
            client
                .stderr_text()
                .contains(&format!("error: no server at 127.0.0.1:{port}")),
            "{extra:?}: {}",
            client.dump()
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{extra:?}: took {:?}",
            started.elapsed()
        );
    }
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

/// Runs a client with `args` against the server at `addr` and returns its
/// one JSON object.
fn client_json(addr: SocketAddr, args: &[&str]) -> json::Value {
    let port = addr.port().to_string();
    let mut all = vec!["--port", &port, "--bind", "127.0.0.1:0", "--json"];
    all.extend_from_slice(args);
    let (status, client) = run(CLIENT, &all);
    assert!(status.success(), "{}", client.dump());
    let lines = client.stdout_lines();
    assert_eq!(lines.len(), 1, "one JSON object: {lines:?}");
    json::parse(&lines[0])
}

/// The JSON object a `--json` server prints at exit (its only stdout line).
fn server_json(server: &mut Proc) -> json::Value {
    assert!(server.expect_exit().success(), "{}", server.dump());
    let lines = server.stdout_lines();
    assert_eq!(lines.len(), 1, "one JSON object: {lines:?}");
    json::parse(&lines[0])
}

/// Checks that intervals of `period` seconds tile the test: the first
/// starts at 0, each starts where the previous ended, all but the last
/// last `period`, and their bytes add up to `total`.
fn assert_intervals_tile(intervals: &[json::Value], period: f64, total: f64) {
    assert!(!intervals.is_empty());
    let mut expected_start = 0.0;
    for (k, interval) in intervals.iter().enumerate() {
        let (start, end) = (interval["start"].num(), interval["end"].num());
        assert!(
            (start - expected_start).abs() < 1e-6,
            "interval {k} starts at {start}"
        );
        assert!((interval["seconds"].num() - (end - start)).abs() < 1e-6);
        // The sender's last row may close early (it stopped at its
        // deadline) and be followed by one row only the receiver has (its
        // last datagrams, still in flight): only the rows before are whole.
        if k + 2 < intervals.len() {
            assert!(
                (end - start - period).abs() < 1e-6,
                "interval {k}: {start}..{end}"
            );
        } else {
            assert!(
                end > start && end - start <= period + 1e-6,
                "last: {start}..{end}"
            );
        }
        expected_start = end;
    }
    let sum: f64 = intervals.iter().map(|i| i["bytes"].num()).sum();
    assert_eq!(sum, total);
}

#[test]
fn time_mode_sends_for_the_given_time_and_intervals_tile_it() {
    let (mut server, addr) = start_server(&["--json", "--interval", "0.5"]);
    let json = client_json(
        addr,
        &[
            "--time",
            "2",
            "--rate",
            "100M",
            "--interval",
            "0.5",
            "--server",
            "localhost",
        ],
    );
    let sender = &json["sender"];
    let seconds = sender["seconds"].num();
    assert!((1.9..3.0).contains(&seconds), "sent for {seconds} s");
    let sent = sender["bytes"].num();
    // 100 Mbit/s for 2 s is 25 MB; a loaded machine may fall behind.
    assert!(sent > 2_000_000.0 && sent <= 25_001_500.0, "{sent}");
    let receiver = &json["receiver"];
    assert_json_accounting(sender, receiver, 1500.0);
    let received = receiver["bytes"].num();
    assert_intervals_tile(json["intervals"].arr(), 0.5, received);
    // `sender` is null in a row only the receiver has (its last datagrams
    // arrived after the sender's last interval had closed).
    let sent_sum: f64 = json["intervals"]
        .arr()
        .iter()
        .filter(|i| i["sender"] != json::Value::Null)
        .map(|i| i["sender"]["bytes"].num())
        .sum();
    assert_eq!(sent_sum, sent);

    // The server's own JSON: one test, the same figures, the same tiling.
    let server_json = server_json(&mut server);
    let tests = server_json["tests"].arr();
    assert_eq!(tests.len(), 1);
    let test = &tests[0];
    assert_eq!(test["end"], json::Value::Str("stopped".into()));
    assert_eq!(test["receiver"]["bytes"].num(), received);
    assert_intervals_tile(test["intervals"].arr(), 0.5, received);
}

#[test]
fn size_and_time_together_are_a_usage_error() {
    let (status, client) = run(CLIENT, &["25", "--time", "1"]);
    assert_eq!(status.code(), Some(2), "{}", client.dump());
    assert!(
        client.stderr_text().contains("SIZE_MB or --time"),
        "{}",
        client.dump()
    );
}

#[test]
fn reverse_counts_every_byte_the_server_sent() {
    let (mut server, addr) = start_server(&[]);
    // Paced: the client's receiver threads block between datagrams.
    let json = client_json(addr, &["25", "--reverse", "--rate", "100M"]);
    assert_eq!(json["reverse"], json::Value::Bool(true));
    assert_eq!(json["sender"]["bytes"].num(), 25_000_000.0, "{json:?}");
    assert_eq!(json["sender"]["packets"].num(), 16_667.0);
    assert_json_accounting(&json["sender"], &json["receiver"], 1500.0);
    let reply = match &json["reply"] {
        json::Value::Str(reply) => reply.clone(),
        other => panic!("no reply: {other:?}"),
    };
    assert!(reply.ends_with(", sent 25000000 bytes"), "{reply}");
    let received: f64 = json["intervals"]
        .arr()
        .iter()
        .map(|i| i["bytes"].num())
        .sum();
    assert_eq!(received, json["receiver"]["bytes"].num());
    assert!(server.expect_exit().success(), "{}", server.dump());
    server.expect_stdout("Size of data sent (bytes):  25000000");
    server.expect_stdout("Server process completed iPerfectly!");
}

#[test]
fn reverse_with_time_and_parallel_streams() {
    let (mut server, addr) = start_server(&[]);
    let json = client_json(
        addr,
        &[
            "--time",
            "1",
            "--reverse",
            "--parallel",
            "2",
            "--rate",
            "100M",
        ],
    );
    let streams = json["streams"].arr();
    assert_eq!(streams.len(), 2);
    let mut total = 0.0;
    for stream in streams {
        let sent = stream["sender"]["bytes"].num();
        assert!(sent > 0.0);
        assert_json_accounting(&stream["sender"], &stream["receiver"], 1500.0);
        total += sent;
    }
    assert_eq!(json["sender"]["bytes"].num(), total);
    assert_json_accounting(&json["sender"], &json["receiver"], 1500.0);
    assert!(server.expect_exit().success(), "{}", server.dump());
}

#[test]
fn parallel_4_streams_split_the_payload_exactly() {
    let (mut server, addr) = start_server(&[]);
    let json = client_json(addr, &["25", "--parallel", "4", "--rate", "400M"]);
    let streams = json["streams"].arr();
    assert_eq!(streams.len(), 4);
    // The sender splits exactly; what arrives is accounted for, not
    // assumed (a loaded loopback drops datagrams).
    for (id, stream) in streams.iter().enumerate() {
        assert_eq!(stream["id"].num(), id as f64);
        assert_eq!(stream["sender"]["bytes"].num(), 6_250_000.0, "{stream:?}");
        assert_json_accounting(&stream["sender"], &stream["receiver"], 1500.0);
    }
    assert_eq!(json["sender"]["bytes"].num(), 25_000_000.0);
    assert_json_accounting(&json["sender"], &json["receiver"], 1500.0);
    let received = json["receiver"]["bytes"].num();
    assert_eq!(json["parallel"].num(), 4.0);
    assert!(server.expect_exit().success(), "{}", server.dump());
    server.expect_stdout(&format!("Size of data received (bytes):  {received}"));
    for id in 0..4 {
        server.expect_stdout(&format!("[  {id}]   0.00-"));
    }
    // The report's last [SUM] row has the totals (earlier ones are
    // interval rows when the test takes more than a second).
    let lines = server.stdout_lines();
    let sum = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("[SUM]   0.00-"))
        .unwrap_or_else(|| panic!("no [SUM] row: {}", server.dump()));
    let megabytes = format!("{:.2} MB", received / 1e6);
    assert!(sum.contains(&megabytes), "{sum} has {megabytes}");
}

#[test]
fn ipv6_loopback_end_to_end() {
    if !common::ipv6_or_skip() {
        return;
    }
    let (mut server, addr) = start_server(&["--bind", "::1"]);
    assert!(addr.is_ipv6());
    let port = addr.port().to_string();
    let (status, client) = run(
        CLIENT,
        &[
            "25", "--server", "[::1]", "--port", &port, "--bind", "[::1]:0", "--rate", "400M",
        ],
    );
    assert!(status.success(), "{}", client.dump());
    client.expect_stdout("Server IP address:  ::1");
    assert_human_accounting(&client, 1500.0);
    assert!(server.expect_exit().success(), "{}", server.dump());
    server.expect_stdout("Client IP address:  ::1");
}

/// A test sender: raw datagrams with headers, some dropped, repeated and
/// swapped on purpose; the server must count exactly that.
#[test]
fn server_counts_loss_duplicates_and_reordering_exactly() {
    let (mut server, addr) = start_server(&[]);
    let client = raw_client();
    client.connect(addr).unwrap();
    client.send(b"START").unwrap();
    // 0..200: 10 and 100..=102 dropped, 20 sent three times, 30 twice,
    // 40/41 and 150/151 swapped.
    let mut order = Vec::new();
    for s in 0..200u64 {
        match s {
            10 | 100..=102 | 41 | 151 => {}
            20 => order.extend([20, 20, 20]),
            30 => order.extend([30, 30]),
            40 => order.extend([41, 40]),
            150 => order.extend([151, 150]),
            _ => order.push(s),
        }
    }
    let mut datagram = vec![b'a'; 500];
    for (i, &sequence) in order.iter().enumerate() {
        Header {
            stream: 0,
            sequence,
            sent_ns: 1_000_000_000 + sequence * 1_000_000,
        }
        .write(&mut datagram);
        client.send(&datagram).unwrap();
        if i % 20 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    client.send(b"STOP").unwrap();
    let reply = recv_text(&client);
    assert_reply(&reply, order.len() as u64 * 500);
    // The STATS datagram follows: the server's view, stream 0.
    let stats = recv_text(&client);
    assert!(stats.starts_with("SLB1:STATS 0 1\n"), "{stats}");
    let totals = stats.lines().find(|l| l.starts_with("S 0 ")).unwrap();
    let fields: Vec<&str> = totals.split(' ').collect();
    // S stream bytes packets seconds lost duplicates out_of_order jitter
    assert_eq!(fields[3], order.len().to_string());
    assert_eq!(&fields[5..8], ["4", "3", "2"], "{totals}");
    assert!(server.expect_exit().success(), "{}", server.dump());
    server.expect_stdout("Lost datagrams: 4 (2.000%), duplicates: 3, out of order: 2, jitter: ");
}

#[test]
fn a_seed_client_gets_the_reply_and_nothing_more() {
    let (mut server, addr) = start_server(&[]);
    let client = raw_client();
    client.send_to(b"START", addr).unwrap();
    let datagram: Vec<u8> = (0..1500).map(|i| b'a' + (i % 26) as u8).collect();
    for _ in 0..20 {
        client.send_to(&datagram, addr).unwrap();
    }
    client.send_to(b"STOP", addr).unwrap();
    assert_reply(&recv_text(&client), 30_000);
    // No STATS for a client that sent no headers.
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buffer = [0u8; 4096];
    assert!(client.recv_from(&mut buffer).is_err(), "an extra datagram");
    assert!(server.expect_exit().success());
    assert!(!server.stdout_text().contains("Lost datagrams"));
}

/// A raw socket playing the seed server: it counts bytes and answers STOP
/// with the seed sentence, and never answers a HELLO.
#[test]
fn reverse_and_parallel_against_a_seed_style_server_fail_clearly() {
    for flag in ["--reverse", "--parallel"] {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server.set_read_timeout(Some(DEADLINE)).unwrap();
        let port = server.local_addr().unwrap().port().to_string();
        let mut args = vec!["25", "--port", &port, "--bind", "127.0.0.1:0", flag];
        if flag == "--parallel" {
            args.push("2");
        }
        let started = Instant::now();
        let mut client = Proc::spawn(CLIENT, &args);
        let mut buffer = [0u8; 65_536];
        let (len, from) = server.recv_from(&mut buffer).unwrap();
        assert_eq!(&buffer[..len], b"START");
        // The seed server counts until STOP, which the client sends when it
        // gives up on the HELLO, so the seed program ends cleanly too.
        let mut counted = 0;
        loop {
            let (len, _) = server.recv_from(&mut buffer).unwrap();
            if &buffer[..len] == b"STOP" {
                break;
            }
            assert!(buffer[..len].starts_with(b"SLB1:HELLO "));
            counted += len;
        }
        server
            .send_to(b"Throughput: 1.000 Kilobytes per second", from)
            .unwrap();
        assert!(counted > 0);
        let status = client.expect_exit();
        assert_eq!(status.code(), Some(1), "{}", client.dump());
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{flag}: too slow"
        );
        let stderr = client.stderr_text();
        assert!(
            stderr.contains("need a socklab a1-iperf-server"),
            "{flag}: {stderr}"
        );
    }
}

/// Issue 11: a test belongs to its client. Junk every 50 ms from another
/// address neither keeps a vanished client's test alive nor keeps a new
/// client out for longer than the idle timeout.
#[test]
fn junk_from_other_addresses_does_not_keep_a_test_alive() {
    let (mut server, addr) = start_server(&["--forever", "--idle-timeout", "1"]);
    let stop_junk = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let junk = {
        let stop = stop_junk.clone();
        std::thread::spawn(move || {
            let attacker = UdpSocket::bind("127.0.0.2:0").unwrap();
            let deadline = Instant::now() + DEADLINE;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                attacker.send_to(b"x", addr).unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    // Client A starts a test and vanishes.
    let a = raw_client();
    a.send_to(b"START", addr).unwrap();
    a.send_to(&[b'a'; 1000], addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Client B (another address) starts a test of its own, seed style:
    // START once, data, then STOP every second until a reply.
    let b = UdpSocket::bind("127.0.0.3:0").unwrap();
    let b_started = Instant::now();
    b.send_to(b"START", addr).unwrap();
    b.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buffer = [0u8; 4096];
    let mut reply = None;
    while reply.is_none() && b_started.elapsed() < DEADLINE {
        b.send_to(&[b'a'; 100], addr).unwrap();
        b.send_to(b"STOP", addr).unwrap();
        if let Ok((len, _)) = b.recv_from(&mut buffer) {
            reply = Some(String::from_utf8_lossy(&buffer[..len]).into_owned());
        }
    }
    let waited = b_started.elapsed();
    stop_junk.store(true, std::sync::atomic::Ordering::Relaxed);
    junk.join().unwrap();
    let reply = reply.expect("client B was never served");
    assert!(reply.starts_with("Throughput: "), "{reply}");
    // A's idle timeout (1 s) plus B's STOP retry (1 s) and slack.
    assert!(waited < Duration::from_secs(5), "B waited {waited:?}");
    server.signal("INT");
    assert!(server.expect_exit().success());
    let log = server.stderr_text();
    assert!(log.contains("sent nothing for 1.0 s"), "{log}");
}

/// Issue 11: after a test, a repeated STOP is answered only to the test's
/// client, and at most 3 times.
#[test]
fn repeated_stop_gets_a_bounded_number_of_replies() {
    let (mut server, addr) = start_server(&["--forever"]);
    let client = raw_client();
    client.send_to(b"START", addr).unwrap();
    client.send_to(&[b'a'; 1000], addr).unwrap();
    client.send_to(b"STOP", addr).unwrap();
    assert_reply(&recv_text(&client), 1000);
    // Another address repeating STOP gets nothing.
    let other = UdpSocket::bind("127.0.0.2:0").unwrap();
    other
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for _ in 0..5 {
        other.send_to(b"STOP", addr).unwrap();
    }
    let mut buffer = [0u8; 4096];
    assert!(other.recv_from(&mut buffer).is_err(), "reply to a stranger");
    // The client itself: 10 more STOPs, at most 3 answers.
    for _ in 0..10 {
        client.send_to(b"STOP", addr).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut answers = 0;
    while client.recv_from(&mut buffer).is_ok() {
        answers += 1;
        assert!(answers <= 10);
    }
    assert_eq!(answers, 3, "answers to 10 repeated STOPs");
    server.signal("INT");
    assert!(server.expect_exit().success());
}

#[test]
fn sigint_mid_reverse_stops_both_sides_promptly() {
    let (mut server, addr) = start_server(&[]);
    let port = addr.port().to_string();
    let mut client = Proc::spawn(
        CLIENT,
        &[
            "--time",
            "60",
            "--reverse",
            "--rate",
            "10M",
            "--port",
            &port,
            "--bind",
            "127.0.0.1:0",
        ],
    );
    client.expect_stdout("Time of first packet sent:");
    std::thread::sleep(Duration::from_millis(800));
    let signalled = Instant::now();
    client.signal("INT");
    assert!(client.expect_exit().success(), "{}", client.dump());
    client.expect_stdout("Test interrupted");
    // The client's STOP ends the server's sending and its test at once.
    let reply = client.expect_stdout("Throughput: ");
    assert!(reply.contains(", sent "), "{reply}");
    assert!(server.expect_exit().success(), "{}", server.dump());
    assert!(
        signalled.elapsed() < Duration::from_secs(4),
        "took {:?}",
        signalled.elapsed()
    );
    assert!(
        !server.stdout_text().contains("went silent"),
        "{}",
        server.dump()
    );
    server.expect_stdout("Server process completed iPerfectly!");
}

/// The send times (ns, from the headers) of the datagrams one test of
/// `a1-iperf-client ARGS` sends, in order.
fn send_times_of_a_client(args: &[&str]) -> Vec<u64> {
    common::datagrams_of_an_a1_client(CLIENT, args)
        .into_iter()
        .map(|(_, sent_ns)| sent_ns)
        .collect()
}

/// Sizes of the groups of datagrams sent back to back: a gap of more than
/// `split_ns` between two send times starts a new group.
fn burst_sizes(sent_ns: &[u64], split_ns: u64) -> Vec<usize> {
    let mut sizes = vec![1];
    for pair in sent_ns.windows(2) {
        if pair[1].saturating_sub(pair[0]) > split_ns {
            sizes.push(1);
        } else if let Some(last) = sizes.last_mut() {
            *last += 1;
        }
    }
    sizes
}

/// Checks 0.4 s at 2 Mbit/s of 1000-byte datagrams with a 20 ms pacing
/// timer: about 100 datagrams in bursts of 5, one burst per tick (three
/// in four bursts exact, as a stalled tick may be caught up with the next).
fn assert_bursts_of_five(sent_ns: &[u64]) {
    assert!(
        (95..=105).contains(&sent_ns.len()),
        "{} datagrams",
        sent_ns.len()
    );
    let bursts = burst_sizes(sent_ns, 10_000_000);
    let of_five = bursts.iter().filter(|&&n| n == 5).count();
    assert!(
        of_five * 4 >= bursts.len() * 3 && bursts.len() >= 15,
        "bursts of 5 every 20 ms expected: {bursts:?}"
    );
}

/// `--pacing-timer` paces like iperf3: every tick sends the datagrams the
/// rate allows by then, back to back. At 2 Mbit/s, 1000-byte datagrams and
/// a 20 ms timer that is 5 datagrams per tick, 20 ticks in 0.4 s; evenly
/// spaced (no timer) the same rate sends one datagram every 4 ms.
#[test]
fn pacing_timer_sends_each_ticks_datagrams_back_to_back() {
    let common = ["--time", "0.4", "--rate", "2M", "--length", "1000"];
    let mut timed = common.to_vec();
    timed.extend_from_slice(&["--pacing-timer", "20000"]);
    assert_bursts_of_five(&send_times_of_a_client(&timed));
    // The same rate without the timer: evenly spaced, so no two datagrams
    // leave within 2 ms of each other (save the odd catch-up after a stall).
    let even = send_times_of_a_client(&common);
    assert!((95..=105).contains(&even.len()), "{} datagrams", even.len());
    let singles = burst_sizes(&even, 2_000_000);
    let alone = singles.iter().filter(|&&n| n == 1).count();
    assert!(
        alone * 10 >= singles.len() * 9,
        "evenly spaced expected: {singles:?}"
    );
}

#[test]
fn pacing_timer_without_a_rate_is_a_usage_error() {
    let (status, client) = run(CLIENT, &["25", "--pacing-timer", "1000"]);
    assert_eq!(status.code(), Some(2), "{}", client.dump());
    assert!(
        client.stderr_text().contains("--pacing-timer needs --rate"),
        "{}",
        client.dump()
    );
}

/// Plays a socklab client's `HELLO` from `client` (padded, as the client
/// sends it); returns the cookie from the server's `ACK`.
fn raw_hello(
    client: &UdpSocket,
    addr: SocketAddr,
    hello: socklab::a1_iperf::protocol::Hello,
) -> u64 {
    use socklab::a1_iperf::protocol::Control;
    client
        .send_to(&Control::Hello(hello).encode_padded(), addr)
        .unwrap();
    let mut buffer = vec![0u8; 65_536];
    let (len, _) = client.recv_from(&mut buffer).unwrap();
    let Some(Control::Ack(token, cookie)) = Control::parse(&buffer[..len]) else {
        panic!("no ACK: {:?}", String::from_utf8_lossy(&buffer[..len]));
    };
    assert_eq!(token, hello.token);
    cookie
}

/// Joins `stream` from `socket` the way a socklab client does: `JOIN`
/// (padded), the server's `PROBE` to this address, `ECHO` of its nonce,
/// `JOINED`.
fn raw_join(socket: &UdpSocket, addr: SocketAddr, cookie: u64, stream: u16) {
    use socklab::a1_iperf::protocol::Control;
    socket
        .send_to(&Control::Join(cookie, stream).encode_padded(), addr)
        .unwrap();
    let mut buffer = vec![0u8; 65_536];
    let (len, _) = socket.recv_from(&mut buffer).unwrap();
    let Some(Control::Probe(nonce, s)) = Control::parse(&buffer[..len]) else {
        panic!("no PROBE: {:?}", String::from_utf8_lossy(&buffer[..len]));
    };
    assert_eq!(s, stream);
    socket
        .send_to(Control::Echo(nonce, stream).encode().as_bytes(), addr)
        .unwrap();
    let (len, _) = socket.recv_from(&mut buffer).unwrap();
    assert_eq!(
        Control::parse(&buffer[..len]),
        Some(Control::Joined(cookie, stream))
    );
}

/// In `--reverse` the server's sender takes the client's pacing timer from
/// `HELLO`: a raw socket plays the client (START, HELLO with a 20 ms timer,
/// JOIN, ECHO) and sees the server's datagrams leave in bursts of 5.
#[test]
fn reverse_server_paces_with_the_timer_from_hello() {
    use socklab::a1_iperf::protocol::{Control, Hello};
    let (mut server, addr) = start_server(&[]);
    let client = raw_client();
    client.send_to(b"START", addr).unwrap();
    let hello = Hello {
        token: 0x5eed,
        streams: 1,
        reverse: true,
        length: 1000,
        rate: 2_000_000,
        bytes: 0,
        time_ms: 400,
        pacing_us: 20_000,
    };
    let cookie = raw_hello(&client, addr, hello);
    raw_join(&client, addr, cookie, 0);
    let mut buffer = vec![0u8; 65_536];
    let mut sent_ns = Vec::new();
    for _ in 0..10_000 {
        let (len, _) = client.recv_from(&mut buffer).unwrap();
        if let Some(Control::Fin(fin)) = Control::parse(&buffer[..len]) {
            assert_eq!(fin.packets, sent_ns.len() as u64);
            break;
        }
        let header = Header::parse(&buffer[..len]).expect("a header");
        sent_ns.push(header.sent_ns);
    }
    client.send_to(b"STOP", addr).unwrap();
    assert!(recv_text(&client).starts_with("Throughput: "));
    assert!(server.expect_exit().success(), "{}", server.dump());
    assert_bursts_of_five(&sent_ns);
}

/// Binds `addr` once the process that held it is gone (within a second).
fn bind_when_free(addr: &str) -> UdpSocket {
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        match UdpSocket::bind(addr) {
            Ok(socket) => return socket,
            Err(e) if Instant::now() >= until => panic!("{addr} stays taken: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// A client that vanishes (SIGKILL) mid-test, in either direction: the
/// server ends the test within its idle timeout + 1 s of the kill — in
/// reverse it stops sending to the dead port (a socket standing in at that
/// address counts what still arrives) — and serves the next client.
#[test]
fn a_killed_client_ends_its_test_within_the_idle_timeout() {
    let idle = Duration::from_secs(1);
    for reverse in [true, false] {
        let (mut server, addr) = start_server(&["--forever", "--idle-timeout", "1"]);
        let port = addr.port().to_string();
        let bind = format!("127.0.0.1:{}", common::free_udp_port());
        let mut args = vec!["--port", &port, "--bind", &bind, "--time", "30"];
        args.extend(["--rate", "8M", "--quiet"]);
        if reverse {
            args.push("--reverse");
        }
        let client = Proc::spawn(CLIENT, &args);
        // Running: the server has printed its first interval row.
        server.expect_stdout("[  0]   0.00-1.00");
        client.signal("KILL");
        let killed = Instant::now();
        let stand_in = bind_when_free(&bind);
        stand_in
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let mut buffer = vec![0u8; 65_536];
        let (mut ended, mut last_arrival) = (None, None);
        while killed.elapsed() < idle + Duration::from_secs(3) {
            if stand_in.recv_from(&mut buffer).is_ok() {
                last_arrival = Some(killed.elapsed());
            }
            let said = server
                .stdout_lines()
                .iter()
                .any(|l| l.contains("client went silent"));
            if said && ended.is_none() {
                ended = Some(killed.elapsed());
            }
        }
        let ended = ended.unwrap_or_else(|| panic!("test never ended; {}", server.dump()));
        assert!(
            ended < idle + Duration::from_secs(1),
            "ended {ended:?} after the kill"
        );
        if let Some(last) = last_arrival {
            assert!(reverse, "a forward server sent {last:?} after the kill");
            assert!(
                last < idle + Duration::from_secs(1),
                "sent until {last:?} after the kill"
            );
        }
        // The slot is free: the next client is served.
        args[3] = "127.0.0.1:0";
        args[5] = "0.3";
        let (status, next) = run(CLIENT, &args);
        assert!(status.success(), "{}", next.dump());
        server.signal("INT");
        assert!(server.expect_exit().success(), "{}", server.dump());
        assert!(
            server.stdout_text().contains("2 test(s) served"),
            "{}",
            server.dump()
        );
    }
}

/// A request above each of the operator's caps gets the refusal line,
/// naming the cap; the server goes on serving, and a request within the
/// caps is served.
#[test]
fn a_request_above_each_cap_gets_the_refusal_line() {
    let caps = [
        "--server-bitrate-limit",
        "10M",
        "--server-max-duration",
        "5",
    ];
    let (mut server, addr) = start_server(&[&["--forever"][..], &caps].concat());
    let port = addr.port().to_string();
    let above: [(&[&str], &str); 4] = [
        (
            &["--reverse", "--time", "1", "--rate", "20M"],
            "--rate 20.00 Mbit/s is above this server's --server-bitrate-limit of 10.00 Mbit/s",
        ),
        (
            &["--reverse", "--time", "1"],
            "an unpaced test (no --rate) is above this server's --server-bitrate-limit",
        ),
        (
            &["--reverse", "--time", "6", "--rate", "1M"],
            "a test of 6.0 s is above this server's --server-max-duration of 5 s",
        ),
        (
            &["--parallel", "2", "--time", "6", "--rate", "1M"],
            "a test of 6.0 s is above this server's --server-max-duration of 5 s",
        ),
    ];
    for (request, reason) in above {
        let args = [&["--port", &port, "--bind", "127.0.0.1:0"][..], request].concat();
        let (status, client) = run(CLIENT, &args);
        assert_eq!(status.code(), Some(1), "{}", client.dump());
        let line = format!("error: the server at {addr} refused the test: {reason}");
        assert!(
            client.stderr_text().contains(&line),
            "{line}; {}",
            client.dump()
        );
        server.expect_stdout(reason);
    }
    let within = [
        "--port",
        &port,
        "--bind",
        "127.0.0.1:0",
        "--reverse",
        "--time",
        "0.3",
    ];
    let (status, client) = run(CLIENT, &[&within[..], &["--rate", "10M"]].concat());
    assert!(status.success(), "{}", client.dump());
    server.signal("INT");
    assert!(server.expect_exit().success(), "{}", server.dump());
    assert!(
        server.stdout_text().contains("5 test(s) served"),
        "{}",
        server.dump()
    );
}

/// A seed-style test that runs past `--server-max-duration` is cut there:
/// the client gets the reply with what was counted by then.
#[test]
fn a_forward_test_longer_than_the_max_duration_is_cut_and_answered() {
    let (mut server, addr) = start_server(&["--server-max-duration", "0.3"]);
    let client = raw_client();
    client.send_to(b"START", addr).unwrap();
    let until = Instant::now() + Duration::from_millis(800);
    let mut sent = 0u64;
    while Instant::now() < until {
        client.send_to(&[b'a'; 1000], addr).unwrap();
        sent += 1000;
        std::thread::sleep(Duration::from_millis(5));
    }
    client.send_to(b"STOP", addr).unwrap();
    let reply = recv_text(&client);
    let counted = socklab::a1_iperf::protocol::parse_received_bytes(&reply).expect("a count");
    assert!(
        counted > 0 && counted < sent,
        "{counted} of {sent}: {reply}"
    );
    assert!(server.expect_exit().success(), "{}", server.dump());
    server.expect_stdout("Test ended: it reached this server's --server-max-duration");
}
