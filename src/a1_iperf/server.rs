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
//!
//! What the server sends and to whom follows [`super::guard`]: a stream's
//! address joins only after echoing a nonce sent to it, nothing goes to an
//! unproved address beyond the bytes that came from it, and the operator's
//! [`Caps`] bound what a `HELLO` may ask for. A `--reverse` test is run by
//! [`reverse`].

mod receive_test;
mod reverse;

use receive_test::ReceiveTest;

use super::guard::{Budget, Caps, Echoed};
use super::protocol::{
    reverse_reply, stats_datagrams, throughput_reply, Control, Header, START, STOP,
};
use super::report;
use super::sender;
use super::stats::{StreamReceiver, View};
use crate::net::offload::BatchReceiver;
use crate::net::{self, SocketOptions};
use crate::output;
use crate::ratelimit::PerSourceLimiter;
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

/// How many times a repeated `STOP` after a test is answered.
pub const MAX_STOP_ANSWERS: u32 = 3;

/// Reply bytes each source may receive in a burst, then per second: a
/// real client gets its acks, reply and statistics (a few kB) at once; a
/// forged flood of requests gets no more than this.
const REPLY_BURST_BYTES: u64 = 64 * 1024;
const REPLY_BYTES_PER_SECOND: u64 = 16 * 1024;

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
    /// The operator's limits on what a test may ask for.
    pub caps: Caps,
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
    /// The `HELLO` asked for more than the server's caps allow.
    Refused,
    /// The test ran for `--server-max-duration` and was cut there.
    TimeLimit,
}

impl TestEnd {
    /// The name in the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            TestEnd::Stopped => "stopped",
            TestEnd::IdleTimeout => "idle_timeout",
            TestEnd::Interrupted => "interrupted",
            TestEnd::Refused => "refused",
            TestEnd::TimeLimit => "time_limit",
        }
    }

    /// Whether the client gets the reply and statistics.
    fn answered(self) -> bool {
        matches!(self, TestEnd::Stopped | TestEnd::TimeLimit)
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
    /// Why the test was refused ([`TestEnd::Refused`]).
    pub refusal: Option<String>,
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
}

/// The last finished test, whose client may repeat `STOP`.
struct LastTest {
    client: SocketAddr,
    /// The reply and the `STATS` datagrams.
    datagrams: Vec<String>,
    answers: u32,
    /// What may still be sent to the client.
    budget: Budget,
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
    report::server_ready(config.json);
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
    while let Some((client, started)) = server.next_start()? {
        let (report, budget) = server.serve(client, started)?;
        server.finish_test(&report, budget)?;
        let interrupted = report.end == TestEnd::Interrupted;
        reports.push(report);
        if !config.forever || interrupted {
            break;
        }
    }
    report::server_summary(&reports, config.json, shutdown.is_triggered());
    Ok(reports)
}

impl Server<'_> {
    /// The next test's client: a `START` remembered during the last test
    /// (its source has kept sending since), or the next one to arrive.
    /// `None` on shutdown.
    fn next_start(&mut self) -> io::Result<Option<(SocketAddr, Instant)>> {
        let idle_timeout = self.config.idle_timeout;
        match self
            .pending
            .take()
            .filter(|(_, at)| at.elapsed() < idle_timeout)
        {
            Some((client, _)) => Ok(Some((client, Instant::now()))),
            None => self.wait_for_start(),
        }
    }

    /// After a test: the reply and statistics to its client (within
    /// `budget`), kept for a repeated `STOP`; then the report.
    fn finish_test(&mut self, report: &TestReport, mut budget: Budget) -> io::Result<()> {
        self.last = None;
        if report.end.answered() {
            let mut datagrams = vec![report.reply()];
            if report.socklab_client {
                datagrams.extend(stats_datagrams(&report.view.to_lines()));
            }
            self.answer(report.client, &datagrams, &mut budget)?;
            self.last = Some(LastTest {
                client: report.client,
                datagrams,
                answers: 0,
                budget,
            });
        }
        report.print_end(self.config);
        Ok(())
    }

    /// Sends `datagram` to `to` if its per-source budget allows.
    fn reply(&mut self, to: SocketAddr, datagram: &[u8]) -> io::Result<()> {
        if self.limiter.allow(to.ip(), datagram.len()) {
            sender::send_datagram(&self.socket, Some(to), datagram)?;
        }
        Ok(())
    }

    /// Answers a request of `request_len` bytes from `to`, an address that
    /// has not (yet) proved it receives: only with an answer no longer
    /// than the request.
    /// Returns the bytes sent (0 when the answer did not fit).
    fn answer_request(
        &mut self,
        to: SocketAddr,
        answer: &Control,
        request_len: usize,
    ) -> io::Result<usize> {
        let datagram = answer.encode();
        if datagram.len() > request_len {
            return Ok(0);
        }
        self.reply(to, datagram.as_bytes())?;
        Ok(datagram.len())
    }

    /// Sends the reply and statistics datagrams to `to`, in order, while
    /// `budget` allows.
    fn answer(
        &mut self,
        to: SocketAddr,
        datagrams: &[String],
        budget: &mut Budget,
    ) -> io::Result<()> {
        for datagram in datagrams {
            if !budget.spend(datagram.len()) {
                break;
            }
            self.reply(to, datagram.as_bytes())?;
        }
        Ok(())
    }

    /// Answers a repeated `STOP` from the last test's client (at most
    /// [`MAX_STOP_ANSWERS`] times, within its budget). Returns whether it
    /// was one.
    fn answer_repeated_stop(&mut self, from: SocketAddr, len: usize) -> io::Result<bool> {
        if &self.buffer[..len] != STOP {
            return Ok(false);
        }
        let Some(last) = self.last.as_mut().filter(|l| l.client == from) else {
            return Ok(false);
        };
        last.budget.received(len as u64);
        if last.answers < MAX_STOP_ANSWERS {
            last.answers += 1;
            let datagrams = last.datagrams.clone();
            let mut budget = last.budget;
            self.answer(from, &datagrams, &mut budget)?;
            if let Some(last) = self.last.as_mut() {
                last.budget = budget;
            }
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
            report::log_stray(strays, len, from, "waiting for START");
        }
    }

    /// Serves one test that `START` from `client` began at `started`;
    /// returns its report and what may still be sent to the client.
    fn serve(&mut self, client: SocketAddr, started: Instant) -> io::Result<(TestReport, Budget)> {
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut test = ReceiveTest::new(client, started, self.config);
        let end = self.receive(&mut test)?;
        if let Some(hello) = test.hello.filter(|h| h.reverse) {
            if end.is_none() {
                return self.send_reverse(test, hello, started_unix);
            }
        }
        let end = end.unwrap_or(TestEnd::Stopped);
        if end == TestEnd::Stopped {
            test.budget.received(STOP.len() as u64);
        }
        Ok(test.finish(end, started_unix, self.config))
    }

    /// The receive loop of a normal test: counts the test's datagrams until
    /// `STOP` (`Ok(None)` also when a reverse `HELLO` hands the test over
    /// to [`Self::send_reverse`]), idle timeout or shutdown.
    fn receive(&mut self, test: &mut ReceiveTest) -> io::Result<Option<TestEnd>> {
        let mut polling = self.start_receiving()?;
        let mut next_check = test.next_check();
        // Datagrams are read in batches (docs/a1-offload.md); those of one
        // coalesced batch share its kernel stamp.
        let mut inbox = BatchReceiver::new(&self.socket, self.config.offload);
        // The hot loop: one recv per datagram, the shutdown flag checked each
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
                        match self.control_from_client(test, index, len)? {
                            Next::Continue => continue,
                            Next::Reverse => {
                                self.socket.set_nonblocking(false)?;
                                inbox.finish(&self.socket);
                                return Ok(None);
                            }
                            Next::End(end) => break end,
                        }
                    }
                    if index == 0 && datagram == STOP {
                        break TestEnd::Stopped;
                    }
                    if next_check.is_some_and(|b| now >= b) {
                        if test.deadline.is_some_and(|d| now >= d) {
                            break TestEnd::TimeLimit;
                        }
                        test.close_intervals(now, self.config.json);
                        next_check = test.next_check();
                    }
                    let header = Header::parse(datagram);
                    // In a coalesced batch after its first: no arrival of its own (0).
                    let arrival_ns = if kernel_ns.is_none() && inbox.coalescing() {
                        0
                    } else {
                        test.unix.arrival_ns(header.is_some(), kernel_ns, now)
                    };
                    test.streams[index].2.record(len, header, now, arrival_ns);
                }
                Err(e) => {
                    if let Some(end) = self.no_datagram(test, e, &mut polling)? {
                        break end;
                    }
                }
            }
        };
        self.socket.set_nonblocking(false)?;
        inbox.finish(&self.socket);
        Ok(Some(end))
    }

    /// Readies the socket for the receive loop; returns `polling` (true).
    fn start_receiving(&self) -> io::Result<bool> {
        // Non-blocking while datagrams flow, blocking (with the read timeout)
        // once the socket has been empty for SPIN_BEFORE_BLOCKING.
        self.socket.set_nonblocking(true)?;
        // Arrival times from the kernel where it gives them: the jitter is
        // then the network's, not this loop's scheduling (see the README's
        // lab section).
        net::enable_receive_timestamps(&self.socket);
        Ok(true)
    }

    /// The receive loop found no datagram: spins a moment more, then
    /// blocks; ends the test after the idle timeout or at the deadline.
    fn no_datagram(
        &mut self,
        test: &ReceiveTest,
        error: io::Error,
        polling: &mut bool,
    ) -> io::Result<Option<TestEnd>> {
        match error {
            e if *polling && e.kind() == io::ErrorKind::WouldBlock => {
                if test.last_heard.elapsed() >= SPIN_BEFORE_BLOCKING {
                    self.socket.set_nonblocking(false)?;
                    *polling = false;
                } else {
                    std::hint::spin_loop();
                }
            }
            e if net::is_timeout(&e) => {
                if test.last_heard.elapsed() >= self.config.idle_timeout {
                    return Ok(Some(TestEnd::IdleTimeout));
                }
                if test.deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(Some(TestEnd::TimeLimit));
                }
            }
            e if matches!(
                e.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused
            ) => {}
            e => return Err(e),
        }
        Ok(None)
    }

    /// A datagram from outside the test: a `JOIN` or `ECHO` of a stream
    /// ([`Self::join_step`]; an address that proves it receives becomes a
    /// stream); a `START` is remembered for after the test; anything else
    /// is a stray. Returns whether the test's client has now been silent
    /// for the idle timeout (strays never keep a test alive).
    fn stranger(
        &mut self,
        test: &mut ReceiveTest,
        len: usize,
        from: SocketAddr,
    ) -> io::Result<bool> {
        let control = Control::parse(&self.buffer[..len]);
        if let Some(control @ (Control::Join(..) | Control::Echo(..))) = &control {
            if let Some(stream) = self.join_step(test, control, from, len)? {
                test.streams.push((from, stream, StreamReceiver::default()));
                test.last_heard = Instant::now();
            }
            return Ok(test.last_heard.elapsed() >= self.config.idle_timeout);
        }
        self.note_pending(from, &self.buffer[..len] == START);
        test.strays += 1;
        report::log_stray(test.strays, len, from, "not part of the running test");
        Ok(test.last_heard.elapsed() >= self.config.idle_timeout)
    }

    /// One step of return routability for a `JOIN` or `ECHO` of `len`
    /// bytes from `from` ([`Joins`]): a `JOIN` with the test's cookie gets
    /// a `PROBE` (never longer than the `JOIN`), the echo of its nonce from
    /// the same address gets `JOINED`. Returns the stream that `from` has
    /// just proved it receives for.
    fn join_step(
        &mut self,
        test: &mut ReceiveTest,
        control: &Control,
        from: SocketAddr,
        len: usize,
    ) -> io::Result<Option<u16>> {
        let Some(hello) = test.hello else {
            return Ok(None);
        };
        match *control {
            Control::Join(cookie, stream) if cookie == test.cookie && stream < hello.streams => {
                if let Some(answer) = test.joins.join(cookie, stream, from) {
                    let sent = self.answer_request(from, &answer, len)?;
                    if from == test.client {
                        test.budget.spend(sent);
                    }
                }
                Ok(None)
            }
            Control::Echo(nonce, stream) => {
                let echoed = test.joins.echo(nonce, stream, from);
                if echoed == Echoed::No {
                    return Ok(None);
                }
                if from == test.client {
                    test.budget = Budget::proved();
                }
                let joined = Control::Joined(test.cookie, stream).encode();
                self.reply(from, joined.as_bytes())?;
                Ok((echoed == Echoed::New).then_some(stream))
            }
            _ => Ok(None),
        }
    }

    /// A control datagram from one of the test's own addresses: a `HELLO`
    /// from the client (accepted within the caps, or refused), or a
    /// stream's `JOIN`/`ECHO`.
    fn control_from_client(
        &mut self,
        test: &mut ReceiveTest,
        index: usize,
        len: usize,
    ) -> io::Result<Next> {
        let from = test.streams[index].0;
        if index == 0 {
            test.budget.received(len as u64);
        }
        match Control::parse(&self.buffer[..len]) {
            Some(Control::Hello(hello)) if index == 0 => {
                if test.hello.is_some_and(|h| h.token != hello.token) {
                    return Ok(Next::Continue);
                }
                if let Some(reason) = self.config.caps.refusal(&hello) {
                    let sent = self.answer_request(from, &Control::refused(&reason), len)?;
                    test.budget.spend(sent);
                    test.refusal = Some(reason);
                    return Ok(Next::End(TestEnd::Refused));
                }
                test.hello = Some(hello);
                let ack = Control::Ack(hello.token, test.cookie);
                let sent = self.answer_request(from, &ack, len)?;
                test.budget.spend(sent);
                // Stream 0 joins from the control socket like any other.
                Ok(if hello.reverse {
                    Next::Reverse
                } else {
                    Next::Continue
                })
            }
            Some(control @ (Control::Join(..) | Control::Echo(..))) => {
                self.join_step(test, &control, from, len)?;
                Ok(Next::Continue)
            }
            _ => Ok(Next::Continue),
        }
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

/// What the receive loop does after a control datagram.
enum Next {
    /// Keep receiving.
    Continue,
    /// The `HELLO` asked for `--reverse`: hand over to [`reverse`].
    Reverse,
    /// The test is over.
    End(TestEnd),
}
