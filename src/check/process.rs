//! # Programs under test: started, limited, isolated, contained
//!
//! A program under test may be broken or hostile, so everything the
//! grader does with one is bounded:
//!
//! - It runs as `sh -c COMMAND` (any shell command line, `VAR=value prog
//!   args` included) in its own process group, with `PYTHONUNBUFFERED=1`
//!   and a tag in its environment that its descendants inherit.
//! - Before `exec` the child gets [`Limits`]: memory, processes, open files
//!   and CPU seconds (`setrlimit`), with defaults a normal submission never
//!   meets.
//! - Its stdout and stderr are read by two threads that keep only the first
//!   64 KiB and the last 1 MiB, so a program that floods its output costs
//!   the grader bounded memory.
//! - [`Process::kill`] ends every descendant, not only the process group:
//!   the grader is the kernel's child subreaper ([`become_subreaper`]), so a
//!   helper that left with `setsid` or a double fork is re-parented to the
//!   grader, found in `/proc` by its tag (or by its network namespace) and
//!   killed, and every orphan is reaped.
//! - [`isolate_thread`] moves the calling thread into a network namespace
//!   of its own with its own loopback; what that thread starts and the
//!   sockets it opens live there, so fixed ports never collide.
//!
//! Nothing here knows about cases: the checker's [`Ctx`](super::Ctx) and
//! a test harness can both start programs with it.

use super::sys;
use std::collections::{HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// SIGINT, as Ctrl-C at a terminal sends.
pub const SIGINT: i32 = 2;
/// SIGQUIT.
pub const SIGQUIT: i32 = 3;
/// SIGTERM.
pub const SIGTERM: i32 = 15;

/// The environment variable that tags a program and its descendants.
const TAG_VARIABLE: &str = "SOCKLAB_CHECK_TAG";

/// Resource limits for one program under test (each applies to the
/// program and, as the kernel counts them, to what it starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Data and private writable memory, MiB.
    pub memory_mib: u64,
    /// Processes of the user (the kernel counts them per user namespace).
    pub processes: u64,
    /// Open file descriptors.
    pub open_files: u64,
    /// CPU seconds.
    pub cpu_seconds: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_mib: 2048,
            processes: 1024,
            open_files: 1024,
            cpu_seconds: 120,
        }
    }
}

/// How programs are kept apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// Every case runs in a network namespace of its own.
    Namespaces,
    /// No namespaces here (the reason); programs share the host's network.
    Shared(String),
}

/// Prepares network namespaces for [`isolate_thread`]: as root directly;
/// otherwise by moving the grader into a user namespace of its own, which
/// only works while the process is still single-threaded (call it first
/// thing in `main`). Says which isolation is available.
pub fn prepare_isolation() -> Isolation {
    if !sys::is_root() {
        if let Err(e) = sys::enter_user_namespace() {
            return Isolation::Shared(format!("no user namespace ({e})"));
        }
    }
    // Probe on a thread of its own: the namespace dies with it.
    let probe = std::thread::Builder::new()
        .name("check-netns-probe".into())
        .spawn(isolate_thread)
        .map_err(|e| e.to_string())
        .and_then(|handle| {
            handle
                .join()
                .map_err(|_| "the probe panicked".to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
        });
    match probe {
        Ok(()) => Isolation::Namespaces,
        Err(e) => Isolation::Shared(format!("no network namespace ({e})")),
    }
}

/// Moves the calling thread into a new network namespace with its loopback
/// up (see [`prepare_isolation`]).
pub fn isolate_thread() -> io::Result<()> {
    sys::enter_network_namespace()
}

/// Makes the grader the reaper of orphaned descendants, so
/// [`Process::kill`] can find helpers that left the process group.
pub fn become_subreaper() -> io::Result<()> {
    sys::become_subreaper()
}

/// Registered program pids (direct children the grader waits for itself),
/// guarded together with spawning so an orphan reaper never takes one.
static ROOTS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static TAGS: AtomicU64 = AtomicU64::new(0);

/// A started program: its process group, standard input, and the kept
/// part of what it printed.
pub struct Process {
    child: Child,
    pid: i32,
    tag: String,
    netns: Option<String>,
    command: String,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Kept>>,
    stderr: Arc<Mutex<Kept>>,
    status: Option<ExitStatus>,
    killed: bool,
    contained: bool,
}

impl Process {
    /// Starts `sh -c command` in `dir` under `limits`.
    pub fn spawn(command: &str, dir: &Path, limits: Limits) -> io::Result<Process> {
        let tag = format!(
            "{}.{}",
            sys::own_pid(),
            TAGS.fetch_add(1, Ordering::Relaxed)
        );
        let mut builder = Command::new("sh");
        builder
            .arg("-c")
            .arg(command)
            .current_dir(dir)
            .env("PYTHONUNBUFFERED", "1")
            .env(TAG_VARIABLE, &tag)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: the closure only calls setrlimit/getrlimit, which are
        // async-signal-safe, between fork and exec.
        unsafe {
            builder.pre_exec(move || apply_limits(limits));
        }
        let mut roots = ROOTS.lock().unwrap_or_else(|e| e.into_inner());
        let mut child = builder.spawn()?;
        let pid = i32::try_from(child.id()).map_err(|_| io::Error::other("pid out of range"))?;
        roots.push(pid);
        drop(roots);
        let stdout = Arc::new(Mutex::new(Kept::default()));
        let stderr = Arc::new(Mutex::new(Kept::default()));
        collect(child.stdout.take(), stdout.clone(), "check-stdout");
        collect(child.stderr.take(), stderr.clone(), "check-stderr");
        Ok(Process {
            stdin: child.stdin.take(),
            child,
            pid,
            tag,
            netns: own_network_namespace(),
            command: command.to_string(),
            stdout,
            stderr,
            status: None,
            killed: false,
            contained: false,
        })
    }

    /// The process id of the shell, which is also its process group.
    pub fn group(&self) -> i32 {
        self.pid
    }

    /// The command line as run (after `sh -c`).
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Types `text` into the program's standard input.
    pub fn type_text(&mut self, text: &str) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("standard input is already closed"))?;
        stdin
            .write_all(text.as_bytes())
            .and_then(|()| stdin.flush())
    }

    /// Closes standard input (end of file, as Ctrl-D at a terminal).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends `signal` to the program's process group.
    pub fn signal(&mut self, signal: i32) {
        if self.try_exit().is_none() {
            sys::kill(-self.pid, signal);
        }
    }

    /// The exit status, once the shell has exited and nothing it started
    /// is left in its process group.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        if self.status.is_some() && !self.killed && sys::kill(-self.pid, 0) {
            return None;
        }
        self.status
    }

    /// Waits up to `wait` for the program to exit.
    pub fn wait_exit(&mut self, wait: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.try_exit() {
                // Let the output threads take the last bytes.
                std::thread::sleep(Duration::from_millis(30));
                return Some(status);
            }
            if started.elapsed() >= wait {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The kept part of stdout so far.
    pub fn stdout(&self) -> Vec<u8> {
        lock(&self.stdout).bytes()
    }

    /// The kept part of stderr so far.
    pub fn stderr(&self) -> Vec<u8> {
        lock(&self.stderr).bytes()
    }

    /// Waits up to `wait` until stdout contains `needle`.
    pub fn wait_stdout(&mut self, needle: &str, wait: Duration) -> bool {
        let started = Instant::now();
        loop {
            if contains(&self.stdout(), needle) {
                return true;
            }
            if started.elapsed() >= wait || self.try_exit().is_some() {
                return contains(&self.stdout(), needle);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `; stderr: …` with the last line of stderr, or nothing.
    pub fn stderr_tail(&self) -> String {
        let stderr = self.stderr();
        let text = String::from_utf8_lossy(&stderr);
        match text.lines().rev().find(|l| !l.trim().is_empty()) {
            Some(line) => format!("; stderr: {}", line.trim()),
            None => String::new(),
        }
    }

    /// What the run of this program left for a report: the command, how
    /// it ended, and the last 2 KiB of its stderr.
    pub fn record(&mut self) -> Record {
        let exit = match self.try_exit() {
            Some(status) if !self.killed => status.to_string(),
            _ => "still running at the end of the case (killed)".to_string(),
        };
        let stderr = self.stderr();
        let start = stderr.len().saturating_sub(2048);
        Record {
            command: self.command.clone(),
            exit,
            stderr_tail: String::from_utf8_lossy(&stderr[start..]).into_owned(),
        }
    }

    /// Kills the program and every descendant (also those that left its
    /// process group) and reaps them.
    pub fn kill(&mut self) {
        if self.contained {
            return;
        }
        self.contained = true;
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        if self.status.is_none() {
            self.killed = true;
        }
        self.stdin = None;
        contain(self.pid, &self.tag, self.netns.as_deref());
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
        ROOTS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| *p != self.pid);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How one program run ended, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The command as run by `sh -c`.
    pub command: String,
    /// Its exit status, or that it was still running and killed.
    pub exit: String,
    /// The end of its stderr.
    pub stderr_tail: String,
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Sends SIGKILL to the process group `group`.
pub fn kill_group(group: i32) {
    sys::kill(-group, sys::SIGKILL);
}

/// Kills every descendant of the grader (its own Ctrl-C).
pub fn kill_everything() {
    for _ in 0..50 {
        let table = process_table();
        let all = subtree(&table, sys::own_pid());
        let victims: Vec<i32> = all.into_iter().filter(|p| *p != sys::own_pid()).collect();
        if victims.is_empty() {
            return;
        }
        for pid in victims {
            sys::kill(pid, sys::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn apply_limits(limits: Limits) -> io::Result<()> {
    sys::set_limit(
        sys::Resource::Memory,
        limits.memory_mib.saturating_mul(1 << 20),
    )?;
    sys::set_limit(sys::Resource::Processes, limits.processes)?;
    sys::set_limit(sys::Resource::Files, limits.open_files)?;
    sys::set_limit(sys::Resource::CpuSeconds, limits.cpu_seconds)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The calling thread's network namespace, if it differs from the main
/// thread's (the thread was isolated).
fn own_network_namespace() -> Option<String> {
    let here = std::fs::read_link("/proc/thread-self/ns/net").ok()?;
    let main = std::fs::read_link("/proc/self/ns/net").ok()?;
    (here != main).then(|| here.display().to_string())
}

/// One row of `/proc`: pid, parent pid, state letter.
struct Row {
    pid: i32,
    parent: i32,
    zombie: bool,
}

fn process_table() -> Vec<Row> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces and parens.
            let rest = &stat[stat.rfind(')')? + 1..];
            let mut fields = rest.split_whitespace();
            let state = fields.next()?;
            let parent = fields.next()?.parse().ok()?;
            Some(Row {
                pid,
                parent,
                zombie: state == "Z",
            })
        })
        .collect()
}

/// `root` and every live process below it.
fn subtree(table: &[Row], root: i32) -> Vec<i32> {
    let mut found = vec![root];
    let mut queue = VecDeque::from([root]);
    while let Some(parent) = queue.pop_front() {
        for row in table.iter().filter(|r| r.parent == parent && !r.zombie) {
            found.push(row.pid);
            queue.push_back(row.pid);
        }
    }
    found
}

/// Whether the orphan `pid` belongs to the program tagged `tag` (its
/// environment) or lives in its network namespace.
fn belongs(pid: i32, tag: &str, netns: Option<&str>) -> bool {
    if let Some(netns) = netns {
        let link = std::fs::read_link(format!("/proc/{pid}/ns/net"));
        if link.is_ok_and(|l| l.display().to_string() == netns) {
            return true;
        }
    }
    let wanted = format!("{TAG_VARIABLE}={tag}");
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == wanted.as_bytes()))
}

/// Kills the process group of `root`, everything below `root`, and every
/// orphan of the program (re-parented to the grader), round after round
/// until none is left (a process may fork while it is being killed); then
/// reaps the orphans that died.
fn contain(root: i32, tag: &str, netns: Option<&str>) {
    let me = sys::own_pid();
    for round in 0..200 {
        sys::kill(-root, sys::SIGKILL);
        let table = process_table();
        let roots: HashSet<i32> = lock(&ROOTS).iter().copied().collect();
        let mut victims: Vec<i32> = subtree(&table, root).into_iter().skip(1).collect();
        for orphan in table
            .iter()
            .filter(|r| r.parent == me && !r.zombie && !roots.contains(&r.pid))
        {
            if belongs(orphan.pid, tag, netns) {
                victims.extend(subtree(&table, orphan.pid));
            }
        }
        reap_orphans(&table, me);
        if victims.is_empty() {
            break;
        }
        for pid in victims {
            sys::kill(pid, sys::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(if round < 10 { 2 } else { 20 }));
    }
    reap_orphans(&process_table(), me);
}

/// Reaps every dead child of the grader that no [`Process`] waits for.
fn reap_orphans(table: &[Row], me: i32) {
    let roots = lock(&ROOTS);
    for row in table.iter().filter(|r| r.parent == me && r.zombie) {
        if !roots.contains(&row.pid) {
            sys::reap(row.pid);
        }
    }
}

/// Bytes of a program's output kept from its start and from its end: the
/// seeds can print megabytes of payload between the lines that matter.
const KEEP_HEAD: usize = 64 * 1024;
const KEEP_TAIL: usize = 1 << 20;

/// The first [`KEEP_HEAD`] bytes of a stream and its last [`KEEP_TAIL`]
/// (at most twice that while it grows).
#[derive(Default)]
struct Kept {
    bytes: Vec<u8>,
}

impl Kept {
    fn push(&mut self, more: &[u8]) {
        self.bytes.extend_from_slice(more);
        if self.bytes.len() > KEEP_HEAD + 2 * KEEP_TAIL {
            let cut = self.bytes.len() - KEEP_TAIL;
            self.bytes.drain(KEEP_HEAD..cut);
        }
    }

    fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

fn collect(stream: Option<impl Read + Send + 'static>, into: Arc<Mutex<Kept>>, name: &str) {
    let Some(mut stream) = stream else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = stream.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                lock(&into).push(&buffer[..n]);
            }
        });
    if spawned.is_err() {
        crate::output::warn(format_args!(
            "warning: cannot start a thread to read output"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_output_is_bounded_head_and_tail() {
        let mut kept = Kept::default();
        for i in 0..5000u32 {
            kept.push(&[(i % 251) as u8; 1024]);
        }
        assert!(kept.bytes.len() <= KEEP_HEAD + 2 * KEEP_TAIL);
        assert_eq!(kept.bytes[0], 0);
        assert_eq!(*kept.bytes.last().unwrap(), (4999 % 251) as u8);
    }

    #[test]
    fn env_assignments_and_orphans_are_handled() {
        become_subreaper().unwrap();
        let dir = std::env::temp_dir();
        let mut process = Process::spawn(
            "GREETING=hi sh -c '(setsid sleep 30 &); echo $GREETING; sleep 30'",
            &dir,
            Limits::default(),
        )
        .unwrap();
        assert!(process.wait_stdout("hi", Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(100));
        let tag = process.tag.clone();
        process.kill();
        let left = process_table()
            .iter()
            .filter(|r| !r.zombie && belongs(r.pid, &tag, None))
            .count();
        assert_eq!(left, 0);
        assert!(process.record().exit.contains("killed"));
    }
}
