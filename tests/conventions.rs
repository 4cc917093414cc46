//! The kit-wide conventions, checked across binaries: the same flags mean
//! the same thing everywhere (`--bind HOST --port 0 --json -q`), `--version`
//! names the binary, every server prints a summary on SIGTERM and exits 0,
//! a closed stdout never stops a server, UDP clients fail fast when no
//! server listens, and output paths are checked before a run.

mod common;

use common::{json, run, Proc, TempDir, DEADLINE};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Every binary.
const BINARIES: [&str; 17] = [
    env!("CARGO_BIN_EXE_a1-iperf-server"),
    env!("CARGO_BIN_EXE_a1-iperf-client"),
    env!("CARGO_BIN_EXE_a2-tcp-server"),
    env!("CARGO_BIN_EXE_a2-tcp-client"),
    env!("CARGO_BIN_EXE_a3-ping-server"),
    env!("CARGO_BIN_EXE_a3-ping-client"),
    env!("CARGO_BIN_EXE_a3-ramp-client"),
    env!("CARGO_BIN_EXE_a3-file-server"),
    env!("CARGO_BIN_EXE_a3-file-client"),
    env!("CARGO_BIN_EXE_a3-relay-server"),
    env!("CARGO_BIN_EXE_a3-relay-client"),
    env!("CARGO_BIN_EXE_a3-dual-server"),
    env!("CARGO_BIN_EXE_a3-dual-client"),
    env!("CARGO_BIN_EXE_a4-chat-server"),
    env!("CARGO_BIN_EXE_a4-chat-client"),
    env!("CARGO_BIN_EXE_a5-accio-server"),
    env!("CARGO_BIN_EXE_a5-accio-client"),
];

/// A server's command line beyond the shared flags, and the start of the
/// summary line it prints when stopped.
struct Server {
    program: &'static str,
    args: Vec<String>,
    summary: &'static str,
}

/// Every server, with what it needs to start in `dir`.
fn servers(dir: &TempDir) -> Vec<Server> {
    let file = dir.path().join("offered.txt");
    std::fs::write(&file, b"offered").unwrap();
    let path = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
    vec![
        Server {
            program: env!("CARGO_BIN_EXE_a1-iperf-server"),
            args: vec![],
            summary: "Server stopped: 0 test(s) served",
        },
        Server {
            program: env!("CARGO_BIN_EXE_a2-tcp-server"),
            args: vec![],
            summary: "Server stopped after 0 connection(s)",
        },
        Server {
            program: env!("CARGO_BIN_EXE_a3-ping-server"),
            args: vec![],
            summary: "Summary: 0 probes",
        },
        Server {
            program: env!("CARGO_BIN_EXE_a3-file-server"),
            args: vec![path(file)],
            summary: "Served 0 file(s)",
        },
        Server {
            program: env!("CARGO_BIN_EXE_a3-relay-server"),
            args: vec![],
            summary: "Relay stopped: 0 datagrams",
        },
        Server {
            program: env!("CARGO_BIN_EXE_a3-dual-server"),
            args: vec![],
            summary: "Server stopped: 0 connection(s)",
        },
        Server {
            program: env!("CARGO_BIN_EXE_a4-chat-server"),
            args: vec!["--upload-dir".into(), path(dir.path().join("uploads"))],
            summary: "Server stopped: 0 client(s) served",
        },
        Server {
            program: env!("CARGO_BIN_EXE_a5-accio-server"),
            args: vec!["0".into(), path(dir.path().join("received"))],
            summary: "Received 0 file(s)",
        },
    ]
}

/// The top-level keys of a JSON object, in order.
fn json_keys(text: &str) -> Vec<String> {
    json::parse(text)
        .keys()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The keys the "Keys" table of docs/json.md lists for `binary`.
fn readme_json_keys(binary: &str) -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md")).unwrap();
    let row = readme
        .lines()
        .find(|line| line.starts_with(&format!("| `{binary}` | `")))
        .unwrap_or_else(|| panic!("docs/json.md has no JSON keys row for {binary}"));
    let keys = row.splitn(3, '|').nth(2).unwrap();
    keys.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn name(program: &str) -> &str {
    program.rsplit('/').next().unwrap()
}

#[test]
fn version_names_the_binary() {
    for program in BINARIES {
        let (status, proc) = run(program, &["--version"]);
        assert!(status.success(), "{}", proc.dump());
        assert_eq!(
            proc.stdout_text(),
            format!("{} {}", name(program), env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn every_binary_takes_the_shared_output_flags() {
    for program in BINARIES {
        let (status, proc) = run(program, &["--help"]);
        assert!(status.success(), "{}", proc.dump());
        let help = proc.stdout_text();
        for flag in ["--quiet", "--verbose", "--json", "--version"] {
            assert!(help.contains(flag), "{} --help lacks {flag}", name(program));
        }
    }
}

#[test]
fn servers_take_the_same_flags_and_print_one_json_summary_on_sigterm() {
    let dir = TempDir::new("conventions-json");
    for server in servers(&dir) {
        let mut args: Vec<&str> = server.args.iter().map(String::as_str).collect();
        args.extend(["--bind", "localhost", "--port", "0", "--json", "-q"]);
        let mut proc = Proc::spawn(server.program, &args);
        // With --json the readiness line goes to stderr: stdout is the JSON's.
        proc.wait_stderr(|l| l.starts_with("Listening on "), DEADLINE)
            .unwrap_or_else(|| panic!("{} not ready; {}", name(server.program), proc.dump()));
        proc.signal("TERM");
        let status = proc.expect_exit();
        assert!(
            status.success(),
            "{}: {}",
            name(server.program),
            proc.dump()
        );
        let stdout = proc.stdout_lines();
        assert_eq!(stdout.len(), 1, "{}: {}", name(server.program), proc.dump());
        assert!(
            stdout[0].starts_with('{') && stdout[0].ends_with('}'),
            "{}: {}",
            name(server.program),
            stdout[0]
        );
        assert_eq!(
            json_keys(&stdout[0]),
            readme_json_keys(name(server.program)),
            "{}: docs/json.md's JSON keys differ from {}",
            name(server.program),
            stdout[0]
        );
    }
}

#[test]
fn idle_servers_print_their_summary_on_sigterm_and_exit_0() {
    let dir = TempDir::new("conventions-summary");
    for server in servers(&dir) {
        let mut args: Vec<&str> = server.args.iter().map(String::as_str).collect();
        args.extend(["--port", "0"]);
        let mut proc = Proc::spawn(server.program, &args);
        proc.wait_listening();
        proc.signal("TERM");
        let status = proc.expect_exit();
        assert!(
            status.success(),
            "{}: {}",
            name(server.program),
            proc.dump()
        );
        let last = proc.stdout_lines().last().cloned().unwrap_or_default();
        assert!(
            last.starts_with(server.summary),
            "{}: {}",
            name(server.program),
            proc.dump()
        );
    }
}

#[test]
fn servers_without_bind_take_ipv4_and_ipv6_clients() {
    if !common::ipv6_or_skip() {
        return;
    }
    let mut server = Proc::spawn(env!("CARGO_BIN_EXE_a3-dual-server"), &["--port", "0"]);
    let port = server.wait_listening().port();
    for host in ["127.0.0.1", "::1"] {
        let (status, client) = run(
            env!("CARGO_BIN_EXE_a3-dual-client"),
            &[host, &port.to_string(), "-n", "1"],
        );
        assert!(status.success(), "{host}: {}", client.dump());
    }
    server.signal("TERM");
    assert!(server.expect_exit().success());
}

#[test]
fn a_closed_stdout_does_not_stop_a_server() {
    let dir = TempDir::new("conventions-pipe");
    let file = dir.path().join("offered.txt");
    std::fs::write(&file, b"offered").unwrap();
    let (mut child, addr) = spawn_with_stdout_closed(
        env!("CARGO_BIN_EXE_a3-file-server"),
        &["0", file.to_str().unwrap(), "--bind", "127.0.0.1"],
    );
    // Each download makes the server print; it must keep serving.
    for round in 0..2 {
        let output = dir.path().join(format!("got-{round}"));
        let (status, client) = run(
            env!("CARGO_BIN_EXE_a3-file-client"),
            &[
                "127.0.0.1",
                &addr.port().to_string(),
                "-o",
                output.to_str().unwrap(),
            ],
        );
        assert!(status.success(), "round {round}: {}", client.dump());
        assert_eq!(std::fs::read(&output).unwrap(), b"offered");
    }
    assert!(child.try_wait().unwrap().is_none(), "the server died");
    assert!(stop(&mut child).success());
}

/// Starts `program` and reads its stdout up to the readiness line, then
/// closes the pipe (as `| head` would); returns the child and the address.
#[allow(clippy::zombie_processes)] // returned to the caller, who waits with `stop`
fn spawn_with_stdout_closed(program: &str, args: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{}: no readiness line", name(program));
        }
        if let Some(rest) = line.strip_prefix("Listening on ") {
            let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            return (child, addr);
        }
    }
}

/// Sends SIGTERM (unless the child has exited) and waits for its status.
fn stop(child: &mut Child) -> ExitStatus {
    if child.try_wait().unwrap().is_none() {
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
    }
    let until = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < until, "the child did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A UDP port on loopback where nothing listens (it was free a moment ago).
fn silent_udp_port() -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port().to_string()
}

#[test]
fn udp_clients_fail_fast_when_no_server_listens() {
    let port = silent_udp_port();
    let seed_args = [
        "-ip",
        "127.0.0.1",
        "-port",
        &port,
        "-n",
        "3",
        "-i",
        "0.5",
        "-s",
        "64",
    ];
    let clients: [(&str, Vec<&str>); 2] = [
        (env!("CARGO_BIN_EXE_a3-ping-client"), seed_args.to_vec()),
        (
            env!("CARGO_BIN_EXE_a3-ramp-client"),
            [&seed_args[..], &["--no-plot"]].concat(),
        ),
    ];
    for (program, args) in clients {
        let started = Instant::now();
        let (status, proc) = run(program, &args);
        assert_eq!(status.code(), Some(1), "{}", proc.dump());
        assert!(
            proc.stderr_text()
                .contains(&format!("error: no server at 127.0.0.1:{port}")),
            "{}",
            proc.dump()
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{}",
            name(program)
        );
    }

    let started = Instant::now();
    let (status, iperf) = run(
        env!("CARGO_BIN_EXE_a1-iperf-client"),
        &[
            "25",
            "--server",
            "localhost",
            "--port",
            &port,
            "--bind",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(status.code(), Some(1), "{}", iperf.dump());
    assert!(
        iperf
            .stderr_text()
            .contains(&format!("error: no server at 127.0.0.1:{port}")),
        "{}",
        iperf.dump()
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    let started = Instant::now();
    let mut relay = Proc::spawn(env!("CARGO_BIN_EXE_a3-relay-client"), &["127.0.0.1", &port]);
    relay.write_stdin("1\n");
    let status = relay.expect_exit();
    assert_eq!(status.code(), Some(1), "{}", relay.dump());
    assert!(
        relay.stderr_text().contains("no server at 127.0.0.1:"),
        "{}",
        relay.dump()
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn bad_output_paths_fail_before_the_run() {
    // No server is running: a check made after connecting would fail
    // with a network error instead.
    let port = silent_udp_port();
    let (status, ramp) = run(
        env!("CARGO_BIN_EXE_a3-ramp-client"),
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
            "--plot",
            "no-such-dir/r.svg",
        ],
    );
    assert_eq!(status.code(), Some(1), "{}", ramp.dump());
    assert!(
        ramp.stderr_text()
            .contains("cannot write no-such-dir/r.svg"),
        "{}",
        ramp.dump()
    );
    assert!(
        !ramp.stdout_text().contains("Calibrating"),
        "{}",
        ramp.dump()
    );

    let dir = TempDir::new("conventions-output");
    let (status, file) = run(
        env!("CARGO_BIN_EXE_a3-file-client"),
        &["127.0.0.1", "9", "-o", dir.path().to_str().unwrap()],
    );
    assert_eq!(status.code(), Some(1), "{}", file.dump());
    assert!(
        file.stderr_text().contains("it is a directory"),
        "{}",
        file.dump()
    );
}

#[test]
fn usage_errors_exit_2_and_runtime_errors_exit_1() {
    let (status, proc) = run(env!("CARGO_BIN_EXE_a2-tcp-server"), &["--timeout", "soon"]);
    assert_eq!(status.code(), Some(2), "{}", proc.dump());
    assert!(proc.stderr_text().starts_with("error: "), "{}", proc.dump());
    let (status, proc) = run(
        env!("CARGO_BIN_EXE_a3-ping-client"),
        &["-n", "1", "-i", "1", "-s", "8"],
    );
    assert_eq!(status.code(), Some(2), "{}", proc.dump());
    let (status, proc) = run(
        env!("CARGO_BIN_EXE_a3-file-server"),
        &["0", "no-such-file.bin", "--bind", "127.0.0.1"],
    );
    assert_eq!(status.code(), Some(1), "{}", proc.dump());
    assert!(proc.stderr_text().starts_with("error: "), "{}", proc.dump());
}

#[test]
fn quiet_keeps_the_result_and_json_replaces_it() {
    let mut server = Proc::spawn(
        env!("CARGO_BIN_EXE_a2-tcp-server"),
        &["--forever", "--bind", "127.0.0.1", "--port", "0"],
    );
    let port = server.wait_listening().port().to_string();
    let client = env!("CARGO_BIN_EXE_a2-tcp-client");
    let (status, quiet) = run(client, &["--server", "localhost", "--port", &port, "-q"]);
    assert!(status.success(), "{}", quiet.dump());
    assert_eq!(quiet.stdout_lines(), ["b'GET / HTT'"], "{}", quiet.dump());
    let (status, json) = run(client, &["127.0.0.1", &port, "--json"]);
    assert!(status.success(), "{}", json.dump());
    assert_eq!(
        json.stdout_lines(),
        [r#"{"reply":"GET / HTT","reply_bytes":9}"#],
        "{}",
        json.dump()
    );
    assert!(json.stderr_text().contains("Message sent successfully"));
    server.signal("TERM");
    assert!(server.expect_exit().success());
}

#[test]
fn no_server_dies_when_its_stdout_is_closed() {
    let dir = TempDir::new("conventions-closed");
    for server in servers(&dir) {
        let udp = ["iperf", "ping", "relay"]
            .iter()
            .any(|udp| server.program.contains(udp));
        let mut args: Vec<&str> = server.args.iter().map(String::as_str).collect();
        args.extend(["--bind", "127.0.0.1", "--port", "0", "-v"]);
        let (mut child, addr) = spawn_with_stdout_closed(server.program, &args);
        // Make the server print a few lines into the closed pipe.
        for _ in 0..3 {
            if udp {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket.send_to(b"hii", addr).unwrap();
            } else {
                // a2 serves one connection and exits (as its seed): later
                // connections may be refused.
                let _ = std::net::TcpStream::connect(addr);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(200));
        // A panic on the closed pipe would be status 101.
        let status = stop(&mut child);
        assert!(status.success(), "{}: {status:?}", name(server.program));
    }
}

/// The tests' JSON reader (tests/common/json.rs) itself: nesting, order,
/// escapes and surrogate pairs.
#[test]
fn the_json_reader_parses_nested_values_and_escapes() {
    let value = json::parse(
        r#" {"a": [1, -2.5e3, null, true], "b": {"c": "x\"\u00e9\ud83d\ude00y"}, "d": ""} "#,
    );
    assert_eq!(value.keys(), ["a", "b", "d"]);
    assert_eq!(value["a"].arr()[1].num(), -2500.0);
    assert_eq!(value["a"].arr()[2], json::Value::Null);
    assert_eq!(value["b"]["c"].str(), "x\"é😀y");
    assert_eq!(value["d"].str(), "");
}
