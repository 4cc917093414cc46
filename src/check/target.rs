//! The program under test as a case sees it: its command with the holes
//! filled, knowing when it is ready, and the [`Target`] a case talks to.
//!
//! A command runs as `sh -c COMMAND` after `{host}`, `{port}`, `{dir}` and
//! `{file}` are replaced, through [`process`](super::process): in its own
//! process group (so a signal reaches the shell and whatever it started, as
//! Ctrl-C at a terminal does), under resource limits, with the case's fresh
//! temporary directory as working directory and `PYTHONUNBUFFERED=1` (so a
//! Python program's output is not held back in a pipe); at the end of the
//! case every process it started is killed. Readiness is never a stdout line: a server is ready once its port
//! is bound — a listening TCP socket or a bound UDP socket in
//! `/proc/net/{tcp,udp}{,6}`, which does not disturb one-shot servers the way
//! a probe connection would — or, where `/proc` is missing, after a settle
//! time.

pub use super::process::{contains, Limits, Process, Record, SIGINT, SIGQUIT, SIGTERM};
use super::wire::{Context, Fail};
use super::{Needs, Transport};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server may take to bind its port.
const READY_WAIT: Duration = Duration::from_secs(10);
/// Used instead of port readiness where `/proc/net` cannot be read.
const SETTLE: Duration = Duration::from_millis(1500);

/// Where the program under test comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A shell command with `{host}`, `{port}`, `{dir}`, `{file}` holes.
    Command(String),
    /// A server that is already running.
    Address(SocketAddr),
}

/// Process groups started for running cases, so the runner can kill them
/// when a case overruns its time.
pub type Groups = Arc<Mutex<Vec<i32>>>;

/// What one case works with: the source of the program, its own temporary
/// directory (`{dir}`), an optional test file (`{file}`) and the processes
/// it started (killed when the context is dropped).
pub struct Ctx {
    source: Source,
    fixed_port: Option<u16>,
    transport: Transport,
    dir: PathBuf,
    file: Option<PathBuf>,
    targets: Vec<Target>,
    groups: Groups,
    limits: Limits,
}

static DIR_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Ctx {
    /// A context with a fresh temporary directory; programs start under
    /// `limits`.
    pub fn new(
        source: Source,
        fixed_port: Option<u16>,
        transport: Transport,
        groups: Groups,
        limits: Limits,
    ) -> std::io::Result<Ctx> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "socklab-check-{}-{}-{nanos}",
            std::process::id(),
            DIR_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
        })?;
        LIVE_DIRS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(dir.clone());
        Ok(Ctx {
            source,
            fixed_port,
            transport,
            dir,
            file: None,
            targets: Vec::new(),
            groups,
            limits,
        })
    }

    /// The case's temporary directory (`{dir}`, the command's working
    /// directory).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `bytes` to `{dir}/name` and makes it the `{file}`.
    pub fn set_file(&mut self, name: &str, bytes: &[u8]) -> Result<PathBuf, Fail> {
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).context(&format!("cannot write {}", path.display()))?;
        self.file = Some(path.clone());
        Ok(path)
    }

    /// Makes `{file}` a path in `{dir}` that does not exist.
    pub fn set_missing_file(&mut self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        self.file = Some(path.clone());
        path
    }

    /// Whether this run tests an already running server (`--addr`).
    pub fn is_address(&self) -> bool {
        matches!(self.source, Source::Address(_))
    }

    /// Starts the server (or, with `--addr`, returns the running one's
    /// address), waits until its port is bound, and returns the address to
    /// reach it at. `host` is `{host}`.
    pub fn start_server(&mut self, host: &str) -> Result<SocketAddr, Fail> {
        if let Source::Address(addr) = self.source {
            return Ok(addr);
        }
        let port = self.port_for(host)?;
        self.spawn(host, port)?;
        let transport = self.transport;
        self.wait_ready(transport, port)?;
        connect_address(host, port)
    }

    /// Starts the command with `{host}` and `{port}` as given and returns
    /// it, without waiting for anything.
    pub fn spawn(&mut self, host: &str, port: u16) -> Result<&mut Target, Fail> {
        let Source::Command(template) = self.source.clone() else {
            return Err(Fail::Skip(
                "needs to start the program (runs only with --cmd)".into(),
            ));
        };
        let file = match self.file.clone() {
            Some(file) => file,
            None => self.set_file("file.bin", &super::wire::test_bytes(65_536, 0))?,
        };
        let command = exec_simple(&substitute(&template, host, port, &self.dir, &file));
        let process = Process::spawn(&command, &self.dir, self.limits)
            .context(&format!("cannot start `sh -c {command}`"))?;
        let target = Target { process };
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(target.group());
        self.targets.push(target);
        Ok(self.targets.last_mut().expect("just pushed"))
    }

    /// Client role: listens on `{port}` (`--port` or a free one) at `host`
    /// and starts the client command; returns the listener.
    pub fn start_tcp_client(&mut self, host: &str) -> Result<TcpListener, Fail> {
        let port = self.port_for(host)?;
        let addr = connect_address(host, port)?;
        let listener = crate::net::bind_tcp(addr, &crate::net::SocketOptions::default())
            .context("the checker's server")?;
        self.spawn(host, port)?;
        Ok(listener)
    }

    /// Client role: binds a UDP socket on `{port}` at `host` and starts the
    /// client command; returns the socket.
    pub fn start_udp_client(&mut self, host: &str) -> Result<UdpSocket, Fail> {
        let port = self.port_for(host)?;
        let addr = connect_address(host, port)?;
        let socket = crate::net::bind_udp(addr, &crate::net::SocketOptions::default())
            .context("the checker's server")?;
        self.spawn(host, port)?;
        Ok(socket)
    }

    /// The process started last.
    pub fn target(&mut self) -> Result<&mut Target, Fail> {
        let address = self.is_address();
        match self.targets.last_mut() {
            Some(target) => Ok(target),
            None if address => Err(Fail::Skip(
                "needs its own process (not available with --addr)".into(),
            )),
            None => Err(Fail::problem("no process was started")),
        }
    }

    /// The port a freshly started program uses: `--port` if given, else a
    /// free one.
    pub fn port_for(&self, host: &str) -> Result<u16, Fail> {
        match self.fixed_port {
            Some(port) => {
                wait_port_free(self.transport, port);
                Ok(port)
            }
            None => free_port(self.transport, host),
        }
    }

    /// Waits until something binds `port` (see the module docs), failing
    /// early if the last started process exits first.
    pub fn wait_ready(&mut self, transport: Transport, port: u16) -> Result<(), Fail> {
        let started = Instant::now();
        let mut target = self.targets.last_mut();
        loop {
            match port_bound(transport, port) {
                Some(true) => {
                    // Give a program that binds and then prepares a moment.
                    std::thread::sleep(Duration::from_millis(50));
                    return Ok(());
                }
                None if started.elapsed() >= SETTLE => return Ok(()),
                _ => {}
            }
            if let Some(target) = target.as_deref_mut() {
                if let Some(status) = target.try_exit() {
                    return Err(Fail::problem(format!(
                        "the program exited ({status}) before binding port {port}{}",
                        target.stderr_tail()
                    )));
                }
            }
            if started.elapsed() >= READY_WAIT {
                return Err(Fail::problem(format!(
                    "nothing bound port {port} within {} s",
                    READY_WAIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last lines each started process printed, labelled (for `-v`).
    pub fn output_tail(&self) -> String {
        let mut text = String::new();
        for (n, target) in self.targets.iter().enumerate() {
            for (label, bytes) in [("stdout", target.stdout()), ("stderr", target.stderr())] {
                let lossy = String::from_utf8_lossy(&bytes);
                let lines: Vec<&str> = lossy.lines().collect();
                for line in &lines[lines.len().saturating_sub(8)..] {
                    let line: String = line.chars().take(160).collect();
                    text.push_str(&format!("process {} {label}: {line}\n", n + 1));
                }
            }
        }
        text
    }

    /// How each started process ended (kills what still runs).
    pub fn records(&mut self) -> Vec<Record> {
        self.targets.iter_mut().map(|t| t.record()).collect()
    }

    /// Kills every process this case started (also done on drop).
    pub fn stop_all(&mut self) {
        for target in &mut self.targets {
            target.kill();
        }
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        self.stop_all();
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.retain(|g| !self.targets.iter().any(|t| t.group() == *g));
        drop(groups);
        let _ = std::fs::remove_dir_all(&self.dir);
        LIVE_DIRS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|d| *d != self.dir);
    }
}

/// Whether a case may run with this source; the reason if not.
pub fn skip_reason(needs: Needs, source: &Source) -> Option<&'static str> {
    match (needs, source) {
        (Needs::Process, Source::Address(_)) => {
            Some("needs its own process (not available with --addr)")
        }
        _ => None,
    }
}

/// Replaces the `{host}`, `{port}`, `{dir}` and `{file}` holes.
pub fn substitute(template: &str, host: &str, port: u16, dir: &Path, file: &Path) -> String {
    template
        .replace("{host}", host)
        .replace("{port}", &port.to_string())
        .replace("{dir}", &dir.display().to_string())
        .replace("{file}", &file.display().to_string())
}

/// `exec COMMAND` for a simple command (no pipes, lists, redirections or
/// substitutions), so the shell becomes the program: its exit status and
/// its reaction to signals are then the program's own, not the shell's.
/// Leading `VAR=value` assignments stay in front (`VAR=1 prog` becomes
/// `VAR=1 exec prog`, which hands `VAR` to `prog`).
pub fn exec_simple(command: &str) -> String {
    if command.contains(['|', '&', ';', '<', '>', '(', ')', '`', '$', '\n']) {
        return command.to_string();
    }
    let words: Vec<&str> = command.split_whitespace().collect();
    let assignments = words.iter().take_while(|w| is_assignment(w)).count();
    if assignments == words.len() {
        return command.to_string();
    }
    let (vars, program) = words.split_at(assignments);
    let mut text: Vec<&str> = vars.to_vec();
    text.push("exec");
    text.extend_from_slice(program);
    text.join(" ")
}

/// Whether `word` is a shell variable assignment (`NAME=value`).
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The socket address for `{host}` (an IP literal) and `port`.
pub fn connect_address(host: &str, port: u16) -> Result<SocketAddr, Fail> {
    let ip: std::net::IpAddr = host
        .parse()
        .map_err(|_| Fail::problem(format!("{host:?} is not an IP address")))?;
    Ok(SocketAddr::new(ip, port))
}

/// A port that is free right now on all interfaces for `transport` (and on
/// `host`).
pub fn free_port(transport: Transport, host: &str) -> Result<u16, Fail> {
    let any = if host.contains(':') {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    for _ in 0..20 {
        let port = match transport {
            Transport::Tcp => TcpListener::bind(any).and_then(|l| l.local_addr()),
            Transport::Udp => UdpSocket::bind(any).and_then(|s| s.local_addr()),
        }
        .context("cannot find a free port")?
        .port();
        if port_bound(transport, port) != Some(true) {
            return Ok(port);
        }
    }
    Err(Fail::problem("cannot find a free port"))
}

/// Waits (up to 3 s) until nothing holds `port`: a program from the
/// previous case may take a moment to die.
fn wait_port_free(transport: Transport, port: u16) {
    let started = Instant::now();
    while port_bound(transport, port) == Some(true) && started.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a socket is bound to `port` (TCP: listening), from `/proc/net`;
/// `None` where that cannot be read.
pub fn port_bound(transport: Transport, port: u16) -> Option<bool> {
    let (files, listening_only) = match transport {
        Transport::Tcp => (["tcp", "tcp6"], true),
        Transport::Udp => (["udp", "udp6"], false),
    };
    let mut readable = false;
    for file in files {
        // This thread's network namespace (a case may run in its own).
        let Ok(table) = std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))
            .or_else(|_| std::fs::read_to_string(format!("/proc/net/{file}")))
        else {
            continue;
        };
        readable = true;
        if socket_table_has(&table, port, listening_only) {
            return Some(true);
        }
    }
    readable.then_some(false)
}

/// Whether a `/proc/net/{tcp,udp}` table lists a socket bound to `port`
/// (in TCP's LISTEN state, `0A`, if `listening_only`).
fn socket_table_has(table: &str, port: u16, listening_only: bool) -> bool {
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1).unwrap_or("");
        let state = fields.nth(1).unwrap_or("");
        let local_port = local
            .rsplit_once(':')
            .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok());
        local_port == Some(port) && (!listening_only || state == "0A")
    })
}

/// A started program as a case uses it: a [`Process`] whose errors are
/// case failures.
pub struct Target {
    process: Process,
}

impl Deref for Target {
    type Target = Process;

    fn deref(&self) -> &Process {
        &self.process
    }
}

impl DerefMut for Target {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}

impl Target {
    /// Types `text` into the program's standard input.
    pub fn type_text(&mut self, text: &str) -> Result<(), Fail> {
        self.process
            .type_text(text)
            .context("writing to the program's standard input")
    }

    /// Fails unless the program exits within `wait`; returns its status.
    pub fn expect_exit(&mut self, wait: Duration, what: &str) -> Result<ExitStatus, Fail> {
        self.wait_exit(wait).ok_or_else(|| {
            Fail::problem(format!(
                "{what}: still running after {:.1} s",
                wait.as_secs_f64()
            ))
        })
    }

    /// Fails if the program has exited (crashed); `what` says after what.
    pub fn expect_alive(&mut self, what: &str) -> Result<(), Fail> {
        match self.try_exit() {
            Some(status) => Err(Fail::problem(format!(
                "the program exited ({status}) after {what}{}",
                self.stderr_tail()
            ))),
            None => Ok(()),
        }
    }
}

/// Every case directory not yet removed, for [`kill_everything`].
static LIVE_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Kills every process the checker started and removes the case
/// directories (for its own Ctrl-C, so nothing is left behind).
pub fn kill_everything() {
    super::process::kill_everything();
    let mut dirs = LIVE_DIRS.lock().unwrap_or_else(|e| e.into_inner());
    for dir in dirs.drain(..) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Kills the process groups of a case that overran its time (the case's
/// own clean-up then finds what left the groups).
pub fn kill_groups(groups: &Groups) {
    for group in groups.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        super::process::kill_group(group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_filled() {
        let text = substitute(
            "srv {host} {port} {dir}/x {file} {port}",
            "::1",
            8080,
            Path::new("/tmp/d"),
            Path::new("/tmp/d/f.bin"),
        );
        assert_eq!(text, "srv ::1 8080 /tmp/d/x /tmp/d/f.bin 8080");
    }

    #[test]
    fn simple_commands_are_exec_ed() {
        assert_eq!(exec_simple("python3 srv.py 5"), "exec python3 srv.py 5");
        assert_eq!(
            exec_simple("echo f | python3 srv.py"),
            "echo f | python3 srv.py"
        );
        assert_eq!(exec_simple("cd x && ./srv"), "cd x && ./srv");
        assert_eq!(exec_simple("VAR=1 X_2=a prog b"), "VAR=1 X_2=a exec prog b");
        assert_eq!(exec_simple("VAR=1"), "VAR=1");
        assert_eq!(exec_simple("prog a=b"), "exec prog a=b");
    }

    #[test]
    fn socket_tables_are_read_by_port_and_state() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue\n\
           0: 0100007F:1F90 00000000:0000 0A 00000000:00000000\n\
           1: 0100007F:0050 0100007F:9C40 01 00000000:00000000\n";
        assert!(socket_table_has(table, 8080, true));
        assert!(!socket_table_has(table, 80, true));
        assert!(socket_table_has(table, 80, false));
        assert!(!socket_table_has(table, 81, false));
    }

    #[test]
    fn readiness_sees_a_bound_socket() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        if port_bound(Transport::Udp, port).is_some() {
            assert_eq!(port_bound(Transport::Udp, port), Some(true));
            drop(socket);
            assert_eq!(port_bound(Transport::Udp, port), Some(false));
        }
    }
}
