//! Attacks on the a4 chat server, played on loopback against the real
//! binary: a memory flood with a client that never reads, an upload header
//! hidden in the middle of chat, a refused size that would swallow the
//! chat after it, and a file name that hides its extension with U+202E.
//! Attackers connect from other loopback addresses (127.0.0.2, …).

mod common;

use common::{dir_entries, Proc, TempDir, DEADLINE};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const SERVER: &str = env!("CARGO_BIN_EXE_a4-chat-server");

/// Connects to `addr` from the loopback address 127.0.0.`host`.
fn connect_from(host: u8, addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)), 0);
    socket.bind(&local.into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    TcpStream::from(socket)
}

/// A client whose incoming bytes a thread collects.
struct Listener {
    stream: TcpStream,
    received: Arc<Mutex<Vec<u8>>>,
}

impl Listener {
    fn connect(host: u8, addr: SocketAddr) -> Listener {
        let stream = connect_from(host, addr);
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        let mut reader = stream.try_clone().unwrap();
        thread::spawn(move || {
            let mut buffer = [0u8; 65536];
            while let Ok(count @ 1..) = reader.read(&mut buffer) {
                sink.lock().unwrap().extend_from_slice(&buffer[..count]);
            }
        });
        Listener { stream, received }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned()
    }

    /// Waits up to `deadline` for `needle` to arrive.
    fn heard(&self, needle: &str, deadline: Duration) -> bool {
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            if self.text().contains(needle) {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn label(&self) -> String {
        self.stream.local_addr().unwrap().to_string()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Starts a server with uploads in `dir/server`.
fn start_server(dir: &TempDir) -> (Proc, SocketAddr) {
    let upload_dir = dir.path().join("server");
    let server = Proc::spawn(
        SERVER,
        &[
            "127.0.0.1",
            "0",
            "--upload-dir",
            upload_dir.to_str().unwrap(),
        ],
    );
    let addr = server.wait_listening();
    (server, addr)
}

/// Two clients, from 127.0.0.2 (`talker`) and 127.0.0.3 (`watcher`), both
/// announced to each other.
fn two_clients(server: &Proc, addr: SocketAddr) -> (Listener, Listener) {
    let talker = Listener::connect(2, addr);
    server.expect_stdout("(1 user online)");
    let watcher = Listener::connect(3, addr);
    server.expect_stdout("(2 users online)");
    assert!(talker.heard("(2 users online)", DEADLINE));
    (talker, watcher)
}

#[test]
fn an_upload_header_in_the_middle_of_chat_creates_no_file() {
    let dir = TempDir::new("attack-a4-mid");
    let (server, addr) = start_server(&dir);
    let (mut talker, watcher) = two_clients(&server, addr);
    let chat = "see this: #upload 'planted.sh' 5\nrm -rf and more";
    talker.send(chat.as_bytes());
    assert!(
        watcher.heard(&format!("[{}] {chat}", talker.label()), DEADLINE),
        "the chat was not relayed whole: {:?}",
        watcher.text()
    );
    assert!(dir_entries(&dir.path().join("server")).is_empty());
}

#[test]
fn a_refused_size_does_not_swallow_later_messages() {
    let dir = TempDir::new("attack-a4-huge");
    let (server, addr) = start_server(&dir);
    let (mut talker, watcher) = two_clients(&server, addr);
    talker.send(b"#upload 'big.iso' 99999999999999999\nsome of the file");
    assert!(
        talker.heard("> Upload of 'big.iso' refused: ", DEADLINE),
        "{:?}",
        talker.text()
    );
    // The user reads the refusal, then types on.
    thread::sleep(Duration::from_millis(1500));
    talker.send(b"still here?");
    assert!(
        watcher.heard(
            &format!("[{}] still here?", talker.label()),
            Duration::from_secs(5)
        ),
        "a later message was swallowed: {:?}",
        watcher.text()
    );
    assert!(!watcher.text().contains("some of the file"));
    assert!(dir_entries(&dir.path().join("server")).is_empty());
}

#[test]
fn names_with_bidirectional_overrides_are_refused() {
    let dir = TempDir::new("attack-a4-bidi");
    let (server, addr) = start_server(&dir);
    let (mut talker, watcher) = two_clients(&server, addr);
    // Shows as "invoicexe.pdf" but is an .exe.
    let name = "invoice\u{202E}fdp.exe";
    talker.send(format!("#upload '{name}' 3\nMZ!").as_bytes());
    assert!(
        talker.heard("bidirectional formatting characters", DEADLINE),
        "{:?}",
        talker.text()
    );
    talker.send(b"#upload 'bell\x07.txt' 1\nx");
    assert!(
        talker.heard("control characters", DEADLINE),
        "{:?}",
        talker.text()
    );
    assert!(dir_entries(&dir.path().join("server")).is_empty());
    // A message sent after the refusals reaches the watcher after anything
    // they could have leaked: once it is there, nothing more can come.
    talker.send(b"after the refusals");
    assert!(
        watcher.heard(
            &format!("[{}] after the refusals", talker.label()),
            DEADLINE
        ),
        "{:?}",
        watcher.text()
    );
    assert!(!watcher.text().contains("MZ!"), "file bytes became chat");
}

/// A line of `/proc/PID/status` in KiB, such as `VmRSS` or `VmHWM`.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The server of the flood test: stdout goes to a file (the case where the
/// log queue used to grow), stderr is dropped.
struct FileLoggedServer {
    child: Child,
    addr: SocketAddr,
}

impl FileLoggedServer {
    fn start(dir: &Path) -> FileLoggedServer {
        let log = dir.join("server.log");
        let child = Command::new(SERVER)
            .args(["127.0.0.1", "0", "--upload-dir"])
            .arg(dir.join("server"))
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Owned at once, so that a failed wait below still kills it.
        let mut server = FileLoggedServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let until = Instant::now() + DEADLINE;
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("Listening on ").nth(1) {
                server.addr = rest.split_whitespace().next().unwrap().parse().unwrap();
                return server;
            }
            assert!(Instant::now() < until, "the server never got ready");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for FileLoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_upload_flood_with_a_stalled_reader_stays_within_64_mib() {
    const ROUNDS: usize = 200;
    const LIMIT_KIB: u64 = 64 * 1024;
    let dir = TempDir::new("attack-a4-flood");
    let server = FileLoggedServer::start(dir.path());
    let pid = server.child.id();
    let before = status_kib(pid, "VmRSS");

    // A client that never reads, with a small receive buffer.
    let stalled = {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let local = SocketAddr::from(([127, 0, 0, 2], 0));
        socket.bind(&local.into()).unwrap();
        socket.connect(&server.addr.into()).unwrap();
        TcpStream::from(socket)
    };
    // The flooder: a seed-style header for one byte, then 1 MiB, again and again.
    let mut flooder = Listener::connect(3, server.addr);
    let blob = vec![b'x'; 1 << 20];
    for _ in 0..ROUNDS {
        if flooder.stream.write_all(b"#upload 'a' 1").is_err()
            || flooder.stream.write_all(&blob).is_err()
        {
            break;
        }
    }
    // A normal client is still served.
    let mut normal = Listener::connect(4, server.addr);
    let watcher = Listener::connect(5, server.addr);
    let until = Instant::now() + DEADLINE;
    let hello = "hello after the flood";
    while !watcher.text().contains(hello) {
        assert!(Instant::now() < until, "a normal client was not served");
        normal.send(hello.as_bytes());
        thread::sleep(Duration::from_millis(300));
    }
    let peak = status_kib(pid, "VmHWM");
    drop(stalled);
    drop(flooder);
    drop(normal);
    drop(watcher);
    // Memory comes back once the attack is over.
    let until = Instant::now() + DEADLINE;
    let mut after = status_kib(pid, "VmRSS");
    while after > before + 16 * 1024 && Instant::now() < until {
        thread::sleep(Duration::from_millis(100));
        after = status_kib(pid, "VmRSS");
    }
    assert!(
        peak <= LIMIT_KIB,
        "peak RSS {peak} KiB is over {LIMIT_KIB} KiB"
    );
    assert!(
        after <= before + 16 * 1024,
        "RSS stayed at {after} KiB after the attack (started at {before} KiB)"
    );
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(
        log.contains("! Disconnected 127.0.0.2:"),
        "the stalled reader was not dropped"
    );
}
