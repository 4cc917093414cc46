//! The interop matrix (`--matrix`): for each assignment with both roles in
//! the course, every submission's server against every submission's
//! client, plus socklab's own server and client as a reference row and
//! column, in the spirit of the QUIC interop runner.
//!
//! A cell starts the server (in a network namespace of its own when the
//! machine allows it), waits until its port is bound, runs the client
//! against it with its standard input closed, and passes when the client
//! exits with status 0 within 20 s and its wire exchange shows: the a2
//! client printed the half-echo reply, the file client's
//! `RECIEVED_FILE.txt` is the served file. The cell's log says what each
//! side did. (The ramp client is paired with the ping servers.)

use super::course::Program;
use super::grade::{port_turn, Grading, Submission};
use super::model::MatrixCell;
use crate::check::process::{contains, isolate_thread, Process};
use crate::check::target::{exec_simple, free_port, port_bound, substitute};
use crate::check::wire::test_bytes;
use crate::check::{Assignment, Role};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Name of the reference implementation's row and column.
pub const REFERENCE: &str = "socklab";

/// How long a client may take.
const CLIENT_WAIT: Duration = Duration::from_secs(20);

/// One side of a cell: whose program, its command and fixed port.
#[derive(Clone)]
struct Side {
    name: String,
    command: String,
    port: Option<u16>,
}

/// A cell to run.
struct Pairing {
    assignment: Assignment,
    server: Side,
    client: Side,
}

/// Runs the matrix: servers of `mine` (and the reference server when
/// `reference`) against clients of `all` and the reference client.
pub fn run(
    course: &[Program],
    all: &[Submission],
    mine: &[Submission],
    grading: &Grading,
    reference: bool,
) -> Vec<MatrixCell> {
    let mut pairings = Vec::new();
    for client_line in course.iter().filter(|p| p.role == Role::Client) {
        let server_assignment = match client_line.assignment {
            Assignment::Ramp => Assignment::Ping,
            other => other,
        };
        let Some(server_line) = course
            .iter()
            .find(|p| p.assignment == server_assignment && p.role == Role::Server)
        else {
            continue;
        };
        let mut servers = sides(server_line, mine);
        let mut clients = sides(client_line, all);
        if let Some(own) = reference_command(server_assignment, Role::Server).filter(|_| reference)
        {
            servers.insert(0, own);
        }
        if let Some(own) = reference_command(client_line.assignment, Role::Client) {
            clients.insert(0, own);
        }
        for server in &servers {
            for client in &clients {
                pairings.push(Pairing {
                    assignment: client_line.assignment,
                    server: server.clone(),
                    client: client.clone(),
                });
            }
        }
    }
    run_pairings(pairings, grading)
}

/// The present programs of `line` among `submissions`.
fn sides(line: &Program, submissions: &[Submission]) -> Vec<Side> {
    submissions
        .iter()
        .filter(|s| line.missing_path(&s.path).is_none())
        .map(|s| Side {
            name: s.name.clone(),
            command: line.command_for(&s.path),
            port: line.port,
        })
        .collect()
}

/// socklab's own program for a target, from the directory of this binary.
fn reference_command(assignment: Assignment, role: Role) -> Option<Side> {
    let dir = std::env::current_exe().ok()?.parent()?.to_path_buf();
    let (binary, args) = match (assignment, role) {
        (Assignment::A1, Role::Server) => ("a1-iperf-server", "--forever --port {port}"),
        (Assignment::A1, Role::Client) => {
            ("a1-iperf-client", "25 --port {port} --bind 127.0.0.1:0")
        }
        (Assignment::A2, Role::Server) => ("a2-tcp-server", "--forever {port}"),
        (Assignment::A2, Role::Client) => ("a2-tcp-client", "{host} {port} --timeout 3"),
        (Assignment::Ping, Role::Server) => ("a3-ping-server", "-p {port}"),
        (Assignment::Ping, Role::Client) => (
            "a3-ping-client",
            "-ip {host} -port {port} -n 5 -i 0.3 -s 64",
        ),
        (Assignment::Ramp, Role::Client) => (
            "a3-ramp-client",
            "-ip {host} -p {port} -n 10 -i 0.3 -s 64 --no-plot",
        ),
        (Assignment::File, Role::Server) => ("a3-file-server", "{port} {file}"),
        (Assignment::File, Role::Client) => ("a3-file-client", "{host} {port}"),
        (Assignment::Relay, Role::Server) => ("a3-relay-server", "{port}"),
        (Assignment::Relay, Role::Client) => ("a3-relay-client", "{host} {port} --timeout 2"),
        (Assignment::Dual, Role::Server) => ("a3-dual-server", "{host} {port}"),
        (Assignment::Dual, Role::Client) => ("a3-dual-client", "{host} {port}"),
        (Assignment::Chat, Role::Server) => ("a4-chat-server", "{host} {port}"),
        (Assignment::Chat, Role::Client) => ("a4-chat-client", "{host} {port}"),
        (Assignment::Accio, Role::Server) => ("a5-accio-server", "{port} {dir}/files"),
        (Assignment::Accio, Role::Client) => ("a5-accio-client", "{host} {port} {file}"),
        (Assignment::Ramp, Role::Server) => return None,
    };
    let path = dir.join(binary);
    path.exists().then(|| Side {
        name: REFERENCE.into(),
        command: format!("{} {args}", path.display()),
        port: None,
    })
}

fn run_pairings(pairings: Vec<Pairing>, grading: &Grading) -> Vec<MatrixCell> {
    let queue = Mutex::new(pairings.into_iter().collect::<VecDeque<_>>());
    let cells = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for n in 0..grading.jobs.max(1) {
            let (queue, cells) = (&queue, &cells);
            let spawned = std::thread::Builder::new()
                .name(format!("matrix-{n}"))
                .spawn_scoped(scope, move || loop {
                    let Some(pairing) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
                    else {
                        break;
                    };
                    let cell = run_cell(&pairing, grading);
                    cells.lock().unwrap_or_else(|e| e.into_inner()).push(cell);
                });
            if let Err(e) = spawned {
                crate::output::warn(format_args!("warning: cannot start a matrix thread: {e}"));
            }
        }
    });
    cells.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// Runs one cell on a thread of its own (its network namespace dies with
/// the thread).
fn run_cell(pairing: &Pairing, grading: &Grading) -> MatrixCell {
    let isolate = grading.isolate;
    let limits = grading.limits;
    let outcome = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("matrix-cell".into())
            .spawn_scoped(scope, move || {
                if isolate {
                    isolate_thread().map_err(|e| format!("cannot isolate the cell: {e}"))?;
                }
                exchange(pairing, limits, isolate)
            })
            .map_err(|e| e.to_string())
            .and_then(|h| h.join().map_err(|_| "the cell panicked".to_string()))
            .and_then(|r| r)
    });
    let (passed, log) = match outcome {
        Ok(log) => (true, log),
        Err(log) => (false, log),
    };
    MatrixCell {
        assignment: pairing.assignment.name().to_string(),
        server: pairing.server.name.clone(),
        client: pairing.client.name.clone(),
        passed,
        log,
    }
}

/// Runs the server and the client; `Ok(log)` when the exchange worked.
fn exchange(
    pairing: &Pairing,
    limits: crate::check::process::Limits,
    isolated: bool,
) -> Result<String, String> {
    let transport = match pairing.assignment {
        Assignment::Ramp => Assignment::Ping.transport(),
        other => other.transport(),
    };
    let port = cell_port(pairing, transport)?;
    let turn = (!isolated).then(|| port_turn(port));
    let _turn = turn
        .as_ref()
        .map(|t| t.lock().unwrap_or_else(|e| e.into_inner()));
    let dir = tempdir()?;
    let file = dir.path.join("file.bin");
    let content = test_bytes(65_536, 7);
    std::fs::write(&file, &content).map_err(|e| e.to_string())?;
    let fill =
        |command: &str| exec_simple(&substitute(command, "127.0.0.1", port, &dir.path, &file));
    let mut server = Process::spawn(&fill(&pairing.server.command), &dir.path, limits)
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let started = Instant::now();
    while port_bound(transport, port) == Some(false) {
        if started.elapsed() > Duration::from_secs(10) || server.try_exit().is_some() {
            return Err(format!(
                "the server never bound port {port}{}",
                server.stderr_tail()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut client = Process::spawn(&fill(&pairing.client.command), &dir.path, limits)
        .map_err(|e| format!("cannot start the client: {e}"))?;
    client.close_stdin();
    let status = client.wait_exit(CLIENT_WAIT);
    let log = format!(
        "server: {}\nclient: {}\nclient exit: {}\nclient stdout: {}\nclient stderr: {}",
        server.command(),
        client.command(),
        status.map_or("still running after 20 s (killed)".into(), |s| s
            .to_string()),
        tail(&client.stdout()),
        tail(&client.stderr())
    );
    client.kill();
    server.kill();
    let worked = status.is_some_and(|s| s.success()) && exchanged(pairing, &client, &dir, &content);
    if worked {
        Ok(log)
    } else {
        Err(log)
    }
}

/// The port of a cell: the server's fixed one, else the client's, else a
/// free one.
fn cell_port(pairing: &Pairing, transport: crate::check::Transport) -> Result<u16, String> {
    match (pairing.server.port, pairing.client.port) {
        (Some(s), Some(c)) if s != c => Err(format!("the server uses port {s}, the client {c}")),
        (Some(p), _) | (None, Some(p)) => Ok(p),
        (None, None) => free_port(transport, "127.0.0.1").map_err(|e| e.describe()),
    }
}

/// Whether the client's side shows the exchange (beyond its exit status).
fn exchanged(pairing: &Pairing, client: &Process, dir: &TempDir, content: &[u8]) -> bool {
    match pairing.assignment {
        Assignment::A2 => contains(&client.stdout(), "b'GET / HTT'"),
        Assignment::File => {
            std::fs::read(dir.path.join("RECIEVED_FILE.txt")).is_ok_and(|got| got == content)
        }
        _ => true,
    }
}

fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(600);
    String::from_utf8_lossy(&bytes[start..])
        .trim_end()
        .to_string()
}

/// A temporary directory removed on drop.
struct TempDir {
    path: std::path::PathBuf,
}

fn tempdir() -> Result<TempDir, String> {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("socklab-matrix-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    Ok(TempDir { path })
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The cells in report order: assignments in course order, the reference
/// first, then submissions by name.
pub fn sorted(cells: Vec<MatrixCell>, course: &[Program]) -> Vec<MatrixCell> {
    let labels: Vec<(String, u64)> = course.iter().map(|p| (p.label(), p.points)).collect();
    sorted_by_labels(cells, &labels)
}

/// [`sorted`] from the course's labels (as a store has them).
pub fn sorted_by_labels(mut cells: Vec<MatrixCell>, labels: &[(String, u64)]) -> Vec<MatrixCell> {
    let rank = |assignment: &str| {
        labels
            .iter()
            .position(|(l, _)| l == &format!("{assignment} client"))
            .unwrap_or(usize::MAX)
    };
    let who = |name: &str| (name != REFERENCE, name.to_string());
    cells.sort_by(|a, b| {
        (rank(&a.assignment), who(&a.server), who(&a.client)).cmp(&(
            rank(&b.assignment),
            who(&b.server),
            who(&b.client),
        ))
    });
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn cells_sort_reference_first_in_course_order() {
        let cell = |a: &str, s: &str, c: &str| MatrixCell {
            assignment: a.into(),
            server: s.into(),
            client: c.into(),
            passed: true,
            log: String::new(),
        };
        let labels = vec![("a2 client".to_string(), 1), ("a1 client".to_string(), 1)];
        let cells = sorted_by_labels(
            vec![
                cell("a1", "bob", "ann"),
                cell("a2", "bob", "ann"),
                cell("a2", REFERENCE, "ann"),
                cell("a2", "ann", REFERENCE),
            ],
            &labels,
        );
        let order: Vec<(&str, &str, &str)> = cells
            .iter()
            .map(|c| (c.assignment.as_str(), c.server.as_str(), c.client.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("a2", REFERENCE, "ann"),
                ("a2", "ann", REFERENCE),
                ("a2", "bob", "ann"),
                ("a1", "bob", "ann")
            ]
        );
    }

    #[test]
    fn paths_do_not_leak() {
        let dir = tempdir().unwrap();
        let path = dir.path.clone();
        assert!(Path::new(&path).is_dir());
        drop(dir);
        assert!(!path.exists());
    }
}
