//! Attacks on the connection lifecycle (`socklab::net::Lifecycle`) of the
//! TCP servers: idle or trickling connections that try to hold every slot.
//!
//! Each test plays the attacker from other loopback addresses (127.0.0.2,
//! 127.0.0.3, …: all of 127/8 is loopback), spread over several addresses so
//! that the per-address share alone cannot be what saves the normal client,
//! who connects from 127.0.0.1. The defence under test is eviction of the
//! connection that has made the least progress, the cap and the idle timeout.

mod common;

use common::{pseudo_random_bytes, run_in, Proc, TempDir, DEADLINE};
use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection may be evicted once it is this far behind the minimum rate
/// (`socklab::net::EVICTION_GRACE`), plus a margin for a busy machine.
const PAST_GRACE: Duration = Duration::from_millis(6500);

/// A connection to `server` from `127.0.0.{2 + i % spread}`.
fn attacker(server: SocketAddr, i: usize, spread: usize) -> TcpStream {
    let source = SocketAddr::from(([127, 0, 0, 2 + (i % spread) as u8], 0));
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&source.into()).unwrap();
    socket
        .connect_timeout(&server.into(), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("attacker {i} from {source}: {e}"));
    socket.into()
}

/// Opens `count` attacker connections spread over `spread` addresses.
fn attackers(server: SocketAddr, count: usize, spread: usize) -> Vec<TcpStream> {
    (0..count).map(|i| attacker(server, i, spread)).collect()
}

/// The number of threads of process `pid` (Linux, `/proc/PID/status`).
fn threads_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|count| count.trim().parse().ok())
        .expect("a Threads: line")
}

/// Waits until `server` has printed `count` stdout lines containing `needle`.
fn wait_for_lines(server: &Proc, needle: &str, count: usize) {
    let until = Instant::now() + DEADLINE;
    while server
        .stdout_lines()
        .iter()
        .filter(|line| line.contains(needle))
        .count()
        < count
    {
        assert!(
            Instant::now() < until,
            "fewer than {count} {needle:?} lines; {}",
            server.dump()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads from `stream` until `needle` has arrived; returns everything read.
fn read_until(stream: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let until = Instant::now() + DEADLINE;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !received.windows(needle.len()).any(|w| w == needle) {
        assert!(
            Instant::now() < until,
            "never received {:?}; got {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(&received)
        );
        match stream.read(&mut buffer) {
            Ok(0) => panic!(
                "closed before {:?}; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&received)
            ),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
    received
}

/// Whether the server has ended `stream`, waiting up to `deadline`.
fn closed_within(stream: &mut TcpStream, deadline: Duration) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let until = Instant::now() + deadline;
    let mut buffer = [0u8; 4096];
    while Instant::now() < until {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn a3_file_idle_connections_do_not_lock_out_a_client() {
    const SERVER: &str = env!("CARGO_BIN_EXE_a3-file-server");
    const CLIENT: &str = env!("CARGO_BIN_EXE_a3-file-client");
    let dir = TempDir::new("attack-a3-file");
    let content = pseudo_random_bytes(200_000, 11);
    let source = dir.path().join("source");
    std::fs::write(&source, &content).unwrap();
    // The default cap (64) and share (16 per address).
    let server = Proc::spawn(
        SERVER,
        &["0", source.to_str().unwrap(), "--bind", "127.0.0.1"],
    );
    let addr = server.wait_listening();

    // 80 idle connections from 8 addresses (10 each): 64 fill the cap.
    let _idle = attackers(addr, 80, 8);
    wait_for_lines(&server, "Got a new connection", 80);
    assert!(threads_of(server.pid()) <= 64 + 4, "{}", server.dump());
    std::thread::sleep(PAST_GRACE);

    let started = Instant::now();
    let (status, client) = run_in(
        CLIENT,
        &["127.0.0.1", &addr.port().to_string()],
        Some(dir.path()),
    );
    assert!(status.success(), "{}\n{}", client.dump(), server.dump());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        std::fs::read(dir.path().join("RECIEVED_FILE.txt")).unwrap(),
        content
    );
    assert!(
        server.stderr_text().contains("evicted (least progress)"),
        "{}",
        server.dump()
    );
}

#[test]
fn a4_idle_connections_filling_the_cap_do_not_lock_out_chat() {
    const SERVER: &str = env!("CARGO_BIN_EXE_a4-chat-server");
    let dir = TempDir::new("attack-a4");
    let server = Proc::spawn_in(
        SERVER,
        &["127.0.0.1", "0", "--max-clients", "32"],
        Some(dir.path()),
    );
    let addr = server.wait_listening();

    // 40 idle connections from 8 addresses (5 each, within the share of 8):
    // 32 fill the cap, the rest are told the server is full.
    let mut idle = attackers(addr, 40, 8);
    wait_for_lines(&server, "(32 users online)", 1);
    for stream in idle.iter_mut().skip(32) {
        read_until(stream, b"> The chat server is full (32 users online)");
    }
    std::thread::sleep(PAST_GRACE);

    // Two normal clients are admitted, each evicting an idle connection,
    // and can talk.
    let mut alice = TcpStream::connect(addr).unwrap();
    read_until(&mut alice, b"> Connected to the chat server (");
    let mut bob = TcpStream::connect(addr).unwrap();
    read_until(&mut bob, b"> Connected to the chat server (");
    alice.write_all(b"hello bob\n").unwrap();
    read_until(&mut bob, b"] hello bob");
    let evictions = server
        .stderr_lines()
        .iter()
        .filter(|line| line.contains("! Evicted 127.0.0."))
        .count();
    assert_eq!(evictions, 2, "{}", server.dump());
}

#[test]
fn a5_trickling_connections_do_not_lock_out_an_upload() {
    const SERVER: &str = env!("CARGO_BIN_EXE_a5-accio-server");
    const CLIENT: &str = env!("CARGO_BIN_EXE_a5-accio-client");
    let dir = TempDir::new("attack-a5");
    let received = dir.path().join("received");
    let server = Proc::spawn(
        SERVER,
        &[
            "--bind",
            "127.0.0.1",
            "--max-clients",
            "16",
            "0",
            received.to_str().unwrap(),
        ],
    );
    let addr = server.wait_listening();

    // 16 connections from 8 addresses fill the cap, each sending one byte
    // every 2 s: never idle long enough for the 10 s idle timeout.
    let stop = Arc::new(AtomicBool::new(false));
    let tricklers: Vec<_> = attackers(addr, 16, 8)
        .into_iter()
        .map(|mut stream| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let until = Instant::now() + 3 * DEADLINE;
                while !stop.load(Ordering::SeqCst) && Instant::now() < until {
                    if stream.write_all(b"x").is_err() {
                        return;
                    }
                    for _ in 0..20 {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(PAST_GRACE);

    let content = pseudo_random_bytes(1 << 20, 5);
    let upload = dir.path().join("upload");
    std::fs::write(&upload, &content).unwrap();
    let started = Instant::now();
    let (status, client) = run_in(
        CLIENT,
        &[
            "127.0.0.1",
            &addr.port().to_string(),
            upload.to_str().unwrap(),
        ],
        None,
    );
    assert!(status.success(), "{}\n{}", client.dump(), server.dump());
    assert!(started.elapsed() < Duration::from_secs(10));
    stop.store(true, Ordering::SeqCst);
    for trickler in tricklers {
        trickler.join().unwrap();
    }
    // The upload is saved intact under some n.file.
    let intact = std::fs::read_dir(&received)
        .unwrap()
        .filter_map(|entry| std::fs::read(entry.unwrap().path()).ok())
        .any(|saved| saved == content);
    assert!(intact, "no intact copy of the upload; {}", server.dump());
    assert!(
        server
            .stderr_text()
            .contains("evicted (sent the least recently)"),
        "{}",
        server.dump()
    );
}

#[test]
fn a3_dual_idle_connections_are_capped_and_timed_out() {
    const SERVER: &str = env!("CARGO_BIN_EXE_a3-dual-server");
    // The default cap (256) and share (64 per address); a short idle timeout.
    let server = Proc::spawn(SERVER, &["127.0.0.1", "0", "--idle-timeout", "3"]);
    let addr = server.wait_listening();

    // 300 idle connections from 10 addresses (30 each): 256 are served.
    let mut idle = attackers(addr, 300, 10);
    wait_for_lines(&server, "Got a connection", 256);
    let threads = threads_of(server.pid());
    assert!(threads <= 256 + 4, "{threads} threads");
    // Every one of them is closed: refused at once, or after the idle timeout.
    for (i, stream) in idle.iter_mut().enumerate() {
        assert!(
            closed_within(stream, DEADLINE),
            "connection {i} still open; {}",
            server.dump()
        );
    }
    wait_for_lines(&server, "Closing Connection (idle for 3 s)", 256);
    let until = Instant::now() + DEADLINE;
    while threads_of(server.pid()) > 4 {
        assert!(Instant::now() < until, "threads left behind");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A normal client is served.
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(b"hello").unwrap();
    read_until(&mut client, b"Acknowledgement");
}

#[test]
fn a2_idle_connections_do_not_lock_out_a_client() {
    const SERVER: &str = env!("CARGO_BIN_EXE_a2-tcp-server");
    let server = Proc::spawn(
        SERVER,
        &[
            "--bind",
            "127.0.0.1",
            "0",
            "--forever",
            "--max-clients",
            "16",
        ],
    );
    let addr = server.wait_listening();

    // 24 idle connections from 6 addresses (4 each): 16 fill the cap.
    let mut idle = attackers(addr, 24, 6);
    wait_for_lines(&server, "Connected with", 24);
    let threads = threads_of(server.pid());
    assert!(threads <= 16 + 4, "{threads} threads");
    std::thread::sleep(PAST_GRACE);

    let started = Instant::now();
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    read_until(&mut client, b"GET / HTT");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The idle connection it displaced was closed.
    let evicted = idle
        .iter_mut()
        .take(16)
        .map(|stream| closed_within(stream, Duration::from_millis(200)))
        .filter(|&closed| closed)
        .count();
    assert!(evicted >= 1, "{}", server.dump());
}
