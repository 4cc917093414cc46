//! a4 chat: the real server and client binaries on loopback.
//!
//! Our own clients play the seed's transcript; raw sockets play clients that
//! misbehave (coalesced uploads, bad names, resets, not reading) and the
//! crowd of 200.

mod common;

use common::{Proc, TempDir, DEADLINE};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const SERVER: &str = env!("CARGO_BIN_EXE_a4-chat-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_a4-chat-client");

/// Starts a server in `dir` with extra flags; returns it and its address.
fn start_server(dir: &TempDir, flags: &[&str]) -> (Proc, SocketAddr) {
    let mut args = vec!["127.0.0.1", "0"];
    args.extend_from_slice(flags);
    let server = Proc::spawn_in(SERVER, &args, Some(dir.path()));
    let addr = server.wait_listening();
    server.expect_stdout(&format!("Chat server started on port {}.", addr.port()));
    (server, addr)
}

/// Waits until the server has logged `count` users online after a join,
/// and returns the peer named in that line.
fn wait_join(server: &Proc, count: usize) -> String {
    let users = if count == 1 { "user" } else { "users" };
    let tail = format!(" entered ({count} {users} online)");
    let line = server.expect_stdout(&tail);
    line.trim_start_matches("> New user ")
        .trim_end_matches(&tail)
        .to_string()
}

/// Polls `text()` until it contains `needle`, panicking after [`DEADLINE`].
fn wait_text(what: &str, text: impl Fn() -> String, needle: &str) {
    let until = Instant::now() + DEADLINE;
    loop {
        let now = text();
        if now.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < until,
            "{what} never showed {needle:?}; it has:\n{now}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// A client made of a bare socket whose incoming bytes a thread collects.
/// Dropping it closes the connection.
struct RawClient {
    stream: TcpStream,
    received: Arc<Mutex<Vec<u8>>>,
    collector: Option<thread::JoinHandle<()>>,
}

impl RawClient {
    fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        let mut reader = stream.try_clone().unwrap();
        let collector = thread::spawn(move || {
            let mut buffer = [0u8; 65536];
            while let Ok(count @ 1..) = reader.read(&mut buffer) {
                sink.lock().unwrap().extend_from_slice(&buffer[..count]);
            }
        });
        RawClient {
            stream,
            received,
            collector: Some(collector),
        }
    }

    /// Closes the connection abruptly: the server gets a reset, not a FIN.
    fn reset(mut self) {
        socket2::SockRef::from(&self.stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        // Stop the collector so that its copy of the socket is closed first;
        // the last close then sends the reset.
        self.stream.shutdown(std::net::Shutdown::Read).unwrap();
        if let Some(collector) = self.collector.take() {
            collector.join().unwrap();
        }
    }

    /// `ip:port` as the server names this client.
    fn label(&self) -> String {
        self.stream.local_addr().unwrap().to_string()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned()
    }

    fn wait_for(&self, needle: &str) {
        wait_text(&format!("client {}", self.label()), || self.text(), needle);
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

#[test]
fn seed_transcript_with_three_of_our_clients() {
    let dir = TempDir::new("a4-transcript");
    let (mut server, addr) = start_server(&dir, &[]);
    let port = addr.port().to_string();
    let client_args = ["127.0.0.1", port.as_str()];

    let mut a = Proc::spawn_in(CLIENT, &client_args, Some(dir.path()));
    a.expect_stdout("> Connected to the chat server (1 user online)");
    let a_peer = wait_join(&server, 1);
    let mut b = Proc::spawn_in(CLIENT, &client_args, Some(dir.path()));
    b.expect_stdout("> Connected to the chat server (2 users online)");
    let b_peer = wait_join(&server, 2);
    a.expect_stdout(&format!("> New user {b_peer} entered (2 users online)"));

    a.write_stdin("Hello\n");
    b.expect_stdout(&format!("[{a_peer}] Hello"));
    b.write_stdin("World\n");
    a.expect_stdout(&format!("[{b_peer}] World"));
    server.expect_stdout(&format!("[{a_peer}] Hello"));

    let mut c = Proc::spawn_in(CLIENT, &client_args, Some(dir.path()));
    c.expect_stdout("> Connected to the chat server (3 users online)");
    let c_peer = wait_join(&server, 3);
    for other in [&a, &b] {
        other.expect_stdout(&format!("> New user {c_peer} entered (3 users online)"));
    }
    c.write_stdin("My name is\n");
    a.expect_stdout(&format!("[{c_peer}] My name is"));
    b.expect_stdout(&format!("[{c_peer}] My name is"));

    let picture = common::pseudo_random_bytes(20_000, 3);
    std::fs::write(dir.path().join("google.png"), &picture).unwrap();
    c.write_stdin("I will upload a file\n#upload 'google.png'\n");
    c.expect_stdout("> File 'google.png' has uploaded!");
    for other in [&a, &b] {
        wait_text(
            "client",
            || other.stdout_text(),
            &format!("[{c_peer}] I will upload a file"),
        );
        wait_text(
            "client",
            || other.stdout_text(),
            &format!("> User {c_peer} has uploaded a file"),
        );
    }
    server.expect_stdout(&format!("> User {c_peer} has uploaded a file"));
    assert_eq!(
        std::fs::read(dir.path().join("server/google.png")).unwrap(),
        picture
    );

    c.write_stdin("buy\n");
    a.expect_stdout(&format!("[{c_peer}] buy"));
    c.close_stdin();
    c.expect_stdout("exit");
    assert!(c.expect_exit().success());
    for other in [&a, &b] {
        other.expect_stdout(&format!("< The user {c_peer} left (2 users online)"));
    }

    b.close_stdin();
    assert!(b.expect_exit().success());
    a.expect_stdout(&format!("< The user {b_peer} left (1 user online)"));

    // Nobody hears their own words.
    assert!(
        !a.stdout_text().contains(&format!("[{a_peer}]")),
        "{}",
        a.dump()
    );
    assert!(
        !c.stdout_text().contains(&format!("[{c_peer}]")),
        "{}",
        c.dump()
    );

    server.signal("INT");
    assert!(server.expect_exit().success(), "{}", server.dump());
    // The seed's `exit`, then the summary.
    let log = server.stdout_lines();
    assert_eq!(
        log[log.len().saturating_sub(2)..],
        [
            "exit".to_string(),
            "Server stopped: 3 client(s) served".to_string()
        ],
        "{}",
        server.dump()
    );
    a.expect_stdout("server closed");
    assert!(a.expect_exit().success());
}

#[test]
fn upload_of_20_kb_binary_separate_and_coalesced_with_its_header() {
    let dir = TempDir::new("a4-upload");
    let (server, addr) = start_server(&dir, &[]);
    let watcher = RawClient::connect(addr);
    watcher.wait_for("(1 user online)");
    let mut uploader = RawClient::connect(addr);
    watcher.wait_for("(2 users online)");
    let peer = uploader.label();

    // Header alone, then the file, then chat: how the seed's client sends.
    let mut first = common::pseudo_random_bytes(20_000, 1);
    first[0] = 0xff; // the seed's header has no end mark; see below for digits
    uploader.send(b"#upload 'first.bin' 20000");
    thread::sleep(Duration::from_millis(100));
    uploader.send(&first);
    thread::sleep(Duration::from_millis(100));
    uploader.send(b"after the first");
    watcher.wait_for(&format!("[{peer}] after the first"));

    // Chat, header, file and chat again in one write, as one read may hold them.
    let second = common::pseudo_random_bytes(20_000, 2);
    let mut burst = b"I will upload a file".to_vec();
    burst.extend_from_slice(b"#upload 'second.bin' 20000\n");
    burst.extend_from_slice(&second);
    burst.extend_from_slice(b"after the second");
    uploader.send(&burst);
    watcher.wait_for(&format!("[{peer}] after the second"));

    // A file starting with digits right after a newline-terminated header.
    uploader.send(b"#upload 'digits.txt' 6\n123456tail");
    watcher.wait_for(&format!("[{peer}] tail"));

    // The seed's header, no newline, in one read with a file that starts
    // with digits: the server waits for the pause to tell them apart.
    uploader.send(b"#upload 'table.csv' 123,4\n5,6\n7,8\n");
    watcher.wait_for(&format!("[{peer}] tail"));
    wait_text(
        "watcher",
        || {
            watcher
                .text()
                .matches("has uploaded a file")
                .count()
                .to_string()
        },
        "4",
    );
    uploader.send(b"after the table");
    watcher.wait_for(&format!("[{peer}] after the table"));

    let saved = |name: &str| std::fs::read(dir.path().join("server").join(name)).unwrap();
    assert_eq!(saved("first.bin"), first);
    assert_eq!(saved("second.bin"), second);
    assert_eq!(saved("digits.txt"), b"123456");
    assert_eq!(saved("table.csv"), b"3,4\n5,6\n7,8\n");
    assert_eq!(
        watcher
            .text()
            .matches(&format!("> User {peer} has uploaded a file"))
            .count(),
        4
    );
    watcher.wait_for(&format!("[{peer}] I will upload a file"));
    // No file byte was relayed as chat, and no temporary file is left.
    assert!(!watcher.text().contains("#upload"));
    let files: Vec<_> = std::fs::read_dir(dir.path().join("server"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 4);
    drop(server);
}

#[test]
fn bad_names_and_oversized_uploads_are_refused_and_nothing_escapes() {
    let dir = TempDir::new("a4-names");
    let (server, addr) = start_server(&dir, &["--upload-dir", "up/server", "--max-upload", "100"]);
    let watcher = RawClient::connect(addr);
    watcher.wait_for("(1 user online)");
    let mut uploader = RawClient::connect(addr);
    watcher.wait_for("(2 users online)");
    let peer = uploader.label();
    let outside = "/etc/socklab-a4-test";

    for (index, name) in ["../x", outside, "", "..", "big.bin"]
        .into_iter()
        .enumerate()
    {
        let size = if name == "big.bin" { 101 } else { 5 };
        let mut bytes = format!("#upload '{name}' {size}").into_bytes();
        bytes.extend(std::iter::repeat_n(b'Z', size));
        bytes.extend_from_slice(format!("ok {index}").as_bytes());
        uploader.send(&bytes);
        uploader.wait_for(&format!("> Upload of '{name}' refused: "));
        watcher.wait_for(&format!("[{peer}] ok {index}"));
    }
    assert!(uploader.text().contains("over the limit of 100 bytes"));
    assert!(!watcher.text().contains('Z'), "file bytes leaked as chat");
    assert!(!watcher.text().contains("has uploaded"));
    assert!(!dir.path().join("up/x").exists());
    assert!(!dir.path().join("x").exists());
    assert!(!std::path::Path::new(outside).exists());
    assert_eq!(
        std::fs::read_dir(dir.path().join("up/server"))
            .unwrap()
            .count(),
        0
    );
    drop(server);
}

#[test]
fn twenty_abrupt_resets_remove_only_those_clients() {
    let dir = TempDir::new("a4-resets");
    let (server, addr) = start_server(&dir, &[]);
    let observer = RawClient::connect(addr);
    observer.wait_for("(1 user online)");
    let mut talker = RawClient::connect(addr);
    observer.wait_for("(2 users online)");

    let mut doomed = Vec::new();
    for n in 0..20 {
        let client = RawClient::connect(addr);
        observer.wait_for(&format!("({} users online)", n + 3));
        doomed.push(client);
    }
    // Keep messages flowing to the doomed clients while they reset.
    let payload = vec![b'm'; 3000];
    for client in doomed {
        talker.send(&payload);
        client.reset();
    }
    observer.wait_for("left (2 users online)");
    assert_eq!(observer.text().matches("< The user ").count(), 20);

    talker.send(b"still talking");
    observer.wait_for(&format!("[{}] still talking", talker.label()));
    let newcomer = RawClient::connect(addr);
    newcomer.wait_for("> Connected to the chat server (3 users online)");
    drop(server);
}

#[test]
fn two_hundred_clients_each_receive_two_hundred_messages() {
    const CLIENTS: usize = 200;
    const MESSAGES: usize = 200;
    let dir = TempDir::new("a4-crowd");
    let (server, addr) = start_server(&dir, &[]);
    let receivers: Vec<RawClient> = (0..CLIENTS).map(|_| RawClient::connect(addr)).collect();
    wait_join(&server, CLIENTS);
    let mut sender = RawClient::connect(addr);
    wait_join(&server, CLIENTS + 1);

    let expected: String = (0..MESSAGES).map(|i| format!("m{i:03};")).collect();
    for i in 0..MESSAGES {
        sender.send(format!("m{i:03};").as_bytes());
    }
    // Reads may join or split messages; the server puts the sender's
    // prefix before each read it relays. Without the prefixes, each
    // receiver must hold every message exactly once, in order.
    let prefix = format!("[{}] ", sender.label());
    let chat_of = |client: &RawClient| {
        let text = client.text();
        text.find(&prefix)
            .map(|start| text[start..].replace(&prefix, ""))
            .unwrap_or_default()
    };
    for receiver in &receivers {
        wait_text("receiver", || chat_of(receiver), "m199;");
        assert_eq!(chat_of(receiver), expected);
    }
    drop(server);
}

#[test]
fn a_client_that_never_reads_does_not_stop_the_others() {
    const TOTAL: usize = 12_000_000;
    let dir = TempDir::new("a4-stall");
    let (server, addr) = start_server(&dir, &["--stall-timeout", "1"]);
    let sleeper = {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(&addr.into()).unwrap();
        TcpStream::from(socket)
    };
    let sleeper_peer = wait_join(&server, 1);
    let reader = RawClient::connect(addr);
    wait_join(&server, 2);
    let mut sender = RawClient::connect(addr);
    wait_join(&server, 3);

    let started = Instant::now();
    let chunk = vec![b'x'; 4000];
    for _ in 0..TOTAL / chunk.len() {
        sender.send(&chunk);
    }
    // The prefixes the server adds (`[127.0.0.1:port] `) hold no 'x'.
    let received_x = || {
        reader
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|&&b| b == b'x')
            .count()
    };
    let until = Instant::now() + DEADLINE;
    while received_x() < TOTAL && Instant::now() < until {
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(received_x(), TOTAL, "the reading client lost data");
    server
        .wait_stdout(
            |l| {
                l.starts_with(&format!(
                    "! Disconnected {sleeper_peer}: it stopped reading"
                ))
            },
            DEADLINE,
        )
        .unwrap_or_else(|| {
            panic!(
                "the stalled client was not disconnected; stderr: {}",
                server.stderr_text()
            )
        });
    reader.wait_for(&format!("< The user {sleeper_peer} left (2 users online)"));
    assert!(started.elapsed() < DEADLINE);
    drop(sleeper);
}

#[test]
fn extra_clients_are_turned_away_when_full() {
    let dir = TempDir::new("a4-full");
    let (server, addr) = start_server(&dir, &["--max-clients", "2"]);
    let first = RawClient::connect(addr);
    first.wait_for("(1 user online)");
    let second = RawClient::connect(addr);
    second.wait_for("(2 users online)");
    let third = RawClient::connect(addr);
    third.wait_for("> The chat server is full (2 users online), try again later");
    drop(second);
    first.wait_for("left (1 user online)");
    let fourth = RawClient::connect(addr);
    fourth.wait_for("> Connected to the chat server (2 users online)");
    drop(server);
}

#[test]
fn client_reports_a_missing_file_and_sends_nothing() {
    let dir = TempDir::new("a4-missing");
    let (server, addr) = start_server(&dir, &[]);
    let watcher = RawClient::connect(addr);
    watcher.wait_for("(1 user online)");
    let port = addr.port().to_string();
    let mut client = Proc::spawn_in(CLIENT, &["127.0.0.1", &port], Some(dir.path()));
    client.expect_stdout("(2 users online)");
    client.write_stdin("#upload 'nope.txt'\nnext line\n");
    client
        .wait_stderr(|l| l.contains("cannot upload 'nope.txt'"), DEADLINE)
        .unwrap_or_else(|| panic!("no local error; {}", client.dump()));
    watcher.wait_for("] next line");
    assert!(!watcher.text().contains("#upload"));
    client.close_stdin();
    assert!(client.expect_exit().success());
    drop(server);
}

#[test]
fn client_exits_cleanly_when_the_server_goes_away() {
    let dir = TempDir::new("a4-gone");
    let (mut server, addr) = start_server(&dir, &[]);
    let port = addr.port().to_string();
    let mut client = Proc::spawn(CLIENT, &["127.0.0.1", &port]);
    client.expect_stdout("(1 user online)");
    server.signal("INT");
    server.expect_stdout("exit");
    assert!(server.expect_exit().success());
    client.expect_stdout("server closed");
    assert!(client.expect_exit().success());

    // With no server at all: a clear error and a failure status.
    let (status, refused) = common::run(CLIENT, &["127.0.0.1", &port]);
    assert!(!status.success());
    assert!(
        refused.stderr_text().contains("cannot connect"),
        "{}",
        refused.dump()
    );
}
