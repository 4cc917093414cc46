//! a2: the half-echo server and client, run as real processes on loopback.

mod common;

use common::{run, Proc, DEADLINE};
use std::io::{Read, Write};
use std::net::{Shutdown as Direction, SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

const SERVER: &str = env!("CARGO_BIN_EXE_a2-tcp-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_a2-tcp-client");

/// Starts the server on `bind`, port 0, with `extra` flags.
fn start_server(bind: &str, extra: &[&str]) -> (Proc, SocketAddr) {
    let mut args = vec!["--bind", bind, "0"];
    args.extend_from_slice(extra);
    let server = Proc::spawn(SERVER, &args);
    let addr = server.wait_listening();
    (server, addr)
}

/// Runs the client against `addr` and returns its stdout lines, asserting
/// it succeeded.
fn client_lines(addr: SocketAddr) -> Vec<String> {
    let (status, client) = run(CLIENT, &[&addr.ip().to_string(), &addr.port().to_string()]);
    assert!(status.success(), "client failed: {}", client.dump());
    client.stdout_lines()
}

/// Sends `pieces` with a pause between them (keeping the connection open,
/// so only the server's framing decides when the request is whole) and
/// returns everything the server sent back before closing.
fn exchange(addr: SocketAddr, pieces: &[&[u8]]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(40));
        }
        stream.write_all(piece).unwrap();
    }
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    reply
}

/// A one-connection fake server that answers with `pieces` (pausing
/// between them) and closes; returns its address and thread.
fn fake_server(pieces: Vec<&'static [u8]>) -> (SocketAddr, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 64];
        let n = stream.read(&mut request).unwrap();
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(40));
            }
            stream.write_all(piece).unwrap();
        }
        request[..n].to_vec()
    });
    (addr, handle)
}

fn one_shot_round_trip(bind: &str) {
    let (mut server, addr) = start_server(bind, &[]);
    server.expect_stdout("server socket listening");
    let lines = client_lines(addr);
    assert_eq!(lines.last().map(String::as_str), Some("b'GET / HTT'"));
    assert!(lines.contains(&"Message sent successfully".to_string()));
    // The seed serves one connection and exits; so does the default server.
    assert!(server.expect_exit().success(), "{}", server.dump());
    let peer_ip = match addr {
        SocketAddr::V4(v4) => v4.ip().to_string(),
        SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
    };
    server.expect_stdout(&format!("Connected with {peer_ip}:"));
    server.expect_stdout("with 9 of 18 bytes: b'GET / HTT'");
}

#[test]
fn half_echo_round_trip_over_ipv4() {
    one_shot_round_trip("127.0.0.1");
}

#[test]
fn half_echo_round_trip_over_ipv6() {
    one_shot_round_trip("::1");
}

#[test]
fn forever_server_answers_split_requests_and_junk_and_survives_resets() {
    let (mut server, addr) = start_server("127.0.0.1", &["--forever"]);

    // The request arriving in three pieces is answered as if it had not been split.
    let reply = exchange(addr, &[b"GET / H", b"TTP/1.1\r\n", b"\r\n"]);
    assert_eq!(reply, b"GET / HTT");

    // Bytes that are not UTF-8 (the seed crashes on them) are halved by bytes.
    let reply = exchange(addr, &[&[0xff, 0xfe, 0x00, 0x80, 0x41, 0x42]]);
    assert_eq!(reply, [0xff, 0xfe, 0x00]);

    // More than the 1024 bytes the server reads: the reply is the first half
    // of those 1024, and it arrives intact instead of being lost to a reset.
    let long = common::pseudo_random_bytes(3000, 7)
        .iter()
        .map(|b| b'a' + b % 26)
        .collect::<Vec<u8>>();
    let reply = exchange(addr, &[&long]);
    assert_eq!(reply, &long[..512]);

    // A message without the HTTP blank line is answered after a short pause.
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.write_all(b"hello world!").unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"hello ");

    // An abrupt reset in the middle of a request, and a connection that
    // closes without a word.
    let resetting = TcpStream::connect(addr).unwrap();
    (&resetting).write_all(b"GET / H").unwrap();
    let socket = socket2::Socket::from(resetting);
    socket.set_linger(Some(Duration::ZERO)).unwrap();
    drop(socket);
    let silent = TcpStream::connect(addr).unwrap();
    silent.shutdown(Direction::Write).unwrap();
    drop(silent);
    server.expect_stdout("closed the connection without a request");

    // Ten clients at once, each on its own thread in the server.
    let clients: Vec<_> = (0..10)
        .map(|_| std::thread::spawn(move || exchange(addr, &[b"GET / HTTP/1.1\r\n\r\n"])))
        .collect();
    for client in clients {
        assert_eq!(client.join().unwrap(), b"GET / HTT");
    }

    // Still serving the real client after all that.
    let lines = client_lines(addr);
    assert_eq!(lines.last().map(String::as_str), Some("b'GET / HTT'"));

    server.signal("INT");
    let status = server.wait_exit(DEADLINE).expect("server stops on SIGINT");
    assert!(status.success(), "{}", server.dump());
    server.expect_stdout("Server stopped after");
}

#[test]
fn sigint_stops_an_idle_server_quickly_with_status_0() {
    let (mut server, _) = start_server("127.0.0.1", &["--forever"]);
    server.signal("INT");
    let status = server
        .wait_exit(Duration::from_secs(3))
        .unwrap_or_else(|| panic!("server still running 3 s after SIGINT; {}", server.dump()));
    assert!(status.success());
}

#[test]
fn sigint_stops_a_server_waiting_for_a_silent_client() {
    let (mut server, addr) = start_server("::1", &[]);
    let _silent = TcpStream::connect(addr).unwrap();
    server.expect_stdout("Connected with");
    server.signal("INT");
    let status = server
        .wait_exit(Duration::from_secs(3))
        .unwrap_or_else(|| panic!("server still running 3 s after SIGINT; {}", server.dump()));
    assert!(status.success());
}

#[test]
fn a_silent_client_is_dropped_after_the_timeout() {
    let (mut server, addr) = start_server("127.0.0.1", &["--timeout", "1"]);
    let mut silent = TcpStream::connect(addr).unwrap();
    silent.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut reply = Vec::new();
    silent.read_to_end(&mut reply).unwrap();
    assert!(reply.is_empty());
    assert!(server.expect_exit().success());
    assert!(
        server.stderr_text().contains("nothing received within 1 s"),
        "{}",
        server.dump()
    );
}

#[test]
fn refused_connection_is_a_clear_error_with_status_1() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (status, client) = run(CLIENT, &["127.0.0.1", &port.to_string()]);
    assert_eq!(status.code(), Some(1), "{}", client.dump());
    let stderr = client.stderr_text();
    assert!(
        stderr.starts_with("error: cannot connect to 127.0.0.1"),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_host_is_a_clear_error_with_status_1() {
    // A DNS label may hold at most 63 bytes, so the resolver refuses this
    // name locally: the test sends no query to any name server.
    let host = format!("{}.invalid", "x".repeat(70));
    let (status, client) = run(CLIENT, &[&host, "2347"]);
    assert_eq!(status.code(), Some(1), "{}", client.dump());
    assert!(
        client
            .stderr_text()
            .starts_with(&format!("error: cannot resolve host \"{host}\"")),
        "{}",
        client.dump()
    );
}

#[test]
fn client_prints_any_reply_like_python_and_joins_pieces() {
    let (addr, server) = fake_server(vec![b"it's ", b"\xff\r\n"]);
    let lines = client_lines(addr);
    assert_eq!(
        lines.last().map(String::as_str),
        Some(r#"b"it's \xff\r\n""#)
    );
    assert_eq!(server.join().unwrap(), b"GET / HTTP/1.1\r\n\r\n");
}

#[test]
fn client_reads_at_most_2000_bytes_like_the_seed() {
    static LONG: [u8; 3000] = [b'x'; 3000];
    let (addr, server) = fake_server(vec![&LONG]);
    let lines = client_lines(addr);
    assert_eq!(lines.last(), Some(&format!("b'{}'", "x".repeat(2000))));
    server.join().unwrap();
}
