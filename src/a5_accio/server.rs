//! The accio server: accepts connections, gives each the next file number
//! and a thread of its own, and streams what arrives into `FILE_DIR`.
//!
//! One accept loop hands out the numbers, so `1.file`, `2.file`, … follow
//! the accept order with no race between threads. A receiving thread reads
//! into a large buffer, writes it to `.n.file.part` whenever the buffer is
//! full, and on a clean end of stream publishes the file as `n.file`
//! *before* closing the connection — a client that waits for the server's
//! close therefore knows its file is saved.
//!
//! No file is ever overwritten or lost ([`Numbering`]):
//! - at start-up the server checks that it can create files in `FILE_DIR`,
//!   turns every `.n.file.part` an earlier run left behind (a crash, a
//!   kill) into an `n.file` holding `ERROR`, and numbers past the highest
//!   `n.file` already there, so a restart continues the numbering;
//! - a number is claimed by creating its `.n.file.part` exclusively
//!   (`create_new`, which also never follows a symlink planted at that
//!   name) and locking it; a number whose temporary or final name exists is
//!   skipped, so two servers on one directory take turns instead of
//!   overwriting each other, and a live server's locked `.part` is left
//!   alone by the other's start-up clean-up;
//! - a finished file is published with [`files::publish`], which never
//!   replaces an existing `n.file`.
//!
//! A transfer fails when the client sends nothing for the idle timeout, when
//! the connection breaks, when the disk refuses a write, or when the server
//! is stopping and the grace period is over. Its file then holds exactly
//! [`ERROR_CONTENT`].
//!
//! Stopping (SIGTERM, SIGQUIT, Ctrl-C): the accept loop ends and the
//! listener closes at once; transfers in flight keep going until they end or
//! the grace period runs out; then the server prints its summary and exits
//! 0. A second signal during the grace period stops it at once with status
//! 130, after recording every unfinished transfer as an `ERROR` file and
//! removing its `.part` ([`Shutdown::on_forced_exit`]).

use super::protocol::{self, ERROR_CONTENT, RECEIVE_BUFFER};
use crate::error::Context;
use crate::files;
use crate::net::{self, CloseReason, Conn, Lifecycle, Limits, SocketOptions, WhenFull};
use crate::output::{announce_listening, human_bytes, human_rate, rate};
use crate::output::{say, warn};
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use crate::sync::lock;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, TryLockError};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
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
    /// How many connections are served at once (`--max-clients`); when
    /// full, the one that has sent the least recently (idle or trickling) is
    /// evicted for a newcomer, and while none can be, newcomers wait in the
    /// backlog.
    pub max_connections: usize,
    /// How many of them may come from one address (`None`: a quarter of
    /// `max_connections`, at least 8).
    pub max_per_source: Option<usize>,
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
/// Errors only before serving starts: `FILE_DIR` cannot be created or
/// written, or the port cannot be bound.
pub fn run(config: &ServerConfig, shutdown: &Shutdown) -> io::Result<ServerSummary> {
    prepare_dir(&config.file_dir)?;
    check_writable(&config.file_dir)?;
    let recovered = recover_leftovers(&config.file_dir)?;
    for note in &recovered.notes {
        warn(format_args!("{note}"));
    }
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

    let limits = Limits {
        when_full: WhenFull::Wait,
        ..Limits::new(max_connections, config.idle_timeout).with_share(config.max_per_source)
    };
    let mut lifecycle = Lifecycle::new(limits, "accio")?;
    let shared = Arc::new(Shared {
        idle_timeout: config.idle_timeout,
        grace: config.grace,
        stopping_since: OnceLock::new(),
        summary: Mutex::new(ServerSummary::default()),
        numbering: Mutex::new(Numbering::new(&config.file_dir, recovered.highest)),
    });
    let on_stop = shared.clone();
    shutdown.on_trigger(move || {
        let _ = on_stop.stopping_since.set(Instant::now());
    });
    let on_forced_exit = shared.clone();
    shutdown.on_forced_exit(move || {
        let mut numbering = on_forced_exit.numbering_lock();
        let count = numbering.abandon_all();
        warn(format_args!(
            "{}stopped at once by a second signal: {count} unfinished transfer(s) saved as ERROR",
            protocol::ERROR_PREFIX
        ));
        // Keep the lock until the process exits: no transfer may publish now.
        std::mem::forget(numbering);
    });

    net::accept_until_shutdown(&listener, shutdown, |stream, peer| {
        match lifecycle.admit(&stream, peer, shutdown) {
            Ok(admitted) => {
                if let Some(evicted) = admitted.evicted {
                    warn(format_args!(
                        "{evicted}: evicted (sent the least recently) to admit {peer}"
                    ));
                }
                start_receiver(stream, peer, shared.clone(), &mut lifecycle, admitted.conn);
            }
            Err(refused) => {
                warn(format_args!("{peer}: refused: {refused}; connection reset"));
                // A reset, so the client cannot take the close for success.
                let _ = net::reset_on_close(&stream, true);
            }
        }
        ControlFlow::Continue(())
    })?;
    drop(listener);

    let in_flight = lifecycle.open();
    if in_flight > 0 {
        warn(format_args!(
            "Stopping: waiting up to {} s for {in_flight} transfer(s) in flight",
            config.grace.as_secs_f64()
        ));
    }
    lifecycle.drain(config.grace);
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

/// Checks that files can be created in `dir` (a read-only mount, an
/// immutable directory or missing permissions would otherwise fail every
/// upload): creates and removes a hidden probe file.
pub fn check_writable(dir: &Path) -> io::Result<()> {
    let probe = dir.join(format!(".accio-write-check-{}", std::process::id()));
    let _ = fs::remove_file(&probe);
    files::create_exclusive(&probe)
        .and_then(|file| {
            drop(file);
            fs::remove_file(&probe)
        })
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot write files in {}: {e}", dir.display()),
            )
        })
}

/// What [`recover_leftovers`] found in `FILE_DIR`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The highest file number in use (0 if none); numbering continues past it.
    pub highest: u64,
    /// One line for each leftover turned into `ERROR` or removed.
    pub notes: Vec<String>,
}

/// Turns the `.n.file.part` files an earlier run left behind into `n.file`
/// holding `ERROR` (unless `n.file` exists), removes anything at a
/// temporary name that is not a regular file (a planted symlink), leaves
/// alone a `.part` another live server holds locked, and finds the highest
/// file number in `dir`.
pub fn recover_leftovers(dir: &Path) -> io::Result<Recovered> {
    let context =
        |e: io::Error| io::Error::new(e.kind(), format!("cannot read {}: {e}", dir.display()));
    let mut recovered = Recovered::default();
    for entry in fs::read_dir(dir).map_err(context)? {
        let entry = entry.map_err(context)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if let Some(number) = protocol::file_number(name) {
            recovered.highest = recovered.highest.max(number);
        } else if let Some(number) = protocol::temp_file_number(name) {
            recovered.highest = recovered.highest.max(number);
            recovered.notes.extend(recover_temp(dir, number));
        }
    }
    Ok(recovered)
}

/// Recovers one leftover `.n.file.part` (see [`recover_leftovers`]);
/// returns what it did, if anything.
fn recover_temp(dir: &Path, number: u64) -> Option<String> {
    let temp = dir.join(protocol::temp_file_name(number));
    let name = protocol::file_name(number);
    let regular = fs::symlink_metadata(&temp).is_ok_and(|meta| meta.file_type().is_file());
    if !regular {
        return fs::remove_file(&temp)
            .ok()
            .map(|()| format!("Note: removed {}: not a regular file", temp.display()));
    }
    let file = File::open(&temp).ok()?;
    if matches!(file.try_lock(), Err(TryLockError::WouldBlock)) {
        // Another server on this directory is receiving it.
        return None;
    }
    let recorded = match write_error_file(&dir.join(&name)) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => fs::remove_file(&temp),
    };
    Some(match recorded {
        Ok(()) => format!("Note: {name}: ERROR (an unfinished upload left by an earlier run)"),
        Err(e) => format!("{name}: cannot record ERROR: {e}"),
    })
}

/// Creates `path` holding exactly `ERROR`; fails if the name is taken.
///
/// The name appears with its content (written under a hidden name first,
/// then linked), so a reader never sees an empty `n.file`.
fn write_error_file(path: &Path) -> io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = path.with_file_name(format!(".{name}.error-{}", std::process::id()));
    let written = files::create_exclusive(&temp).and_then(|mut file| file.write_all(ERROR_CONTENT));
    let published = written.and_then(|()| files::publish(&temp, path));
    if published.is_err() {
        let _ = fs::remove_file(&temp);
    }
    published
}

/// Open files a connection needs: its socket, the lifecycle's clone of it
/// and the file it writes.
const FILES_PER_CONNECTION: usize = 3;

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
    idle_timeout: Duration,
    grace: Duration,
    /// When shutdown was triggered; the grace period counts from here.
    stopping_since: OnceLock<Instant>,
    summary: Mutex<ServerSummary>,
    numbering: Mutex<Numbering>,
}

impl Shared {
    fn numbering_lock(&self) -> std::sync::MutexGuard<'_, Numbering> {
        lock(&self.numbering)
    }

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

/// The file numbers of one server: which comes next, and which transfers
/// are in flight (so a forced exit can record them).
struct Numbering {
    dir: PathBuf,
    /// The last number tried; the next claim starts above it.
    last: u64,
    /// Transfers in flight: number → their temporary file.
    in_flight: BTreeMap<u64, PathBuf>,
}

/// A claimed number: its temporary file, created exclusively and locked.
struct Claim {
    number: u64,
    temp_path: PathBuf,
    file: File,
}

/// How many taken numbers a claim skips before it gives up.
const MAX_CLAIM_ATTEMPTS: u32 = 100_000;

impl Numbering {
    /// Numbering for `dir` that continues past `highest`.
    fn new(dir: &Path, highest: u64) -> Numbering {
        Numbering {
            dir: dir.to_path_buf(),
            last: highest,
            in_flight: BTreeMap::new(),
        }
    }

    /// Claims the next free number: creates `.n.file.part` exclusively and
    /// locks it, skipping numbers whose temporary or final name is taken
    /// (by another server on this directory, a planted link, a file that
    /// appeared since start-up).
    fn claim(&mut self) -> io::Result<Claim> {
        // FILE_DIR may have been removed since start-up; the seed recreates
        // it for every connection, and so do we.
        prepare_dir(&self.dir)?;
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            self.last = self
                .last
                .checked_add(1)
                .ok_or_else(|| io::Error::other("every file number is used"))?;
            let number = self.last;
            let temp_path = self.dir.join(protocol::temp_file_name(number));
            let file = match files::create_exclusive(&temp_path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot create {}: {e}", temp_path.display()),
                    ))
                }
            };
            // Locked: another server's start-up leaves this file alone.
            let _ = file.try_lock();
            if fs::symlink_metadata(self.dir.join(protocol::file_name(number))).is_ok() {
                drop(file);
                let _ = fs::remove_file(&temp_path);
                continue;
            }
            self.in_flight.insert(number, temp_path.clone());
            return Ok(Claim {
                number,
                temp_path,
                file,
            });
        }
        Err(io::Error::other(format!(
            "{MAX_CLAIM_ATTEMPTS} file numbers in a row are taken"
        )))
    }

    /// Ends transfer `number`, whose file (closed by now) is at
    /// `temp_path`: publishes it if `complete`, or records `ERROR` at
    /// `n.file`, and removes the temporary file. Returns the number the file
    /// was saved under: `number`, or — if `n.file` appeared meanwhile (put
    /// there by someone else) — the next free one, so the upload is still
    /// not lost. Runs under the numbering lock, so a forced exit either sees
    /// the transfer in flight or finds it finished. An error says the
    /// complete file could not be published (then `ERROR` was recorded) or
    /// `ERROR` could not be.
    fn finish(&mut self, number: u64, temp_path: &Path, complete: bool) -> io::Result<u64> {
        self.in_flight.remove(&number);
        let target = self.dir.join(protocol::file_name(number));
        let published = if complete {
            match files::publish(temp_path, &target) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    self.publish_elsewhere(temp_path)
                }
                other => other.map(|()| number),
            }
        } else {
            Err(io::Error::other("not complete"))
        };
        if published.is_ok() {
            return published;
        }
        let recorded = write_error_file(&target);
        let _ = fs::remove_file(temp_path);
        match (published, recorded) {
            (Err(e), Ok(())) if complete => Err(e),
            (_, recorded) => recorded.map(|()| number),
        }
    }

    /// Publishes a finished file under the next number nobody has claimed.
    fn publish_elsewhere(&mut self, temp_path: &Path) -> io::Result<u64> {
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            self.last = self
                .last
                .checked_add(1)
                .ok_or_else(|| io::Error::other("every file number is used"))?;
            let claimed = self.dir.join(protocol::temp_file_name(self.last));
            if fs::symlink_metadata(claimed).is_ok() {
                continue;
            }
            match files::publish(temp_path, &self.dir.join(protocol::file_name(self.last))) {
                Ok(()) => return Ok(self.last),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "{MAX_CLAIM_ATTEMPTS} file numbers in a row are taken"
        )))
    }

    /// A second signal: records every transfer in flight as `ERROR` and
    /// removes its temporary file, right before the process exits; returns
    /// how many there were.
    fn abandon_all(&mut self) -> usize {
        let count = self.in_flight.len();
        for (number, temp_path) in std::mem::take(&mut self.in_flight) {
            let _ = write_error_file(&self.dir.join(protocol::file_name(number)));
            let _ = fs::remove_file(temp_path);
        }
        count
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
    /// The server closed the connection (evicted for a newcomer).
    Closed(CloseReason),
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
            Failure::Closed(reason) => write!(f, "closed by the server: {reason}"),
            Failure::Disk(e) => write!(f, "cannot write the file: {e}"),
        }
    }
}

/// Claims the next file number for `stream` and starts the thread that
/// receives it. Runs on the accept loop, so numbers follow the accept order.
fn start_receiver(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    lifecycle: &mut Lifecycle,
    conn: Conn,
) {
    let claim = match shared.numbering_lock().claim() {
        Ok(claim) => claim,
        Err(e) => {
            warn(format_args!("cannot receive from {peer}: {e}"));
            lock(&shared.summary).failed += 1;
            return;
        }
    };
    let (number, temp_path) = (claim.number, claim.temp_path.clone());
    let for_thread = shared.clone();
    let thread = std::thread::Builder::new()
        .name(format!("accio-{number}"))
        .stack_size(THREAD_STACK);
    let started = lifecycle.spawn(thread, conn, move |conn| {
        receive(claim, stream, &conn, peer, &for_thread);
    });
    if let Err(e) = started {
        // The closure, and with it the connection and the file, is gone:
        // record the loss.
        warn(format_args!(
            "{}: cannot start a thread for {peer}: {e}",
            protocol::file_name(number)
        ));
        finish_failed(number, &temp_path, &shared);
    }
}

/// Receives one file into its claimed temporary file and reports the outcome.
fn receive(claim: Claim, mut stream: TcpStream, conn: &Conn, peer: SocketAddr, shared: &Shared) {
    let started = Instant::now();
    let name = protocol::file_name(claim.number);
    let Claim {
        number,
        temp_path,
        mut file,
    } = claim;
    let copied = copy_to_file(&mut stream, &mut file, conn, shared);
    drop(file);
    match copied {
        Ok(bytes) => {
            let published = shared.numbering_lock().finish(number, &temp_path, true);
            match published {
                Ok(saved) => {
                    let elapsed = started.elapsed();
                    let name = if saved == number {
                        name
                    } else {
                        format!("{} (as {name} was taken)", protocol::file_name(saved))
                    };
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
                    warn(format_args!("{name}: cannot save it, saved ERROR: {e}"));
                    lock(&shared.summary).failed += 1;
                }
            }
        }
        Err((failure, bytes)) => {
            say(format_args!(
                "{name}: ERROR from {peer} after {bytes} bytes: {failure}"
            ));
            finish_failed(number, &temp_path, shared);
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
    conn: &Conn,
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
            // The lifecycle woke this read by closing the connection: the
            // end of stream is the server's, not the client's.
            Ok(0) => match conn.closed() {
                Some(reason) => {
                    // Reset, so a client waiting for the close cannot take
                    // it for "saved".
                    let _ = net::reset_on_close(stream, true);
                    let failure = match reason {
                        CloseReason::Idle(timeout) => Failure::Idle(timeout),
                        CloseReason::Shutdown => Failure::Stopped(shared.grace),
                        CloseReason::Evicted => Failure::Closed(reason),
                    };
                    return Err((failure, received));
                }
                None => break,
            },
            Ok(count) => {
                conn.record(count);
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

/// Leaves `n.file` holding exactly `ERROR`, removes the temporary file and
/// counts the failure.
fn finish_failed(number: u64, temp_path: &Path, shared: &Shared) {
    lock(&shared.summary).failed += 1;
    let name = protocol::file_name(number);
    if let Err(e) = shared.numbering_lock().finish(number, temp_path, false) {
        warn(format_args!("{name}: cannot record ERROR: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_fit_in_the_open_file_limit() {
        assert_eq!(connections_within(1024, Some(1024)), 336);
        assert_eq!(connections_within(1024, Some(20_000)), 1024);
        assert_eq!(connections_within(1024, None), 1024);
        assert_eq!(connections_within(1024, Some(3)), 1);
    }

    #[test]
    fn transfers_abort_when_idle_or_past_the_grace() {
        let shared = Shared {
            idle_timeout: Duration::from_secs(10),
            grace: Duration::from_secs(5),
            stopping_since: OnceLock::new(),
            summary: Mutex::new(ServerSummary::default()),
            numbering: Mutex::new(Numbering::new(Path::new("."), 0)),
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

    /// A fresh directory for one test.
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("socklab-a5-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn leftovers_become_error_files_and_numbering_continues_past_them() {
        let dir = scratch("recover");
        fs::write(dir.join("2.file"), b"kept").unwrap();
        fs::write(dir.join(".5.file.part"), b"half").unwrap();
        fs::write(dir.join("notes.txt"), b"other").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.join(".3.file.part")).unwrap();
        let recovered = recover_leftovers(&dir).unwrap();
        assert_eq!(recovered.highest, 5);
        assert_eq!(recovered.notes.len(), 2, "{:?}", recovered.notes);
        assert!(recovered
            .notes
            .contains(&"Note: 5.file: ERROR (an unfinished upload left by an earlier run)".into()));
        assert_eq!(names(&dir), ["2.file", "5.file", "notes.txt"]);
        assert_eq!(fs::read(dir.join("5.file")).unwrap(), ERROR_CONTENT);
        assert_eq!(fs::read(dir.join("2.file")).unwrap(), b"kept");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_locked_part_belongs_to_a_live_server_and_is_left_alone() {
        let dir = scratch("locked");
        let part = dir.join(".1.file.part");
        let file = files::create_exclusive(&part).unwrap();
        file.lock().unwrap();
        assert_eq!(recover_leftovers(&dir).unwrap().highest, 1);
        assert_eq!(names(&dir), [".1.file.part"]);
        drop(file);
        recover_leftovers(&dir).unwrap();
        assert_eq!(names(&dir), ["1.file"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn claims_skip_taken_numbers_and_finishing_never_overwrites() {
        let dir = scratch("claim");
        let mut numbering = Numbering::new(&dir, 0);
        fs::write(dir.join("2.file"), b"someone else's").unwrap();
        fs::write(dir.join(".3.file.part"), b"someone else's").unwrap();
        let first = numbering.claim().unwrap();
        let second = numbering.claim().unwrap();
        assert_eq!((first.number, second.number), (1, 4));
        (&first.file).write_all(b"one").unwrap();
        drop(first.file);
        assert_eq!(numbering.finish(1, &first.temp_path, true).unwrap(), 1);
        drop(second.file);
        assert_eq!(numbering.finish(4, &second.temp_path, false).unwrap(), 4);
        assert!(numbering.in_flight.is_empty());
        assert_eq!(names(&dir), [".3.file.part", "1.file", "2.file", "4.file"]);
        assert_eq!(fs::read(dir.join("1.file")).unwrap(), b"one");
        assert_eq!(fs::read(dir.join("4.file")).unwrap(), ERROR_CONTENT);

        // A file that appears at the final name while a transfer runs stays,
        // and the upload takes the next free number.
        let third = numbering.claim().unwrap();
        (&third.file).write_all(b"three").unwrap();
        fs::write(dir.join("5.file"), b"planted").unwrap();
        fs::write(dir.join(".6.file.part"), b"in flight elsewhere").unwrap();
        drop(third.file);
        assert_eq!(numbering.finish(5, &third.temp_path, true).unwrap(), 7);
        assert_eq!(fs::read(dir.join("5.file")).unwrap(), b"planted");
        assert_eq!(fs::read(dir.join("7.file")).unwrap(), b"three");
        assert!(!third.temp_path.exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_forced_exit_records_every_transfer_in_flight() {
        let dir = scratch("forced");
        let mut numbering = Numbering::new(&dir, 0);
        let claims: Vec<Claim> = (0..3).map(|_| numbering.claim().unwrap()).collect();
        assert_eq!(numbering.abandon_all(), 3);
        assert_eq!(names(&dir), ["1.file", "2.file", "3.file"]);
        for name in names(&dir) {
            assert_eq!(fs::read(dir.join(name)).unwrap(), ERROR_CONTENT);
        }
        drop(claims);
        fs::remove_dir_all(dir).unwrap();
    }
}
