//! a3 dual: the IPv4/IPv6 acknowledgement server and client, run as real
//! processes on loopback.

mod common;

use common::{run, Proc, DEADLINE};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

const SERVER: &str = env!("CARGO_BIN_EXE_a3-dual-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_a3-dual-client");

const ACK: &[u8] = b"Acknowledgement";

fn start_server(host: &str) -> (Proc, SocketAddr) {
    let server = Proc::spawn(SERVER, &[host, "0"]);
    let addr = server.wait_listening();
    (server, addr)
}

/// Runs the client with `host`, the port of `addr` and `extra` flags.
fn run_client(host: &str, addr: SocketAddr, extra: &[&str]) -> (std::process::ExitStatus, Proc) {
    let port = addr.port().to_string();
    let mut args = vec![host, port.as_str()];
    args.extend_from_slice(extra);
    run(CLIENT, &args)
}

/// Counts the server's stdout lines that contain `text`.
fn count_lines(server: &Proc, text: &str) -> usize {
    server
        .stdout_lines()
        .iter()
        .filter(|line| line.contains(text))
        .count()
}

/// Waits until the server has printed `n` lines containing `text`.
fn wait_for_count(server: &Proc, text: &str, n: usize) {
    let deadline = std::time::Instant::now() + DEADLINE;
    while count_lines(server, text) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "expected {n} lines with {text:?}; {}",
            server.dump()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stop(mut server: Proc) -> Proc {
    server.signal("INT");
    let status = server
        .wait_exit(Duration::from_secs(3))
        .unwrap_or_else(|| panic!("server still running 3 s after SIGINT; {}", server.dump()));
    assert!(status.success(), "{}", server.dump());
    server
}

fn five_rounds(host: &str, family: &str) {
    let (server, addr) = start_server(host);
    server.expect_stdout(&format!("Address family: {family}"));
    let (status, client) = run_client(host, addr, &[]);
    assert!(status.success(), "{}", client.dump());
    let lines = client.stdout_lines();
    assert!(lines[0].starts_with(&format!("Address family: {family}")));
    let acks: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("Acknowledgement Received: "))
        .collect();
    assert_eq!(acks.len(), 5);
    assert!(acks
        .iter()
        .all(|l| *l == "Acknowledgement Received: Acknowledgement"));
    assert!(lines.contains(&"Connection closed".to_string()));

    wait_for_count(&server, "Closing Connection", 1);
    assert_eq!(count_lines(&server, "Received Message: Hii Server"), 5);
    assert_eq!(count_lines(&server, "Sending Acknowledgement"), 5);
    assert_eq!(count_lines(&server, "Received Message: exit"), 1);
    let server = stop(server);
    server.expect_stdout("1 connection(s), 5 message(s) acknowledged");
}

#[test]
fn five_rounds_over_ipv4() {
    five_rounds("127.0.0.1", "IPv4");
}

#[test]
fn five_rounds_over_ipv6() {
    five_rounds("::1", "IPv6");
}

#[test]
fn localhost_resolves_to_a_family_and_says_which() {
    let (server, addr) = start_server("localhost");
    let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
    server.expect_stdout(&format!("Address family: {family}"));
    let (status, client) = run_client("localhost", addr, &[]);
    assert!(status.success(), "{}", client.dump());
    stop(server);
}

#[test]
fn twenty_clients_at_once_all_finish() {
    let (server, addr) = start_server("::1");
    let clients: Vec<Proc> = (0..20)
        .map(|_| Proc::spawn(CLIENT, &["::1", &addr.port().to_string()]))
        .collect();
    for mut client in clients {
        assert!(client.expect_exit().success(), "{}", client.dump());
        client.expect_stdout("Connection closed");
        assert_eq!(
            client
                .stdout_lines()
                .iter()
                .filter(|l| *l == "Acknowledgement Received: Acknowledgement")
                .count(),
            5
        );
    }
    wait_for_count(&server, "Closing Connection", 20);
    let server = stop(server);
    server.expect_stdout("20 connection(s), 100 message(s) acknowledged");
}

#[test]
fn an_idle_connection_does_not_block_other_clients() {
    let (server, addr) = start_server("127.0.0.1");
    // The seed serves one client at a time: this one would block everybody.
    let _idle = TcpStream::connect(addr).unwrap();
    server.expect_stdout("[#1] Got a connection");
    let (status, client) = run_client("127.0.0.1", addr, &[]);
    assert!(status.success(), "{}", client.dump());
    let server = stop(server);
    server.expect_stdout("[#1] Closing Connection (server shutting down)");
}

#[test]
fn junk_resets_and_abrupt_closes_do_not_stop_the_server() {
    let (server, addr) = start_server("127.0.0.1");

    // Bytes that are not UTF-8 (the seed dies with UnicodeDecodeError) are
    // acknowledged like any message.
    let mut junk = TcpStream::connect(addr).unwrap();
    junk.set_read_timeout(Some(DEADLINE)).unwrap();
    junk.write_all(&[0xff, 0xfe, 0x1b, b'[', b'2', b'J', 0x80])
        .unwrap();
    let mut reply = [0u8; 15];
    junk.read_exact(&mut reply).unwrap();
    assert_eq!(reply, ACK);
    // `exit` typed into nc ends with a newline and still ends the session.
    junk.write_all(b"exit\n").unwrap();
    let mut rest = Vec::new();
    junk.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    server.expect_stdout("[#1] Received Message: \u{fffd}\u{fffd}\\u{1b}[2J\u{fffd}");
    server.expect_stdout("[#1] Closing Connection");

    // A reset in the middle of a session.
    let resetting = TcpStream::connect(addr).unwrap();
    (&resetting).write_all(b"Hii Server").unwrap();
    let socket = socket2::Socket::from(resetting);
    socket.set_linger(Some(Duration::ZERO)).unwrap();
    drop(socket);

    // A client that leaves without `exit`.
    let mut leaving = TcpStream::connect(addr).unwrap();
    leaving.write_all(b"Hii Server").unwrap();
    let mut reply = [0u8; 15];
    leaving.read_exact(&mut reply).unwrap();
    drop(leaving);

    wait_for_count(&server, "Closing Connection", 2);
    let (status, client) = run_client("127.0.0.1", addr, &[]);
    assert!(status.success(), "{}", client.dump());
    wait_for_count(&server, "Closing Connection", 3);
    stop(server);
}

#[test]
fn count_and_message_run_other_rounds() {
    let (server, addr) = start_server("::1");
    let (status, client) = run_client("::1", addr, &["--count", "3", "--message", "hello there"]);
    assert!(status.success(), "{}", client.dump());
    wait_for_count(&server, "Closing Connection", 1);
    assert_eq!(count_lines(&server, "Received Message: hello there"), 3);
    assert_eq!(count_lines(&server, "Sending Acknowledgement"), 3);
    client.expect_stdout("3 round(s) in");
    stop(server);
}

#[test]
fn exit_is_refused_as_a_message() {
    let (status, client) = run(CLIENT, &["127.0.0.1", "1", "--message", "exit"]);
    assert!(!status.success());
    assert!(
        client.stderr_text().contains("would end the session"),
        "{}",
        client.dump()
    );
}

#[test]
fn sigint_stops_an_idle_server_quickly_with_status_0() {
    let (server, _) = start_server("::1");
    let server = stop(server);
    server.expect_stdout("Server stopped: 0 connection(s)");
}

#[test]
fn refused_connection_is_a_clear_error_with_status_1() {
    let addr = TcpListener::bind("[::1]:0").unwrap().local_addr().unwrap();
    let (status, client) = run_client("::1", addr, &[]);
    assert_eq!(status.code(), Some(1), "{}", client.dump());
    let stderr = client.stderr_text();
    assert!(
        stderr.starts_with("error: cannot connect to ::1 ([::1]:"),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A one-connection fake server: answers each of the first `acks` messages
/// with the acknowledgement split in two pieces, then closes.
fn fake_server(acks: usize) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buffer = [0u8; 1024];
        for _ in 0..acks {
            if stream.read(&mut buffer).unwrap_or(0) == 0 {
                return;
            }
            stream.write_all(&ACK[..3]).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            stream.write_all(&ACK[3..]).unwrap();
        }
    });
    (addr, handle)
}

#[test]
fn client_reads_an_acknowledgement_split_in_pieces_as_one() {
    let (addr, server) = fake_server(5);
    let (status, client) = run_client("127.0.0.1", addr, &[]);
    assert!(status.success(), "{}", client.dump());
    assert_eq!(
        count_lines(&client, "Acknowledgement Received: Acknowledgement"),
        5
    );
    server.join().unwrap();
}

#[test]
fn a_server_that_closes_early_is_a_clear_error() {
    let (addr, server) = fake_server(2);
    let (status, client) = run_client("127.0.0.1", addr, &[]);
    assert_eq!(status.code(), Some(1), "{}", client.dump());
    assert!(
        client
            .stderr_text()
            .contains("the server closed the connection after 2 of 5 acknowledgements"),
        "{}",
        client.dump()
    );
    server.join().unwrap();
}
