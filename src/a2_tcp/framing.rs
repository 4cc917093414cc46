//! Reading one "message" from a TCP stream that has no message boundaries.
//!
//! The seed reads once (`recv(1024)` on the server, `recv(2000)` on the
//! client) and takes whatever arrived as the whole message. On a stream one
//! `send` may arrive in several pieces, so a single read can see half a
//! request. [`read_message`] keeps every byte the seed's one read would have
//! seen and keeps reading only while the message is evidently unfinished:
//! it stops at the size limit, at end of stream, when `complete` says the
//! message is whole (for the request: its blank line), or after
//! [`QUIET_GAP`] without a new piece. It never splits a piece, so a message
//! that arrives in one read gives exactly the seed's bytes.

use super::protocol::QUIET_GAP;
use crate::net::is_timeout;
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads one message of at most `limit` bytes (see the module docs).
///
/// Fails with `TimedOut` if nothing arrives within `first_byte_timeout`,
/// and with `Interrupted` if `shutdown` is triggered first. An empty
/// message means the peer closed without sending anything. Sets the
/// stream's read timeout.
pub fn read_message(
    stream: &mut TcpStream,
    limit: usize,
    complete: impl Fn(&[u8]) -> bool,
    first_byte_timeout: Duration,
    shutdown: &Shutdown,
) -> io::Result<Vec<u8>> {
    let started = Instant::now();
    let mut message = Vec::with_capacity(limit);
    let mut buffer = vec![0u8; limit];
    let mut last_piece = started;
    loop {
        // Wake often enough to notice shutdown and the end of the quiet gap.
        let wait = if message.is_empty() {
            POLL_INTERVAL
        } else {
            QUIET_GAP
                .saturating_sub(last_piece.elapsed())
                .clamp(Duration::from_millis(1), POLL_INTERVAL)
        };
        stream.set_read_timeout(Some(wait))?;
        let room = limit - message.len();
        match stream.read(&mut buffer[..room]) {
            Ok(0) => return Ok(message),
            Ok(n) => {
                message.extend_from_slice(&buffer[..n]);
                if message.len() >= limit || complete(&message) {
                    return Ok(message);
                }
                last_piece = Instant::now();
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if shutdown.is_triggered() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "shutting down before the message was complete",
            ));
        }
        if message.is_empty() {
            if started.elapsed() >= first_byte_timeout {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "nothing received within {} s",
                        first_byte_timeout.as_secs_f64()
                    ),
                ));
            }
        } else if last_piece.elapsed() >= QUIET_GAP {
            return Ok(message);
        }
    }
}
