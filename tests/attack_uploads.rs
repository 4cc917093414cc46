//! Attacks on uploads, played on loopback against the real binaries: no
//! upload may be lost or overwritten, and no write may go through a link.
//!
//! a5 accio: a restart on the same directory, two servers on one directory,
//! a second SIGTERM during slow uploads, a crash that leaves a `.part`, a
//! symlink planted at the temporary name, a directory the server cannot
//! write. a4 chat: two clients uploading the same name. Attackers connect
//! from other loopback addresses (127.0.0.2, 127.0.0.3, …).

mod common;

use common::{dir_entries, pseudo_random_bytes, Proc, TempDir, DEADLINE};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

const A5_SERVER: &str = env!("CARGO_BIN_EXE_a5-accio-server");
const A4_SERVER: &str = env!("CARGO_BIN_EXE_a4-chat-server");

/// Connects to `addr` from the loopback address 127.0.0.`host`.
fn connect_from(host: u8, addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)), 0);
    socket.bind(&local.into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    TcpStream::from(socket)
}

/// Starts an a5 server on 127.0.0.1 saving into `dir`.
fn start_a5(dir: &Path, extra: &[&str]) -> (Proc, SocketAddr) {
    let mut args = vec!["--bind", "127.0.0.1"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["0", dir.to_str().unwrap()]);
    let server = Proc::spawn(A5_SERVER, &args);
    let addr = server.wait_listening();
    (server, addr)
}

/// Uploads `content` to an a5 server as its client does (send, half-close,
/// wait for the server's close, which comes after the file is saved).
fn a5_upload(host: u8, addr: SocketAddr, content: &[u8]) {
    let mut stream = connect_from(host, addr);
    stream.write_all(content).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
}

/// Stops a server with SIGTERM and checks it exits 0.
fn stop(server: &mut Proc) {
    server.signal("TERM");
    let status = server.expect_exit();
    assert!(status.success(), "exit {status:?}; {}", server.dump());
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn a5_restart_on_the_same_directory_never_overwrites() {
    let dir = TempDir::new("attack-a5-restart");
    let first = pseudo_random_bytes(50_000, 1);
    let second = pseudo_random_bytes(60_000, 2);
    let (mut server, addr) = start_a5(dir.path(), &[]);
    a5_upload(2, addr, &first);
    stop(&mut server);
    let (mut server, addr) = start_a5(dir.path(), &[]);
    a5_upload(3, addr, &second);
    stop(&mut server);
    assert_eq!(dir_entries(dir.path()), ["1.file", "2.file"]);
    assert!(
        read(dir.path(), "1.file") == first,
        "the first upload changed"
    );
    assert!(read(dir.path(), "2.file") == second);
}

#[test]
fn a5_two_servers_on_one_directory_keep_every_upload() {
    const UPLOADS: u64 = 12;
    let dir = TempDir::new("attack-a5-two");
    let (mut one, addr_one) = start_a5(dir.path(), &[]);
    let (mut two, addr_two) = start_a5(dir.path(), &[]);
    let uploads: Vec<_> = (0..UPLOADS)
        .map(|n| {
            let addr = if n % 2 == 0 { addr_one } else { addr_two };
            thread::spawn(move || {
                let content = pseudo_random_bytes(20_000 + n as usize, 100 + n);
                a5_upload(2 + (n % 3) as u8, addr, &content);
                content
            })
        })
        .collect();
    let mut sent: Vec<Vec<u8>> = uploads.into_iter().map(|t| t.join().unwrap()).collect();
    stop(&mut one);
    stop(&mut two);
    let names = dir_entries(dir.path());
    assert_eq!(names.len() as u64, UPLOADS, "{names:?}");
    let mut saved: Vec<Vec<u8>> = names.iter().map(|name| read(dir.path(), name)).collect();
    sent.sort();
    saved.sort();
    assert!(
        saved == sent,
        "an upload was lost or overwritten: {names:?}"
    );
}

/// Opens an upload that sends `bytes` now and then nothing more, from 127.0.0.`host`.
fn unfinished_upload(host: u8, addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = connect_from(host, addr);
    stream.write_all(bytes).unwrap();
    stream
}

/// Waits until `dir` holds `count` entries.
fn wait_entries(dir: &Path, count: usize) {
    let until = Instant::now() + DEADLINE;
    while dir_entries(dir).len() < count {
        assert!(
            Instant::now() < until,
            "only {:?} appeared",
            dir_entries(dir)
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a5_second_sigterm_during_slow_uploads_leaves_error_files_and_no_part() {
    const SLOW: usize = 4;
    let dir = TempDir::new("attack-a5-double-term");
    let (mut server, addr) = start_a5(dir.path(), &["--grace", "30", "--idle-timeout", "30"]);
    let done = pseudo_random_bytes(10_000, 7);
    a5_upload(2, addr, &done);
    let slow: Vec<TcpStream> = (0..SLOW)
        .map(|n| unfinished_upload(3 + n as u8, addr, b"partial upload"))
        .collect();
    wait_entries(dir.path(), 1 + SLOW);
    server.signal("TERM");
    server
        .wait_stderr(|line| line.starts_with("Stopping:"), DEADLINE)
        .unwrap_or_else(|| panic!("no stopping notice; {}", server.dump()));
    // The first signal is handled (its notice is out): this one is the second.
    server.signal("TERM");
    let status = server.expect_exit();
    assert_eq!(status.code(), Some(130), "{}", server.dump());
    assert!(
        server
            .stderr_text()
            .contains(&format!("{SLOW} unfinished transfer(s) saved as ERROR")),
        "{}",
        server.dump()
    );
    let names = dir_entries(dir.path());
    let expected: Vec<String> = (1..=1 + SLOW).map(|n| format!("{n}.file")).collect();
    assert_eq!(names, expected, "hidden .part files or missing files");
    assert!(read(dir.path(), "1.file") == done);
    for name in &names[1..] {
        assert_eq!(read(dir.path(), name), b"ERROR", "{name}");
    }
    drop(slow);
}

#[test]
fn a5_a_killed_server_leaves_error_files_after_its_restart() {
    let dir = TempDir::new("attack-a5-killed");
    let (mut server, addr) = start_a5(dir.path(), &[]);
    let _slow = unfinished_upload(2, addr, b"half a file");
    wait_entries(dir.path(), 1);
    assert_eq!(dir_entries(dir.path()), [".1.file.part"]);
    server.signal("KILL");
    server.expect_exit();
    let (mut server, addr) = start_a5(dir.path(), &[]);
    assert_eq!(
        dir_entries(dir.path()),
        ["1.file"],
        "the .part was not recovered"
    );
    assert_eq!(read(dir.path(), "1.file"), b"ERROR");
    assert!(
        server
            .wait_stderr(|line| line.contains("1.file: ERROR"), DEADLINE)
            .is_some(),
        "no note about the recovered upload; {}",
        server.dump()
    );
    let next = pseudo_random_bytes(5_000, 3);
    a5_upload(3, addr, &next);
    stop(&mut server);
    assert!(read(dir.path(), "2.file") == next);
}

#[test]
fn a5_a_symlink_planted_at_the_temporary_name_is_never_followed() {
    let scratch = TempDir::new("attack-a5-symlink");
    let dir = scratch.path().join("files");
    std::fs::create_dir(&dir).unwrap();
    let outside = scratch.path().join("precious");
    std::fs::write(&outside, b"keep me").unwrap();
    // Planted before start-up: removed as not a regular file.
    std::os::unix::fs::symlink(&outside, dir.join(".1.file.part")).unwrap();
    let (mut server, addr) = start_a5(&dir, &[]);
    // Planted while the server runs, at the next temporary names.
    for n in 1..=3 {
        let _ = std::os::unix::fs::symlink(&outside, dir.join(format!(".{n}.file.part")));
    }
    let upload = pseudo_random_bytes(30_000, 4);
    a5_upload(2, addr, &upload);
    stop(&mut server);
    assert_eq!(
        std::fs::read(&outside).unwrap(),
        b"keep me",
        "written through the link"
    );
    let saved: Vec<String> = dir_entries(&dir)
        .into_iter()
        .filter(|name| name.ends_with(".file"))
        .collect();
    assert_eq!(saved.len(), 1, "{:?}", dir_entries(&dir));
    assert!(read(&dir, &saved[0]) == upload);
    assert!(
        std::fs::symlink_metadata(dir.join(&saved[0]))
            .unwrap()
            .file_type()
            .is_file(),
        "the upload was saved as a link"
    );
}

/// Makes `dir` unwritable in a way that holds for root too (root ignores
/// permission bits): the immutable attribute. Returns whether it worked.
fn make_unwritable(dir: &Path) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { geteuid() } == 0;
    if root {
        Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status()
            .is_ok_and(|status| status.success())
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).is_ok()
    }
}

extern "C" {
    fn geteuid() -> u32;
}

/// Undoes [`make_unwritable`] when dropped (also when the test fails), so
/// the directory can be removed.
struct Unwritable<'a>(&'a Path);

impl Drop for Unwritable<'_> {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(self.0).status();
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(self.0, std::fs::Permissions::from_mode(0o755));
    }
}

#[test]
fn a5_refuses_to_start_on_a_directory_it_cannot_write() {
    let scratch = TempDir::new("attack-a5-readonly");
    let dir = scratch.path().join("files");
    std::fs::create_dir(&dir).unwrap();
    let made = make_unwritable(&dir);
    let _restore = Unwritable(&dir);
    if !made {
        common::skip("cannot make a directory unwritable here (no chattr +i)");
        return;
    }
    // A probe: the directory must really refuse a new file, root or not.
    let probe = std::fs::File::create_new(dir.join("probe"));
    let mut server = Proc::spawn(
        A5_SERVER,
        &["--bind", "127.0.0.1", "0", dir.to_str().unwrap()],
    );
    let status = server.expect_exit();
    assert!(probe.is_err(), "the directory was still writable");
    assert_eq!(status.code(), Some(1), "{}", server.dump());
    let errors = server.stderr_lines();
    assert!(
        errors.len() == 1 && errors[0].starts_with("ERROR: cannot write files in "),
        "{}",
        server.dump()
    );
    assert!(!server.stdout_text().contains("Listening on"));
}

/// Uploads `content` as `name` to an a4 server from 127.0.0.`host` and
/// returns what the server told this client.
fn a4_upload(host: u8, addr: SocketAddr, name: &str, content: &[u8]) -> String {
    let mut stream = connect_from(host, addr);
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut message = format!("#upload '{name}' {}\n", content.len()).into_bytes();
    message.extend_from_slice(content);
    stream.write_all(&message).unwrap();
    let mut heard = Vec::new();
    let until = Instant::now() + Duration::from_secs(2);
    let mut buffer = [0u8; 4096];
    while Instant::now() < until {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => heard.extend_from_slice(&buffer[..count]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&heard).into_owned()
}

#[test]
fn a4_two_clients_uploading_the_same_name_both_keep_their_file() {
    let dir = TempDir::new("attack-a4-same-name");
    let upload_dir = dir.path().join("server");
    let server = Proc::spawn(
        A4_SERVER,
        &[
            "127.0.0.1",
            "0",
            "--upload-dir",
            upload_dir.to_str().unwrap(),
        ],
    );
    let addr = server.wait_listening();
    let first = pseudo_random_bytes(40_000, 5);
    let second = pseudo_random_bytes(30_000, 6);
    let heard_first = a4_upload(2, addr, "report.pdf", &first);
    let heard_second = a4_upload(3, addr, "report.pdf", &second);
    assert!(!heard_first.contains("already exists"), "{heard_first}");
    assert!(
        heard_second.contains(
            "> 'report.pdf' already exists on the server; your file was saved as 'report (1).pdf'"
        ),
        "{heard_second}"
    );
    assert_eq!(dir_entries(&upload_dir), ["report (1).pdf", "report.pdf"]);
    assert!(
        read(&upload_dir, "report.pdf") == first,
        "the first upload was replaced"
    );
    assert!(read(&upload_dir, "report (1).pdf") == second);
}
