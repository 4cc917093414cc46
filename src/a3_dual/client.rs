//! The dual-stack client: a few `Hii Server` / `Acknowledgement` rounds,
//! then `exit`.

use super::protocol::{family_name, ACKNOWLEDGEMENT, EXIT};
use crate::error::Context;
use crate::net::{connect_first, is_timeout};
use crate::stats::Summary;
use crate::{report, say};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// At most this many round-trip times are kept for the summary (the first
/// ones; 8 MB of samples).
const MAX_SAMPLES: u64 = 1_000_000;

/// Where the client connects and what it sends.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Host name or address; resolving it chooses the address family.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// How many message / acknowledgement rounds to run.
    pub rounds: u64,
    /// The message sent each round (checked with
    /// [`super::protocol::check_message`] by the caller).
    pub message: String,
    /// Limit for connecting and for each acknowledgement.
    pub timeout: Duration,
}

/// What a finished session measured.
#[derive(Debug, Clone)]
pub struct Session {
    /// Rounds completed.
    pub rounds: u64,
    /// Time from the first message to the last acknowledgement.
    pub elapsed: Duration,
    /// Round-trip times in microseconds (`None` for zero rounds).
    pub round_trips: Option<Summary>,
}

/// Runs the session and prints the seed's lines. Any deviation — a refused
/// connection, a server that closes early, a wrong reply, a silent server —
/// is an error naming what happened.
pub fn run(config: &ClientConfig) -> io::Result<Session> {
    let mut stream = connect_first(&config.host, config.port, config.timeout)?;
    let addr = stream.peer_addr()?;
    say!(
        "Address family: {} ({} resolved to {})",
        family_name(addr),
        config.host,
        addr.ip()
    );
    stream.set_read_timeout(Some(config.timeout))?;
    stream.set_write_timeout(Some(config.timeout))?;
    stream.set_nodelay(true)?;

    let started = Instant::now();
    let round_trips = exchange(&mut stream, config)?;
    let elapsed = started.elapsed();
    stream
        .write_all(EXIT.as_bytes())
        .context(|| format!("cannot send {EXIT:?}"))?;
    drop(stream);
    say!("Connection closed");
    let round_trips = Summary::of(&round_trips);
    let rtt_text = round_trips.as_ref().map_or(String::new(), |rtt| {
        format!(
            "; round trip min {:.1} / median {:.1} / mean {:.1} / max {:.1} µs",
            rtt.min, rtt.p50, rtt.mean, rtt.max
        )
    });
    report!(
        "{} round(s) in {:.3} ms{rtt_text}",
        config.rounds,
        elapsed.as_secs_f64() * 1e3
    );
    Ok(Session {
        rounds: config.rounds,
        elapsed,
        round_trips,
    })
}

/// Runs the rounds: sends the message and reads exactly one
/// acknowledgement each time; returns the round-trip times in microseconds
/// (the first [`MAX_SAMPLES`]).
fn exchange(stream: &mut TcpStream, config: &ClientConfig) -> io::Result<Vec<f64>> {
    let mut reply = [0u8; ACKNOWLEDGEMENT.len()];
    // Capped so a huge --count cannot grow memory without bound.
    let mut round_trips = Vec::with_capacity(config.rounds.min(MAX_SAMPLES) as usize);
    for round in 1..=config.rounds {
        let sent = Instant::now();
        stream
            .write_all(config.message.as_bytes())
            .map_err(|e| explain_failed_round(e, round, config))?;
        // TCP has no message boundaries: read exactly one acknowledgement,
        // however many pieces it arrives in.
        stream
            .read_exact(&mut reply)
            .map_err(|e| explain_failed_round(e, round, config))?;
        if reply != ACKNOWLEDGEMENT.as_bytes() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "round {round}: expected {ACKNOWLEDGEMENT:?}, got {:?}",
                    String::from_utf8_lossy(&reply)
                ),
            ));
        }
        if round <= MAX_SAMPLES {
            round_trips.push(sent.elapsed().as_secs_f64() * 1e6);
        }
        say!("Acknowledgement Received: {ACKNOWLEDGEMENT}");
    }
    Ok(round_trips)
}

/// Turns a failed send or acknowledgement read into an error that says
/// which round failed and why.
fn explain_failed_round(error: io::Error, round: u64, config: &ClientConfig) -> io::Error {
    use io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    let what = if matches!(
        error.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    ) {
        let how = if error.kind() == UnexpectedEof {
            String::new()
        } else {
            format!(" ({error})")
        };
        format!(
            "the server closed the connection after {} of {} acknowledgements{how}",
            round - 1,
            config.rounds
        )
    } else if is_timeout(&error) {
        format!(
            "no complete acknowledgement within {} s in round {round}",
            config.timeout.as_secs_f64()
        )
    } else {
        format!("round {round}: {error}")
    };
    io::Error::new(error.kind(), what)
}
