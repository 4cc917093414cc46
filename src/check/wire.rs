//! Verdicts and socket helpers for the cases.
//!
//! A case returns a [`Verdict`]: `Ok(detail)` for PASS, or a [`Fail`] —
//! a byte mismatch (expected and observed bytes, shown escaped as Python
//! bytes and trimmed around the first difference), a plain problem, or a
//! reason to skip. Every helper here takes a deadline, so no case can block
//! for longer than it says.

use crate::python::bytes_repr;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// What a case concludes: `Ok(detail)` passes.
pub type Verdict = Result<String, Fail>;

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Fail {
    /// The program sent or wrote the wrong bytes.
    Mismatch {
        /// What was being compared.
        what: String,
        /// The bytes the protocol requires.
        expected: Vec<u8>,
        /// The bytes seen.
        observed: Vec<u8>,
    },
    /// Anything else that went wrong (a crash, a hang, a missing line).
    Problem(String),
    /// The case cannot run here (for example `--addr` and a fresh process).
    Skip(String),
}

impl Fail {
    /// A problem described in words.
    pub fn problem(text: impl Into<String>) -> Fail {
        Fail::Problem(text.into())
    }

    /// A byte mismatch.
    pub fn mismatch(what: impl Into<String>, expected: &[u8], observed: &[u8]) -> Fail {
        Fail::Mismatch {
            what: what.into(),
            expected: expected.to_vec(),
            observed: observed.to_vec(),
        }
    }

    /// One line for the report: what went wrong, with the first differing
    /// byte and both sides escaped and trimmed around it.
    pub fn describe(&self) -> String {
        match self {
            Fail::Problem(text) | Fail::Skip(text) => text.clone(),
            Fail::Mismatch {
                what,
                expected,
                observed,
            } => {
                let at = first_difference(expected, observed);
                let place = if expected.len() > WINDOW || observed.len() > WINDOW {
                    format!(
                        " (first difference at byte {at}; expected {} bytes, observed {})",
                        expected.len(),
                        observed.len()
                    )
                } else {
                    String::new()
                };
                format!(
                    "{what}{place}: expected {}, observed {}",
                    excerpt(expected, at),
                    excerpt(observed, at)
                )
            }
        }
    }
}

/// Attaches what was being done to an I/O error.
pub trait Context<T> {
    /// Turns an error into [`Fail::Problem`] naming `what`.
    fn context(self, what: &str) -> Result<T, Fail>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: &str) -> Result<T, Fail> {
        self.map_err(|e| Fail::Problem(format!("{what}: {e}")))
    }
}

/// Fails with a mismatch unless `observed == expected`.
pub fn expect_bytes(what: &str, expected: &[u8], observed: &[u8]) -> Result<(), Fail> {
    if expected == observed {
        Ok(())
    } else {
        Err(Fail::mismatch(what, expected, observed))
    }
}

/// Bytes shown on each side of the first difference.
const WINDOW: usize = 48;

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// `bytes` escaped like a Python bytes literal, cut to a window around
/// `at` with `…` where bytes were left out.
pub fn excerpt(bytes: &[u8], at: usize) -> String {
    let start = at.saturating_sub(WINDOW / 2).min(bytes.len());
    let end = (start + WINDOW).min(bytes.len());
    let start = if end - start < WINDOW {
        end.saturating_sub(WINDOW)
    } else {
        start
    };
    let mut text = String::new();
    if start > 0 {
        text.push('…');
    }
    text.push_str(&bytes_repr(&bytes[start..end]));
    if end < bytes.len() {
        text.push('…');
    }
    text
}

/// Escapes text for a report line (newlines and control bytes visible).
pub fn show(bytes: &[u8]) -> String {
    excerpt(bytes, 0)
}

/// Connects to `addr` within 3 s, with read and write timeouts set.
pub fn connect(addr: SocketAddr) -> Result<TcpStream, Fail> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .context(&format!("cannot connect to {addr}"))?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .context("setting a write timeout")?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Writes all of `bytes`, failing with `what` in the message.
pub fn send(stream: &mut TcpStream, bytes: &[u8], what: &str) -> Result<(), Fail> {
    stream.write_all(bytes).context(what)
}

/// What arrived on a stream before a deadline.
pub struct Received {
    /// The bytes read.
    pub bytes: Vec<u8>,
    /// Whether the peer closed (EOF or reset) before the deadline.
    pub closed: bool,
    /// Whether the peer reset the connection.
    pub reset: bool,
}

/// Reads until `want` bytes arrived, the peer closed, or `wait` passed.
pub fn read_upto(stream: &mut TcpStream, want: usize, wait: Duration) -> Received {
    let deadline = Instant::now() + wait;
    let mut received = Received {
        bytes: Vec::new(),
        closed: false,
        reset: false,
    };
    let mut buffer = vec![0u8; 64 * 1024];
    while received.bytes.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        let room = (want - received.bytes.len()).min(buffer.len());
        match stream.read(&mut buffer[..room]) {
            Ok(0) => {
                received.closed = true;
                spare_time_wait(stream);
                break;
            }
            Ok(n) => received.bytes.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if crate::net::is_timeout(&e) => break,
            Err(_) => {
                received.closed = true;
                received.reset = true;
                break;
            }
        }
    }
    received
}

/// The fixed port of the server under test (`--port`), or 0.
static FIXED_PORT: AtomicU16 = AtomicU16::new(0);

/// Tells the helpers the server's fixed port (`--port`).
pub fn set_fixed_port(port: u16) {
    FIXED_PORT.store(port, Ordering::Relaxed);
}

/// After a server on a fixed port closed a connection first, closes our
/// end with a reset: that ends the server's side at once, instead of a
/// TIME_WAIT that would keep a server without SO_REUSEADDR from binding the
/// port again for the next case.
fn spare_time_wait(stream: &TcpStream) {
    let fixed = FIXED_PORT.load(Ordering::Relaxed);
    if fixed != 0 && stream.peer_addr().is_ok_and(|peer| peer.port() == fixed) {
        let _ = crate::net::reset_on_close(stream, true);
    }
}

/// The most [`read_to_close`] takes, so a program that streams without
/// end costs the checker bounded memory and time (a case that expects
/// more uses [`read_past`]).
pub const READ_LIMIT: usize = 4 << 20;

/// How far [`read_past`] reads beyond what a case expects.
const READ_SLACK: usize = 64 * 1024;

/// Reads until the peer closes, `expected` bytes and a little more came,
/// or `wait` passes.
pub fn read_past(stream: &mut TcpStream, expected: usize, wait: Duration) -> Received {
    read_upto(stream, expected.saturating_add(READ_SLACK), wait)
}

/// Reads until the peer closes, [`READ_LIMIT`] bytes came, or `wait`
/// passes.
pub fn read_to_close(stream: &mut TcpStream, wait: Duration) -> Received {
    read_upto(stream, READ_LIMIT, wait)
}

/// Reads exactly `expected.len()` bytes (or what came before a close or
/// `wait`) and fails unless they are `expected`.
pub fn expect_read(
    stream: &mut TcpStream,
    expected: &[u8],
    wait: Duration,
    what: &str,
) -> Result<(), Fail> {
    let got = read_upto(stream, expected.len(), wait);
    if got.bytes == expected {
        return Ok(());
    }
    let why = if got.closed {
        format!("{what} (the connection closed)")
    } else if got.bytes.len() < expected.len() {
        format!("{what} (nothing more within {:.1} s)", wait.as_secs_f64())
    } else {
        what.to_string()
    };
    Err(Fail::mismatch(why, expected, &got.bytes))
}

/// Fails if anything arrives within `wait` (a closed connection is fine).
pub fn expect_silence(stream: &mut TcpStream, wait: Duration, what: &str) -> Result<(), Fail> {
    let got = read_upto(stream, 1 << 20, wait);
    if got.bytes.is_empty() {
        Ok(())
    } else {
        Err(Fail::mismatch(what, b"", &got.bytes))
    }
}

/// Closes `stream` with a reset (RST) instead of a FIN.
pub fn reset(stream: TcpStream) {
    let _ = crate::net::reset_on_close(&stream, true);
    drop(stream);
}

/// Accepts one connection within `wait` (read and write timeouts set).
pub fn accept_within(listener: &TcpListener, wait: Duration) -> Result<TcpStream, Fail> {
    listener
        .set_nonblocking(true)
        .context("setting the listener non-blocking")?;
    let deadline = Instant::now() + wait;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream
                    .set_nonblocking(false)
                    .context("setting the connection blocking")?;
                stream
                    .set_write_timeout(Some(Duration::from_secs(5)))
                    .context("setting a write timeout")?;
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) if crate::net::is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if Instant::now() >= deadline {
                    return Err(Fail::problem(format!(
                        "the client did not connect within {:.0} s",
                        wait.as_secs_f64()
                    )));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(Fail::problem(format!("accept failed: {e}"))),
        }
    }
}

/// Whether stderr holds a clear error rather than nothing or a Python
/// traceback.
pub fn clear_error(stderr: &[u8]) -> Result<(), Fail> {
    let text = String::from_utf8_lossy(stderr);
    if text.contains("Traceback (most recent call last)") {
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(Fail::problem(format!(
            "a traceback instead of a clear error: {}",
            last.trim()
        )));
    }
    if text.trim().is_empty() {
        return Err(Fail::problem("no error message on stderr"));
    }
    Ok(())
}

/// A UDP socket on loopback of the same family as `peer`, on a free port.
pub fn udp_for(peer: SocketAddr) -> Result<UdpSocket, Fail> {
    let local: SocketAddr = if peer.is_ipv6() {
        "[::1]:0".parse().expect("literal address")
    } else {
        "127.0.0.1:0".parse().expect("literal address")
    };
    UdpSocket::bind(local).context("cannot bind a UDP socket")
}

/// Receives one datagram within `wait` (ICMP errors from earlier sends are
/// skipped).
pub fn recv_within(socket: &UdpSocket, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let deadline = Instant::now() + wait;
    let mut buffer = vec![0u8; 65_536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
            return None;
        }
        match socket.recv_from(&mut buffer) {
            Ok((n, from)) => return Some((buffer[..n].to_vec(), from)),
            Err(e) if crate::net::is_timeout(&e) => return None,
            Err(_) => {}
        }
    }
}

/// Sends `request` from `socket` to `server` and fails unless the first
/// datagram back within `wait` is exactly `expected`.
pub fn udp_exchange(
    socket: &UdpSocket,
    server: SocketAddr,
    request: &[u8],
    expected: &[u8],
    wait: Duration,
) -> Result<(), Fail> {
    socket
        .send_to(request, server)
        .context(&format!("sending {}", show(request)))?;
    match recv_within(socket, wait) {
        Some((reply, _)) => expect_bytes(&format!("reply to {}", show(request)), expected, &reply),
        None => Err(Fail::mismatch(
            format!(
                "reply to {} (nothing within {:.1} s)",
                show(request),
                wait.as_secs_f64()
            ),
            expected,
            b"",
        )),
    }
}

/// Deterministic test content of `len` bytes, every byte value included
/// (so files are binary and not valid UTF-8).
pub fn test_bytes(len: usize, seed: u8) -> Vec<u8> {
    let mut state = 0x9e37_79b9_u32 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

/// Text test content of `len` bytes (letters, digits and newlines; it never
/// starts with a digit).
pub fn test_text(len: usize, seed: u8) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n";
    test_bytes(len, seed)
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let letters = if i == 0 { 52 } else { ALPHABET.len() };
            ALPHABET[usize::from(b) % letters]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_shows_both_sides_escaped() {
        let fail = Fail::mismatch("reply", b"GET / HTT", b"GET /\xff");
        assert_eq!(
            fail.describe(),
            r"reply: expected b'GET / HTT', observed b'GET /\xff'"
        );
    }

    #[test]
    fn long_mismatch_is_trimmed_around_the_first_difference() {
        let expected = vec![b'a'; 1000];
        let mut observed = expected.clone();
        observed[500] = b'b';
        let text = Fail::mismatch("file", &expected, &observed).describe();
        assert!(text.contains("first difference at byte 500"), "{text}");
        assert!(text.contains("…b'aaaaaaaaaaaaaaaaaaaaaaaabaaaa"), "{text}");
        assert!(text.len() < 300, "{text}");
    }

    #[test]
    fn test_content_is_deterministic_binary_and_text() {
        assert_eq!(test_bytes(100, 1), test_bytes(100, 1));
        assert_ne!(test_bytes(100, 1), test_bytes(100, 2));
        assert!(std::str::from_utf8(&test_bytes(4096, 3)).is_err());
        let text = test_text(4096, 3);
        assert!(text[0].is_ascii_alphabetic());
        assert!(text.iter().all(|b| b.is_ascii()));
    }
}
