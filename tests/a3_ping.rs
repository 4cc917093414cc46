//! Integration tests for the a3 ping server, ping client and ramp client:
//! real processes on 127.0.0.1, ports picked by the system.

mod common;

use common::{run, run_in, Proc, TempDir, DEADLINE};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const SERVER: &str = env!("CARGO_BIN_EXE_a3-ping-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_a3-ping-client");
const RAMP: &str = env!("CARGO_BIN_EXE_a3-ramp-client");

/// Starts a server on 127.0.0.1 with a free port and extra `args`.
fn start_server(args: &[&str]) -> (Proc, SocketAddr) {
    let mut all = vec!["--bind", "127.0.0.1", "-p", "0"];
    all.extend_from_slice(args);
    let server = Proc::spawn(SERVER, &all);
    let addr = server.wait_listening();
    (server, addr)
}

/// A server that never delays or drops.
fn perfect_server() -> (Proc, SocketAddr) {
    start_server(&["--loss", "0", "--min-delay", "0", "--max-delay", "0"])
}

/// The packet numbers the client reported lost, from its per-packet blocks.
fn lost_packets(lines: &[String]) -> Vec<u64> {
    lines
        .windows(2)
        .filter(|pair| pair[1] == "PACKET LOSS OCCURRED SENDING NEXT PACKET")
        .filter_map(|pair| pair[0].rsplit(' ').next()?.parse().ok())
        .collect()
}

/// `(packet, rtt)` for every `RTT for packet k: x` line.
fn rtts(lines: &[String]) -> Vec<(u64, f64)> {
    lines
        .iter()
        .filter_map(|line| {
            let rest = line.strip_prefix("RTT for packet ")?;
            let (packet, rtt) = rest.split_once(": ")?;
            Some((packet.parse().ok()?, rtt.parse().ok()?))
        })
        .collect()
}

/// A UDP socket for talking to a server by hand.
fn raw_socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    socket
}

fn recv_text(socket: &UdpSocket) -> String {
    let mut buffer = [0u8; 2048];
    let (len, _) = socket.recv_from(&mut buffer).expect("a reply in time");
    String::from_utf8_lossy(&buffer[..len]).into_owned()
}

#[test]
fn perfect_network_acks_every_probe_with_its_own_number() {
    let (mut server, addr) = perfect_server();
    let port = addr.port().to_string();
    let (status, client) = run(
        CLIENT,
        &[
            "-ip",
            "127.0.0.1",
            "-port",
            &port,
            "-n",
            "20",
            "-i",
            "0.01",
            "-s",
            "256",
            "--timeout",
            "1",
            "--json",
        ],
    );
    assert!(status.success(), "{}", client.dump());
    // With --json the human report goes to stderr, the JSON object alone
    // to stdout.
    let lines = client.stderr_lines();
    let acked = rtts(&lines);
    assert_eq!(acked.len(), 20, "{}", client.dump());
    assert_eq!(
        acked.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    // Generous: the server adds no delay, so anything near a second means
    // acks were held up somewhere.
    assert!(
        acked.iter().all(|(_, rtt)| *rtt > 0.0 && *rtt < 0.5),
        "{acked:?}"
    );
    for k in 1..=20 {
        assert!(lines.contains(&format!("Message from Server b'Packet Acknowledged {k}'")));
    }
    assert!(lines.contains(&"Final Message from the Server b'Stopping the Server.'".to_string()));
    assert!(lines.contains(&"Loss Percentage: 0.0%".to_string()));
    let average: f64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("Average RTT: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(average > 0.0 && average < 0.5, "{average}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("20 packets transmitted, 20 received, 0 late, 0% packet loss")),
        "{}",
        client.dump()
    );
    assert!(lines
        .iter()
        .any(|l| l.starts_with("rtt min/avg/max/mdev = ")));
    let stdout = client.stdout_lines();
    assert_eq!(stdout.len(), 1, "{}", client.dump());
    let json = &stdout[0];
    assert!(
        json.starts_with("{\"sent\":20,\"received\":20,\"late\":0,"),
        "{json}"
    );
    assert!(json.contains("\"schedule_error_p99_us\":") && json.contains("\"drift_us\":"));

    // The client's `exit` stopped the server, which printed its summary.
    assert!(server.expect_exit().success());
    server.expect_stdout("Exiting");
    server.expect_stdout("Summary: 20 probes, 20 acked, 0 dropped, 0 ignored");
}

#[test]
fn probes_have_the_requested_size() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(DEADLINE)).unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let client = Proc::spawn(
        CLIENT,
        &[
            "--ip",
            "127.0.0.1",
            "--port",
            &port,
            "-n",
            "1",
            "-i",
            "0.5",
            "-s",
            "700",
            "--no-exit",
        ],
    );
    let mut buffer = [0u8; 2048];
    let (len, peer) = server.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..len], b"C 700");
    server
        .send_to(b"Buffer Size Calibrated at Server.", peer)
        .unwrap();
    let (len, _) = server.recv_from(&mut buffer).unwrap();
    assert_eq!(len, 700);
    assert!(buffer[..len].starts_with(b"Hello Server 1 ...."));
    server.send_to(b"Packet Acknowledged 1", peer).unwrap();
    client.expect_stdout("RTT for packet 1: ");
}

#[test]
fn total_loss_reports_everything_lost_without_dividing_by_zero() {
    let (_server, addr) = start_server(&["--loss", "1"]);
    let port = addr.port().to_string();
    let (status, client) = run(
        CLIENT,
        &[
            "-ip",
            "127.0.0.1",
            "-p",
            &port,
            "-n",
            "5",
            "-i",
            "0.05",
            "-s",
            "64",
        ],
    );
    assert!(status.success(), "{}", client.dump());
    let lines = client.stdout_lines();
    assert_eq!(lost_packets(&lines), vec![1, 2, 3, 4, 5]);
    assert!(lines.contains(&"Average RTT: n/a (no packet was acknowledged)".to_string()));
    assert!(lines.contains(&"Loss Percentage: 100.0%".to_string()));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("5 packets transmitted, 0 received, 0 late, 100% packet loss")));
}

#[test]
fn late_acks_are_reported_late_and_never_credited_to_the_next_probe() {
    // Every ack takes 150 ms; the client waits 50 ms per probe.
    let (_server, addr) =
        start_server(&["--loss", "0", "--min-delay", "0.15", "--max-delay", "0.15"]);
    let port = addr.port().to_string();
    let (status, client) = run(
        CLIENT,
        &[
            "-ip",
            "127.0.0.1",
            "-port",
            &port,
            "-n",
            "6",
            "-i",
            "0.05",
            "-s",
            "64",
        ],
    );
    assert!(status.success(), "{}", client.dump());
    let lines = client.stdout_lines();
    assert!(rtts(&lines).is_empty(), "{}", client.dump());
    assert_eq!(lost_packets(&lines), vec![1, 2, 3, 4, 5, 6]);
    // Acks come back 150 ms after their probes; the client sends `exit` at
    // about 300 ms and the server abandons the acks still waiting. Acks 1
    // and 2 (due at 150 and 200 ms) surely come back before that.
    for k in 1..=2 {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("LATE ACK for packet {k} after "))),
            "no late ack for {k}: {}",
            client.dump()
        );
    }
    let summary = lines
        .iter()
        .find(|l| l.starts_with("6 packets transmitted, 0 received, "))
        .unwrap();
    let late: usize = summary
        .split(", ")
        .nth(2)
        .unwrap()
        .trim_end_matches(" late")
        .parse()
        .unwrap();
    assert!((2..=6).contains(&late), "{summary}");
}

#[test]
fn mixed_delays_match_each_ack_to_its_own_probe() {
    // Delays of 0..120 ms against a 40 ms timeout: some acks in time, some
    // late, often overtaking each other.
    let (_server, addr) = start_server(&[
        "--loss",
        "0.2",
        "--min-delay",
        "0",
        "--max-delay",
        "0.12",
        "--seed",
        "5",
    ]);
    let port = addr.port().to_string();
    let (status, client) = run(
        CLIENT,
        &[
            "-ip",
            "127.0.0.1",
            "-port",
            &port,
            "-n",
            "30",
            "-i",
            "0.02",
            "-s",
            "64",
            "--timeout",
            "0.04",
        ],
    );
    assert!(status.success(), "{}", client.dump());
    let lines = client.stdout_lines();
    let acked = rtts(&lines);
    // Each acknowledgement names the packet of the block it is printed in,
    // and its RTT is within the timeout.
    for (at, line) in lines.iter().enumerate() {
        if let Some(rest) = line.strip_prefix("RTT for packet ") {
            let (k, rtt) = rest.split_once(": ").unwrap();
            assert_eq!(
                lines[at - 1],
                format!("Message from Server b'Packet Acknowledged {k}'")
            );
            let rtt: f64 = rtt.parse().unwrap();
            assert!(rtt <= 0.04 + 1e-9, "packet {k} credited with {rtt}");
        }
    }
    let lost = lost_packets(&lines);
    assert_eq!(acked.len() + lost.len(), 30, "{}", client.dump());
    // A late ack always names a packet that was reported lost.
    for line in lines
        .iter()
        .filter(|l| l.starts_with("LATE ACK for packet "))
    {
        let k: u64 = line["LATE ACK for packet ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            lost.contains(&k),
            "late ack for packet {k}, which was not lost"
        );
    }
}

#[test]
fn a_seeded_server_repeats_its_loss_pattern() {
    let pattern = || {
        let (_server, addr) = start_server(&[
            "--loss",
            "0.5",
            "--min-delay",
            "0",
            "--max-delay",
            "0",
            "--seed",
            "42",
        ]);
        let port = addr.port().to_string();
        let (status, client) = run(
            CLIENT,
            &[
                "-ip",
                "127.0.0.1",
                "-port",
                &port,
                "-n",
                "30",
                "-i",
                "0.01",
                "-s",
                "64",
                "--timeout",
                "1",
            ],
        );
        assert!(status.success(), "{}", client.dump());
        lost_packets(&client.stdout_lines())
    };
    let first = pattern();
    assert!(!first.is_empty() && first.len() < 30, "{first:?}");
    assert_eq!(first, pattern());
}

#[test]
fn a_delayed_ack_does_not_hold_up_the_others() {
    let (_server, addr) =
        start_server(&["--loss", "0", "--min-delay", "0.3", "--max-delay", "0.3"]);
    let socket = raw_socket();
    let started = Instant::now();
    for k in 1..=5 {
        socket
            .send_to(format!("Hello Server {k}").as_bytes(), addr)
            .unwrap();
    }
    let mut acks: Vec<String> = (0..5).map(|_| recv_text(&socket)).collect();
    // A server that slept in its receive loop would need 5 × 300 ms.
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    acks.sort();
    assert_eq!(
        acks,
        (1..=5)
            .map(|k| format!("Packet Acknowledged {k}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn junk_datagrams_are_ignored_and_the_server_keeps_serving() {
    let (mut server, addr) = perfect_server();
    let socket = raw_socket();
    for junk in [
        &b""[..],
        b"\xff\xfe\xfd",
        b"C",
        b"C 0",
        b"C 65508",
        b"C abc",
        b"C -5",
    ] {
        socket.send_to(junk, addr).unwrap();
    }
    socket.send_to(b"C 2", addr).unwrap();
    assert_eq!(recv_text(&socket), "Buffer Size Calibrated at Server.");
    // A tiny calibrated size no longer cuts longer datagrams short.
    socket.send_to(b"Hello Server", addr).unwrap();
    assert_eq!(recv_text(&socket), "Packet Acknowledged");
    socket.send_to(b"Hello Server 77 ......", addr).unwrap();
    assert_eq!(recv_text(&socket), "Packet Acknowledged 77");
    socket.send_to(b"Cheers", addr).unwrap();
    assert_eq!(recv_text(&socket), "Packet Acknowledged");
    socket.send_to(b"exit", addr).unwrap();
    assert_eq!(recv_text(&socket), "Stopping the Server.");
    assert!(server.expect_exit().success());
    server.expect_stdout("Summary: 3 probes, 3 acked, 0 dropped, 7 ignored");
    assert!(server.stderr_text().contains("empty datagram"));
    assert!(server.stderr_text().contains("not UTF-8"));
}

#[test]
fn sigint_stops_the_server_with_its_summary() {
    let (mut server, addr) = perfect_server();
    let socket = raw_socket();
    socket.send_to(b"Hello Server 1", addr).unwrap();
    assert_eq!(recv_text(&socket), "Packet Acknowledged 1");
    server.signal("INT");
    assert!(server.expect_exit().success());
    server.expect_stdout("Summary: 1 probes, 1 acked, 0 dropped, 0 ignored");
}

#[test]
fn sigint_mid_run_prints_the_client_summary() {
    let (_server, addr) = perfect_server();
    let port = addr.port().to_string();
    let mut client = Proc::spawn(
        CLIENT,
        &[
            "-ip",
            "127.0.0.1",
            "-port",
            &port,
            "-n",
            "100000",
            "-i",
            "0.01",
            "-s",
            "64",
        ],
    );
    client.expect_stdout("RTT for packet 5: ");
    client.signal("INT");
    assert!(client.expect_exit().success(), "{}", client.dump());
    client.expect_stdout("(interrupted)");
    let summary = client.expect_stdout("packets transmitted, ");
    let sent: u64 = summary.split(' ').next().unwrap().parse().unwrap();
    assert!((5..100_000).contains(&sent), "{summary}");
    assert!(client.stdout_text().contains("Loss Percentage: "));
}

#[test]
fn a_seed_style_server_gets_the_seed_rule_and_a_missing_exit_reply_is_survived() {
    // A stand-in for the Python server that answers plain acks, and never
    // answers `exit`.
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let mut client = Proc::spawn(
        CLIENT,
        &[
            "-ip",
            "127.0.0.1",
            "-p",
            &port,
            "-n",
            "4",
            "-i",
            "0.05",
            "-s",
            "32",
        ],
    );
    let until = Instant::now() + DEADLINE;
    let mut buffer = [0u8; 256];
    let mut saw_exit = false;
    while !saw_exit && Instant::now() < until {
        let Ok((len, peer)) = server.recv_from(&mut buffer) else {
            continue;
        };
        match &buffer[..len] {
            b"C 32" => server
                .send_to(b"Buffer Size Calibrated at Server.", peer)
                .unwrap(),
            b"exit" => {
                saw_exit = true;
                0
            }
            _ => server.send_to(b"Packet Acknowledged", peer).unwrap(),
        };
    }
    assert!(saw_exit);
    assert!(client.expect_exit().success(), "{}", client.dump());
    let lines = client.stdout_lines();
    assert_eq!(rtts(&lines).len(), 4, "{}", client.dump());
    assert!(lines.contains(&"Message from Server b'Packet Acknowledged'".to_string()));
    assert!(!client
        .stdout_text()
        .contains("Final Message from the Server"));
    assert!(client.stderr_text().contains("no reply to exit"));
}

#[test]
fn a_missing_server_is_a_clear_error_not_a_hang() {
    let unused = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = unused.local_addr().unwrap().port().to_string();
    drop(unused);
    let started = std::time::Instant::now();
    let (status, client) = run(
        CLIENT,
        &[
            "-ip",
            "127.0.0.1",
            "-port",
            &port,
            "-n",
            "3",
            "-i",
            "0.1",
            "-s",
            "64",
        ],
    );
    assert_eq!(status.code(), Some(1));
    // The connected socket hears the ICMP port unreachable: no waiting.
    assert!(
        client
            .stderr_text()
            .contains("error: no server at 127.0.0.1:"),
        "{}",
        client.dump()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn bad_arguments_are_rejected() {
    for args in [
        &[
            "-ip",
            "127.0.0.1",
            "-port",
            "9",
            "-n",
            "0",
            "-i",
            "1",
            "-s",
            "10",
        ][..],
        &[
            "-ip",
            "127.0.0.1",
            "-port",
            "9",
            "-n",
            "1",
            "-i",
            "-1",
            "-s",
            "10",
        ],
        &[
            "-ip",
            "127.0.0.1",
            "-port",
            "9",
            "-n",
            "1",
            "-i",
            "1",
            "-s",
            "70000",
        ],
        &["-ip", "127.0.0.1", "-n", "1", "-i", "1", "-s", "10"],
    ] {
        let (status, client) = run(CLIENT, args);
        assert!(!status.success(), "{args:?} was accepted");
        assert!(!client.stderr_text().is_empty());
    }
    let (status, server) = run(SERVER, &["--bind", "127.0.0.1", "-p", "0", "--loss", "2"]);
    assert_eq!(status.code(), Some(1));
    assert!(server.stderr_text().contains("--loss"));
    let (status, _) = run(
        SERVER,
        &[
            "--bind",
            "127.0.0.1",
            "-p",
            "0",
            "--min-delay",
            "1",
            "--max-delay",
            "0.5",
        ],
    );
    assert_eq!(status.code(), Some(1));
}

#[test]
fn ramp_prints_the_table_and_writes_svg_and_csv() {
    let (_server, addr) = start_server(&[
        "--loss",
        "0.1",
        "--min-delay",
        "0",
        "--max-delay",
        "0.01",
        "--seed",
        "3",
    ]);
    let port = addr.port().to_string();
    let dir = TempDir::new("a3-ramp");
    let (status, ramp) = run_in(
        RAMP,
        &[
            "-ip",
            "127.0.0.1",
            "-port",
            &port,
            "-n",
            "40",
            "-i",
            "0.1",
            "-s",
            "100",
            "--csv",
            "table.csv",
        ],
        Some(dir.path()),
    );
    assert!(status.success(), "{}", ramp.dump());
    let lines = ramp.stdout_lines();
    assert!(lines.contains(&"Finished sending, Terminating the connection..".to_string()));
    assert!(lines.contains(&"Message from Server b'Stopping the Server.'".to_string()));
    assert!(lines.contains(&"Message 40".to_string()));
    assert!(lines.contains(&"Interval: 0.1".to_string()));
    assert!(lines.contains(&"Interval: 0.095".to_string()));
    let first_send: f64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("Timestamp1: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.0..0.1).contains(&first_send), "{first_send}");
    let throughput: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("Average Throughput for second "))
        .collect();
    let delay = lines
        .iter()
        .filter(|l| l.starts_with("Average Delay for second "))
        .count();
    // 40 probes from 0.1 s shrinking by 5 %: about 1.7 s of sending.
    assert!((2..=3).contains(&throughput.len()), "{throughput:?}");
    assert_eq!(delay, throughput.len());
    assert!(throughput[0].starts_with("Average Throughput for second 1: "));
    let first: u64 = throughput[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert!(first > 0 && first.is_multiple_of(100 * 8 * 2), "{first}");

    let svg = std::fs::read_to_string(dir.path().join("ramp.svg")).expect("ramp.svg by default");
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(
        svg.contains("Average Throughput (bits/sec)") && svg.contains("Average Delay (in sec)")
    );
    assert!(svg.contains("Time (in sec)"));
    assert_eq!(svg.matches("<polyline").count(), 2);
    let csv = std::fs::read_to_string(dir.path().join("table.csv")).unwrap();
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("second,sent,acked,throughput_bps,average_delay_s")
    );
    assert_eq!(rows.count(), throughput.len());
}

#[test]
fn ramp_plot_path_and_no_plot() {
    let (_server, addr) = perfect_server();
    let port = addr.port().to_string();
    let dir = TempDir::new("a3-ramp-plot");
    let (status, ramp) = run_in(
        RAMP,
        &[
            "-ip",
            "127.0.0.1",
            "-port",
            &port,
            "-n",
            "5",
            "-i",
            "0.02",
            "-s",
            "64",
            "--plot",
            "mine.svg",
            "--no-exit",
        ],
        Some(dir.path()),
    );
    assert!(status.success(), "{}", ramp.dump());
    assert!(dir.path().join("mine.svg").exists());
    assert!(!dir.path().join("ramp.svg").exists());
    let (status, ramp) = run_in(
        RAMP,
        &[
            "-ip",
            "127.0.0.1",
            "-port",
            &port,
            "-n",
            "5",
            "-i",
            "0.02",
            "-s",
            "64",
            "--no-plot",
        ],
        Some(dir.path()),
    );
    assert!(status.success(), "{}", ramp.dump());
    assert!(!dir.path().join("ramp.svg").exists());
    assert!(!ramp.stdout_text().contains("Plot written"));
}

#[test]
fn works_over_ipv6_loopback() {
    let server = Proc::spawn(
        SERVER,
        &[
            "--bind",
            "::1",
            "-p",
            "0",
            "--loss",
            "0",
            "--min-delay",
            "0",
            "--max-delay",
            "0",
        ],
    );
    let addr = server.wait_listening();
    assert!(addr.is_ipv6());
    let port = addr.port().to_string();
    let (status, client) = run(
        CLIENT,
        &[
            "-ip", "::1", "-port", &port, "-n", "3", "-i", "0.02", "-s", "64",
        ],
    );
    assert!(status.success(), "{}", client.dump());
    assert_eq!(rtts(&client.stdout_lines()).len(), 3, "{}", client.dump());
}

#[test]
fn verbose_server_prints_the_seed_lines() {
    let (server, addr) =
        start_server(&["--loss", "0", "--min-delay", "0", "--max-delay", "0", "-v"]);
    let socket = raw_socket();
    socket.send_to(b"Hello Server", addr).unwrap();
    assert_eq!(recv_text(&socket), "Packet Acknowledged");
    server.expect_stdout("Message from Client:b'Hello Server'");
    let port = socket.local_addr().unwrap().port();
    server.expect_stdout(&format!("Client Address:('127.0.0.1', {port})"));
}
