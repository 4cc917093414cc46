//! The a1 server: waits for `START`, counts every datagram from that client
//! until `STOP`, replies with the throughput, prints the seed's report.
//!
//! Unlike the seed it never asserts on a stray datagram (it logs and ignores
//! it), never divides by zero, ends a test whose client vanished after an
//! idle timeout, holds no payload in memory, and can serve test after test.
//!
//! With a socklab client it measures more (`PROTOCOLS.md` § a1): datagrams
//! that open with a [`Header`] feed loss, duplicate, reordering and jitter
//! statistics; per-interval figures are printed as they close and travel
//! back to the client in `STATS` datagrams after the reply; a `HELLO`
//! asks for several streams (`--parallel`) or for the server to send
//! (`--reverse`).
//!
//! A test belongs to its client: datagrams from any other source are
//! counted as strays, never keep the test alive, and a `START` among them is
//! remembered and served as soon as the current test ends. After a test,
//! a repeated `STOP` from its client (our reply was lost) is answered at
//! most [`MAX_STOP_ANSWERS`] times; every reply passes through a
//! per-source [`PerSourceLimiter`].

use super::protocol::{
    reverse_reply, stats_datagrams, throughput_reply, Control, Fin, Header, Hello, START, STOP,
};
use super::report;
use super::sender::{self, Senders, Spacing, StreamPlan};
use super::stats::{merge_intervals, Figures, IntervalClock, StreamReceiver, UnixClock, View};
use crate::net::offload::BatchReceiver;
use crate::net::{self, SocketOptions};
use crate::output::{self, json_array, JsonObject, JsonValue};
use crate::ratelimit::PerSourceLimiter;
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use crate::{report, say, warn};
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

/// How many stray datagrams are logged per wait or test before the log goes
/// quiet.
const STRAY_LOG_LIMIT: u64 = 5;

/// How many times a repeated `STOP` after a test is answered.
pub const MAX_STOP_ANSWERS: u32 = 3;

/// Reply bytes each source may receive in a burst, then per second: a
/// real client gets its acks, reply and statistics (a few kB) at once; a
/// forged flood of requests gets no more than this.
const REPLY_BURST_BYTES: u64 = 64 * 1024;
const REPLY_BYTES_PER_SECOND: u64 = 16 * 1024;

/// `--reverse`: how often `FIN` is repeated until the client's `STOP`.
const FIN_REPEAT: Duration = Duration::from_millis(100);

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
    /// Report every this long during a test (`None`: no interval reports).
    pub interval: Option<Duration>,
    /// Print one JSON object at exit instead of the human reports.
    pub json: bool,
    /// Batch datagrams with UDP segmentation and receive offload where the
    /// kernel supports it (`false`: `--no-offload`, multi-message calls).
    pub offload: bool,
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

impl TestEnd {
    fn name(self) -> &'static str {
        match self {
            TestEnd::Stopped => "stopped",
            TestEnd::IdleTimeout => "idle_timeout",
            TestEnd::Interrupted => "interrupted",
        }
    }
}

/// What the server measured in one test.
#[derive(Debug, Clone)]
pub struct TestReport {
    /// Where `START` came from.
    pub client: SocketAddr,
    /// Unix time at which `START` arrived.
    pub started_unix: f64,
    /// Whether the server sent (`--reverse`) instead of receiving.
    pub reverse: bool,
    /// The server's figures: as receiver, or as sender in reverse.
    pub view: View,
    /// From `START` to the last payload datagram received (or sent).
    pub receive_time: Duration,
    /// Datagrams from other addresses, ignored.
    pub strays: u64,
    /// How the test ended.
    pub end: TestEnd,
    /// Whether the client spoke socklab (headers or `HELLO`): only then are
    /// `STATS` datagrams sent after the reply.
    pub socklab_client: bool,
}

impl TestReport {
    /// Payload bytes counted (or sent, in reverse), all streams.
    pub fn bytes(&self) -> u64 {
        self.view.total().bytes
    }

    /// Delivered goodput in kilobytes per second (0 when nothing arrived).
    pub fn kilobytes_per_second(&self) -> f64 {
        output::rate(self.bytes(), self.receive_time) / 1000.0
    }

    /// The reply to `STOP`: the seed sentence with the byte count.
    pub fn reply(&self) -> String {
        if self.reverse {
            reverse_reply(self.kilobytes_per_second(), self.bytes())
        } else {
            throughput_reply(self.kilobytes_per_second(), self.bytes())
        }
    }

    /// Prints the seed's report lines (verbatim) and a few more.
    pub fn print(&self) {
        let total = self.view.total();
        let verb = if self.reverse { "sent" } else { "received" };
        report!("Time that first packet was received: {}", self.started_unix);
        report!("Client IP address:  {}", self.client.ip());
        report!("Size of data {verb} (bytes):  {}", total.bytes);
        report!(
            "Time taken to {} (seconds):  {}",
            if self.reverse { "send" } else { "receive" },
            self.receive_time.as_secs_f64()
        );
        report!(
            "Datagrams {verb}: {} ({}, {})",
            total.packets,
            output::human_bytes(total.bytes),
            output::human_rate(self.kilobytes_per_second() * 1000.0)
        );
        if let Some(line) = report::loss_line(&total) {
            report!("{line}");
        }
        if self.view.streams.len() > 1 {
            let receiver = !self.reverse;
            report!("{}", report::one_side_heading(receiver));
            for (id, figures) in self.view.streams.iter().enumerate() {
                report!(
                    "{}",
                    report::one_side_row(Some(id as u16), 0.0, figures.seconds, figures, receiver)
                );
            }
            report!(
                "{}",
                report::one_side_row(None, 0.0, total.seconds, &total, receiver)
            );
        }
        if self.strays > 0 {
            report!("Stray datagrams ignored: {}", self.strays);
        }
        match self.end {
            TestEnd::Stopped => {}
            TestEnd::IdleTimeout => report!("Test ended: the client went silent (no STOP)"),
            TestEnd::Interrupted => report!("Test ended: interrupted"),
        }
    }

    /// The test as a JSON object (see the README for the keys).
    pub fn to_json(&self) -> String {
        let receiver = !self.reverse;
        let side = if receiver { "receiver" } else { "sender" };
        let mut json = JsonObject::new()
            .field("client", JsonValue::Str(&self.client.to_string()))
            .field("start_unix", JsonValue::Float(self.started_unix))
            .field("reverse", JsonValue::Bool(self.reverse))
            .field("end", JsonValue::Str(self.end.name()))
            .field("strays", JsonValue::Uint(self.strays))
            .raw_field(
                side,
                &report::figures_json(&self.view.total(), receiver).finish(),
            )
            .raw_field("intervals", &report::intervals_json(&self.view, receiver));
        if self.view.streams.len() > 1 {
            let streams = self.view.streams.iter().enumerate().map(|(id, f)| {
                JsonObject::new()
                    .field("id", JsonValue::Uint(id as u64))
                    .raw_field(side, &report::figures_json(f, receiver).finish())
                    .finish()
            });
            json = json.raw_field("streams", &json_array(streams));
        }
        json.finish()
    }
}

/// The last finished test, whose client may repeat `STOP`.
struct LastTest {
    client: SocketAddr,
    /// The reply and the `STATS` datagrams.
    datagrams: Vec<String>,
    answers: u32,
}

/// The server's state between and during tests.
struct Server<'a> {
    socket: UdpSocket,
    config: &'a ServerConfig,
    shutdown: &'a Shutdown,
    buffer: Vec<u8>,
    limiter: PerSourceLimiter,
    last: Option<LastTest>,
    /// A `START` that arrived from another source during a test: its
    /// source and when that source was last heard from.
    pending: Option<(SocketAddr, Instant)>,
}

/// Binds, prints the readiness line, and serves tests until one is done
/// (or, with `forever`, until shutdown); stopped by shutdown, it prints a
/// summary line (`Server stopped: N test(s) served`).
pub fn run(config: &ServerConfig, shutdown: &Shutdown) -> io::Result<Vec<TestReport>> {
    let options = SocketOptions {
        recv_buffer: config.recv_buffer,
        ..SocketOptions::default()
    };
    let socket = net::bind_udp(config.bind, &options)?;
    socket.set_read_timeout(Some(POLL_INTERVAL))?;
    output::announce_listening(socket.local_addr()?, "udp");
    if !config.json {
        say!("Server is receiving data now...");
    }
    let mut server = Server {
        socket,
        config,
        shutdown,
        buffer: vec![0u8; READ_BUFFER],
        limiter: PerSourceLimiter::new(REPLY_BURST_BYTES, REPLY_BYTES_PER_SECOND),
        last: None,
        pending: None,
    };
    let mut reports = Vec::new();
    loop {
        let pending = server
            .pending
            .take()
            .filter(|(_, at)| at.elapsed() < config.idle_timeout);
        // A client that has kept sending since its START is served now.
        let start = match pending {
            Some((client, _)) => Some((client, Instant::now())),
            None => server.wait_for_start()?,
        };
        let Some((client, started)) = start else {
            break;
        };
        let report = server.serve(client, started)?;
        server.last = None;
        if report.end == TestEnd::Stopped {
            let mut datagrams = vec![report.reply()];
            if report.socklab_client {
                datagrams.extend(stats_datagrams(&report.view.to_lines()));
            }
            server.answer(client, &datagrams)?;
            server.last = Some(LastTest {
                client,
                datagrams,
                answers: 0,
            });
        }
        if report.end == TestEnd::IdleTimeout {
            warn!(
                "client {client} sent nothing for {:.1} s: ending its test without STOP",
                config.idle_timeout.as_secs_f64()
            );
        }
        if !config.json {
            report.print();
            if report.end == TestEnd::Stopped {
                report!("{}", report.reply());
            }
            say!("Server process completed iPerfectly!");
        }
        let interrupted = report.end == TestEnd::Interrupted;
        reports.push(report);
        if !config.forever || interrupted {
            break;
        }
    }
    if config.json {
        let tests = json_array(reports.iter().map(TestReport::to_json));
        output::json(JsonObject::new().raw_field("tests", &tests));
    } else if shutdown.is_triggered() {
        // Stopped by Ctrl-C or SIGTERM (idle, or between tests): the
        // summary every server prints. A seed-style run that ends after
        // its one test keeps the seed's last line.
        report!("Server stopped: {} test(s) served", reports.len());
    }
    Ok(reports)
}

impl Server<'_> {
    /// Sends `datagram` to `to` if its per-source budget allows.
    fn reply(&mut self, to: SocketAddr, datagram: &[u8]) -> io::Result<()> {
        if self.limiter.allow(to.ip(), datagram.len()) {
            sender::send_datagram(&self.socket, Some(to), datagram)?;
        }
        Ok(())
    }

    /// Sends the reply and statistics datagrams to `to`.
    fn answer(&mut self, to: SocketAddr, datagrams: &[String]) -> io::Result<()> {
        for datagram in datagrams {
            self.reply(to, datagram.as_bytes())?;
        }
        Ok(())
    }

    /// Answers a repeated `STOP` from the last test's client (at most
    /// [`MAX_STOP_ANSWERS`] times). Returns whether it was one.
    fn answer_repeated_stop(&mut self, from: SocketAddr, len: usize) -> io::Result<bool> {
        if &self.buffer[..len] != STOP {
            return Ok(false);
        }
        let Some(last) = self.last.as_mut().filter(|l| l.client == from) else {
            return Ok(false);
        };
        if last.answers < MAX_STOP_ANSWERS {
            last.answers += 1;
            let datagrams = last.datagrams.clone();
            self.answer(from, &datagrams)?;
        }
        Ok(true)
    }

    /// Notes a datagram from outside the running test: a `START` makes its
    /// source the next client; anything from that source shows it is still
    /// there.
    fn note_pending(&mut self, from: SocketAddr, is_start: bool) {
        match self.pending.as_mut() {
            _ if is_start => self.pending = Some((from, Instant::now())),
            Some((client, heard)) if *client == from => *heard = Instant::now(),
            _ => {}
        }
    }

    /// Logs a stray datagram (the first few of each wait or test).
    fn log_stray(strays: u64, len: usize, from: SocketAddr, waiting_for: &str) {
        if strays <= STRAY_LOG_LIMIT {
            warn!("ignoring a {len}-byte datagram from {from}: {waiting_for}");
        } else if strays == STRAY_LOG_LIMIT + 1 {
            warn!("ignoring further datagrams from other sources (not logged)");
        }
    }

    /// Waits for `START`, answering a repeated `STOP` of the last test and
    /// logging (a few) stray datagrams. Returns `None` on shutdown.
    fn wait_for_start(&mut self) -> io::Result<Option<(SocketAddr, Instant)>> {
        let mut strays = 0u64;
        loop {
            let Some((len, from)) =
                net::recv_from_until_shutdown(&self.socket, &mut self.buffer, self.shutdown)?
            else {
                return Ok(None);
            };
            if &self.buffer[..len] == START {
                return Ok(Some((from, Instant::now())));
            }
            if self.answer_repeated_stop(from, len)? {
                continue;
            }
            strays += 1;
            Self::log_stray(strays, len, from, "waiting for START");
        }
    }

    /// Serves one test that `START` from `client` began at `started`.
    fn serve(&mut self, client: SocketAddr, started: Instant) -> io::Result<TestReport> {
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut test = ReceiveTest {
            client,
            started,
            streams: vec![(client, 0, StreamReceiver::default())],
            clock: IntervalClock::new(started, self.config.interval),
            last_heard: started,
            unix: UnixClock::now(),
            strays: 0,
            hello: None,
            cookie: rand::random(),
            printed_heading: false,
        };
        let end = self.receive(&mut test)?;
        if let Some(hello) = test.hello.filter(|h| h.reverse) {
            if end.is_none() {
                return self.send_reverse(test, hello, started_unix);
            }
        }
        Ok(test.finish(end.unwrap_or(TestEnd::Stopped), started_unix, self.config))
    }

    /// The receive loop of a normal test: counts the test's datagrams until
    /// `STOP` (`Ok(None)` also when a reverse `HELLO` hands the test over
    /// to [`Self::send_reverse`]), idle timeout or shutdown.
    fn receive(&mut self, test: &mut ReceiveTest) -> io::Result<Option<TestEnd>> {
        // Non-blocking while datagrams flow, blocking (with the read timeout)
        // once the socket has been empty for SPIN_BEFORE_BLOCKING.
        let mut polling = true;
        self.socket.set_nonblocking(true)?;
        // Arrival times from the kernel where it gives them: the jitter is
        // then the network's, not this loop's scheduling (see the README's
        // lab section). Datagrams are read in batches (docs/a1-offload.md);
        // those of one coalesced batch share its kernel stamp.
        let mut inbox = BatchReceiver::new(&self.socket, self.config.offload);
        let mut next_boundary = test.clock.next_boundary();
        // The hot loop: one datagram per turn, the shutdown flag checked each
        // time (an atomic load), the clocks read once per counted datagram.
        let end = loop {
            if self.shutdown.is_triggered() {
                break TestEnd::Interrupted;
            }
            match inbox.recv(&self.socket) {
                Ok((len, from, kernel_ns)) => {
                    if !polling {
                        self.socket.set_nonblocking(true)?;
                        polling = true;
                    }
                    let Some(index) = test.streams.iter().position(|s| s.0 == from) else {
                        self.buffer[..len].copy_from_slice(inbox.last());
                        if self.stranger(test, len, from)? {
                            break TestEnd::IdleTimeout;
                        }
                        continue;
                    };
                    let now = Instant::now();
                    test.last_heard = now;
                    let datagram = inbox.last();
                    if datagram.starts_with(b"SLB1:") {
                        self.buffer[..len].copy_from_slice(datagram);
                        if self.control_from_client(test, index, len)? {
                            self.socket.set_nonblocking(false)?;
                            inbox.finish(&self.socket);
                            return Ok(None);
                        }
                        continue;
                    }
                    if index == 0 && datagram == STOP {
                        break TestEnd::Stopped;
                    }
                    if next_boundary.is_some_and(|b| now >= b) {
                        test.close_intervals(now, self.config.json);
                        next_boundary = test.clock.next_boundary();
                    }
                    let header = Header::parse(datagram);
                    let arrival_ns = match (header, kernel_ns) {
                        (None, _) => 0,
                        (Some(_), Some(ns)) => ns,
                        // In a coalesced batch after its first: unknown (0).
                        (Some(_), None) if inbox.coalescing() => 0,
                        (Some(_), None) => test.unix.at(now),
                    };
                    test.streams[index].2.record(len, header, now, arrival_ns);
                }
                Err(e) if polling && e.kind() == io::ErrorKind::WouldBlock => {
                    if test.last_heard.elapsed() >= SPIN_BEFORE_BLOCKING {
                        self.socket.set_nonblocking(false)?;
                        polling = false;
                    } else {
                        std::hint::spin_loop();
                    }
                }
                Err(e) if net::is_timeout(&e) => {
                    if test.last_heard.elapsed() >= self.config.idle_timeout {
                        break TestEnd::IdleTimeout;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused
                    ) => {}
                Err(e) => return Err(e),
            }
        };
        self.socket.set_nonblocking(false)?;
        inbox.finish(&self.socket);
        Ok(Some(end))
    }

    /// A datagram from outside the test: a `JOIN` with the test's cookie
    /// adds a stream; a `START` is remembered for after the test; anything
    /// else is a stray. Returns whether the test's client has now been
    /// silent for the idle timeout (strays never keep a test alive).
    fn stranger(
        &mut self,
        test: &mut ReceiveTest,
        len: usize,
        from: SocketAddr,
    ) -> io::Result<bool> {
        let datagram = &self.buffer[..len];
        if let (Some(hello), Some(Control::Join(cookie, stream))) =
            (test.hello, Control::parse(datagram))
        {
            let known = test.streams.iter().any(|s| s.1 == stream);
            if cookie == test.cookie && stream < hello.streams && !known {
                test.streams.push((from, stream, StreamReceiver::default()));
                test.last_heard = Instant::now();
                let joined = Control::Joined(cookie, stream).encode();
                self.reply(from, joined.as_bytes())?;
                return Ok(false);
            }
        }
        self.note_pending(from, datagram == START);
        test.strays += 1;
        Self::log_stray(test.strays, len, from, "not part of the running test");
        Ok(test.last_heard.elapsed() >= self.config.idle_timeout)
    }

    /// A control datagram from one of the test's own addresses. Returns
    /// whether the test turns into a reverse test.
    fn control_from_client(
        &mut self,
        test: &mut ReceiveTest,
        index: usize,
        len: usize,
    ) -> io::Result<bool> {
        let from = test.streams[index].0;
        match Control::parse(&self.buffer[..len]) {
            Some(Control::Hello(hello)) if index == 0 => {
                if test.hello.is_some_and(|h| h.token != hello.token) {
                    return Ok(false);
                }
                test.hello = Some(hello);
                let ack = Control::Ack(hello.token, test.cookie).encode();
                self.reply(from, ack.as_bytes())?;
                // Stream 0 joins with the control socket itself.
                Ok(hello.reverse)
            }
            Some(Control::Join(cookie, _)) if cookie == test.cookie => {
                let joined = Control::Joined(cookie, test.streams[index].1).encode();
                self.reply(from, joined.as_bytes())?;
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// Runs a `--reverse` test: waits until every stream has joined with the
    /// cookie, sends from one thread per stream, repeats `FIN` until the
    /// client's `STOP`.
    fn send_reverse(
        &mut self,
        mut test: ReceiveTest,
        hello: Hello,
        started_unix: f64,
    ) -> io::Result<TestReport> {
        // Stream 0 must join too: that proves the client receives there.
        test.streams.clear();
        let mut end = None;
        while test.streams.len() < usize::from(hello.streams) {
            if self.shutdown.is_triggered() {
                end = Some(TestEnd::Interrupted);
                break;
            }
            if test.last_heard.elapsed() >= self.config.idle_timeout {
                end = Some(TestEnd::IdleTimeout);
                break;
            }
            let Some((len, from)) = self.recv_with_timeout(POLL_INTERVAL)? else {
                continue;
            };
            match Control::parse(&self.buffer[..len]) {
                Some(Control::Hello(h)) if from == test.client && h.token == hello.token => {
                    test.last_heard = Instant::now();
                    let ack = Control::Ack(hello.token, test.cookie).encode();
                    self.reply(from, ack.as_bytes())?;
                }
                Some(Control::Join(..)) => {
                    // Registers (or re-acknowledges) the stream.
                    if let Some(index) = test.streams.iter().position(|s| s.0 == from) {
                        let joined = Control::Joined(test.cookie, test.streams[index].1).encode();
                        self.reply(from, joined.as_bytes())?;
                    } else if self.stranger(&mut test, len, from)? {
                        end = Some(TestEnd::IdleTimeout);
                        break;
                    }
                }
                _ if from == test.client && &self.buffer[..len] == STOP => {
                    end = Some(TestEnd::Stopped);
                    break;
                }
                _ => {
                    if self.stranger(&mut test, len, from)? {
                        end = Some(TestEnd::IdleTimeout);
                        break;
                    }
                }
            }
        }
        let mut report = TestReport {
            client: test.client,
            started_unix,
            reverse: true,
            view: View::default(),
            receive_time: Duration::ZERO,
            strays: test.strays,
            end: end.unwrap_or(TestEnd::Stopped),
            socklab_client: true,
        };
        if end.is_some() {
            return Ok(report);
        }
        test.streams.sort_by_key(|s| s.1);
        let send_start = Instant::now();
        let stop = Shutdown::new();
        let deadline =
            (hello.bytes == 0).then(|| send_start + Duration::from_millis(hello.time_ms.max(1)));
        let mut streams = Vec::new();
        for (addr, stream, _) in &test.streams {
            let plan = StreamPlan {
                stream: *stream,
                bytes: (hello.bytes > 0)
                    .then(|| sender::share(hello.bytes, hello.streams, *stream)),
                deadline,
                length: hello.length,
                rate: hello.rate / u64::from(hello.streams),
                spacing: Spacing::from_micros(hello.pacing_us),
                target: Some(*addr),
                offload: self.config.offload,
            };
            streams.push((self.socket.try_clone()?, plan));
        }
        let mut senders = Senders::start(streams, &stop)?;
        let mut clock = IntervalClock::new(send_start, self.config.interval);
        let mut printed_heading = false;
        let mut client_stopped = false;
        // While the senders run: interval reports, and the client's STOP
        // (it gave up) or shutdown end the test early.
        while !senders.finished() {
            if self.shutdown.is_triggered() {
                stop.trigger();
                report.end = TestEnd::Interrupted;
            }
            if let Some((start, end)) = clock.advance(Instant::now()) {
                let closed = senders.close_interval(start, end);
                if !self.config.json {
                    print_interval_rows(&closed, false, &mut printed_heading);
                }
            }
            if let Some((len, from)) = self.recv_with_timeout(Duration::from_millis(20))? {
                if from == test.client && &self.buffer[..len] == STOP {
                    stop.trigger();
                    client_stopped = true;
                } else if !test.streams.iter().any(|s| s.0 == from) {
                    test.strays += 1;
                    let start = &self.buffer[..len] == START;
                    self.note_pending(from, start);
                    Self::log_stray(test.strays, len, from, "not part of the running test");
                }
            }
        }
        let json = self.config.json;
        let (sent, intervals) = senders.wait(&mut clock, |closed| {
            if !json {
                print_interval_rows(closed, false, &mut printed_heading);
            }
        })?;
        let finished = sent.iter().map(|s| s.finished).max().unwrap_or(send_start);
        report.view = sender::sender_view(send_start, &sent, intervals);
        report.receive_time = finished.saturating_duration_since(send_start);
        if report.end == TestEnd::Interrupted || client_stopped {
            // A client that stopped early gets its reply at once.
            report.strays = test.strays;
            return Ok(report);
        }
        // FIN on every stream until the client's STOP.
        let fins: Vec<(SocketAddr, String)> = test
            .streams
            .iter()
            .zip(&sent)
            .map(|((addr, stream, _), s)| {
                let fin = Fin {
                    stream: *stream,
                    packets: s.packets,
                    bytes: s.bytes,
                };
                (*addr, Control::Fin(fin).encode())
            })
            .collect();
        let mut last_fin: Option<Instant> = None;
        let quiet_since = Instant::now();
        report.end = loop {
            if self.shutdown.is_triggered() {
                break TestEnd::Interrupted;
            }
            if quiet_since.elapsed() >= self.config.idle_timeout {
                break TestEnd::IdleTimeout;
            }
            if last_fin.is_none_or(|at| at.elapsed() >= FIN_REPEAT) {
                for (addr, fin) in &fins {
                    self.reply(*addr, fin.as_bytes())?;
                }
                last_fin = Some(Instant::now());
            }
            if let Some((len, from)) = self.recv_with_timeout(FIN_REPEAT)? {
                if from == test.client && &self.buffer[..len] == STOP {
                    break TestEnd::Stopped;
                }
                if !test.streams.iter().any(|s| s.0 == from) {
                    test.strays += 1;
                    let start = &self.buffer[..len] == START;
                    self.note_pending(from, start);
                }
            }
        };
        report.strays = test.strays;
        Ok(report)
    }

    /// One datagram within `timeout`, or `None`.
    fn recv_with_timeout(&mut self, timeout: Duration) -> io::Result<Option<(usize, SocketAddr)>> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        let result = self.socket.recv_from(&mut self.buffer);
        self.socket.set_read_timeout(Some(POLL_INTERVAL))?;
        match result {
            Ok(received) => Ok(Some(received)),
            Err(e) if net::is_timeout(&e) => Ok(None),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Prints interval rows (per stream when several, then `[SUM]`), with the
/// heading before the first.
fn print_interval_rows(
    closed: &[super::stats::Interval],
    receiver: bool,
    printed_heading: &mut bool,
) {
    if !*printed_heading {
        say!("{}", report::one_side_heading(receiver));
        *printed_heading = true;
    }
    for interval in closed {
        if closed.len() > 1 {
            say!(
                "{}",
                report::one_side_row(
                    Some(interval.stream),
                    interval.start,
                    interval.end,
                    &interval.figures,
                    receiver
                )
            );
        }
    }
    if let Some(first) = closed.first() {
        let sum = Figures::sum(closed.iter().map(|i| &i.figures));
        let stream = (closed.len() == 1).then_some(first.stream);
        say!(
            "{}",
            report::one_side_row(stream, first.start, first.end, &sum, receiver)
        );
    }
}

/// A normal (receiving) test in progress.
struct ReceiveTest {
    client: SocketAddr,
    started: Instant,
    /// `(address, stream id, counters)`; the client's own address first.
    streams: Vec<(SocketAddr, u16, StreamReceiver)>,
    clock: IntervalClock,
    /// When a datagram of the test last arrived.
    last_heard: Instant,
    /// Arrival times on the Unix clock, for jitter.
    unix: UnixClock,
    strays: u64,
    hello: Option<Hello>,
    /// Server-chosen: joins must carry it.
    cookie: u64,
    printed_heading: bool,
}

impl ReceiveTest {
    /// Closes every interval that ended by `now` and prints it.
    fn close_intervals(&mut self, now: Instant, json: bool) {
        while let Some((start, end)) = self.clock.advance(now) {
            self.close_one(start, end, json);
        }
    }

    fn close_one(&mut self, start: f64, end: f64, json: bool) {
        let mut closed: Vec<_> = self
            .streams
            .iter_mut()
            .map(|(_, id, stream)| stream.close_interval(*id, start, end))
            .collect();
        closed.sort_by_key(|i| i.stream);
        if !json {
            // Jitter and loss columns only for a stream with headers.
            let sequenced = closed.iter().any(|i| i.figures.lost.is_some());
            print_interval_rows(&closed, sequenced, &mut self.printed_heading);
        }
    }

    /// The report, after a last partial interval up to the last datagram.
    fn finish(mut self, end: TestEnd, started_unix: f64, config: &ServerConfig) -> TestReport {
        let last = self.streams.iter().filter_map(|s| s.2.last_arrival()).max();
        if let Some(last) = last {
            self.close_intervals(last, config.json);
            let end_seconds = self.clock.seconds_at(last);
            let unreported = self.streams.iter().any(|s| s.2.has_unreported());
            if self.clock.next_boundary().is_some()
                && unreported
                && end_seconds > self.clock.current_start()
            {
                self.close_one(self.clock.current_start(), end_seconds, config.json);
            }
        }
        self.streams.sort_by_key(|s| s.1);
        let started = self.started;
        let socklab_client = self.hello.is_some() || self.streams.iter().any(|s| s.2.sequenced());
        let view = View {
            streams: self
                .streams
                .iter()
                .map(|(_, _, s)| {
                    let seconds = s.last_arrival().map_or(0.0, |at| {
                        at.saturating_duration_since(started).as_secs_f64()
                    });
                    s.totals(seconds)
                })
                .collect(),
            intervals: merge_intervals(self.streams.iter().map(|s| s.2.intervals())),
        };
        TestReport {
            client: self.client,
            started_unix,
            reverse: false,
            view,
            receive_time: last.map_or(Duration::ZERO, |l| l.saturating_duration_since(started)),
            strays: self.strays,
            end,
            socklab_client,
        }
    }
}
