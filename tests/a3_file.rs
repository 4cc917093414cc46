//! a3 file: the real server and client binaries on loopback.
mod common;

use common::{dir_entries, pseudo_random_bytes, run_in, Proc, TempDir, DEADLINE};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

const SERVER: &str = env!("CARGO_BIN_EXE_a3-file-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_a3-file-client");
const OUTPUT: &str = "RECIEVED_FILE.txt";

/// Writes `content` to `dir/name` and returns the path.
fn source_file(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Starts a server on 127.0.0.1, port 0, offering `file`.
fn start_server(file: &Path, extra: &[&str]) -> (Proc, SocketAddr) {
    let file = file.to_str().unwrap();
    let mut args = vec!["0", file, "--bind", "127.0.0.1"];
    args.extend_from_slice(extra);
    let server = Proc::spawn(SERVER, &args);
    let addr = server.wait_listening();
    (server, addr)
}

/// Runs the client in `dir` against `addr`.
fn fetch_in(dir: &Path, addr: SocketAddr, extra: &[&str]) -> (ExitStatus, Proc) {
    let port = addr.port().to_string();
    let mut args = vec!["127.0.0.1", port.as_str()];
    args.extend_from_slice(extra);
    run_in(CLIENT, &args, Some(dir))
}

/// Waits until the client's temporary file in `dir` holds some bytes, so
/// a transfer is known to be under way.
fn wait_for_partial_file(dir: &Path) {
    let until = Instant::now() + DEADLINE;
    while Instant::now() < until {
        let partial = std::fs::read_dir(dir).unwrap().find_map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name.ends_with(".part")).then(|| entry.metadata().unwrap().len())
        });
        if partial.is_some_and(|len| len > 0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no partial download appeared in {}", dir.display());
}

#[test]
fn empty_one_byte_and_5mb_files_arrive_identical_every_time() {
    let dir = TempDir::new("a3-file-sizes");
    for (name, size) in [("empty", 0), ("one", 1), ("five-mb", 5_000_000)] {
        let content = pseudo_random_bytes(size, size as u64 + 7);
        let (_server, addr) = start_server(&source_file(dir.path(), name, &content), &[]);
        for run in 0..3 {
            let target = dir.path().join(format!("{name}-{run}"));
            std::fs::create_dir(&target).unwrap();
            let (status, client) = fetch_in(&target, addr, &[]);
            assert!(status.success(), "{name} run {run}: {}", client.dump());
            assert!(
                std::fs::read(target.join(OUTPUT)).unwrap() == content,
                "{name} run {run} differs"
            );
            client.expect_stdout("Successfully got the file");
            client.expect_stdout(&format!("Received {size} bytes"));
            assert_eq!(
                dir_entries(&target),
                [OUTPUT],
                "nothing else is left behind"
            );
        }
    }
}

#[test]
fn output_flag_names_the_file() {
    let dir = TempDir::new("a3-file-output");
    let content = pseudo_random_bytes(10_000, 3);
    let (_server, addr) = start_server(&source_file(dir.path(), "source", &content), &[]);
    let (status, client) = fetch_in(dir.path(), addr, &["-o", "copy.bin"]);
    assert!(status.success(), "{}", client.dump());
    assert!(std::fs::read(dir.path().join("copy.bin")).unwrap() == content);
    assert!(!dir.path().join(OUTPUT).exists());
}

#[test]
fn wrong_key_is_refused_and_the_server_keeps_serving() {
    let dir = TempDir::new("a3-file-key");
    let content = pseudo_random_bytes(1000, 5);
    let (server, addr) = start_server(&source_file(dir.path(), "source", &content), &[]);

    let target = dir.path().join("refused");
    std::fs::create_dir(&target).unwrap();
    let (status, client) = fetch_in(&target, addr, &["--key", "SECRET_KEZ"]);
    assert!(!status.success());
    client.expect_stdout("Authentication Error");
    assert!(
        dir_entries(&target).is_empty(),
        "a refused client writes nothing"
    );
    server.expect_stdout("wrong key");

    // On the wire: exactly AUTH_ERROR, then the server closes.
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(DEADLINE)).unwrap();
    raw.write_all(b"SECRET_KEYS").unwrap();
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"AUTH_ERROR");

    // A key shorter than the real one is refused too (once the client falls quiet).
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(DEADLINE)).unwrap();
    raw.write_all(b"SECRET").unwrap();
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"AUTH_ERROR");

    let (status, client) = fetch_in(dir.path(), addr, &[]);
    assert!(status.success(), "{}", client.dump());
    assert!(std::fs::read(dir.path().join(OUTPUT)).unwrap() == content);
}

#[test]
fn custom_key_on_both_sides() {
    let dir = TempDir::new("a3-file-custom-key");
    let content = pseudo_random_bytes(4096, 9);
    let (_server, addr) = start_server(
        &source_file(dir.path(), "source", &content),
        &["--key", "open sesame"],
    );
    let (status, client) = fetch_in(dir.path(), addr, &[]);
    assert!(
        !status.success(),
        "the default key must not open a custom-key server"
    );
    client.expect_stdout("Authentication Error");
    let (status, client) = fetch_in(dir.path(), addr, &["--key", "open sesame"]);
    assert!(status.success(), "{}", client.dump());
    assert!(std::fs::read(dir.path().join(OUTPUT)).unwrap() == content);
}

#[test]
fn auth_success_comes_alone_before_the_file() {
    let dir = TempDir::new("a3-file-wire");
    let content = pseudo_random_bytes(200_000, 11);
    let (_server, addr) = start_server(
        &source_file(dir.path(), "source", &content),
        &["--pause-ms", "1000"],
    );
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(DEADLINE)).unwrap();
    raw.write_all(b"SECRET_KEY").unwrap();
    // A 1024-byte read, as the seed client does: it must hold only the reply.
    let mut first = [0u8; 1024];
    let read = raw.read(&mut first).unwrap();
    assert_eq!(&first[..read], b"AUTH_SUCCESS");
    let mut rest = Vec::new();
    raw.read_to_end(&mut rest).unwrap();
    assert!(rest == content, "the file follows the reply, byte for byte");
}

#[test]
fn client_keeps_file_bytes_that_arrive_with_auth_success() {
    // A server that sends the reply and the file in one write: the seed
    // client would lose the file's first bytes here.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let content = pseudo_random_bytes(3000, 13);
    let served = content.clone();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut key = [0u8; 10];
        stream.read_exact(&mut key).unwrap();
        assert_eq!(&key, b"SECRET_KEY");
        let mut reply = b"AUTH_SUCCESS".to_vec();
        reply.extend_from_slice(&served);
        stream.write_all(&reply).unwrap();
    });
    let dir = TempDir::new("a3-file-race");
    let (status, client) = fetch_in(dir.path(), addr, &[]);
    server.join().unwrap();
    assert!(status.success(), "{}", client.dump());
    assert!(std::fs::read(dir.path().join(OUTPUT)).unwrap() == content);
}

#[test]
fn ten_concurrent_clients_get_identical_files() {
    let dir = TempDir::new("a3-file-ten");
    let content = pseudo_random_bytes(2_000_000, 17);
    let (server, addr) = start_server(&source_file(dir.path(), "source", &content), &[]);
    // A connected client that never sends its key must not hold up the others.
    let _silent = TcpStream::connect(addr).unwrap();
    let port = addr.port().to_string();
    let mut clients: Vec<(PathBuf, Proc)> = (0..10)
        .map(|n| {
            let target = dir.path().join(format!("client-{n}"));
            std::fs::create_dir(&target).unwrap();
            let client = Proc::spawn_in(CLIENT, &["127.0.0.1", &port], Some(&target));
            (target, client)
        })
        .collect();
    for (target, client) in &mut clients {
        let status = client.expect_exit();
        assert!(status.success(), "{}", client.dump());
        assert!(
            std::fs::read(target.join(OUTPUT)).unwrap() == content,
            "{} differs",
            target.display()
        );
    }
    let until = Instant::now() + DEADLINE;
    while server
        .stdout_lines()
        .iter()
        .filter(|l| l.starts_with("File sent successfully"))
        .count()
        < 10
    {
        assert!(
            Instant::now() < until,
            "server did not report ten transfers: {}",
            server.dump()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn silent_client_is_dropped_after_the_timeout() {
    let dir = TempDir::new("a3-file-idle");
    let (server, addr) = start_server(
        &source_file(dir.path(), "source", b"data"),
        &["--timeout", "1"],
    );
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).unwrap();
    assert!(
        reply.is_empty(),
        "a silent client gets no reply, only a close"
    );
    server.expect_stdout("no key received");
}

#[test]
fn killed_server_leaves_no_received_file() {
    let dir = TempDir::new("a3-file-killed");
    let content = pseudo_random_bytes(5_000_000, 19);
    // 8 Mbit/s: the 5 MB take five seconds, so the kill lands mid-transfer.
    let (server, addr) = start_server(
        &source_file(dir.path(), "source", &content),
        &["--rate", "8M"],
    );
    let target = dir.path().join("client");
    std::fs::create_dir(&target).unwrap();
    let port = addr.port().to_string();
    let mut client = Proc::spawn_in(CLIENT, &["127.0.0.1", &port], Some(&target));
    wait_for_partial_file(&target);
    server.signal("KILL");
    let status = client.expect_exit();
    assert!(
        !status.success(),
        "a cut-off transfer must fail: {}",
        client.dump()
    );
    assert!(
        client.stderr_text().contains("broke off"),
        "{}",
        client.dump()
    );
    assert!(
        dir_entries(&target).is_empty(),
        "left behind: {:?}",
        dir_entries(&target)
    );
}

#[test]
fn ctrl_c_stops_the_server_mid_transfer_and_the_client_keeps_nothing() {
    let dir = TempDir::new("a3-file-interrupt");
    let content = pseudo_random_bytes(5_000_000, 23);
    let (mut server, addr) = start_server(
        &source_file(dir.path(), "source", &content),
        &["--rate", "8M"],
    );
    let target = dir.path().join("client");
    std::fs::create_dir(&target).unwrap();
    let port = addr.port().to_string();
    let mut client = Proc::spawn_in(CLIENT, &["127.0.0.1", &port], Some(&target));
    wait_for_partial_file(&target);
    server.signal("INT");
    let status = server.expect_exit();
    assert!(status.success(), "{}", server.dump());
    server.expect_stdout("Served 0 file(s)");
    assert!(
        server.stdout_text().contains("failed 1"),
        "{}",
        server.dump()
    );
    assert!(!client.expect_exit().success());
    assert!(
        dir_entries(&target).is_empty(),
        "left behind: {:?}",
        dir_entries(&target)
    );
}

#[test]
fn missing_path_is_asked_for_on_stdin() {
    let dir = TempDir::new("a3-file-prompt");
    let content = pseudo_random_bytes(1234, 29);
    let file = source_file(dir.path(), "source", &content);
    let mut server = Proc::spawn(SERVER, &["0", "--bind", "127.0.0.1"]);
    server.write_stdin(&format!("{}\n", file.display()));
    let addr = server.wait_listening();
    server.expect_stdout("Enter the file path: ");
    let (status, client) = fetch_in(dir.path(), addr, &[]);
    assert!(status.success(), "{}", client.dump());
    assert!(std::fs::read(dir.path().join(OUTPUT)).unwrap() == content);
}

#[test]
fn unreadable_path_gets_the_seed_message() {
    let dir = TempDir::new("a3-file-bad-path");
    let missing = dir.path().join("no-such-file");
    let (status, server) = run_in(SERVER, &["0", missing.to_str().unwrap()], None);
    assert!(!status.success());
    assert!(
        server
            .stderr_text()
            .contains("Please make sure you have entered the correct path"),
        "{}",
        server.dump()
    );
    let (status, server) = run_in(SERVER, &["0", dir.path().to_str().unwrap()], None);
    assert!(
        !status.success(),
        "a directory is not a file: {}",
        server.dump()
    );
}

#[test]
fn once_serves_one_client_then_exits() {
    let dir = TempDir::new("a3-file-once");
    let content = pseudo_random_bytes(50_000, 31);
    let (mut server, addr) =
        start_server(&source_file(dir.path(), "source", &content), &["--once"]);
    let (status, client) = fetch_in(dir.path(), addr, &[]);
    assert!(status.success(), "{}", client.dump());
    assert!(server.expect_exit().success(), "{}", server.dump());
    server.expect_stdout("Served 1 file(s)");
}

#[test]
fn verbose_prints_the_seed_dump() {
    let dir = TempDir::new("a3-file-verbose");
    let (_server, addr) = start_server(&source_file(dir.path(), "source", b"hi\n'there'"), &[]);
    let (status, client) = fetch_in(dir.path(), addr, &["--verbose"]);
    assert!(status.success(), "{}", client.dump());
    client.expect_stdout(r#"Received Data :  b"hi\n'there'""#);
    client.expect_stdout("Received Data :  b''");
    let (_, quiet) = fetch_in(dir.path(), addr, &[]);
    assert!(
        !quiet.stdout_text().contains("Received Data"),
        "{}",
        quiet.dump()
    );
}

#[test]
fn clients_over_the_limit_are_closed_and_served_once_there_is_room() {
    let dir = TempDir::new("a3-file-limit");
    let content = pseudo_random_bytes(1000, 37);
    let (server, addr) = start_server(
        &source_file(dir.path(), "source", &content),
        &["--max-clients", "1"],
    );
    let silent = TcpStream::connect(addr).unwrap();
    server.expect_stdout("Got a new connection");
    let (status, client) = fetch_in(dir.path(), addr, &[]);
    assert!(!status.success(), "{}", client.dump());
    assert!(
        client.stderr_text().contains("no answer to the key"),
        "{}",
        client.dump()
    );
    server
        .wait_stderr(|l| l.contains("already serving 1 clients"), DEADLINE)
        .expect("the server reports the limit");
    drop(silent);
    server.expect_stdout("no key received");
    // The slot frees once the silent client's thread has ended.
    let until = Instant::now() + DEADLINE;
    loop {
        let (status, _) = fetch_in(dir.path(), addr, &[]);
        if status.success() {
            break;
        }
        assert!(
            Instant::now() < until,
            "never served after the slot freed: {}",
            server.dump()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(std::fs::read(dir.path().join(OUTPUT)).unwrap() == content);
}
