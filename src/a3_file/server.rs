//! The file server, on the kit's [server skeleton](crate::net::serve): one
//! thread per connection, each checking the key and streaming the file from
//! disk (or, with `once`, the seed's single connection on the caller's
//! thread).

use super::protocol::{
    keys_match, AUTH_ERROR, AUTH_SUCCESS, BAD_PATH_MESSAGE, CHUNK, KEY_QUIET, MAX_KEY_LEN,
};
use crate::error::Context;
use crate::net::serve::{accept_one, warn_refused, Connection, Handler};
use crate::net::{self, is_timeout, Conn, Limits, Refused, SocketOptions};
use crate::output::{announce_listening, human_bytes, human_rate, rate};
use crate::pacing::{period_for_rate, Pacer};
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use crate::{report, say, warn};
use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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

    let mut server = FileServer {
        config: Arc::new(config.clone()),
        totals: Arc::new(ServerTotals::default()),
        shutdown: shutdown.clone(),
    };
    let once_outcome = if config.once {
        match accept_one(&listener, shutdown)? {
            Some((stream, peer)) => {
                server.arrived(peer);
                Some(server.client(stream, peer).run())
            }
            None => None,
        }
    } else {
        net::serve::serve(listener, config.limits, "a3-file", shutdown, &mut server)?;
        None
    };
    let totals = server.totals;
    report!("{}", totals.summary());
    let failure = match once_outcome {
        Some(Outcome::Sent) | None => return Ok(totals),
        Some(Outcome::Refused) => "the client sent a wrong key",
        Some(Outcome::Dropped) => "the client sent no key",
        Some(Outcome::Failed) => "the transfer broke off",
    };
    Err(io::Error::other(format!("--once: {failure}")))
}

/// The server's side of the accept loop.
struct FileServer {
    config: Arc<ServerConfig>,
    totals: Arc<ServerTotals>,
    shutdown: Shutdown,
}

impl FileServer {
    /// The state of a new connection from `peer`.
    fn client(&self, stream: TcpStream, peer: SocketAddr) -> Client {
        Client {
            stream,
            conn: None,
            peer,
            config: Arc::clone(&self.config),
            totals: Arc::clone(&self.totals),
            shutdown: self.shutdown.clone(),
            sent: 0,
            started: Instant::now(),
        }
    }
}

impl Handler for FileServer {
    type Connection = Client;

    fn arrived(&mut self, peer: SocketAddr) {
        say!("Got a new connection from {peer}");
    }

    fn open(&mut self, stream: TcpStream, peer: SocketAddr, _conn: &Conn) -> Option<Client> {
        Some(self.client(stream, peer))
    }

    fn refused(&mut self, stream: TcpStream, peer: SocketAddr, why: Refused) {
        self.totals.dropped.fetch_add(1, Ordering::Relaxed);
        warn_refused(peer, why);
        drop(stream);
    }
}

/// One client, from key to close.
struct Client {
    stream: TcpStream,
    /// Its place in the lifecycle (none for the single connection of `once`).
    conn: Option<Conn>,
    peer: SocketAddr,
    config: Arc<ServerConfig>,
    totals: Arc<ServerTotals>,
    shutdown: Shutdown,
    /// File bytes written to the socket.
    sent: u64,
    /// When the file's first byte was sent (the connection's start until then).
    started: Instant,
}

impl Connection for Client {
    fn serve(mut self, conn: Conn) {
        self.conn = Some(conn);
        self.run();
    }
}

impl Client {
    /// Serves the client, reports it on stdout/stderr and counts it in the
    /// totals.
    fn run(mut self) -> Outcome {
        let result = self.serve_client();
        let (peer, sent, totals) = (self.peer, self.sent, &self.totals);
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
                let elapsed = self.started.elapsed();
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

    /// The protocol for one client, recording its progress in `sent` and
    /// `started`.
    fn serve_client(&mut self) -> io::Result<Outcome> {
        self.stream.set_read_timeout(Some(POLL_INTERVAL))?;
        self.stream.set_write_timeout(Some(POLL_INTERVAL))?;
        let Some(received) = self.read_key()? else {
            return Ok(Outcome::Dropped);
        };
        let config = Arc::clone(&self.config);
        if !keys_match(&received, &config.key) {
            self.write_all(AUTH_ERROR)?;
            return Ok(Outcome::Refused);
        }
        let mut file = File::open(&config.path)
            .context(|| format!("cannot open {}", config.path.display()))?;
        // Until the last byte is out, closing the socket (a crash, a kill,
        // shutdown, an error) resets the connection instead of ending it
        // cleanly, so the client can tell a cut-off file from a complete one:
        // with a plain close both look like the EOF that ends the file.
        net::reset_on_close(&self.stream, true)?;
        self.write_all(AUTH_SUCCESS)?;
        if self.shutdown.sleep(config.auth_pause) {
            return Err(interrupted());
        }
        self.started = Instant::now();
        self.stream_file(&mut file)?;
        net::reset_on_close(&self.stream, false)?;
        Ok(Outcome::Sent)
    }

    /// Whether the server has closed the connection (evicted, idle).
    fn closed_by_server(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|conn| conn.closed().is_some())
    }

    /// Reads the client's key: up to the key's length, or what arrived before
    /// the client fell quiet for [`KEY_QUIET`] or closed. `None` when nothing
    /// arrived within the idle timeout (or before close or shutdown).
    fn read_key(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut buffer = vec![0u8; MAX_KEY_LEN];
        let mut filled = 0;
        let started = Instant::now();
        let mut last_byte = started;
        while filled < self.config.key.len().max(1) {
            if self.shutdown.is_triggered() {
                return Ok(None);
            }
            match self.stream.read(&mut buffer[filled..]) {
                // The server closed it (evicted, idle): no key after all.
                Ok(0) if self.closed_by_server() => return Ok(None),
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    last_byte = Instant::now();
                    if let Some(conn) = &self.conn {
                        conn.record(n);
                    }
                }
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                    if filled > 0 && last_byte.elapsed() >= KEY_QUIET {
                        break;
                    }
                    if started.elapsed() >= self.config.limits.idle_timeout {
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
    fn stream_file(&mut self, file: &mut File) -> io::Result<()> {
        let rate_bits = self.config.rate_bits;
        // Paced transfers send smaller pieces so the rate is smooth: at most a
        // tenth of a second's worth, so even a very slow transfer writes often
        // and never looks idle to the idle timeout.
        let chunk = if rate_bits > 0 {
            usize::try_from(rate_bits / 8 / 10)
                .unwrap_or(usize::MAX)
                .clamp(1, CHUNK / 4)
        } else {
            CHUNK
        };
        let mut pacer = period_for_rate(chunk, rate_bits).map(Pacer::new);
        let mut buffer = vec![0u8; chunk];
        loop {
            let read = match file.read(&mut buffer) {
                Ok(0) => return Ok(()),
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context(|| "reading the file"),
            };
            if let Some(pacer) = pacer.as_mut() {
                pacer.wait(&self.shutdown).ok_or_else(interrupted)?;
            }
            self.write_all(&buffer[..read])?;
            self.sent += read as u64;
        }
    }

    /// Writes `bytes`, giving up on a client that reads nothing for the idle
    /// timeout, on shutdown, and (with a `conn`) once the server has closed the
    /// connection; records the progress in `conn`.
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stall_limit = self.config.limits.idle_timeout;
        let (stream, shutdown) = (&mut self.stream, &self.shutdown);
        match &self.conn {
            Some(conn) => conn.write_all(stream, bytes, stall_limit, shutdown),
            None => net::write_all_until_shutdown(stream, bytes, stall_limit, shutdown),
        }
    }
}

fn interrupted() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "the server is shutting down")
}
