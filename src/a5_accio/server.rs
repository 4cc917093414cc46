//! The accio server: accepts connections, gives each the next file number
//! and a thread of its own (on the kit's [server skeleton](crate::net::serve)),
//! and streams what arrives into `FILE_DIR`.
//!
//! One accept loop hands out the numbers, so `1.file`, `2.file`, … follow
//! the accept order with no race between threads; how numbers are claimed
//! and why no file is ever overwritten or lost is [`super::numbering`]'s
//! story, and one transfer is [`super::transfer`]'s.
//!
//! When full (`--max-clients`), the connection that has sent the least
//! recently (idle or trickling) is evicted for a newcomer; while none can
//! be, newcomers wait in the listen backlog. A refused newcomer (the server
//! is stopping, or its address has its share) gets a reset, so it cannot
//! take the close for success.
//!
//! Stopping (SIGTERM, SIGQUIT, Ctrl-C): the accept loop ends and the
//! listener closes at once; transfers in flight keep going until they end or
//! the grace period runs out; then the server prints its summary and exits
//! 0. A second signal during the grace period stops it at once with status
//! 130, after recording every unfinished transfer as an `ERROR` file and
//! removing its `.part` ([`Shutdown::on_forced_exit`]).

use super::numbering::{check_writable, prepare_dir, recover_leftovers, Numbering, Recovered};
use super::protocol;
use super::transfer::{finish_failed, lock, Receiver, Shared};
use crate::net::serve::{serve, Handler};
use crate::net::{self, Conn, Limits, Refused, SocketOptions, WhenFull};
use crate::output::{announce_listening, human_bytes, warn};
use crate::shutdown::Shutdown;
use std::fmt;
use std::fs;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

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
    let recovered = prepare(&config.file_dir)?;
    let listener = net::bind_tcp(
        SocketAddr::new(config.bind, config.port),
        &SocketOptions::default(),
    )?;
    announce_listening(listener.local_addr()?, "tcp");
    let limits = limits(config);
    let shared = Arc::new(Shared {
        idle_timeout: config.idle_timeout,
        grace: config.grace,
        stopping_since: OnceLock::new(),
        summary: Mutex::new(ServerSummary::default()),
        numbering: Mutex::new(Numbering::new(&config.file_dir, recovered.highest)),
    });
    watch_signals(&shared, shutdown);
    let mut server = AccioServer {
        shared: Arc::clone(&shared),
    };
    serve(listener, limits, "accio", shutdown, &mut server)?;
    let summary = *lock(&shared.summary);
    Ok(summary)
}

/// Makes `dir` ready: creates it, checks that files can be written there,
/// and recovers what an earlier run left (see [`recover_leftovers`]).
fn prepare(dir: &Path) -> io::Result<Recovered> {
    prepare_dir(dir)?;
    check_writable(dir)?;
    let recovered = recover_leftovers(dir)?;
    for note in &recovered.notes {
        warn(format_args!("{note}"));
    }
    Ok(recovered)
}

/// The lifecycle's limits: `--max-clients` within the open-file limit (with
/// a note when that lowers it), newcomers waiting when full.
fn limits(config: &ServerConfig) -> Limits {
    let open_files = open_file_limit();
    let max_connections = connections_within(config.max_connections, open_files);
    if let (true, Some(limit)) = (max_connections < config.max_connections, open_files) {
        warn(format_args!(
            "Note: serving at most {max_connections} connections at once, as the \
             open-file limit is {limit} (raise it with `ulimit -n`)"
        ));
    }
    Limits {
        when_full: WhenFull::Wait,
        ..Limits::new(max_connections, config.idle_timeout).with_share(config.max_per_source)
    }
}

/// The first signal starts the grace period; a second one records every
/// transfer in flight as `ERROR` before the process exits.
fn watch_signals(shared: &Arc<Shared>, shutdown: &Shutdown) {
    let on_stop = Arc::clone(shared);
    shutdown.on_trigger(move || {
        let _ = on_stop.stopping_since.set(Instant::now());
    });
    let on_forced_exit = Arc::clone(shared);
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
}

/// The server's side of the accept loop: claims each connection's number,
/// in accept order.
struct AccioServer {
    shared: Arc<Shared>,
}

impl Handler for AccioServer {
    type Connection = Receiver;

    fn open(&mut self, stream: TcpStream, peer: SocketAddr, _conn: &Conn) -> Option<Receiver> {
        let claim = match self.shared.numbering_lock().claim() {
            Ok(claim) => claim,
            Err(e) => {
                warn(format_args!("cannot receive from {peer}: {e}"));
                lock(&self.shared.summary).failed += 1;
                return None;
            }
        };
        Some(Receiver {
            claim,
            stream,
            peer,
            shared: Arc::clone(&self.shared),
        })
    }

    fn refused(&mut self, stream: TcpStream, peer: SocketAddr, why: Refused) {
        warn(format_args!("{peer}: refused: {why}; connection reset"));
        // A reset, so the client cannot take the close for success.
        let _ = net::reset_on_close(&stream, true);
    }

    fn evicted(&mut self, evicted: SocketAddr, peer: SocketAddr) {
        warn(format_args!(
            "{evicted}: evicted (sent the least recently) to admit {peer}"
        ));
    }

    fn not_started(&mut self, receiver: Receiver, peer: SocketAddr, error: io::Error) {
        let Receiver { claim, stream, .. } = receiver;
        drop((stream, claim.file));
        // The connection and the file are gone: record the loss.
        warn(format_args!(
            "{}: cannot start a thread for {peer}: {error}",
            protocol::file_name(claim.number)
        ));
        finish_failed(claim.number, &claim.temp_path, &self.shared);
    }

    fn stopping(&mut self, in_flight: usize) -> Duration {
        if in_flight > 0 {
            warn(format_args!(
                "Stopping: waiting up to {} s for {in_flight} transfer(s) in flight",
                self.shared.grace.as_secs_f64()
            ));
        }
        self.shared.grace
    }
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
    fn open_file_limit_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(open_file_limit().is_some_and(|limit| limit > 0));
        }
    }
}
