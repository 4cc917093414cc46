//! The sending half of a test, shared by the client (normal tests) and the
//! server (`--reverse`): one thread per stream streams seed-pattern
//! datagrams, each opened by a [`Header`], until its byte share or the test
//! time is used up; the calling thread samples the streams' counters at
//! interval boundaries.
//!
//! Datagrams go to the kernel in batches ([`net::offload`]): on Linux one
//! call carries up to 64 KiB of datagrams (segmentation offload, or
//! `sendmmsg` where that is refused or `--no-offload` asks), each datagram
//! still with its own header, send time and seed pattern, and each an
//! ordinary datagram on the wire. A paced stream's batch is never larger
//! than what its schedule allows by then, so pacing keeps its shape.
//!
//! The hot loop allocates nothing: one batch buffer per stream is filled
//! with the pattern slices and each header is written over its datagram's
//! first 40 bytes (36 hex digits).

use super::protocol::{unix_ns, Header, Payload, HEADER_LEN};
use super::stats::{Figures, Interval, IntervalClock};
use crate::net;
use crate::net::offload::BatchSender;
use crate::pacing::{self, Pacer};
use crate::shutdown::Shutdown;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Linux's "no buffer space available", which a fast sender can hit.
const ENOBUFS: i32 = 105;

/// What one stream sends.
#[derive(Debug, Clone)]
pub struct StreamPlan {
    /// Stream id (written in every header).
    pub stream: u16,
    /// Bytes to send; `None` sends until `deadline`.
    pub bytes: Option<u64>,
    /// Stop sending at this instant (`--time`).
    pub deadline: Option<Instant>,
    /// Payload bytes per datagram.
    pub length: usize,
    /// Target rate of this stream in bits per second (0: unpaced).
    pub rate: u64,
    /// How the rate is kept (ignored when unpaced).
    pub spacing: Spacing,
    /// Where to send (`None`: the socket is connected).
    pub target: Option<SocketAddr>,
    /// Hand the kernel segmented batches where it supports them
    /// (`false`: `--no-offload`, multi-message batches).
    pub offload: bool,
}

/// How a paced stream spaces its datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spacing {
    /// One datagram per tick, ticks `length · 8 / rate` apart: the smoothest
    /// traffic a rate allows (socklab's default).
    Even,
    /// A timer ticks every this long, and each tick sends the datagrams the
    /// rate allows by then, back to back: iperf3's pacing (`--pacing-timer`,
    /// 1000 µs by default there), for comparing jitter with iperf3 on the
    /// same traffic shape.
    Timer(Duration),
}

impl Spacing {
    /// The spacing a pacing timer of `micros` µs asks for (0: even).
    pub fn from_micros(micros: u64) -> Spacing {
        match micros {
            0 => Spacing::Even,
            us => Spacing::Timer(Duration::from_micros(us)),
        }
    }

    /// The pacing timer in µs, as `HELLO` carries it (0: even).
    pub fn micros(self) -> u64 {
        match self {
            Spacing::Even => 0,
            Spacing::Timer(timer) => u64::try_from(timer.as_micros()).unwrap_or(u64::MAX),
        }
    }
}

/// When a stream may send its next datagram.
enum Schedule {
    /// As fast as the socket takes them.
    Unpaced,
    /// One datagram per tick ([`Spacing::Even`]).
    Even(Pacer),
    /// [`Spacing::Timer`]: after tick k (from 1) the stream may have sent
    /// `k · timer · rate / 8` bytes; it sends while it has sent less.
    Timer {
        pacer: Pacer,
        timer: Duration,
        rate: u64,
        ticks: u64,
        allowed: u64,
    },
}

impl Schedule {
    fn new(plan: &StreamPlan) -> Schedule {
        match (
            plan.spacing,
            pacing::period_for_rate(plan.length, plan.rate),
        ) {
            (_, None) => Schedule::Unpaced,
            (Spacing::Even, Some(period)) => Schedule::Even(Pacer::new(period).with_realtime()),
            (Spacing::Timer(timer), Some(_)) => Schedule::Timer {
                pacer: Pacer::new(timer).with_realtime(),
                timer,
                rate: plan.rate,
                ticks: 0,
                allowed: 0,
            },
        }
    }

    /// Waits until datagrams of `length` bytes may go, `sent` bytes having
    /// gone so far; returns how many may go now (at most `most`), or
    /// `None` if `stop` came first. Unpaced: `most`; evenly spaced: one per
    /// tick; a pacing timer: those the allowance covers (the last may
    /// overshoot it, as one datagram at a time would).
    fn wait(&mut self, sent: u64, length: usize, most: usize, stop: &Shutdown) -> Option<usize> {
        match self {
            Schedule::Unpaced => (!stop.is_triggered()).then_some(most),
            Schedule::Even(pacer) => pacer.wait(stop).map(|_| 1),
            Schedule::Timer {
                pacer,
                timer,
                rate,
                ticks,
                allowed,
            } => {
                while sent >= *allowed {
                    pacer.wait(stop)?;
                    *ticks += 1;
                    *allowed = timer_allowance(*ticks, *timer, *rate);
                }
                (!stop.is_triggered()).then(|| burst(*allowed - sent, length, most))
            }
        }
    }
}

/// Datagrams of `length` bytes that `room` bytes of allowance let go, one
/// after another while some allowance is left (so the last may overshoot
/// it), at most `most`.
fn burst(room: u64, length: usize, most: usize) -> usize {
    let datagrams = room.div_ceil(length.max(1) as u64);
    usize::try_from(datagrams).map_or(most, |d| d.min(most))
}

/// Bytes a [`Spacing::Timer`] stream may have sent after `ticks` ticks.
fn timer_allowance(ticks: u64, timer: Duration, bits_per_second: u64) -> u64 {
    let bits = u128::from(ticks)
        .saturating_mul(timer.as_nanos())
        .saturating_mul(u128::from(bits_per_second));
    u64::try_from(bits / 8_000_000_000).unwrap_or(u64::MAX)
}

/// Counters a sender thread updates after every datagram.
#[derive(Debug, Default)]
pub struct SendCounters {
    /// Payload bytes sent.
    pub bytes: AtomicU64,
    /// Datagrams sent.
    pub packets: AtomicU64,
}

/// What one sender thread sent.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// Payload bytes.
    pub bytes: u64,
    /// Datagrams.
    pub packets: u64,
    /// When the last datagram left.
    pub finished: Instant,
}

/// Sends one datagram (to `target`, or on a connected socket), retrying the
/// transient errors a fast UDP sender meets: a full device queue (ENOBUFS)
/// and an interrupted call. On a connected socket (a client's), a
/// port-unreachable notice from an earlier datagram means nothing listens
/// at the server: the [`net::no_server`] error, so the client stops at
/// once; a server's unconnected socket never reports one.
pub fn send_datagram(
    socket: &UdpSocket,
    target: Option<SocketAddr>,
    datagram: &[u8],
) -> io::Result<()> {
    loop {
        let result = match target {
            Some(addr) => socket.send_to(datagram, addr),
            None => socket.send(datagram),
        };
        match result {
            Ok(_) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(ENOBUFS) => std::thread::yield_now(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => send_error(socket, target, e)?,
        }
    }
}

/// The error a send ends with: on a connected socket a port-unreachable
/// notice is [`net::no_server`]; on an unconnected one it is stale news
/// (`Ok`: send again).
fn send_error(socket: &UdpSocket, target: Option<SocketAddr>, error: io::Error) -> io::Result<()> {
    match (error.kind(), target) {
        (io::ErrorKind::ConnectionRefused, None) => Err(match socket.peer_addr() {
            Ok(server) => net::no_server(server),
            Err(_) => error,
        }),
        (io::ErrorKind::ConnectionRefused, Some(_)) => Ok(()),
        (kind, _) => Err(io::Error::new(kind, format!("send failed: {error}"))),
    }
}

/// Sends a batch of datagrams of `length` bytes (the last may be shorter),
/// as [`send_datagram`] sends one.
fn send_batch(
    batches: &mut BatchSender,
    socket: &UdpSocket,
    target: Option<SocketAddr>,
    batch: &[u8],
    length: usize,
) -> io::Result<()> {
    loop {
        match batches.send(socket, target, batch, length) {
            Ok(()) => return Ok(()),
            Err(e) => send_error(socket, target, e)?,
        }
    }
}

/// Fills `buffer` with up to `count` datagrams of `payload` from `offset`,
/// numbered from `sequence`, each with its header (a datagram too short
/// for one is the plain seed pattern). Returns the bytes and datagrams.
fn fill_batch(
    buffer: &mut [u8],
    payload: &Payload,
    (offset, sequence): (u64, u64),
    count: usize,
    stream: u16,
) -> (usize, u64) {
    let (mut filled, mut datagrams) = (0usize, 0u64);
    while datagrams < count as u64 && offset + (filled as u64) < payload.total() {
        let pattern = payload.datagram_at(offset + filled as u64);
        let datagram = &mut buffer[filled..filled + pattern.len()];
        datagram.copy_from_slice(pattern);
        if datagram.len() >= HEADER_LEN {
            Header {
                stream,
                sequence: sequence + datagrams,
                sent_ns: unix_ns(),
            }
            .write(datagram);
        }
        filled += pattern.len();
        datagrams += 1;
    }
    (filled, datagrams)
}

/// One stream's loop: datagrams as its [`Spacing`] allows (back to back
/// when unpaced), until its bytes or the deadline are used up, or `stop`.
pub fn send_stream(
    socket: &UdpSocket,
    plan: &StreamPlan,
    counters: &SendCounters,
    stop: &Shutdown,
) -> io::Result<Sent> {
    let payload = Payload::new(plan.bytes.unwrap_or(u64::MAX), plan.length);
    let mut batches = BatchSender::new(socket, plan.offload);
    let most = batches.capacity(plan.length);
    let mut buffer = vec![0u8; most * plan.length];
    let mut schedule = Schedule::new(plan);
    let mut offset = 0u64;
    let mut sequence = 0u64;
    while offset < payload.total() {
        let Some(count) = schedule.wait(offset, plan.length, most, stop) else {
            break;
        };
        if plan.deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let (filled, datagrams) = fill_batch(
            &mut buffer,
            &payload,
            (offset, sequence),
            count,
            plan.stream,
        );
        send_batch(
            &mut batches,
            socket,
            plan.target,
            &buffer[..filled],
            plan.length,
        )?;
        offset += filled as u64;
        sequence += datagrams;
        counters.bytes.store(offset, Ordering::Relaxed);
        counters.packets.store(sequence, Ordering::Relaxed);
    }
    Ok(Sent {
        bytes: offset,
        packets: sequence,
        finished: Instant::now(),
    })
}

/// Splits `total` bytes over `streams` streams (the first takes the rest).
pub fn share(total: u64, streams: u16, stream: u16) -> u64 {
    let each = total / u64::from(streams);
    if stream == 0 {
        total - each * u64::from(streams - 1)
    } else {
        each
    }
}

/// Running sender threads, one per stream, with their counters.
pub struct Senders {
    threads: Vec<JoinHandle<io::Result<Sent>>>,
    counters: Vec<Arc<SendCounters>>,
    /// Counters at the last interval boundary, per stream.
    marks: Vec<(u64, u64)>,
    intervals: Vec<Interval>,
}

impl Senders {
    /// Starts one named thread per `(socket, plan)`.
    pub fn start(streams: Vec<(UdpSocket, StreamPlan)>, stop: &Shutdown) -> io::Result<Senders> {
        let mut senders = Senders {
            threads: Vec::new(),
            counters: Vec::new(),
            marks: vec![(0, 0); streams.len()],
            intervals: Vec::new(),
        };
        for (socket, plan) in streams {
            let counters = Arc::new(SendCounters::default());
            let thread_counters = counters.clone();
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("iperf-send-{}", plan.stream))
                .spawn(move || send_stream(&socket, &plan, &thread_counters, &stop))?;
            senders.threads.push(thread);
            senders.counters.push(counters);
        }
        Ok(senders)
    }

    /// Whether every sender thread has finished.
    pub fn finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Closes the interval `start..end` on every stream; returns the records.
    pub fn close_interval(&mut self, start: f64, end: f64) -> Vec<Interval> {
        let mut closed = Vec::with_capacity(self.counters.len());
        for (stream, (counters, mark)) in self.counters.iter().zip(&mut self.marks).enumerate() {
            let now = (
                counters.bytes.load(Ordering::Relaxed),
                counters.packets.load(Ordering::Relaxed),
            );
            closed.push(Interval {
                stream: stream as u16,
                start,
                end,
                figures: Figures {
                    bytes: now.0 - mark.0,
                    packets: now.1 - mark.1,
                    seconds: end - start,
                    ..Figures::default()
                },
            });
            *mark = now;
        }
        self.intervals.extend_from_slice(&closed);
        closed
    }

    /// Waits for the threads while closing intervals on `clock`; each
    /// closed interval's records go to `report`. Returns what each stream
    /// sent, after a final partial interval up to the last datagram.
    pub fn wait(
        mut self,
        clock: &mut IntervalClock,
        mut report: impl FnMut(&[Interval]),
    ) -> io::Result<(Vec<Sent>, Vec<Interval>)> {
        while !self.finished() {
            let now = Instant::now();
            if let Some((start, end)) = clock.advance(now) {
                let closed = self.close_interval(start, end);
                report(&closed);
            }
            let nap = clock
                .next_boundary()
                .map_or(Duration::from_millis(20), |b| {
                    b.saturating_duration_since(now)
                })
                .clamp(Duration::from_millis(1), Duration::from_millis(20));
            std::thread::sleep(nap);
        }
        let mut sent = Vec::new();
        for thread in std::mem::take(&mut self.threads) {
            sent.push(
                thread
                    .join()
                    .map_err(|_| io::Error::other("a sender thread panicked"))??,
            );
        }
        let last = sent.iter().map(|s| s.finished).max();
        if let Some(last) = last {
            while let Some((start, end)) = clock.advance(last) {
                let closed = self.close_interval(start, end);
                report(&closed);
            }
            let end = clock.seconds_at(last);
            let unreported = self
                .counters
                .iter()
                .zip(&self.marks)
                .any(|(c, m)| c.packets.load(Ordering::Relaxed) > m.1);
            if clock.next_boundary().is_some() && unreported && end > clock.current_start() {
                let closed = self.close_interval(clock.current_start(), end);
                report(&closed);
            }
        }
        Ok((sent, self.intervals))
    }
}

/// The sender's view of a test: per-stream totals (each over the time from
/// `started` to its last datagram) and the interval records.
pub fn sender_view(
    started: Instant,
    sent: &[Sent],
    intervals: Vec<Interval>,
) -> super::stats::View {
    super::stats::View {
        streams: sent
            .iter()
            .map(|s| Figures {
                bytes: s.bytes,
                packets: s.packets,
                seconds: s.finished.saturating_duration_since(started).as_secs_f64(),
                ..Figures::default()
            })
            .collect(),
        intervals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_total() {
        for (total, streams) in [(25_000_000u64, 4u16), (7, 3), (10, 1)] {
            let sum: u64 = (0..streams).map(|s| share(total, streams, s)).sum();
            assert_eq!(sum, total);
        }
        assert_eq!(share(7, 3, 0), 3);
        assert_eq!(share(7, 3, 2), 2);
    }

    #[test]
    fn a_pacing_timer_allows_the_rate_times_the_ticks() {
        let timer = Duration::from_micros(1000);
        // 100 Mbit/s: 12,500 bytes per millisecond tick.
        assert_eq!(timer_allowance(1, timer, 100_000_000), 12_500);
        assert_eq!(timer_allowance(8, timer, 100_000_000), 100_000);
        // Fractions are not lost between ticks: at 8.008 kbit/s a tick
        // allows 1.001 bytes, so 999 ticks 999.999 and 1000 ticks 1001.
        assert_eq!(timer_allowance(999, timer, 8_008), 999);
        assert_eq!(timer_allowance(1000, timer, 8_008), 1_001);
        assert_eq!(timer_allowance(u64::MAX, timer, u64::MAX), u64::MAX);
    }

    #[test]
    fn a_timer_burst_is_what_the_allowance_covers() {
        // 12.5 datagrams of 1000 bytes per tick, batches of up to 44: the
        // batch is cut to the schedule, 13 then 12 (the 13th overshoots by
        // half a datagram, as sending one at a time would).
        let plan = StreamPlan {
            stream: 0,
            bytes: None,
            deadline: None,
            length: 1000,
            rate: 100_000_000,
            spacing: Spacing::Timer(Duration::from_millis(1)),
            target: None,
            offload: true,
        };
        let mut schedule = Schedule::new(&plan);
        let stop = Shutdown::new();
        let mut sent = 0u64;
        let mut bursts = Vec::new();
        for tick in 1..=8u64 {
            let burst = schedule.wait(sent, 1000, 44, &stop).unwrap();
            bursts.push(burst);
            sent += burst as u64 * 1000;
            assert!(sent < tick * 12_500 + 1000, "tick {tick}: {sent} bytes");
        }
        assert_eq!(bursts, [13, 12, 13, 12, 13, 12, 13, 12]);
        // Unpaced: the whole batch; evenly spaced: one per tick.
        assert_eq!(burst(u64::MAX, 1000, 44), 44);
        assert_eq!(burst(1, 1000, 44), 1);
    }

    #[test]
    fn spacing_travels_as_microseconds() {
        assert_eq!(Spacing::from_micros(0), Spacing::Even);
        assert_eq!(
            Spacing::from_micros(1000),
            Spacing::Timer(Duration::from_millis(1))
        );
        for micros in [0, 1, 1000, 1_000_000] {
            assert_eq!(Spacing::from_micros(micros).micros(), micros);
        }
    }

    #[test]
    fn a_stream_sends_headers_and_the_seed_pattern() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(receiver.local_addr().unwrap()).unwrap();
        let plan = StreamPlan {
            stream: 2,
            bytes: Some(3 * 100 + 50),
            deadline: None,
            length: 100,
            rate: 0,
            spacing: Spacing::Even,
            target: None,
            offload: true,
        };
        let counters = SendCounters::default();
        let sent = send_stream(&socket, &plan, &counters, &Shutdown::new()).unwrap();
        assert_eq!((sent.bytes, sent.packets), (350, 4));
        let mut buffer = [0u8; 200];
        for sequence in 0..4u64 {
            let len = receiver.recv(&mut buffer).unwrap();
            let header = Header::parse(&buffer[..len]).unwrap();
            assert_eq!((header.stream, header.sequence), (2, sequence));
            let offset = sequence * 100 + HEADER_LEN as u64;
            let expected: Vec<u8> = (offset..sequence * 100 + len as u64)
                .map(|i| b'a' + (i % 26) as u8)
                .collect();
            assert_eq!(&buffer[HEADER_LEN..len], &expected[..]);
        }
        assert_eq!(counters.packets.load(Ordering::Relaxed), 4);
    }
}
