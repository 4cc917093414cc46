//! The dual-stack client: a few `Hii Server` / `Acknowledgement` rounds,
//! then `exit`.

use super::protocol::{family_name, ACKNOWLEDGEMENT, EXIT};
use crate::net::{is_timeout, resolve};
use crate::stats::Summary;
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
    let addr = resolve(&config.host, config.port)?;
    println!(
        "Address family: {} ({} resolved to {})",
        family_name(addr),
        config.host,
        addr.ip()
    );
    let mut stream = TcpStream::connect_timeout(&addr, config.timeout).map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::ConnectionRefused {
            " (is the server running?)"
        } else {
            ""
        };
        io::Error::new(e.kind(), format!("cannot connect to {addr}: {e}{hint}"))
    })?;
    stream.set_read_timeout(Some(config.timeout))?;
    stream.set_write_timeout(Some(config.timeout))?;
    stream.set_nodelay(true)?;

    let started = Instant::now();
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
        println!("Acknowledgement Received: {ACKNOWLEDGEMENT}");
    }
    let elapsed = started.elapsed();
    stream
        .write_all(EXIT.as_bytes())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot send {EXIT:?}: {e}")))?;
    drop(stream);
    println!("Connection closed");
    let round_trips = Summary::of(&round_trips);
    print!(
        "{} round(s) in {:.3} ms",
        config.rounds,
        elapsed.as_secs_f64() * 1e3
    );
    match &round_trips {
        Some(rtt) => println!(
            "; round trip min {:.1} / median {:.1} / mean {:.1} / max {:.1} µs",
            rtt.min, rtt.p50, rtt.mean, rtt.max
        ),
        None => println!(),
    }
    Ok(Session {
        rounds: config.rounds,
        elapsed,
        round_trips,
    })
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
