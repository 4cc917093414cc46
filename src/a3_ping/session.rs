//! One probing session, shared by the ping and the ramp clients.
//!
//! Three threads cooperate over one UDP socket:
//!
//! ```text
//!  sender thread ── Sent{seq, planned, sent} ──┐
//!   (Pacer: probe k at origin + k·interval)    ├─▶ collector (caller's thread)
//!  receiver thread ─ Reply{bytes, at} ─────────┘    matches, times out, reports in order
//! ```
//!
//! - The **sender** waits for each tick of a [`Pacer`] (a drift-free
//!   absolute schedule that catches up after a stall, on a real-time thread
//!   where permitted), records the send instant, announces the probe to
//!   the collector, then sends it. Nothing else runs on its path, so a slow
//!   or lost ack never shifts the schedule.
//! - The **receiver** timestamps every datagram the moment `recv` returns.
//! - The **collector** matches acks to probes: by sequence number when the
//!   ack carries one (`Packet Acknowledged 7`); otherwise by the seed's rule
//!   (a plain ack belongs to the latest probe sent before it arrived). A
//!   probe with no ack within its timeout is lost; an ack that comes later
//!   is reported as *late* and never credited to any probe. Outcomes are
//!   handed to an [`Observer`] in sequence order, so the output reads like
//!   the seed's.
//!
//! Because the sender announces a probe before sending it, the collector
//! always learns of a probe before any reply to it.

use super::protocol::{self, Reply};
use super::{say, warn};
use crate::cli::PingTarget;
use crate::error::Context;
use crate::net;
use crate::pacing::Pacer;
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use crossbeam_channel::{Receiver, Sender};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// How long after its timeout a probe is declared lost. Lateness itself is
/// judged on the receiver's timestamps; this only gives an ack that arrived
/// just in time the chance to reach the collector first.
const DECISION_GRACE: Duration = Duration::from_millis(2);
/// Attempts at calibration before giving up (UDP may lose the request).
const CALIBRATION_ATTEMPTS: u32 = 3;
/// The least time to wait for the calibration and `exit` replies.
const MIN_REPLY_WAIT: Duration = Duration::from_secs(1);
/// Events in flight between the worker threads and the collector.
const EVENT_QUEUE: usize = 4096;

/// What to send and how fast.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The server.
    pub server: SocketAddr,
    /// Number of probes.
    pub count: u64,
    /// Interval before the second probe, in seconds.
    pub interval: f64,
    /// Factor applied to the interval after every probe (1 for ping, 0.95
    /// for the ramp), multiplied in `f64` exactly as the seed does.
    pub shrink: f64,
    /// How long to wait for each ack; `None` means the probe's own interval.
    pub timeout: Option<Duration>,
    /// Probe size in bytes.
    pub size: usize,
    /// Probe text before the sequence number.
    pub text: &'static str,
    /// Send `exit` after the last probe (stops the server, as the seed does).
    pub send_exit: bool,
}

/// The fate of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still waiting for an ack.
    Pending,
    /// Acked in time.
    Acked {
        /// When the ack arrived.
        at: Instant,
        /// The ack's bytes.
        reply: Vec<u8>,
    },
    /// No ack within the timeout.
    Lost,
    /// The send itself failed.
    SendFailed(String),
    /// Still unanswered when the run was interrupted.
    Unanswered,
}

/// One probe and what became of it.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Sequence number, from 1.
    pub seq: u64,
    /// The interval in force when it was sent, in seconds.
    pub interval: f64,
    /// How long its ack may take.
    pub timeout: Duration,
    /// When the schedule planned to send it.
    pub planned: Instant,
    /// When it was actually sent (the RTT's start).
    pub sent: Instant,
    /// What became of it.
    pub outcome: Outcome,
}

impl Probe {
    /// The round-trip time, if it was acked in time.
    pub fn rtt(&self) -> Option<Duration> {
        match &self.outcome {
            Outcome::Acked { at, .. } => Some(at.saturating_duration_since(self.sent)),
            _ => None,
        }
    }

    /// How late the sender was against the schedule.
    pub fn schedule_error(&self) -> Duration {
        self.sent.saturating_duration_since(self.planned)
    }
}

/// An ack that came after its probe's timeout, or that matched no probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateAck {
    /// The probe it answers, when known.
    pub seq: Option<u64>,
    /// Time since that probe was sent, when known.
    pub after: Option<Duration>,
    /// The ack's bytes.
    pub reply: Vec<u8>,
}

/// Receives the session's events as they are decided, for printing.
pub trait Observer {
    /// A probe's outcome, called in sequence order.
    fn decided(&mut self, probe: &Probe);
    /// A late or unmatched ack.
    fn late(&mut self, late: &LateAck);
    /// Every probe is decided; `exit` is about to be sent.
    fn finished_sending(&mut self);
}

/// Everything a session measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// When the schedule started: the first probe's planned send time (the
    /// seed's `originalStartTime`).
    pub started: Instant,
    /// Every probe sent, in order.
    pub probes: Vec<Probe>,
    /// Late and unmatched acks.
    pub late: Vec<LateAck>,
    /// The reply to `exit`, if one was sent and answered.
    pub exit_reply: Option<Vec<u8>>,
    /// Whether `exit` was sent.
    pub exit_sent: bool,
    /// Whether Ctrl-C / SIGTERM cut the run short.
    pub interrupted: bool,
    /// How often the pacer re-based because the sender fell behind.
    pub rebases: u64,
}

impl Report {
    /// RTTs of the acked probes, in seconds.
    pub fn rtts(&self) -> Vec<f64> {
        self.probes
            .iter()
            .filter_map(|probe| probe.rtt().map(|rtt| rtt.as_secs_f64()))
            .collect()
    }

    /// The number of probes acked in time.
    pub fn received(&self) -> usize {
        self.probes.iter().filter(|p| p.rtt().is_some()).count()
    }

    /// Total drift of the send schedule: how far the last send is from
    /// where the intervals put it, counting from the first send.
    pub fn drift(&self) -> Option<f64> {
        let first = self.probes.first()?;
        let last = self.probes.last()?;
        let ideal: f64 = self.probes[..self.probes.len() - 1]
            .iter()
            .map(|p| p.interval)
            .sum();
        Some(last.sent.duration_since(first.sent).as_secs_f64() - ideal)
    }
}

/// Messages from the sender and receiver threads to the collector.
enum Event {
    Sent(Probe),
    SendFailed {
        seq: u64,
        error: String,
    },
    SenderDone {
        rebases: u64,
    },
    Reply {
        bytes: Vec<u8>,
        from: SocketAddr,
        at: Instant,
    },
    ReceiveFailed(io::Error),
}

/// The start both clients share: validate, resolve, bind, note oversized
/// probes, and calibrate (printing the seed's lines). Returns the socket and
/// the server's address, or `None` if Ctrl-C came during calibration.
pub fn connect(
    target: &PingTarget,
    probe_text: &str,
    calibration_wait: Duration,
    shutdown: &Shutdown,
) -> io::Result<Option<(UdpSocket, SocketAddr)>> {
    target.validate().map_err(io::Error::other)?;
    let (Some(host), Some(port)) = (target.server.given_host(), target.server.given_port()) else {
        return Err(io::Error::other("no server given"));
    };
    let server = net::resolve(host, port)?;
    let socket = client_socket(server)?;
    if !protocol::probe_fits(probe_text, target.count, target.size) {
        warn(format_args!(
            "note: a probe carries \"{probe_text} <seq>\", so probes are longer than the {} bytes asked for",
            target.size
        ));
    }
    say(format_args!("\nCalibrating Buffer Size..."));
    let Some(reply) = calibrate(&socket, server, target.size, calibration_wait, shutdown)? else {
        say(format_args!(
            "Interrupted before the first message was sent."
        ));
        return Ok(None);
    };
    say(format_args!("{}\n", String::from_utf8_lossy(&reply)));
    Ok(Some((socket, server)))
}

/// A client socket of the server's address family on an ephemeral port,
/// connected to the server: it hears only the server, and an ICMP port
/// unreachable ends the run at once with "no server at HOST:PORT".
pub fn client_socket(server: SocketAddr) -> io::Result<UdpSocket> {
    net::connect_udp(server, None)
}

/// Sends `C <size>` and waits for the calibration reply, retrying a few
/// times (the seed waited once and crashed on a timeout). Returns the reply,
/// or `None` if shutdown came first.
pub fn calibrate(
    socket: &UdpSocket,
    server: SocketAddr,
    size: usize,
    wait: Duration,
    shutdown: &Shutdown,
) -> io::Result<Option<Vec<u8>>> {
    let wait = wait.max(MIN_REPLY_WAIT);
    let mut buffer = vec![0u8; protocol::MAX_DATAGRAM + 1];
    for _ in 0..CALIBRATION_ATTEMPTS {
        socket.send_to(&protocol::calibration_request(size), server)?;
        let until = Instant::now() + wait;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match net::recv_connected(socket, &mut buffer, shutdown, Some(left))? {
                Some(len) if protocol::parse_reply(&buffer[..len]) == Reply::Calibrated => {
                    return Ok(Some(buffer[..len].to_vec()));
                }
                Some(_) => continue, // a stray datagram from an earlier run
                None if shutdown.is_triggered() => return Ok(None),
                None => break,
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "no calibration reply from {server} after {CALIBRATION_ATTEMPTS} tries of {wait:?}"
        ),
    ))
}

/// Runs the probes of `plan` on a calibrated `socket`, reporting outcomes
/// to `observer`, then sends `exit` if the plan says so.
pub fn run(
    socket: &UdpSocket,
    plan: &Plan,
    shutdown: &Shutdown,
    observer: &mut impl Observer,
) -> io::Result<Report> {
    // A private stop signal: the collector ends the worker threads with it,
    // and the user's Ctrl-C triggers it too.
    let stop = Shutdown::new();
    let stop_on_signal = stop.clone();
    shutdown.on_trigger(move || stop_on_signal.trigger());

    let (events_tx, events_rx) = crossbeam_channel::bounded(EVENT_QUEUE);
    let sender = {
        let (socket, plan, events, stop) = (
            socket.try_clone()?,
            plan.clone(),
            events_tx.clone(),
            stop.clone(),
        );
        std::thread::Builder::new()
            .name("a3-ping-sender".into())
            .spawn(move || send_probes(&socket, &plan, &events, &stop))?
    };
    let receiver = {
        let (socket, events, stop) = (socket.try_clone()?, events_tx, stop.clone());
        std::thread::Builder::new()
            .name("a3-ping-receiver".into())
            .spawn(move || receive_replies(&socket, &events, &stop))?
    };

    let mut collector = Collector {
        report: Report {
            started: Instant::now(), // replaced by the first probe's plan
            probes: Vec::new(),
            late: Vec::new(),
            exit_reply: None,
            exit_sent: false,
            interrupted: false,
            rebases: 0,
        },
        reported: 0,
        sender_done: false,
        observer,
    };
    let result = collector.collect(socket, plan, &events_rx, shutdown);
    stop.trigger();
    drop(events_rx);
    for (name, handle) in [("sender", sender), ("receiver", receiver)] {
        if handle.join().is_err() {
            warn(format_args!("the {name} thread panicked"));
        }
    }
    result?;
    Ok(collector.report)
}

/// The sender thread: one probe per pacer tick.
///
/// The pacer runs this thread under real-time scheduling where permitted
/// (see [`Pacer::with_realtime`]). Each probe is built before the wait, so
/// between the tick and the send there is only the announcement to the
/// collector (a lock-free channel push): no allocation, lock or output.
fn send_probes(socket: &UdpSocket, plan: &Plan, events: &Sender<Event>, stop: &Shutdown) {
    let mut interval = plan.interval;
    let mut pacer = Pacer::new(Duration::from_secs_f64(interval)).with_realtime();
    for seq in 1..=plan.count {
        let datagram = protocol::probe(plan.text, seq, plan.size);
        let Some(tick) = pacer.wait(stop) else { break };
        let sent = Instant::now();
        let probe = Probe {
            seq,
            interval,
            timeout: plan
                .timeout
                .unwrap_or_else(|| Duration::from_secs_f64(interval)),
            planned: tick.planned,
            sent,
            outcome: Outcome::Pending,
        };
        if events.send(Event::Sent(probe)).is_err() {
            return;
        }
        if let Err(e) = socket.send_to(&datagram, plan.server) {
            let error = format!("cannot send probe {seq} to {}: {e}", plan.server);
            if events.send(Event::SendFailed { seq, error }).is_err() {
                return;
            }
        }
        if plan.shrink != 1.0 {
            interval *= plan.shrink;
            pacer.set_period(Duration::from_secs_f64(interval));
        }
    }
    let _ = events.send(Event::SenderDone {
        rebases: pacer.rebases(),
    });
}

/// The receiver thread: timestamps every datagram as it arrives.
fn receive_replies(socket: &UdpSocket, events: &Sender<Event>, stop: &Shutdown) {
    let mut buffer = vec![0u8; protocol::MAX_DATAGRAM + 1];
    // The socket is connected: every datagram comes from the server.
    let from = match socket.peer_addr() {
        Ok(server) => server,
        Err(e) => {
            let _ = events.send(Event::ReceiveFailed(e));
            return;
        }
    };
    loop {
        match net::recv_connected(socket, &mut buffer, stop, None) {
            Ok(Some(len)) => {
                let at = Instant::now();
                let bytes = buffer[..len].to_vec();
                if events.send(Event::Reply { bytes, from, at }).is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                let _ = events.send(Event::ReceiveFailed(e));
                return;
            }
        }
    }
}

struct Collector<'a, O> {
    report: Report,
    /// Probes handed to the observer so far (a prefix of `report.probes`).
    reported: usize,
    sender_done: bool,
    observer: &'a mut O,
}

impl<O: Observer> Collector<'_, O> {
    fn collect(
        &mut self,
        socket: &UdpSocket,
        plan: &Plan,
        events: &Receiver<Event>,
        shutdown: &Shutdown,
    ) -> io::Result<()> {
        while !(self.sender_done && self.reported == self.report.probes.len()) {
            let wait = self.next_decision().map_or(POLL_INTERVAL, |due| {
                due.saturating_duration_since(Instant::now())
            });
            crossbeam_channel::select! {
                recv(events) -> event => match event {
                    Ok(event) => self.handle(event)?,
                    Err(_) => self.sender_done = true,
                },
                recv(shutdown.receiver()) -> _ => {
                    self.interrupt();
                    return Ok(());
                }
                default(wait) => {}
            }
            self.expire(Instant::now(), DECISION_GRACE);
            self.report_decided();
        }
        if !plan.send_exit {
            return Ok(());
        }
        self.observer.finished_sending();
        if let Err(e) = socket.send_to(protocol::EXIT_REQUEST, plan.server) {
            // The measurement is done; report it even if `exit` cannot go out.
            warn(format_args!("cannot send exit to {}: {e}", plan.server));
            return Ok(());
        }
        self.report.exit_sent = true;
        let longest_timeout = self.report.probes.iter().map(|p| p.timeout).max();
        let until = Instant::now() + longest_timeout.unwrap_or_default().max(MIN_REPLY_WAIT);
        while self.report.exit_reply.is_none() {
            let Some(wait) = until.checked_duration_since(Instant::now()) else {
                break;
            };
            crossbeam_channel::select! {
                recv(events) -> event => match event {
                    Ok(event) => self.handle(event)?,
                    Err(_) => break,
                },
                recv(shutdown.receiver()) -> _ => {
                    self.interrupt();
                    return Ok(());
                }
                default(wait) => {}
            }
        }
        Ok(())
    }

    /// When the earliest pending probe times out (plus the grace).
    fn next_decision(&self) -> Option<Instant> {
        self.report.probes[self.reported..]
            .iter()
            .filter(|p| p.outcome == Outcome::Pending)
            .map(|p| p.sent + p.timeout + DECISION_GRACE)
            .min()
    }

    fn handle(&mut self, event: Event) -> io::Result<()> {
        match event {
            Event::Sent(probe) => {
                if probe.seq == 1 {
                    self.report.started = probe.planned;
                }
                self.report.probes.push(probe);
            }
            Event::SendFailed { seq, error } => {
                warn(format_args!("{error}"));
                if let Some(probe) = self.probe_mut(seq) {
                    probe.outcome = Outcome::SendFailed(error);
                }
            }
            Event::SenderDone { rebases } => {
                self.sender_done = true;
                self.report.rebases = rebases;
            }
            Event::Reply { bytes, from, at } => self.match_reply(bytes, from, at),
            Event::ReceiveFailed(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return Err(e)
            }
            Event::ReceiveFailed(e) => return Err(e).context(|| "receive failed"),
        }
        Ok(())
    }

    fn probe_mut(&mut self, seq: u64) -> Option<&mut Probe> {
        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.report.probes.get_mut(index)
    }

    fn match_reply(&mut self, bytes: Vec<u8>, from: SocketAddr, at: Instant) {
        // Replies reach the collector in arrival order, so every probe whose
        // timeout ended before this reply arrived is lost: decide those first,
        // so a late ack finds its probe already lost and the output keeps its
        // order.
        self.expire(at, Duration::ZERO);
        self.report_decided();
        let seq = match protocol::parse_reply(&bytes) {
            Reply::Ack(Some(seq)) => seq,
            // The seed's rule: a plain ack answers the latest probe sent, if
            // that one is still waiting; otherwise nobody can tell whose it is.
            Reply::Ack(None) => match self.report.probes.last() {
                Some(latest) if latest.outcome == Outcome::Pending => latest.seq,
                Some(_) => return self.record_late(None, None, bytes),
                None => return self.unexpected(&bytes, from),
            },
            Reply::Stopping => {
                self.report.exit_reply = Some(bytes);
                return;
            }
            Reply::Calibrated => return, // the answer to a retried calibration
            Reply::Unknown => return self.unexpected(&bytes, from),
        };
        let Some(probe) = self.probe_mut(seq) else {
            return self.unexpected(&bytes, from);
        };
        let after = at.saturating_duration_since(probe.sent);
        match probe.outcome {
            Outcome::Pending if after <= probe.timeout => {
                probe.outcome = Outcome::Acked { at, reply: bytes };
                self.report_decided();
                return;
            }
            Outcome::Pending | Outcome::Lost | Outcome::Unanswered => {
                if probe.outcome == Outcome::Pending {
                    probe.outcome = Outcome::Lost;
                    self.report_decided();
                }
            }
            Outcome::Acked { .. } | Outcome::SendFailed(_) => {
                warn(format_args!(
                    "ignored a duplicate ack for packet {seq}: {}",
                    crate::python::bytes_repr(&bytes)
                ));
                return;
            }
        }
        self.record_late(Some(seq), Some(after), bytes);
    }

    fn record_late(&mut self, seq: Option<u64>, after: Option<Duration>, reply: Vec<u8>) {
        let late = LateAck { seq, after, reply };
        self.observer.late(&late);
        self.report.late.push(late);
    }

    fn unexpected(&mut self, bytes: &[u8], from: SocketAddr) {
        let shown: Vec<u8> = bytes.iter().copied().take(64).collect();
        warn(format_args!(
            "ignored an unexpected {}-byte datagram from {from}: {}",
            bytes.len(),
            crate::python::bytes_repr(&shown)
        ));
    }

    /// Declares lost every pending probe whose timeout plus `grace` ended
    /// before `now`.
    fn expire(&mut self, now: Instant, grace: Duration) {
        for probe in &mut self.report.probes[self.reported..] {
            if probe.outcome == Outcome::Pending && probe.sent + probe.timeout + grace < now {
                probe.outcome = Outcome::Lost;
            }
        }
    }

    /// Hands decided probes to the observer, in sequence order.
    fn report_decided(&mut self) {
        while let Some(probe) = self.report.probes.get(self.reported) {
            if probe.outcome == Outcome::Pending {
                break;
            }
            self.observer.decided(probe);
            self.reported += 1;
        }
    }

    /// Ctrl-C: probes still waiting become unanswered; no `exit` is sent.
    fn interrupt(&mut self) {
        self.report.interrupted = true;
        for probe in &mut self.report.probes[self.reported..] {
            if probe.outcome == Outcome::Pending {
                probe.outcome = Outcome::Unanswered;
            }
        }
        self.report_decided();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what the collector reports.
    #[derive(Default)]
    struct Recorder {
        decided: Vec<(u64, bool)>,
        late: Vec<Option<u64>>,
    }

    impl Observer for Recorder {
        fn decided(&mut self, probe: &Probe) {
            self.decided.push((probe.seq, probe.rtt().is_some()));
        }
        fn late(&mut self, late: &LateAck) {
            self.late.push(late.seq);
        }
        fn finished_sending(&mut self) {}
    }

    const TIMEOUT: Duration = Duration::from_millis(100);

    fn probe(seq: u64, sent: Instant) -> Event {
        Event::Sent(Probe {
            seq,
            interval: 0.1,
            timeout: TIMEOUT,
            planned: sent,
            sent,
            outcome: Outcome::Pending,
        })
    }

    fn reply(text: &str, at: Instant) -> Event {
        Event::Reply {
            bytes: text.as_bytes().to_vec(),
            from: "127.0.0.1:9".parse().unwrap(),
            at,
        }
    }

    fn collector(recorder: &mut Recorder) -> Collector<'_, Recorder> {
        Collector {
            report: Report {
                started: Instant::now(),
                probes: Vec::new(),
                late: Vec::new(),
                exit_reply: None,
                exit_sent: false,
                interrupted: false,
                rebases: 0,
            },
            reported: 0,
            sender_done: false,
            observer: recorder,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn acks_match_by_sequence_even_out_of_order() {
        let t0 = Instant::now();
        let mut recorder = Recorder::default();
        let mut c = collector(&mut recorder);
        for event in [
            probe(1, t0),
            probe(2, t0 + ms(10)),
            reply("Packet Acknowledged 2", t0 + ms(20)),
            reply("Packet Acknowledged 1", t0 + ms(30)),
        ] {
            c.handle(event).unwrap();
        }
        let rtts: Vec<_> = c.report.probes.iter().map(Probe::rtt).collect();
        assert_eq!(rtts, [Some(ms(30)), Some(ms(10))]);
        assert_eq!(recorder.decided, [(1, true), (2, true)]);
    }

    #[test]
    fn a_late_ack_is_reported_and_never_credited_to_the_next_probe() {
        let t0 = Instant::now();
        let mut recorder = Recorder::default();
        let mut c = collector(&mut recorder);
        for event in [
            probe(1, t0),
            probe(2, t0 + ms(100)),
            // Probe 1's ack, 150 ms after it was sent (timeout 100 ms).
            reply("Packet Acknowledged 1", t0 + ms(150)),
            reply("Packet Acknowledged 2", t0 + ms(160)),
        ] {
            c.handle(event).unwrap();
        }
        assert_eq!(c.report.probes[0].outcome, Outcome::Lost);
        assert_eq!(c.report.probes[1].rtt(), Some(ms(60)));
        assert_eq!(recorder.late, [Some(1)]);
        assert_eq!(recorder.decided, [(1, false), (2, true)]);
    }

    #[test]
    fn plain_acks_follow_the_seed_rule() {
        let t0 = Instant::now();
        let mut recorder = Recorder::default();
        let mut c = collector(&mut recorder);
        for event in [
            probe(1, t0),
            reply("Packet Acknowledged", t0 + ms(5)),
            probe(2, t0 + ms(100)),
            reply("Packet Acknowledged", t0 + ms(110)),
            // A second plain ack with no probe waiting: nobody's.
            reply("Packet Acknowledged", t0 + ms(120)),
        ] {
            c.handle(event).unwrap();
        }
        assert_eq!(c.report.received(), 2);
        assert_eq!(c.report.probes[1].rtt(), Some(ms(10)));
        assert_eq!(recorder.late, [None]);
    }

    #[test]
    fn duplicates_unknown_replies_and_exit_reply() {
        let t0 = Instant::now();
        let mut recorder = Recorder::default();
        let mut c = collector(&mut recorder);
        for event in [
            probe(1, t0),
            reply("Packet Acknowledged 1", t0 + ms(1)),
            reply("Packet Acknowledged 1", t0 + ms(2)),
            reply("Packet Acknowledged 99", t0 + ms(3)),
            reply("hello?", t0 + ms(4)),
            reply("Stopping the Server.", t0 + ms(5)),
        ] {
            c.handle(event).unwrap();
        }
        assert_eq!(c.report.received(), 1);
        assert_eq!(
            c.report.exit_reply.as_deref(),
            Some(&b"Stopping the Server."[..])
        );
        assert!(recorder.late.is_empty());
    }

    #[test]
    fn drift_compares_the_last_send_with_the_intervals() {
        let t0 = Instant::now();
        let mut recorder = Recorder::default();
        let mut c = collector(&mut recorder);
        for event in [probe(1, t0), probe(2, t0 + ms(100)), probe(3, t0 + ms(203))] {
            c.handle(event).unwrap();
        }
        let drift = c.report.drift().unwrap();
        assert!((drift - 0.003).abs() < 1e-9, "{drift}");
    }
}
