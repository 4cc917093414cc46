//! One accio transfer: a receiving thread reads into a large buffer,
//! writes it to its claimed `.n.file.part` whenever the buffer is full, and
//! on a clean end of stream publishes the file as `n.file` *before* closing
//! the connection — a client that waits for the server's close therefore
//! knows its file is saved.
//!
//! A transfer fails when the client sends nothing for the idle timeout, when
//! the connection breaks, when the disk refuses a write, when the server
//! evicts it for a newcomer, or when the server is stopping and the grace
//! period is over. Its file then holds exactly [`ERROR_CONTENT`](super::protocol::ERROR_CONTENT).

use super::numbering::{Claim, Numbering};
use super::protocol::{self, RECEIVE_BUFFER};
use super::server::ServerSummary;
use crate::net::serve::Connection;
use crate::net::{self, CloseReason, Conn};
use crate::output::{human_bytes, human_rate, rate, say, warn};
use crate::shutdown::POLL_INTERVAL;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Stack size of a receiving thread: its buffer lives on the heap, so a
/// small stack lets a thousand connections share little memory.
const THREAD_STACK: usize = 256 * 1024;

/// State every receiving thread shares.
pub(super) struct Shared {
    pub(super) idle_timeout: Duration,
    pub(super) grace: Duration,
    /// When shutdown was triggered; the grace period counts from here.
    pub(super) stopping_since: OnceLock<Instant>,
    pub(super) summary: Mutex<ServerSummary>,
    pub(super) numbering: Mutex<Numbering>,
}

impl Shared {
    pub(super) fn numbering_lock(&self) -> std::sync::MutexGuard<'_, Numbering> {
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

/// One connection's transfer: its claimed number and temporary file, the
/// stream, and what all transfers share.
pub(super) struct Receiver {
    pub(super) claim: Claim,
    pub(super) stream: TcpStream,
    pub(super) peer: SocketAddr,
    pub(super) shared: Arc<Shared>,
}

impl Connection for Receiver {
    const STACK_SIZE: Option<usize> = Some(THREAD_STACK);

    fn thread_name(&self, _server: &str, _id: u64) -> String {
        format!("accio-{}", self.claim.number)
    }

    fn serve(self, conn: Conn) {
        receive(self.claim, self.stream, &conn, self.peer, &self.shared);
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
pub(super) fn finish_failed(number: u64, temp_path: &Path, shared: &Shared) {
    lock(&shared.summary).failed += 1;
    let name = protocol::file_name(number);
    if let Err(e) = shared.numbering_lock().finish(number, temp_path, false) {
        warn(format_args!("{name}: cannot record ERROR: {e}"));
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
