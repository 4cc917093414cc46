//! The file server: one thread per connection, each checking the key and
//! streaming the file from disk.

use super::protocol::{
    keys_match, AUTH_ERROR, AUTH_SUCCESS, BAD_PATH_MESSAGE, CHUNK, KEY_QUIET, MAX_KEY_LEN,
};
use crate::error::Context;
use crate::net::{self, is_timeout, Conn, Lifecycle, Limits, SocketOptions};
use crate::output::{announce_listening, human_bytes, human_rate, rate};
use crate::pacing::{period_for_rate, Pacer};
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use crate::{report, say, warn};
use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::Builder;
use std::time::{Duration, Instant};

/// Everything the server needs to know.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (the seed binds `0.0.0.0`).
    pub bind: SocketAddr,
    /// The file every authenticated client receives.
    pub path: PathBuf,
    /// The shared key a client must send.
    pub key: Vec<u8>,
    /// Serve one connection, then exit (the seed's behaviour).
    pub once: bool,
    /// The connection cap, per-source share and idle timeout (a client that
    /// sends no key, or stops reading, for this long is dropped). When full,
    /// the connection that has made the least progress is evicted for a
    /// newcomer, so idle or slow clients cannot lock others out.
    pub limits: Limits,
    /// Pause between `AUTH_SUCCESS` and the file (see
    /// [`super::protocol::DEFAULT_AUTH_PAUSE`]).
    pub auth_pause: Duration,
    /// Send at most this many bits per second per client; 0 means as fast as
    /// the connection allows.
    pub rate_bits: u64,
}

/// Checks that `path` names a readable file, with the seed's message and
/// the system's reason when it does not.
pub fn check_source(path: &Path) -> io::Result<u64> {
    let opened = File::open(path).and_then(|file| file.metadata());
    match opened {
        Ok(metadata) if !metadata.is_dir() => Ok(metadata.len()),
        Ok(_) => Err(bad_path(path, "is a directory")),
        Err(e) => Err(bad_path(path, &e.to_string())),
    }
}

fn bad_path(path: &Path, reason: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{BAD_PATH_MESSAGE} ({}: {reason})", path.display()),
    )
}

/// Counts of what happened to the connections, for the closing summary.
#[derive(Debug, Default)]
pub struct ServerTotals {
    /// Files sent completely.
    pub sent: AtomicU64,
    /// File bytes written to sockets, complete transfers or not.
    pub bytes: AtomicU64,
    /// Connections refused for a wrong key.
    pub refused: AtomicU64,
    /// Connections dropped: no key in time, gone before sending one, or
    /// over the `max_clients` limit.
    pub dropped: AtomicU64,
    /// Transfers that broke off (client gone, stalled, or shutdown).
    pub failed: AtomicU64,
}

impl ServerTotals {
    /// One line such as `Served 3 files (15.00 MB); refused 1, dropped 0, failed 0`.
    pub fn summary(&self) -> String {
        format!(
            "Served {} file(s) ({}); refused {}, dropped {}, failed {}",
            self.sent.load(Ordering::Relaxed),
            human_bytes(self.bytes.load(Ordering::Relaxed)),
            self.refused.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// How one connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The whole file went out.
    Sent,
    /// Wrong key: `AUTH_ERROR` and close.
    Refused,
    /// No key arrived (timeout or the client left).
    Dropped,
    /// The transfer broke off.
    Failed,
}

/// Binds, announces the readiness line and serves `config.path` until
/// shutdown (or after one connection with `once`). Returns the totals; with
/// `once`, a connection that did not receive the file is an error.
pub fn serve(config: &ServerConfig, shutdown: &Shutdown) -> io::Result<Arc<ServerTotals>> {
    let size = check_source(&config.path)?;
    let listener = net::bind_tcp(config.bind, &SocketOptions::default())?;
    say!("Serving {} ({})", config.path.display(), human_bytes(size));
    announce_listening(listener.local_addr()?, "tcp");

    let config = Arc::new(config.clone());
    let totals = Arc::new(ServerTotals::default());
    let mut lifecycle = Lifecycle::new(config.limits, "a3-file")?;
    let mut once_outcome = None;
    net::accept_until_shutdown(&listener, shutdown, |stream, peer| {
        say!("Got a new connection from {peer}");
        if config.once {
            once_outcome = Some(handle_connection(
                stream, None, peer, &config, &totals, shutdown,
            ));
            return ControlFlow::Break(());
        }
        let Some(conn) = lifecycle.admit_or_warn(&stream, peer, shutdown) else {
            totals.dropped.fetch_add(1, Ordering::Relaxed);
            return ControlFlow::Continue(());
        };
        let (config, totals, shutdown) = (config.clone(), totals.clone(), shutdown.clone());
        let thread = Builder::new().name(format!("a3-file {peer}"));
        let started = lifecycle.spawn(thread, conn, move |conn| {
            handle_connection(stream, Some(&conn), peer, &config, &totals, &shutdown);
        });
        if let Err(e) = started {
            crate::output::warn(format_args!(
                "{peer}: cannot start a thread, connection dropped: {e}"
            ));
        }
        ControlFlow::Continue(())
    })?;
    lifecycle.drain(Duration::ZERO);
    report!("{}", totals.summary());
    let failure = match once_outcome {
        Some(Outcome::Sent) | None => return Ok(totals),
        Some(Outcome::Refused) => "the client sent a wrong key",
        Some(Outcome::Dropped) => "the client sent no key",
        Some(Outcome::Failed) => "the transfer broke off",
    };
    Err(io::Error::other(format!("--once: {failure}")))
}

/// How far one connection's file transfer got.
struct Transfer {
    /// File bytes written to the socket.
    sent: u64,
    /// When the file's first byte was sent (the connection's start until then).
    started: Instant,
}

/// Serves one connection from key to close, reports it on stdout/stderr and
/// counts it in `totals`.
fn handle_connection(
    mut stream: TcpStream,
    conn: Option<&Conn>,
    peer: SocketAddr,
    config: &ServerConfig,
    totals: &ServerTotals,
    shutdown: &Shutdown,
) -> Outcome {
    let mut transfer = Transfer {
        sent: 0,
        started: Instant::now(),
    };
    let result = serve_client(&mut stream, conn, config, shutdown, &mut transfer);
    let Transfer { sent, started } = transfer;
    totals.bytes.fetch_add(sent, Ordering::Relaxed);
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            warn!("{peer}: transfer broken off after {sent} bytes: {e}");
            Outcome::Failed
        }
    };
    let counter = match outcome {
        Outcome::Sent => {
            let elapsed = started.elapsed();
            say!(
                "File sent successfully to {peer}: {sent} bytes in {:.3} s ({})",
                elapsed.as_secs_f64(),
                human_rate(rate(sent, elapsed))
            );
            &totals.sent
        }
        Outcome::Refused => {
            say!("{peer}: wrong key, answered AUTH_ERROR and closed");
            &totals.refused
        }
        Outcome::Dropped => {
            say!("{peer}: no key received, connection dropped");
            &totals.dropped
        }
        Outcome::Failed => &totals.failed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    outcome
}

/// The protocol for one client, recording its progress in `transfer`.
fn serve_client(
    stream: &mut TcpStream,
    conn: Option<&Conn>,
    config: &ServerConfig,
    shutdown: &Shutdown,
    transfer: &mut Transfer,
) -> io::Result<Outcome> {
    stream.set_read_timeout(Some(POLL_INTERVAL))?;
    stream.set_write_timeout(Some(POLL_INTERVAL))?;
    let Some(received) = read_key(stream, conn, config, shutdown)? else {
        return Ok(Outcome::Dropped);
    };
    if !keys_match(&received, &config.key) {
        write_all(stream, conn, AUTH_ERROR, config, shutdown)?;
        return Ok(Outcome::Refused);
    }
    let mut file =
        File::open(&config.path).context(|| format!("cannot open {}", config.path.display()))?;
    // Until the last byte is out, closing the socket (a crash, a kill,
    // shutdown, an error) resets the connection instead of ending it
    // cleanly, so the client can tell a cut-off file from a complete one:
    // with a plain close both look like the EOF that ends the file.
    net::reset_on_close(stream, true)?;
    write_all(stream, conn, AUTH_SUCCESS, config, shutdown)?;
    if shutdown.sleep(config.auth_pause) {
        return Err(interrupted());
    }
    transfer.started = Instant::now();
    stream_file(
        &mut file,
        stream,
        conn,
        config,
        shutdown,
        &mut transfer.sent,
    )?;
    net::reset_on_close(stream, false)?;
    Ok(Outcome::Sent)
}

/// Reads the client's key: up to the key's length, or what arrived before
/// the client fell quiet for [`KEY_QUIET`] or closed. `None` when nothing
/// arrived within the idle timeout (or before close or shutdown).
fn read_key(
    stream: &mut TcpStream,
    conn: Option<&Conn>,
    config: &ServerConfig,
    shutdown: &Shutdown,
) -> io::Result<Option<Vec<u8>>> {
    let mut buffer = vec![0u8; MAX_KEY_LEN];
    let mut filled = 0;
    let started = Instant::now();
    let mut last_byte = started;
    while filled < config.key.len().max(1) {
        if shutdown.is_triggered() {
            return Ok(None);
        }
        match stream.read(&mut buffer[filled..]) {
            // The server closed it (evicted, idle): no key after all.
            Ok(0) if conn.is_some_and(|conn| conn.closed().is_some()) => return Ok(None),
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                last_byte = Instant::now();
                if let Some(conn) = conn {
                    conn.record(n);
                }
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if filled > 0 && last_byte.elapsed() >= KEY_QUIET {
                    break;
                }
                if started.elapsed() >= config.limits.idle_timeout {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e),
        }
    }
    buffer.truncate(filled);
    Ok((filled > 0).then_some(buffer))
}

/// Copies the file to the socket in [`CHUNK`]-sized pieces, paced when
/// `config.rate_bits` asks for it.
fn stream_file(
    file: &mut File,
    stream: &mut TcpStream,
    conn: Option<&Conn>,
    config: &ServerConfig,
    shutdown: &Shutdown,
    sent: &mut u64,
) -> io::Result<()> {
    // Paced transfers send smaller pieces so the rate is smooth: at most a
    // tenth of a second's worth, so even a very slow transfer writes often
    // and never looks idle to the idle timeout.
    let chunk = if config.rate_bits > 0 {
        usize::try_from(config.rate_bits / 8 / 10)
            .unwrap_or(usize::MAX)
            .clamp(1, CHUNK / 4)
    } else {
        CHUNK
    };
    let mut pacer = period_for_rate(chunk, config.rate_bits).map(Pacer::new);
    let mut buffer = vec![0u8; chunk];
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context(|| "reading the file"),
        };
        if let Some(pacer) = pacer.as_mut() {
            pacer.wait(shutdown).ok_or_else(interrupted)?;
        }
        write_all(stream, conn, &buffer[..read], config, shutdown)?;
        *sent += read as u64;
    }
}

/// Writes `bytes`, giving up on a client that reads nothing for the idle
/// timeout, on shutdown, and (with a `conn`) once the server has closed the
/// connection; records the progress in `conn`.
fn write_all(
    stream: &mut TcpStream,
    conn: Option<&Conn>,
    bytes: &[u8],
    config: &ServerConfig,
    shutdown: &Shutdown,
) -> io::Result<()> {
    let stall_limit = config.limits.idle_timeout;
    match conn {
        Some(conn) => conn.write_all(stream, bytes, stall_limit, shutdown),
        None => net::write_all_until_shutdown(stream, bytes, stall_limit, shutdown),
    }
}

fn interrupted() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "the server is shutting down")
}
