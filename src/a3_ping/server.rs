//! The ping server: answers calibrations and `exit` at once, and delays or
//! drops probe acknowledgements on purpose.
//!
//! Two threads share one socket. The *receive loop* (the caller's thread)
//! parses each datagram and, for a probe, draws its fate from the random
//! generator: a delay, then lost or not (the seed's order of draws). An ack
//! with no delay is sent at once; a delayed one goes over a bounded channel
//! to the *timer thread*, which keeps a queue ordered by due time and sends
//! each ack when it falls due — so a probe delayed by 500 ms never holds up
//! the probes behind it (the seed slept inside its receive loop).
//!
//! The server answers only whom it should: `exit` is honoured only from this
//! host's own loopback address unless `--remote-exit` ([`crate::net::is_local_operator`]);
//! its own replies are never taken for probes, so a forged source cannot set
//! two servers acking each other; and every reply passes a per-source
//! [`PerSourceLimiter`] — a token bucket of reply bytes, topped up by
//! [`DEFAULT_PROBE_CREDIT`] × the size of each probe — so a real client
//! is answered however fast it sends, while a flood of tiny requests in a
//! victim's name gets no more than the burst and the rate.

use super::protocol::{self, Rejected, Request, MAX_DATAGRAM};
use super::{say, warn};
use crate::net;
use crate::ratelimit::{PerSourceLimiter, ReplyLimits};
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use rand::distr::Bernoulli;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many delayed acks may wait at once; beyond that a flood of probes
/// is answered by dropping (and counting) the excess, so memory stays bounded.
pub const MAX_PENDING_ACKS: usize = 65_536;
/// Capacity of the channel to the timer thread, which drains it at once
/// into its queue (the queue is what [`MAX_PENDING_ACKS`] bounds).
const TIMER_CHANNEL: usize = 1024;

/// How many reply bytes each probe earns its source, per byte of probe.
///
/// The largest reply for the smallest probe a client sends: the seed's
/// `Packet Acknowledged` (19 bytes) for `Hello Server` (12 bytes) is 1.58×;
/// socklab's `Packet Acknowledged <seq>` for `Hello Server <seq>` is
/// (20 + d) / (13 + d) ≤ 1.5× for a d-digit number (the ramp's probe is one
/// byte longer). So with 2, every ping and ramp client earns more than it
/// is sent, at any rate and any size, and never meets the limit; a 1-byte
/// probe earns 2 bytes for a 19-byte ack and soon does.
pub const DEFAULT_PROBE_CREDIT: f64 = 2.0;

/// The artificial network the server simulates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Probability (0..=1) that a probe gets no ack.
    pub loss: f64,
    /// Shortest delay before an ack.
    pub min_delay: Duration,
    /// Longest delay before an ack.
    pub max_delay: Duration,
}

impl Default for Impairment {
    /// The seed's settings: 1 in 10 lost, 0.1 ms to 500 ms of delay.
    fn default() -> Self {
        Impairment {
            loss: 0.1,
            min_delay: Duration::from_micros(100),
            max_delay: Duration::from_millis(500),
        }
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind (the seed binds `0.0.0.0:8080`).
    pub bind: SocketAddr,
    /// Delay and loss.
    pub impairment: Impairment,
    /// Random seed for a repeatable run (`None`: seeded by the OS).
    pub seed: Option<u64>,
    /// Print the seed's two lines for every datagram.
    pub verbose: bool,
    /// Honour `exit` from any address, not only from this host's loopback
    /// address.
    pub remote_exit: bool,
    /// Per-source limits on reply bytes.
    pub reply_limits: ReplyLimits,
    /// Reply bytes each probe earns its source, per probe byte
    /// ([`DEFAULT_PROBE_CREDIT`]).
    pub probe_credit: f64,
}

/// What the server did, printed as its one-line summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServerStats {
    /// Probes received.
    pub probes: u64,
    /// Acks sent.
    pub acked: u64,
    /// Probes dropped on purpose (or because too many acks were waiting).
    pub dropped: u64,
    /// Datagrams ignored as junk.
    pub ignored: u64,
    /// Delayed acks still waiting when the server stopped.
    pub abandoned: u64,
    /// Replies not sent because their source had used up its reply bytes.
    pub limited: u64,
    /// `exit` requests ignored because they came from another host.
    pub exits_refused: u64,
}

impl std::fmt::Display for ServerStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Summary: {} probes, {} acked, {} dropped, {} ignored, {} rate-limited, {} remote exits refused",
            self.probes, self.acked, self.dropped, self.ignored, self.limited, self.exits_refused
        )?;
        if self.abandoned > 0 {
            write!(f, ", {} pending acks abandoned", self.abandoned)?;
        }
        Ok(())
    }
}

/// Why [`serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A client sent `exit` (and got its reply).
    ExitRequested,
    /// Ctrl-C or SIGTERM.
    Shutdown,
}

/// Binds the server socket and announces it (`Listening on ADDR (udp)`).
pub fn bind(config: &ServerConfig) -> io::Result<UdpSocket> {
    let socket = net::bind_udp(config.bind, &net::SocketOptions::default())?;
    crate::output::announce_listening(socket.local_addr()?, "udp");
    Ok(socket)
}

/// An ack waiting for its due time; ordered by due time, then arrival.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DelayedAck {
    due: Instant,
    order: u64,
    to: SocketAddr,
    reply: Vec<u8>,
}

/// Counters shared between the receive loop and the timer thread.
#[derive(Default)]
struct Counters {
    acked: AtomicU64,
    /// Delayed acks handed to the timer thread and not yet sent.
    pending: AtomicUsize,
    abandoned: AtomicU64,
}

/// Serves on `socket` until `exit` or shutdown; returns the reason and the
/// statistics (also printed as one line). The settings are taken as given:
/// the binary checks them with [`crate::cli::check_impairment`] and
/// [`crate::cli::probe_credit`].
pub fn serve(
    socket: &UdpSocket,
    config: &ServerConfig,
    shutdown: &Shutdown,
) -> io::Result<(StopReason, ServerStats)> {
    let loss = Bernoulli::new(config.impairment.loss)
        .map_err(|e| io::Error::other(format!("--loss {}: {e}", config.impairment.loss)))?;
    let counters = Arc::new(Counters::default());
    let (delayed, delayed_rx) = crossbeam_channel::bounded::<DelayedAck>(TIMER_CHANNEL);
    let timer_socket = socket.try_clone()?;
    let timer_counters = counters.clone();
    let timer_shutdown = shutdown.clone();
    let timer = std::thread::Builder::new()
        .name("a3-ping-timer".into())
        .spawn(move || run_timer(&timer_socket, &delayed_rx, &timer_counters, &timer_shutdown))?;

    let mut responder = Responder {
        replies: Replies {
            socket,
            limiter: config.reply_limits.limiter(),
        },
        config,
        rng: match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        },
        loss,
        delayed,
        counters: &counters,
        stats: ServerStats::default(),
        order: 0,
    };
    let result = responder.run(shutdown);
    let Responder {
        replies,
        delayed,
        mut stats,
        ..
    } = responder;
    drop(delayed); // the timer thread stops once its channel disconnects
    if timer.join().is_err() {
        warn(format_args!("the ack timer thread panicked"));
    }
    let reason = result?;
    stats.acked = counters.acked.load(Ordering::SeqCst);
    stats.abandoned = counters.abandoned.load(Ordering::SeqCst);
    stats.limited = replies.limiter.dropped();
    crate::report!("{stats}");
    Ok((reason, stats))
}

/// The receive loop's way out: every reply it sends or queues passes the
/// per-source limiter first.
struct Replies<'a> {
    socket: &'a UdpSocket,
    limiter: PerSourceLimiter,
}

impl Replies<'_> {
    /// Whether `peer` may be sent `bytes` more reply bytes now; if so, they
    /// are counted against its source address.
    fn allow(&mut self, peer: SocketAddr, bytes: usize) -> bool {
        self.limiter.allow(peer.ip(), bytes)
    }

    /// Sends `reply` to `peer` now if the limiter allows it.
    fn send(&mut self, reply: &[u8], peer: SocketAddr) -> bool {
        self.allow(peer, reply.len()) && send_reply(self.socket, reply, peer)
    }
}

/// The receive loop and what it keeps between datagrams.
struct Responder<'a> {
    replies: Replies<'a>,
    config: &'a ServerConfig,
    rng: StdRng,
    /// Whether a probe is dropped, drawn after its delay (the seed's order).
    loss: Bernoulli,
    /// To the timer thread.
    delayed: Sender<DelayedAck>,
    counters: &'a Counters,
    stats: ServerStats,
    /// Arrival order of delayed acks, to keep ties in order.
    order: u64,
}

impl Responder<'_> {
    /// Receives and answers datagrams until `exit` or shutdown.
    fn run(&mut self, shutdown: &Shutdown) -> io::Result<StopReason> {
        // Always read whole datagrams: the calibrated size is only reported,
        // never used to cut datagrams (and so `exit`) short as in the seed.
        let mut buffer = vec![0u8; MAX_DATAGRAM + 1];
        let socket = self.replies.socket;
        while let Some((len, peer)) = net::recv_from_until_shutdown(socket, &mut buffer, shutdown)?
        {
            let datagram = &buffer[..len];
            if self.config.verbose {
                say(format_args!(
                    "Message from Client:{}",
                    crate::python::bytes_repr(datagram)
                ));
                say(format_args!(
                    "Client Address:{}\n",
                    crate::python::address_tuple(peer)
                ));
            }
            if let ControlFlow::Break(reason) = self.answer(datagram, peer)? {
                return Ok(reason);
            }
        }
        Ok(StopReason::Shutdown)
    }

    /// Answers one datagram; `Break` when it was an honoured `exit`.
    fn answer(&mut self, datagram: &[u8], peer: SocketAddr) -> io::Result<ControlFlow<StopReason>> {
        match protocol::parse_request(datagram) {
            Err(rejected) => {
                self.stats.ignored += 1;
                log_rejected(&rejected, datagram.len(), peer);
            }
            Ok(Request::Calibrate(size)) => {
                self.replies.send(protocol::CALIBRATION_REPLY, peer);
                say(format_args!(
                    "Buffer size calibrated at {size} bytes for {peer}"
                ));
            }
            Ok(Request::Exit) if !self.config.remote_exit && !net::is_local_operator(peer.ip()) => {
                self.stats.exits_refused += 1;
                warn(format_args!(
                    "ignored exit from {peer}: only this host's loopback address may stop the server (see --remote-exit)"
                ));
            }
            Ok(Request::Exit) => {
                self.replies.send(protocol::EXIT_REPLY, peer);
                say(format_args!("Exiting"));
                return Ok(ControlFlow::Break(StopReason::ExitRequested));
            }
            Ok(Request::Probe(seq)) => self.probe(seq, datagram.len(), peer)?,
        }
        Ok(ControlFlow::Continue(()))
    }

    /// A probe of `len` bytes: credits its source, draws its fate, and acks
    /// it now, later (through the timer thread) or never.
    fn probe(&mut self, seq: Option<u64>, len: usize, peer: SocketAddr) -> io::Result<()> {
        self.stats.probes += 1;
        let credit = self.config.probe_credit * len as f64;
        self.replies.limiter.credit(peer.ip(), credit);
        // The seed draws the delay first, then the loss.
        let delay = draw_delay(&mut self.rng, &self.config.impairment);
        if self.rng.sample(self.loss) {
            self.stats.dropped += 1;
            return Ok(());
        }
        let reply = protocol::ack(seq);
        if delay.is_zero() {
            if self.replies.send(&reply, peer) {
                self.counters.acked.fetch_add(1, Ordering::SeqCst);
            }
            return Ok(());
        }
        if self.counters.pending.load(Ordering::SeqCst) >= MAX_PENDING_ACKS {
            self.stats.dropped += 1;
            warn(format_args!(
                "{MAX_PENDING_ACKS} delayed acks already waiting; dropping the ack for {peer}"
            ));
            return Ok(());
        }
        if !self.replies.allow(peer, reply.len()) {
            return Ok(());
        }
        self.order += 1;
        let ack = DelayedAck {
            due: Instant::now() + delay,
            order: self.order,
            to: peer,
            reply,
        };
        self.delay(ack)
    }

    /// Hands a delayed ack to the timer thread.
    fn delay(&mut self, ack: DelayedAck) -> io::Result<()> {
        let peer = ack.to;
        self.counters.pending.fetch_add(1, Ordering::SeqCst);
        match self.delayed.try_send(ack) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.counters.pending.fetch_sub(1, Ordering::SeqCst);
                self.stats.dropped += 1;
                warn(format_args!(
                    "too many delayed acks waiting; dropping the ack for {peer}"
                ));
                Ok(())
            }
            Err(TrySendError::Disconnected(_)) => {
                Err(io::Error::other("the ack timer thread stopped"))
            }
        }
    }
}

/// A delay drawn from the impairment's range (its shortest delay when the
/// range is empty).
fn draw_delay(rng: &mut StdRng, impairment: &Impairment) -> Duration {
    let (min, max) = (impairment.min_delay, impairment.max_delay);
    if min >= max {
        return min;
    }
    Duration::from_nanos(rng.random_range(min.as_nanos() as u64..=max.as_nanos() as u64))
}

fn log_rejected(rejected: &Rejected, len: usize, peer: SocketAddr) {
    warn(format_args!(
        "ignored {len}-byte datagram from {peer}: {rejected}"
    ));
}

/// Sends one reply; a failure is reported and the server keeps serving.
fn send_reply(socket: &UdpSocket, reply: &[u8], peer: SocketAddr) -> bool {
    match socket.send_to(reply, peer) {
        Ok(_) => true,
        Err(e) => {
            warn(format_args!("cannot reply to {peer}: {e}"));
            false
        }
    }
}

/// The timer thread: a min-heap of acks by due time, fed by `incoming`.
/// Stops when the channel disconnects (the server stopped) or on shutdown;
/// acks still waiting then are counted as abandoned.
fn run_timer(
    socket: &UdpSocket,
    incoming: &Receiver<DelayedAck>,
    counters: &Counters,
    shutdown: &Shutdown,
) {
    let mut queue: BinaryHeap<Reverse<DelayedAck>> = BinaryHeap::new();
    loop {
        let now = Instant::now();
        while queue.peek().is_some_and(|Reverse(ack)| ack.due <= now) {
            if let Some(Reverse(ack)) = queue.pop() {
                counters.pending.fetch_sub(1, Ordering::SeqCst);
                if send_reply(socket, &ack.reply, ack.to) {
                    counters.acked.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        let wait = queue.peek().map_or(POLL_INTERVAL, |Reverse(ack)| {
            ack.due.saturating_duration_since(now)
        });
        crossbeam_channel::select! {
            recv(incoming) -> message => match message {
                Ok(ack) => queue.push(Reverse(ack)),
                Err(_) => break,
            },
            recv(shutdown.receiver()) -> _ => break,
            default(wait) => {}
        }
    }
    let left = queue.len() + incoming.len();
    counters.abandoned.fetch_add(left as u64, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_in_range_and_seeds_repeat() {
        let impairment = Impairment::default();
        let mut a = StdRng::seed_from_u64(7);
        let mut b = StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let delay = draw_delay(&mut a, &impairment);
            assert!(delay >= impairment.min_delay && delay <= impairment.max_delay);
            assert_eq!(delay, draw_delay(&mut b, &impairment));
        }
    }
}
