//! The TCP side of a server: an accept loop that stops on shutdown and
//! backs off when `accept` fails, and writes that notice shutdown and give up
//! on a peer that stops reading.

use crate::net::{canonical, reachable};
use crate::output::warn;
use crate::shutdown::Shutdown;
#[cfg(doc)]
use crate::shutdown::POLL_INTERVAL;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// Accepts connections until shutdown, handing each to `on_connection`
/// (which usually admits it to a [`Lifecycle`](crate::net::Lifecycle) and returns `Continue`;
/// `Break` stops).
///
/// A blocked `accept()` is not interrupted by signals, so on shutdown a
/// waker connects to the listener once; that connection is recognised by
/// the shutdown flag and dropped. A failed accept (for example too many
/// open files) is reported on stderr and retried after a pause that doubles
/// with every failure in a row, from [`ACCEPT_BACKOFF_MIN`] up to
/// [`ACCEPT_BACKOFF_MAX`], so a persistent error never spins the loop.
pub fn accept_until_shutdown(
    listener: &TcpListener,
    shutdown: &Shutdown,
    mut on_connection: impl FnMut(TcpStream, SocketAddr) -> ControlFlow<()>,
) -> io::Result<()> {
    let wake_addr = reachable(listener.local_addr()?);
    shutdown.on_trigger(move || {
        let _ = TcpStream::connect_timeout(&wake_addr, Duration::from_secs(1));
    });
    let mut backoff = AcceptBackoff::default();
    while !shutdown.is_triggered() {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff.succeeded();
                if shutdown.is_triggered() {
                    break;
                }
                if on_connection(stream, canonical(peer)).is_break() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let pause = backoff.failed();
                warn(format_args!(
                    "accept failed: {e}; retrying in {} ms",
                    pause.as_millis()
                ));
                shutdown.sleep(pause);
            }
        }
    }
    Ok(())
}

/// The first pause after a failed `accept()`.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);

/// The longest pause between failed `accept()`s.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Exponential backoff for failed `accept()`s: the pause doubles with every
/// failure in a row, up to [`ACCEPT_BACKOFF_MAX`], and starts over after a
/// success.
#[derive(Debug, Default)]
struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    /// Records a failure; returns how long to pause before the next try.
    fn failed(&mut self) -> Duration {
        let pause = ACCEPT_BACKOFF_MIN
            .saturating_mul(1 << self.failures.min(16))
            .min(ACCEPT_BACKOFF_MAX);
        self.failures = self.failures.saturating_add(1);
        pause
    }

    fn succeeded(&mut self) {
        self.failures = 0;
    }
}

/// With `reset` set, closing `stream` resets the connection (SO_LINGER with
/// a zero timeout) instead of ending it with a clean FIN. The file protocols
/// have no length prefix, so a clean close means "complete": a sender holds
/// this on while a file is in flight, so that dying mid-transfer can never
/// look like success. std cannot set this option, hence `socket2`.
pub fn reset_on_close(stream: &TcpStream, reset: bool) -> io::Result<()> {
    socket2::SockRef::from(stream).set_linger(reset.then_some(Duration::ZERO))
}

/// `write_all` that notices shutdown: the stream's write timeout (set it to
/// [`POLL_INTERVAL`]) wakes it to look at the flag, and a peer that accepts
/// nothing for `stall_limit` is given up on. Every byte is written, or it
/// fails with `Interrupted` (shutdown) or `TimedOut` (stalled peer).
pub fn write_all_until_shutdown(
    stream: &mut TcpStream,
    bytes: &[u8],
    stall_limit: Duration,
    shutdown: &Shutdown,
) -> io::Result<()> {
    write_all_checked(stream, bytes, stall_limit, shutdown, |_| Ok(()))
}

/// The loop of [`write_all_until_shutdown`]; `check` hears of every write
/// (with the byte count, 0 after a timeout) and may end it with an error.
pub(super) fn write_all_checked(
    stream: &mut TcpStream,
    mut bytes: &[u8],
    stall_limit: Duration,
    shutdown: &Shutdown,
    mut check: impl FnMut(usize) -> io::Result<()>,
) -> io::Result<()> {
    let mut last_progress = Instant::now();
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => {
                bytes = &bytes[written..];
                last_progress = Instant::now();
                check(written)?;
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if shutdown.is_triggered() {
                    return Err(io::Error::new(io::ErrorKind::Interrupted, "shutting down"));
                }
                check(0)?;
                if last_progress.elapsed() >= stall_limit {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the peer read nothing for {} s", stall_limit.as_secs_f64()),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether an I/O error is a read/write timeout (`WouldBlock` or `TimedOut`,
/// depending on the platform).
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{bind_tcp, SocketOptions};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn accept_backoff_doubles_up_to_its_cap_and_resets() {
        let mut backoff = AcceptBackoff::default();
        assert_eq!(backoff.failed(), ACCEPT_BACKOFF_MIN);
        assert_eq!(backoff.failed(), ACCEPT_BACKOFF_MIN * 2);
        assert_eq!(backoff.failed(), ACCEPT_BACKOFF_MIN * 4);
        for _ in 0..40 {
            assert!(backoff.failed() <= ACCEPT_BACKOFF_MAX);
        }
        assert_eq!(backoff.failed(), ACCEPT_BACKOFF_MAX);
        backoff.succeeded();
        assert_eq!(backoff.failed(), ACCEPT_BACKOFF_MIN);
    }

    #[test]
    fn accept_loop_stops_on_shutdown() {
        let listener = bind_tcp("127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let loop_shutdown = shutdown.clone();
        let handle = std::thread::spawn(move || {
            accept_until_shutdown(&listener, &loop_shutdown, |_, _| {
                counter.fetch_add(1, Ordering::SeqCst);
                ControlFlow::Continue(())
            })
        });
        let _client = TcpStream::connect(addr).unwrap();
        while accepted.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        shutdown.trigger();
        handle.join().unwrap().unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }
}
