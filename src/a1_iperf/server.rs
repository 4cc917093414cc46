//! The a1 server: waits for `START`, counts every datagram from that client
//! until `STOP`, replies with the throughput, prints the seed's report.
//!
//! Unlike the seed it never asserts on a stray datagram (it logs and ignores
//! it), never divides by zero, ends a test whose client vanished after an
//! idle timeout, holds no payload in memory, and can serve test after test.

use super::protocol::{throughput_reply, START, STOP};
use crate::net::{self, SocketOptions};
use crate::output;
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Receive buffer the server asks for. Unpaced senders on loopback outrun a
/// default-sized buffer; see the README for the measured loss with each.
pub const DEFAULT_RECV_BUFFER: usize = 4 << 20;

/// How long the receive loop busy-polls an empty socket before it blocks.
///
/// While a test streams, a receiver that sleeps on an empty queue must be
/// woken for every datagram; the wake-ups slow both sides, and the scheduler
/// tends to move the woken receiver onto the sender's core, where the queue
/// overflows. Polling for a moment keeps the receiver on its own core
/// (measured on loopback: see the README's a1 benchmark figures).
const SPIN_BEFORE_BLOCKING: Duration = Duration::from_millis(2);

/// Read buffer: large enough for any UDP datagram, so nothing is truncated.
const READ_BUFFER: usize = 65_536;

/// How many stray datagrams are logged per wait before the log goes quiet.
const STRAY_LOG_LIMIT: u64 = 5;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind (seed: `127.0.0.1:5555`).
    pub bind: SocketAddr,
    /// Keep serving tests instead of exiting after the first.
    pub forever: bool,
    /// End a test after this long without a datagram from its client.
    pub idle_timeout: Duration,
    /// SO_RCVBUF to ask for (`None`: system default).
    pub recv_buffer: Option<usize>,
}

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestEnd {
    /// The client sent `STOP` and got its reply.
    Stopped,
    /// The client went silent for the idle timeout.
    IdleTimeout,
    /// Ctrl-C or SIGTERM arrived mid-test.
    Interrupted,
}

/// What the server measured in one test.
#[derive(Debug, Clone)]
pub struct TestReport {
    /// Where `START` came from.
    pub client: SocketAddr,
    /// Unix time at which `START` arrived.
    pub started_unix: f64,
    /// Payload bytes counted between `START` and `STOP`.
    pub bytes: u64,
    /// Payload datagrams counted.
    pub datagrams: u64,
    /// From `START` to the last payload datagram.
    pub receive_time: Duration,
    /// Datagrams from other addresses, ignored.
    pub strays: u64,
    /// How the test ended.
    pub end: TestEnd,
}

impl TestReport {
    /// Delivered goodput in kilobytes per second (0 when nothing arrived).
    pub fn kilobytes_per_second(&self) -> f64 {
        output::rate(self.bytes, self.receive_time) / 1000.0
    }

    /// Prints the seed's report lines (verbatim) and a few more.
    pub fn print(&self) {
        println!("Time that first packet was received: {}", self.started_unix);
        println!("Client IP address:  {}", self.client.ip());
        println!("Size of data received (bytes):  {}", self.bytes);
        println!(
            "Time taken to receive (seconds):  {}",
            self.receive_time.as_secs_f64()
        );
        println!(
            "Datagrams received: {} ({}, {})",
            self.datagrams,
            output::human_bytes(self.bytes),
            output::human_rate(self.kilobytes_per_second() * 1000.0)
        );
        if self.strays > 0 {
            println!("Stray datagrams ignored: {}", self.strays);
        }
        match self.end {
            TestEnd::Stopped => {}
            TestEnd::IdleTimeout => println!("Test ended: the client went silent (no STOP)"),
            TestEnd::Interrupted => println!("Test ended: interrupted"),
        }
    }
}

/// Binds, prints the readiness line, and serves tests until one is done
/// (or, with `forever`, until shutdown).
pub fn run(config: &ServerConfig, shutdown: &Shutdown) -> io::Result<Vec<TestReport>> {
    let options = SocketOptions {
        recv_buffer: config.recv_buffer,
        ..SocketOptions::default()
    };
    let socket = net::bind_udp(config.bind, &options)?;
    socket.set_read_timeout(Some(POLL_INTERVAL))?;
    output::announce_listening(socket.local_addr()?, "udp");
    println!("Server is receiving data now...");

    let mut buffer = vec![0u8; READ_BUFFER];
    let mut reports = Vec::new();
    let mut last_reply: Option<(SocketAddr, String)> = None;
    while let Some((client, started)) = wait_for_start(&socket, &mut buffer, shutdown, &last_reply)?
    {
        let report = receive_test(&socket, &mut buffer, client, started, config, shutdown)?;
        let reply = (report.end == TestEnd::Stopped)
            .then(|| throughput_reply(report.kilobytes_per_second(), report.bytes));
        if let Some(reply) = &reply {
            socket.send_to(reply.as_bytes(), client)?;
        }
        if report.end == TestEnd::IdleTimeout {
            eprintln!(
                "client {client} sent nothing for {:.1} s: ending its test without STOP",
                config.idle_timeout.as_secs_f64()
            );
        }
        report.print();
        if let Some(reply) = reply {
            println!("{reply}");
            last_reply = Some((client, reply));
        }
        println!("Server process completed iPerfectly!");
        let interrupted = report.end == TestEnd::Interrupted;
        reports.push(report);
        if !config.forever || interrupted {
            break;
        }
    }
    Ok(reports)
}

/// Waits for `START`, logging (a few) stray datagrams. A repeated `STOP`
/// from the previous client means our reply was lost: it is sent again.
/// Returns `None` on shutdown.
fn wait_for_start(
    socket: &UdpSocket,
    buffer: &mut [u8],
    shutdown: &Shutdown,
    last_reply: &Option<(SocketAddr, String)>,
) -> io::Result<Option<(SocketAddr, Instant)>> {
    let mut strays = 0u64;
    loop {
        let Some((len, from)) = net::recv_from_until_shutdown(socket, buffer, shutdown)? else {
            return Ok(None);
        };
        let datagram = &buffer[..len];
        if datagram == START {
            return Ok(Some((from, Instant::now())));
        }
        if datagram == STOP {
            if let Some((client, reply)) = last_reply.as_ref().filter(|(c, _)| *c == from) {
                socket.send_to(reply.as_bytes(), client)?;
                continue;
            }
        }
        strays += 1;
        if strays <= STRAY_LOG_LIMIT {
            eprintln!("ignoring a {len}-byte datagram from {from}: waiting for START");
        } else if strays == STRAY_LOG_LIMIT + 1 {
            eprintln!("ignoring further datagrams until START (not logged)");
        }
    }
}

/// Counts the client's datagrams until `STOP`, idle timeout or shutdown.
fn receive_test(
    socket: &UdpSocket,
    buffer: &mut [u8],
    client: SocketAddr,
    started: Instant,
    config: &ServerConfig,
    shutdown: &Shutdown,
) -> io::Result<TestReport> {
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut report = TestReport {
        client,
        started_unix,
        bytes: 0,
        datagrams: 0,
        receive_time: Duration::ZERO,
        strays: 0,
        end: TestEnd::Interrupted,
    };
    let mut last_heard = started;
    // Non-blocking while datagrams flow, blocking (with the read timeout)
    // once the socket has been empty for SPIN_BEFORE_BLOCKING.
    let mut polling = true;
    socket.set_nonblocking(true)?;
    // The hot loop: one recv per datagram, the shutdown flag checked each
    // time (an atomic load), the clock read only for counted datagrams.
    loop {
        if shutdown.is_triggered() {
            report.end = TestEnd::Interrupted;
            break;
        }
        match socket.recv_from(buffer) {
            Ok((len, from)) if from == client => {
                if !polling {
                    socket.set_nonblocking(true)?;
                    polling = true;
                }
                if &buffer[..len] == STOP {
                    report.end = TestEnd::Stopped;
                    break;
                }
                last_heard = Instant::now();
                report.bytes += len as u64;
                report.datagrams += 1;
                report.receive_time = last_heard - started;
            }
            Ok(_) => report.strays += 1,
            Err(e) if polling && e.kind() == io::ErrorKind::WouldBlock => {
                if last_heard.elapsed() >= SPIN_BEFORE_BLOCKING {
                    socket.set_nonblocking(false)?;
                    polling = false;
                } else {
                    std::hint::spin_loop();
                }
            }
            Err(e) if net::is_timeout(&e) => {
                if last_heard.elapsed() >= config.idle_timeout {
                    report.end = TestEnd::IdleTimeout;
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => return Err(e),
        }
    }
    socket.set_nonblocking(false)?;
    Ok(report)
}
