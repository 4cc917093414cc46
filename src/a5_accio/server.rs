//! The accio server: accepts connections, gives each the next file number
//! and a thread of its own, and streams what arrives into `FILE_DIR`.
//!
//! One accept loop hands out the numbers, so `1.file`, `2.file`, … follow
//! the accept order with no race between threads. A receiving thread reads
//! into a large buffer, writes it to `.n.file.part` whenever the buffer is
//! full, and on a clean end of stream renames the file to `n.file` *before*
//! closing the connection — a client that waits for the server's close
//! therefore knows its file is saved.
//!
//! A transfer fails when the client sends nothing for the idle timeout, when
//! the connection breaks, when the disk refuses a write, or when the server
//! is stopping and the grace period is over. Its file then holds exactly
//! [`ERROR_CONTENT`].
//!
//! Stopping (SIGTERM, SIGQUIT, Ctrl-C): the accept loop ends and the
//! listener closes at once; transfers in flight keep going until they end or
//! the grace period runs out; then the server prints its summary.

use super::protocol::{self, ERROR_CONTENT, RECEIVE_BUFFER};
use crate::cli::Context;
use crate::net::{self, SocketOptions};
use crate::output::{announce_listening, human_bytes, human_rate, rate};
use crate::output::{say, warn};
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Stack size of a receiving thread: its buffer lives on the heap, so a
/// small stack lets a thousand connections share little memory.
const THREAD_STACK: usize = 256 * 1024;

/// What the server is told on its command line.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (`0.0.0.0` in the course).
    pub bind: IpAddr,
    /// Port to listen on; 0 lets the system choose.
    pub port: u16,
    /// Where received files go; created if missing.
    pub file_dir: PathBuf,
    /// A connection silent this long fails.
    pub idle_timeout: Duration,
    /// How long transfers in flight may go on once stopping starts.
    pub grace: Duration,
    /// How many connections are served at once; more wait in the backlog.
    pub max_connections: usize,
}

/// What the server did, printed when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerSummary {
    /// Files received whole.
    pub complete: u64,
    /// Files that hold `ERROR`.
    pub failed: u64,
    /// Bytes in the complete files.
    pub bytes: u64,
}

impl fmt::Display for ServerSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Received {} file(s): {} complete ({}), {} ERROR",
            self.complete + self.failed,
            self.complete,
            human_bytes(self.bytes),
            self.failed
        )
    }
}

/// Runs the server until `shutdown` is triggered and every transfer has
/// ended, then returns what it received.
///
/// Errors only before serving starts: `FILE_DIR` cannot be created, or the
/// port cannot be bound.
pub fn run(config: &ServerConfig, shutdown: &Shutdown) -> io::Result<ServerSummary> {
    prepare_dir(&config.file_dir)?;
    let listener = net::bind_tcp(
        SocketAddr::new(config.bind, config.port),
        &SocketOptions::default(),
    )?;
    announce_listening(listener.local_addr()?, "tcp");
    let open_files = open_file_limit();
    let max_connections = connections_within(config.max_connections, open_files);
    if let (true, Some(limit)) = (max_connections < config.max_connections, open_files) {
        warn(format_args!(
            "Note: serving at most {max_connections} connections at once, as the \
             open-file limit is {limit} (raise it with `ulimit -n`)"
        ));
    }

    let shared = Arc::new(Shared {
        file_dir: config.file_dir.clone(),
        idle_timeout: config.idle_timeout,
        grace: config.grace,
        stopping_since: OnceLock::new(),
        slots: Arc::new(Slots::new(max_connections)),
        summary: Mutex::new(ServerSummary::default()),
    });
    let on_stop = shared.clone();
    shutdown.on_trigger(move || {
        let _ = on_stop.stopping_since.set(Instant::now());
    });

    let mut accepted: u64 = 0;
    net::accept_until_shutdown(&listener, shutdown, |stream, peer| {
        accepted += 1;
        let slot = shared.slots.acquire();
        start_receiver(accepted, stream, peer, shared.clone(), slot);
        ControlFlow::Continue(())
    })?;
    drop(listener);

    let in_flight = shared.slots.in_use();
    if in_flight > 0 {
        warn(format_args!(
            "Stopping: waiting up to {} s for {in_flight} transfer(s) in flight",
            config.grace.as_secs_f64()
        ));
    }
    shared.slots.wait_until_all_free();
    let summary = *lock(&shared.summary);
    Ok(summary)
}

/// Creates `dir` if missing and checks that it is a directory.
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    let what = || format!("cannot use {} as the file directory", dir.display());
    if dir.exists() && !dir.is_dir() {
        return Err(io::Error::other("it exists and is not a directory")).context(what);
    }
    fs::create_dir_all(dir).context(what)
}

/// Open files a connection needs: its socket and the file it writes.
const FILES_PER_CONNECTION: usize = 2;

/// Open files kept aside for stdio, the listener and the like.
const FILES_RESERVED: usize = 16;

/// The process's soft limit on open files (Linux, from `/proc/self/limits`);
/// `None` when unknown or unlimited.
fn open_file_limit() -> Option<usize> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How many connections can be served at once: `wanted`, lowered so that
/// their sockets and files fit in `open_files`. Without the cap, a burst of
/// clients would run the server out of file descriptors and their uploads
/// would fail; with it, they wait in the backlog instead.
fn connections_within(wanted: usize, open_files: Option<usize>) -> usize {
    match open_files {
        Some(limit) => wanted
            .min(limit.saturating_sub(FILES_RESERVED) / FILES_PER_CONNECTION)
            .max(1),
        None => wanted,
    }
}

/// State every receiving thread shares.
struct Shared {
    file_dir: PathBuf,
    idle_timeout: Duration,
    grace: Duration,
    /// When shutdown was triggered; the grace period counts from here.
    stopping_since: OnceLock<Instant>,
    slots: Arc<Slots>,
    summary: Mutex<ServerSummary>,
}

impl Shared {
    /// Why a transfer whose last data came at `last_data` must stop now, if
    /// it must.
    fn abort_reason(&self, last_data: Instant) -> Option<Failure> {
        if last_data.elapsed() >= self.idle_timeout {
            return Some(Failure::Idle(self.idle_timeout));
        }
        match self.stopping_since.get() {
            Some(since) if since.elapsed() >= self.grace => Some(Failure::Stopped(self.grace)),
            _ => None,
        }
    }
}

/// Why a transfer failed (its file then holds `ERROR`).
#[derive(Debug)]
enum Failure {
    /// The client sent nothing for this long.
    Idle(Duration),
    /// The server was stopping and the grace period ran out.
    Stopped(Duration),
    /// The connection broke (reset, for example).
    Connection(io::Error),
    /// The file could not be written.
    Disk(io::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Idle(timeout) => write!(f, "no data for {} s", timeout.as_secs_f64()),
            Failure::Stopped(grace) => write!(
                f,
                "server stopping, not finished within {} s",
                grace.as_secs_f64()
            ),
            Failure::Connection(e) => write!(f, "connection failed: {e}"),
            Failure::Disk(e) => write!(f, "cannot write the file: {e}"),
        }
    }
}

/// Starts the thread that receives file `number` from `stream`.
fn start_receiver(
    number: u64,
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    slot: SlotGuard,
) {
    let for_thread = shared.clone();
    let started = std::thread::Builder::new()
        .name(format!("accio-{number}"))
        .stack_size(THREAD_STACK)
        .spawn(move || {
            receive(number, stream, peer, &for_thread);
            drop(slot);
        });
    if let Err(e) = started {
        // The closure, and with it the connection, is gone: record the loss.
        let name = protocol::file_name(number);
        warn(format_args!(
            "{name}: cannot start a thread for {peer}: {e}"
        ));
        finish_failed(number, None, &shared);
    }
}

/// Receives one file and reports the outcome.
fn receive(number: u64, mut stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let started = Instant::now();
    let name = protocol::file_name(number);
    let temp_path = shared.file_dir.join(protocol::temp_file_name(number));
    // FILE_DIR may have been removed since start-up; the seed recreates it
    // for every connection, and so do we.
    let created = prepare_dir(&shared.file_dir).and_then(|()| File::create(&temp_path));
    let mut file = match created {
        Ok(file) => file,
        Err(e) => {
            warn(format_args!(
                "{name}: cannot create {}: {e}",
                temp_path.display()
            ));
            finish_failed(number, None, shared);
            return;
        }
    };
    match copy_to_file(&mut stream, &mut file, shared) {
        Ok(bytes) => match fs::rename(&temp_path, shared.file_dir.join(&name)) {
            Ok(()) => {
                let elapsed = started.elapsed();
                say(format_args!(
                    "{name}: {} from {peer} in {:.3} s ({})",
                    human_bytes(bytes),
                    elapsed.as_secs_f64(),
                    human_rate(rate(bytes, elapsed))
                ));
                let mut summary = lock(&shared.summary);
                summary.complete += 1;
                summary.bytes += bytes;
            }
            Err(e) => {
                warn(format_args!(
                    "{name}: cannot rename {}: {e}",
                    temp_path.display()
                ));
                finish_failed(number, Some(file), shared);
            }
        },
        Err((failure, bytes)) => {
            say(format_args!(
                "{name}: ERROR from {peer} after {bytes} bytes: {failure}"
            ));
            finish_failed(number, Some(file), shared);
        }
    }
    // Dropping `stream` closes the connection only now, after the file has
    // its final name. Unread data makes the close a reset, which tells a
    // client that is still sending that its transfer failed.
}

/// Copies the stream into `file` until a clean end of stream; returns the
/// byte count, or why it failed and how many bytes had come.
fn copy_to_file(
    stream: &mut TcpStream,
    file: &mut File,
    shared: &Shared,
) -> Result<u64, (Failure, u64)> {
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    let mut filled = 0;
    let mut received: u64 = 0;
    let mut last_data = Instant::now();
    // A short read timeout lets the loop notice silence and shutdown.
    if let Err(e) = stream.set_read_timeout(Some(POLL_INTERVAL)) {
        return Err((Failure::Connection(e), 0));
    }
    loop {
        if let Some(failure) = shared.abort_reason(last_data) {
            return Err((failure, received));
        }
        match stream.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(count) => {
                filled += count;
                received += count as u64;
                last_data = Instant::now();
                if filled == buffer.len() {
                    file.write_all(&buffer)
                        .map_err(|e| (Failure::Disk(e), received))?;
                    filled = 0;
                }
            }
            Err(e) if net::is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((Failure::Connection(e), received)),
        }
    }
    file.write_all(&buffer[..filled])
        .map_err(|e| (Failure::Disk(e), received))?;
    Ok(received)
}

/// Leaves `number.file` holding exactly `ERROR`, reusing the temporary
/// file when there is one, and counts the failure.
fn finish_failed(number: u64, file: Option<File>, shared: &Shared) {
    lock(&shared.summary).failed += 1;
    let name = protocol::file_name(number);
    let temp_path = shared.file_dir.join(protocol::temp_file_name(number));
    let written = match file {
        Some(mut file) => file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(ERROR_CONTENT)),
        None => fs::write(&temp_path, ERROR_CONTENT),
    }
    .and_then(|()| fs::rename(&temp_path, shared.file_dir.join(&name)));
    if let Err(e) = written {
        warn(format_args!("{name}: cannot record ERROR: {e}"));
        let _ = fs::remove_file(&temp_path);
    }
}

/// A counting semaphore for `--max-connections`.
struct Slots {
    max: usize,
    in_use: Mutex<usize>,
    freed: Condvar,
}

/// One taken slot, given back when dropped (also if its thread panics).
struct SlotGuard(Arc<Slots>);

impl Slots {
    fn new(max: usize) -> Self {
        Slots {
            max: max.max(1),
            in_use: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Takes a slot, waiting for one to be given back if all are taken.
    /// Once stopping starts, every transfer ends within the grace period, so
    /// stopping never waits here for long.
    fn acquire(self: &Arc<Self>) -> SlotGuard {
        let mut in_use = lock(&self.in_use);
        while *in_use >= self.max {
            in_use = self
                .freed
                .wait(in_use)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *in_use += 1;
        SlotGuard(self.clone())
    }

    fn in_use(&self) -> usize {
        *lock(&self.in_use)
    }

    fn wait_until_all_free(&self) {
        let mut in_use = lock(&self.in_use);
        while *in_use > 0 {
            in_use = self
                .freed
                .wait(in_use)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        *lock(&self.0.in_use) -= 1;
        self.0.freed.notify_all();
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_fit_in_the_open_file_limit() {
        assert_eq!(connections_within(1024, Some(1024)), 504);
        assert_eq!(connections_within(1024, Some(20_000)), 1024);
        assert_eq!(connections_within(1024, None), 1024);
        assert_eq!(connections_within(1024, Some(3)), 1);
    }

    #[test]
    fn a_full_set_of_slots_makes_the_next_wait() {
        let slots = Arc::new(Slots::new(1));
        let first = slots.acquire();
        let waiting = slots.clone();
        let second = std::thread::spawn(move || drop(waiting.acquire()));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!second.is_finished());
        assert_eq!(slots.in_use(), 1);
        drop(first);
        second.join().unwrap();
        assert_eq!(slots.in_use(), 0);
    }

    #[test]
    fn transfers_abort_when_idle_or_past_the_grace() {
        let shared = Shared {
            file_dir: PathBuf::new(),
            idle_timeout: Duration::from_secs(10),
            grace: Duration::from_secs(5),
            stopping_since: OnceLock::new(),
            slots: Arc::new(Slots::new(1)),
            summary: Mutex::new(ServerSummary::default()),
        };
        let ago = |seconds| {
            Instant::now()
                .checked_sub(Duration::from_secs(seconds))
                .unwrap()
        };
        assert!(shared.abort_reason(ago(9)).is_none());
        assert!(matches!(
            shared.abort_reason(ago(11)),
            Some(Failure::Idle(_))
        ));
        shared.stopping_since.set(ago(4)).unwrap();
        assert!(shared.abort_reason(ago(1)).is_none());
        let late = Shared {
            stopping_since: OnceLock::from(ago(6)),
            ..shared
        };
        assert!(matches!(
            late.abort_reason(ago(1)),
            Some(Failure::Stopped(_))
        ));
    }

    #[test]
    fn failures_read_well() {
        assert_eq!(
            Failure::Idle(Duration::from_secs(10)).to_string(),
            "no data for 10 s"
        );
        assert_eq!(
            Failure::Stopped(Duration::from_millis(2500)).to_string(),
            "server stopping, not finished within 2.5 s"
        );
    }

    #[test]
    fn open_file_limit_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(open_file_limit().is_some_and(|limit| limit > 0));
        }
    }
}
