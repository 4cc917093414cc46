//! Helpers for integration tests that start the real binaries.
//!
//! - [`Proc::spawn`] starts a binary with piped stdio; a thread per stream
//!   collects its lines so a test can wait for a line with a deadline.
//! - [`Proc::wait_listening`] waits for the readiness line every server
//!   prints (`Listening on ADDR (proto)`) and returns the bound address, so
//!   tests bind port 0 and never guess a free port.
//! - Children are killed by PID when the [`Proc`] is dropped, so a failing
//!   test leaves nothing behind.
//! - [`skip`] records a test that could not check what it is for (no root,
//!   no IPv6 loopback): `make test` lists every such test with its reason.
//! - [`json`] is the one JSON reader for the binaries' `--json` objects.
#![allow(dead_code)] // each test binary uses its own subset

pub mod json;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The default deadline for anything a test waits on.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Lines collected from one output stream, with a condition variable so
/// waiters wake as soon as a line arrives.
#[derive(Default)]
struct Lines {
    lines: Mutex<(Vec<String>, bool)>,
    changed: Condvar,
}

impl Lines {
    fn collect(self: Arc<Self>, stream: impl Read + Send + 'static) {
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut raw = Vec::new();
            loop {
                raw.clear();
                match reader.read_until(b'\n', &mut raw) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&raw)
                            .trim_end_matches(['\n', '\r'])
                            .to_string();
                        self.lines.lock().unwrap().0.push(line);
                        self.changed.notify_all();
                    }
                }
            }
            self.lines.lock().unwrap().1 = true;
            self.changed.notify_all();
        });
    }

    fn wait_for(&self, pred: &dyn Fn(&str) -> bool, deadline: Duration) -> Option<String> {
        let until = Instant::now() + deadline;
        let mut guard = self.lines.lock().unwrap();
        loop {
            if let Some(line) = guard.0.iter().find(|l| pred(l)) {
                return Some(line.clone());
            }
            let now = Instant::now();
            if guard.1 || now >= until {
                return None;
            }
            guard = self.changed.wait_timeout(guard, until - now).unwrap().0;
        }
    }

    fn wait_closed(&self, deadline: Duration) -> bool {
        let until = Instant::now() + deadline;
        let mut guard = self.lines.lock().unwrap();
        while !guard.1 {
            let now = Instant::now();
            if now >= until {
                return false;
            }
            guard = self.changed.wait_timeout(guard, until - now).unwrap().0;
        }
        true
    }

    fn snapshot(&self) -> Vec<String> {
        self.lines.lock().unwrap().0.clone()
    }
}

/// A running binary with collected stdout/stderr, killed on drop.
pub struct Proc {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Lines>,
    stderr: Arc<Lines>,
    name: String,
}

impl Proc {
    /// Starts `program` with `args` in the current directory.
    pub fn spawn(program: &str, args: &[&str]) -> Proc {
        Self::spawn_in(program, args, None)
    }

    /// Starts `program` with `args` in `dir` (if given).
    pub fn spawn_in(program: &str, args: &[&str], dir: Option<&std::path::Path>) -> Proc {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let stdout = Arc::new(Lines::default());
        let stderr = Arc::new(Lines::default());
        stdout.clone().collect(child.stdout.take().unwrap());
        stderr.clone().collect(child.stderr.take().unwrap());
        Proc {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            name: program.rsplit('/').next().unwrap_or(program).to_string(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the `Listening on ADDR (proto)` line and returns ADDR.
    pub fn wait_listening(&self) -> SocketAddr {
        let line = self
            .wait_stdout(|l| l.starts_with("Listening on "), DEADLINE)
            .unwrap_or_else(|| {
                panic!(
                    "{} never printed its readiness line; {}",
                    self.name,
                    self.dump()
                )
            });
        let addr = line["Listening on ".len()..]
            .split_whitespace()
            .next()
            .unwrap();
        addr.parse()
            .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"))
    }

    /// Waits up to `deadline` for a stdout line matching `pred`.
    pub fn wait_stdout(&self, pred: impl Fn(&str) -> bool, deadline: Duration) -> Option<String> {
        self.stdout.wait_for(&pred, deadline)
    }

    /// Waits up to `deadline` for a stderr line matching `pred`.
    pub fn wait_stderr(&self, pred: impl Fn(&str) -> bool, deadline: Duration) -> Option<String> {
        self.stderr.wait_for(&pred, deadline)
    }

    /// Waits for a stdout line containing `text`, panicking with the output
    /// so far if it does not come within [`DEADLINE`].
    pub fn expect_stdout(&self, text: &str) -> String {
        self.wait_stdout(|l| l.contains(text), DEADLINE)
            .unwrap_or_else(|| panic!("{} never printed {text:?}; {}", self.name, self.dump()))
    }

    /// Writes `text` to the child's stdin.
    pub fn write_stdin(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Closes the child's stdin (EOF for the child).
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Sends a signal by name (`INT`, `TERM`, `QUIT`, `KILL`) to the child.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits up to `deadline` for the child to exit; `None` if it did not.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the collectors drain what the child wrote last.
                self.stdout.wait_closed(Duration::from_secs(2));
                self.stderr.wait_closed(Duration::from_secs(2));
                return Some(status);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for exit within [`DEADLINE`], panicking with the output if the
    /// child hangs.
    pub fn expect_exit(&mut self) -> ExitStatus {
        match self.wait_exit(DEADLINE) {
            Some(status) => status,
            None => panic!("{} did not exit in time; {}", self.name, self.dump()),
        }
    }

    /// Every stdout line so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.snapshot()
    }

    /// Every stderr line so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.snapshot()
    }

    /// All stdout so far as one string with newlines.
    pub fn stdout_text(&self) -> String {
        self.stdout.snapshot().join("\n")
    }

    /// All stderr so far as one string with newlines.
    pub fn stderr_text(&self) -> String {
        self.stderr.snapshot().join("\n")
    }

    /// The output so far, for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout_text(),
            self.stderr_text()
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `program` to completion (stdin closed) within [`DEADLINE`] and
/// returns its exit status and output.
pub fn run(program: &str, args: &[&str]) -> (ExitStatus, Proc) {
    run_in(program, args, None)
}

/// Like [`run`], in the working directory `dir`.
pub fn run_in(program: &str, args: &[&str], dir: Option<&std::path::Path>) -> (ExitStatus, Proc) {
    let mut proc = Proc::spawn_in(program, args, dir);
    proc.close_stdin();
    let status = proc.expect_exit();
    (status, proc)
}

/// A fresh, empty temporary directory for one test, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/socklab-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("socklab-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// The directory's path.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The names of the entries in `dir`, sorted.
pub fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Deterministic pseudo-random bytes (xorshift), for files whose content a
/// test checks byte for byte.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// The environment variable naming the file where [`skip`] records skipped
/// tests; `make test` sets it and lists the file's lines at the end.
pub const SKIP_LOG: &str = "SOCKLAB_SKIP_LOG";

/// Records that the running test could not check what it is for, and why.
///
/// The test still returns (libtest has no run-time skip), but the line
/// `BINARY::TEST: REASON` goes to the file named by [`SKIP_LOG`], which
/// `make test` lists as skipped, and to stderr (shown with `--nocapture`).
/// So a test never passes silently for lack of root or IPv6.
pub fn skip(reason: &str) {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| {
            stem.rsplit_once('-')
                .map_or(stem.clone(), |(name, _)| name.to_string())
        })
        .unwrap_or_default();
    let current = std::thread::current();
    let test = current.name().unwrap_or("?");
    let line = format!("{binary}::{test}: {reason}\n");
    if let Some(path) = std::env::var_os(SKIP_LOG) {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(e) = appended {
            panic!("cannot record the skip in {path:?}: {e}");
        }
    }
    eprint!("skipped {line}");
}

/// True when this machine has an IPv6 loopback; otherwise records the test
/// as skipped (see [`skip`]) and returns false.
pub fn ipv6_or_skip() -> bool {
    let present = std::net::UdpSocket::bind("[::1]:0").is_ok();
    if !present {
        skip("no IPv6 loopback on this machine");
    }
    present
}

/// A free UDP port on 127.0.0.1 (bound, then released).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Plays a seed a1 server on a plain socket for one test of the a1 client
/// `program` with `args`; returns each datagram's length and send time (ns,
/// from its header), asserting they arrive in order (loopback).
pub fn datagrams_of_an_a1_client(program: &str, args: &[&str]) -> Vec<(usize, u64)> {
    use socklab::a1_iperf::protocol::Header;
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(DEADLINE)).unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let mut all = vec!["--port", &port, "--bind", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut client = Proc::spawn(program, &all);
    let mut buffer = vec![0u8; 65_536];
    let (len, _) = server.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..len], b"START");
    let mut datagrams = Vec::new();
    for _ in 0..100_000 {
        let (len, from) = server.recv_from(&mut buffer).unwrap();
        if &buffer[..len] == b"STOP" {
            server
                .send_to(b"Throughput: 1.000 Kilobytes per second", from)
                .unwrap();
            break;
        }
        let header = Header::parse(&buffer[..len]).expect("a header");
        assert_eq!(header.sequence, datagrams.len() as u64, "in order");
        datagrams.push((len, header.sent_ns));
    }
    assert!(client.expect_exit().success(), "{}", client.dump());
    datagrams
}
