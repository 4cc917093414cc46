//! a5 accio end to end: the real server and client binaries on loopback.

mod common;

use common::{dir_entries, pseudo_random_bytes, run, Proc, TempDir, DEADLINE};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVER: &str = env!("CARGO_BIN_EXE_a5-accio-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_a5-accio-client");

/// Starts a server on 127.0.0.1 (a free port) saving into `dir`, with extra
/// flags; returns it with its address.
fn start_server(dir: &Path, extra: &[&str]) -> (Proc, SocketAddr) {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["--bind", "127.0.0.1"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["0", dir]);
    let server = Proc::spawn(SERVER, &args);
    let addr = server.wait_listening();
    (server, addr)
}

/// Runs the client binary to completion and returns its exit status and output.
fn send(addr: SocketAddr, file: &Path, extra: &[&str]) -> (std::process::ExitStatus, Proc) {
    let port = addr.port().to_string();
    let mut args = extra.to_vec();
    args.extend_from_slice(&["127.0.0.1", &port, file.to_str().unwrap()]);
    run(CLIENT, &args)
}

/// Waits until `path` exists (bounded by [`DEADLINE`]).
fn wait_for_file(path: &Path) -> Vec<u8> {
    let until = Instant::now() + DEADLINE;
    loop {
        if let Ok(content) = std::fs::read(path) {
            return content;
        }
        assert!(Instant::now() < until, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asserts that a received file holds exactly `ERROR` (without printing
/// megabytes of content when it does not).
fn assert_error_file(content: &[u8], what: &str) {
    assert!(
        content == b"ERROR",
        "{what}: expected ERROR, found {} bytes starting {:?}",
        content.len(),
        String::from_utf8_lossy(&content[..content.len().min(16)])
    );
}

/// Stops the server with `signal` and checks it exits 0 with its summary.
fn stop(server: &mut Proc, signal: &str) -> String {
    server.signal(signal);
    let status = server.expect_exit();
    assert!(
        status.success(),
        "server exit {status:?}; {}",
        server.dump()
    );
    server.expect_stdout("Received ")
}

#[test]
fn files_of_every_size_arrive_identical() {
    let inputs = TempDir::new("accio-in");
    let received = TempDir::new("accio-out");
    let (mut server, addr) = start_server(received.path(), &[]);
    let sizes = [0usize, 1, 100_000, 20_000_000];
    for (index, size) in sizes.iter().enumerate() {
        let content = pseudo_random_bytes(*size, index as u64 + 1);
        let path = inputs.path().join(format!("input-{size}"));
        std::fs::write(&path, &content).unwrap();
        let (status, client) = send(addr, &path, &[]);
        assert!(status.success(), "client failed; {}", client.dump());
        client.expect_stdout("Sent ");
        // The client returns after the server's close, by which time the
        // file has its final name.
        let saved = std::fs::read(received.path().join(format!("{}.file", index + 1))).unwrap();
        assert_eq!(saved.len(), content.len(), "size {size}");
        assert!(saved == content, "content of the {size}-byte file differs");
    }
    assert_eq!(
        dir_entries(received.path()),
        ["1.file", "2.file", "3.file", "4.file"]
    );
    let summary = stop(&mut server, "TERM");
    assert!(summary.contains("4 complete"), "{summary}");
}

#[test]
fn hundred_concurrent_clients_give_hundred_intact_files() {
    const CLIENTS: usize = 100;
    let inputs = TempDir::new("accio-many-in");
    let received = TempDir::new("accio-many-out");
    let (mut server, addr) = start_server(received.path(), &[]);
    let mut expected = HashMap::new();
    let mut paths = Vec::new();
    for index in 0..CLIENTS {
        let content = pseudo_random_bytes(20_000 + index * 1_000, 1_000 + index as u64);
        let path = inputs.path().join(format!("upload-{index}"));
        std::fs::write(&path, &content).unwrap();
        expected.insert(content, index);
        paths.push(path);
    }
    let port = addr.port().to_string();
    let mut clients: Vec<_> = paths
        .iter()
        .map(|path| {
            Command::new(CLIENT)
                .args(["127.0.0.1", &port, path.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for client in &mut clients {
        let output = wait_child(client);
        assert!(output.0, "a client failed: {}", output.1);
    }
    let mut seen = [false; CLIENTS];
    for number in 1..=CLIENTS {
        let saved = std::fs::read(received.path().join(format!("{number}.file"))).unwrap();
        let index = *expected
            .get(&saved)
            .unwrap_or_else(|| panic!("{number}.file ({} bytes) matches no upload", saved.len()));
        assert!(!seen[index], "upload {index} saved twice");
        seen[index] = true;
    }
    assert_eq!(
        dir_entries(received.path()).len(),
        CLIENTS,
        "stray files left"
    );
    let summary = stop(&mut server, "INT");
    assert!(summary.contains("100 complete"), "{summary}");
}

/// Waits (bounded) for a child started with `Command`; returns whether it
/// succeeded and its stderr.
fn wait_child(child: &mut std::process::Child) -> (bool, String) {
    let until = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                pipe.read_to_string(&mut stderr).unwrap();
            }
            return (status.success(), stderr);
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a client did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One slow upload driven by the test: 1 kB every 20 ms. When `stopping`
/// is set, a finisher sends the rest and half-closes at once; a straggler
/// keeps trickling until the server cuts it off.
fn slow_upload(
    mut stream: TcpStream,
    content: Vec<u8>,
    finisher: bool,
    stopping: Arc<AtomicBool>,
) -> Vec<u8> {
    const CHUNK: usize = 1_000;
    let mut sent = 0;
    let until = Instant::now() + DEADLINE;
    while sent + CHUNK <= content.len() && Instant::now() < until {
        if finisher && stopping.load(Ordering::SeqCst) {
            break;
        }
        if stream.write_all(&content[sent..sent + CHUNK]).is_err() {
            return content[..sent].to_vec();
        }
        sent += CHUNK;
        std::thread::sleep(Duration::from_millis(20));
    }
    if finisher {
        stream.write_all(&content[sent..]).unwrap();
        sent = content.len();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        // The server closes once the file is saved.
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
    }
    content[..sent].to_vec()
}

#[test]
fn sigterm_amid_slow_uploads_leaves_every_file_complete_or_error() {
    const UPLOADS: usize = 10;
    let received = TempDir::new("accio-term");
    let (mut server, addr) = start_server(received.path(), &["--grace", "3"]);
    let stopping = Arc::new(AtomicBool::new(false));
    // Connect one by one, so upload i is accepted i-th and saved as (i+1).file.
    let mut uploads = Vec::new();
    for index in 0..UPLOADS {
        let stream = TcpStream::connect(addr).unwrap();
        let content = pseudo_random_bytes(2_000_000, 77 + index as u64);
        let finisher = index % 2 == 0;
        let stopping = stopping.clone();
        uploads.push(std::thread::spawn(move || {
            slow_upload(stream, content, finisher, stopping)
        }));
    }
    // Every connection accepted: each has its temporary file.
    let until = Instant::now() + DEADLINE;
    while dir_entries(received.path()).len() < UPLOADS {
        assert!(Instant::now() < until, "not all uploads were accepted");
        std::thread::sleep(Duration::from_millis(10));
    }

    server.signal("TERM");
    server
        .wait_stderr(|line| line.starts_with("Stopping:"), DEADLINE)
        .unwrap_or_else(|| panic!("no stopping notice; {}", server.dump()));
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after SIGTERM"
    );
    stopping.store(true, Ordering::SeqCst);

    let status = server.expect_exit();
    assert!(
        status.success(),
        "server exit {status:?}; {}",
        server.dump()
    );
    let sent: Vec<Vec<u8>> = uploads.into_iter().map(|t| t.join().unwrap()).collect();
    let names = dir_entries(received.path());
    assert_eq!(names.len(), UPLOADS, "temporary files left: {names:?}");
    for (index, sent) in sent.iter().enumerate() {
        let saved = std::fs::read(received.path().join(format!("{}.file", index + 1))).unwrap();
        if index % 2 == 0 {
            assert!(
                saved == *sent,
                "finisher {index}: {} of {} bytes",
                saved.len(),
                sent.len()
            );
        } else {
            assert_error_file(&saved, &format!("straggler {index}"));
        }
    }
    let summary = server.expect_stdout("Received ");
    assert!(
        summary.contains("5 complete") && summary.contains("5 ERROR"),
        "{summary}"
    );
}

#[test]
fn silent_and_stalled_clients_leave_error() {
    let received = TempDir::new("accio-idle");
    let (mut server, addr) = start_server(received.path(), &["--idle-timeout", "0.5"]);
    let mut silent = TcpStream::connect(addr).unwrap();
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled.write_all(&pseudo_random_bytes(5_000, 3)).unwrap();
    for stream in [&mut silent, &mut stalled] {
        // The server gives up and closes: end of stream (or a reset).
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut byte = [0u8; 1];
        assert!(matches!(stream.read(&mut byte), Ok(0) | Err(_)));
    }
    assert_error_file(
        &wait_for_file(&received.path().join("1.file")),
        "silent client",
    );
    assert_error_file(
        &wait_for_file(&received.path().join("2.file")),
        "stalled client",
    );
    server.expect_stdout("1.file: ERROR");
    server.expect_stdout("no data for 0.5 s");
    let summary = stop(&mut server, "QUIT");
    assert!(summary.contains("2 ERROR"), "{summary}");
}

#[test]
fn reset_mid_transfer_leaves_error() {
    let received = TempDir::new("accio-reset");
    let (mut server, addr) = start_server(received.path(), &[]);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(&pseudo_random_bytes(50_000, 9)).unwrap();
    // The server has taken the connection as an upload: the reset below
    // ends a transfer, whatever of the 50 kB it has read by then.
    wait_for_file(&received.path().join(".1.file.part"));
    // Linger 0: closing sends a reset instead of the clean end of stream.
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
    assert_error_file(&wait_for_file(&received.path().join("1.file")), "reset");
    server.expect_stdout("1.file: ERROR");
    stop(&mut server, "TERM");
}

#[test]
fn max_connections_queues_the_next_upload() {
    let inputs = TempDir::new("accio-max-in");
    let received = TempDir::new("accio-max-out");
    let (mut server, addr) = start_server(received.path(), &["--max-connections", "1"]);
    let mut first = TcpStream::connect(addr).unwrap();
    first.write_all(b"first, ").unwrap();
    wait_for_file(&received.path().join(".1.file.part"));

    let path = inputs.path().join("second");
    std::fs::write(&path, b"second upload").unwrap();
    let port = addr.port().to_string();
    let mut second = Proc::spawn(CLIENT, &["127.0.0.1", &port, path.to_str().unwrap()]);
    // While the only slot is taken, the second upload is not served.
    assert!(second.wait_exit(Duration::from_millis(500)).is_none());
    assert!(!received.path().join("2.file").exists());

    first.write_all(b"then done").unwrap();
    first.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).unwrap();
    assert!(second.expect_exit().success(), "{}", second.dump());
    assert_eq!(
        std::fs::read(received.path().join("1.file")).unwrap(),
        b"first, then done"
    );
    assert_eq!(
        std::fs::read(received.path().join("2.file")).unwrap(),
        b"second upload"
    );
    stop(&mut server, "TERM");
}

#[test]
fn bad_server_arguments_print_error_and_exit_1() {
    let scratch = TempDir::new("accio-args");
    let dir = scratch.path().join("files");
    let regular = scratch.path().join("plain-file");
    std::fs::write(&regular, b"not a directory").unwrap();
    let cases: [(&str, &Path, &str); 4] = [
        ("1023", &dir, "reserved"),
        ("80", &dir, "reserved"),
        ("abc", &dir, "not a number"),
        ("0", &regular, "not a directory"),
    ];
    for (port, file_dir, why) in cases {
        let (status, server) = run(
            SERVER,
            &["--bind", "127.0.0.1", port, file_dir.to_str().unwrap()],
        );
        assert_eq!(status.code(), Some(1), "port {port}; {}", server.dump());
        let stderr = server.stderr_text();
        assert!(
            stderr.starts_with("ERROR: ") && stderr.contains(why),
            "{stderr}"
        );
        assert!(
            server.stdout_lines().is_empty(),
            "started serving: {}",
            server.dump()
        );
    }
    assert!(!dir.exists(), "a refused server created its directory");
}

#[test]
fn missing_file_dir_is_created() {
    let scratch = TempDir::new("accio-mkdir");
    let nested: PathBuf = scratch.path().join("a/b/files");
    let (mut server, addr) = start_server(&nested, &[]);
    assert!(nested.is_dir());
    let input = scratch.path().join("input");
    std::fs::write(&input, b"hello").unwrap();
    assert!(send(addr, &input, &[]).0.success());
    assert_eq!(std::fs::read(nested.join("1.file")).unwrap(), b"hello");
    stop(&mut server, "TERM");
}

#[test]
fn client_errors_print_error_and_exit_1() {
    let scratch = TempDir::new("accio-client-errors");
    let input = scratch.path().join("input");
    std::fs::write(&input, b"data").unwrap();
    // A port nobody listens on: bind one, note it, close it.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    let missing = scratch.path().join("missing");
    let port = closed.port().to_string();
    let cases: [(&[&str], &str); 3] = [
        (
            &["127.0.0.1", &port, input.to_str().unwrap()],
            "cannot connect",
        ),
        (
            &["127.0.0.1", &port, missing.to_str().unwrap()],
            "cannot open",
        ),
        (
            &["127.0.0.1", "port", input.to_str().unwrap()],
            "not a number",
        ),
    ];
    for (args, why) in cases {
        let (status, client) = run(CLIENT, args);
        assert_eq!(status.code(), Some(1), "{args:?}; {}", client.dump());
        let stderr = client.stderr_text();
        assert!(
            stderr.starts_with("ERROR: ") && stderr.contains(why),
            "{stderr}"
        );
    }
}

#[test]
fn client_gives_up_on_a_server_that_never_closes() {
    let scratch = TempDir::new("accio-no-close");
    let input = scratch.path().join("input");
    std::fs::write(&input, b"data").unwrap();
    // A server that reads everything but never closes: it hands the open
    // connection back to the test, which holds it until the client is done.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut data = Vec::new();
        stream.read_to_end(&mut data).unwrap();
        (stream, data)
    });
    let (status, client) = send(addr, &input, &["--timeout", "0.5"]);
    assert_eq!(status.code(), Some(1), "{}", client.dump());
    assert!(
        client.stderr_text().contains("did not close"),
        "{}",
        client.dump()
    );
    let (_still_open, data) = holder.join().unwrap();
    assert_eq!(data, b"data");
}

#[test]
fn client_killed_mid_transfer_leaves_error_not_a_short_file() {
    let scratch = TempDir::new("accio-killed");
    let received = scratch.path().join("received");
    let (mut server, addr) = start_server(&received, &[]);
    // The client reads from a FIFO the test feeds, so it is surely still
    // sending when it is killed.
    let fifo = scratch.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let port = addr.port().to_string();
    let mut client = Proc::spawn(CLIENT, &["127.0.0.1", &port, fifo.to_str().unwrap()]);
    let mut feed = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    feed.write_all(&pseudo_random_bytes(100_000, 5)).unwrap();
    wait_for_file(&received.join(".1.file.part"));

    client.signal("KILL");
    client.expect_exit();
    // A plain close would have said "complete" after 100 kB; the client's
    // reset-on-close makes it a failed transfer instead.
    assert_error_file(&wait_for_file(&received.join("1.file")), "killed client");
    server.expect_stdout("1.file: ERROR");
    drop(feed);
    stop(&mut server, "TERM");
}

#[test]
fn client_gives_up_on_a_server_that_stops_reading() {
    let scratch = TempDir::new("accio-no-read");
    let input = scratch.path().join("input");
    std::fs::write(&input, pseudo_random_bytes(30_000_000, 8)).unwrap();
    // A server that accepts and then never reads: the socket buffers fill
    // up and the client's sends stall.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = std::thread::spawn(move || listener.accept().unwrap().0);
    let (status, client) = send(addr, &input, &["--timeout", "0.5"]);
    assert_eq!(status.code(), Some(1), "{}", client.dump());
    assert!(
        client.stderr_text().contains("took no data for 0.5 s"),
        "{}",
        client.dump()
    );
    drop(holder.join().unwrap());
}

#[test]
fn ipv6_loopback_works() {
    let scratch = TempDir::new("accio-v6");
    let received = scratch.path().join("received");
    let mut server = Proc::spawn(SERVER, &["--bind", "::1", "0", received.to_str().unwrap()]);
    let addr = server.wait_listening();
    assert!(addr.is_ipv6(), "{addr}");
    let input = scratch.path().join("input");
    let content = pseudo_random_bytes(300_000, 6);
    std::fs::write(&input, &content).unwrap();
    let port = addr.port().to_string();
    let (status, client) = run(CLIENT, &["::1", &port, input.to_str().unwrap()]);
    assert!(status.success(), "{}", client.dump());
    assert!(std::fs::read(received.join("1.file")).unwrap() == content);
    stop(&mut server, "TERM");
}
