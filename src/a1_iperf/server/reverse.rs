//! A `--reverse` test: the server sends, the client receives.
//!
//! ```text
//! client                                       server
//!   START, HELLO (reverse) ------------------->  within the caps? ACK : REFUSED
//!   per stream: JOIN <cookie> <stream> ------>
//!           <------------------------- PROBE <nonce> <stream>   (to that address)
//!   ECHO <nonce> <stream> ------------------->  the address receives: JOINED
//!   (every stream joined)                        one sender thread per stream
//!           <------------------------------------- data
//!   ALIVE <cookie> every 250 ms ------------->  silence for the idle timeout
//!                                                stops the senders
//!           <------------------------------------- FIN per stream, every 100 ms
//!   STOP ------------------------------------>  reply and STATS
//! ```
//!
//! Three phases, one function each: [`Server::join_all`] waits until every
//! stream's address proved it receives (return routability, see
//! [`super::super::guard`]); [`Server::send_all`] runs the senders while the
//! client's `ALIVE`s keep coming; [`Server::fin_until_stop`] repeats `FIN`
//! until the client's `STOP`. Test data only ever goes to the addresses
//! that echoed their nonce, and stops within the idle timeout of the
//! client's last sign of life.

use super::{report, Budget, Next, ReceiveTest, Server, TestEnd, TestReport};
use crate::a1_iperf::protocol::{Control, Fin, Hello, START, STOP};
use crate::a1_iperf::sender::{self, Senders, Sent, Spacing, StreamPlan};
use crate::a1_iperf::stats::{IntervalClock, View};
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How often `FIN` is repeated until the client's `STOP`.
const FIN_REPEAT: Duration = Duration::from_millis(100);
/// How long the send loop waits for a datagram between interval checks.
const SEND_LOOP_WAIT: Duration = Duration::from_millis(20);

impl Server<'_> {
    /// Runs a `--reverse` test through its three phases; returns the
    /// report and what may still be sent to the client.
    pub(super) fn send_reverse(
        &mut self,
        mut test: ReceiveTest,
        hello: Hello,
        started_unix: f64,
    ) -> io::Result<(TestReport, Budget)> {
        let mut report = TestReport {
            client: test.client,
            started_unix,
            reverse: true,
            view: View::default(),
            receive_time: Duration::ZERO,
            strays: 0,
            end: TestEnd::Stopped,
            socklab_client: true,
            refusal: None,
        };
        // Every stream joins again, stream 0 included: the control
        // address proves it receives the same way.
        test.streams.clear();
        match self.join_all(&mut test, hello)? {
            Some(end) => report.end = end,
            None => {
                let targets = test.joins.joined();
                let sent = self.send_all(&mut test, hello, &targets, &mut report)?;
                if report.end == TestEnd::Stopped {
                    report.end = self.fin_until_stop(&mut test, &targets, &sent)?;
                }
            }
        }
        report.strays = test.strays;
        Ok((report, test.budget))
    }

    /// Phase 1: answers `JOIN`s and `ECHO`s until every stream's address
    /// proved it receives. `Some(end)` when the test ends first.
    fn join_all(&mut self, test: &mut ReceiveTest, hello: Hello) -> io::Result<Option<TestEnd>> {
        while test.joins.joined().len() < usize::from(hello.streams) {
            if let Some(end) = self.over(test) {
                return Ok(Some(end));
            }
            if test.deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Some(TestEnd::TimeLimit));
            }
            let Some((len, from)) = self.recv_with_timeout(POLL_INTERVAL)? else {
                continue;
            };
            let control = Control::parse(&self.buffer[..len]);
            match control {
                Some(Control::Hello(h)) if from == test.client && h.token == hello.token => {
                    // Our ACK was lost: the same ACK again.
                    test.last_heard = Instant::now();
                    test.budget.received(len as u64);
                    let ack = Control::Ack(hello.token, test.cookie);
                    let sent = self.answer_request(from, &ack, len)?;
                    test.budget.spend(sent);
                }
                Some(control @ (Control::Join(..) | Control::Echo(..))) => {
                    if from == test.client {
                        test.last_heard = Instant::now();
                        test.budget.received(len as u64);
                    }
                    self.join_step(test, &control, from, len)?;
                }
                _ => match self.heard_while_sending(test, len, from) {
                    Next::End(end) => return Ok(Some(end)),
                    Next::Continue | Next::Reverse => {}
                },
            }
        }
        Ok(None)
    }

    /// Whether the test is over for a reason of its own: shutdown, or
    /// the client silent for the idle timeout.
    fn over(&self, test: &ReceiveTest) -> Option<TestEnd> {
        if self.shutdown.is_triggered() {
            Some(TestEnd::Interrupted)
        } else if test.last_heard.elapsed() >= self.config.idle_timeout {
            Some(TestEnd::IdleTimeout)
        } else {
            None
        }
    }

    /// A datagram during a reverse test that is not part of joining: the
    /// client's `ALIVE` (it keeps the test going) or `STOP` (it ends it);
    /// anything else, from anyone else, is a stray.
    fn heard_while_sending(
        &mut self,
        test: &mut ReceiveTest,
        len: usize,
        from: SocketAddr,
    ) -> Next {
        let datagram = &self.buffer[..len];
        if from == test.client {
            if datagram == STOP {
                test.budget.received(len as u64);
                return Next::End(TestEnd::Stopped);
            }
            if Control::parse(datagram) == Some(Control::Alive(test.cookie)) {
                test.last_heard = Instant::now();
                return Next::Continue;
            }
        }
        if !test.joins.proved(from) {
            test.strays += 1;
            let start = datagram == START;
            self.note_pending(from, start);
            report::log_stray(test.strays, len, from, "not part of the running test");
        }
        Next::Continue
    }

    /// Phase 2: one sender thread per joined stream, interval reports,
    /// until the senders finish, the client stops or goes silent, or
    /// shutdown. Sets `report`'s view, time and end; returns what each
    /// stream sent.
    fn send_all(
        &mut self,
        test: &mut ReceiveTest,
        hello: Hello,
        targets: &[(SocketAddr, u16)],
        report: &mut TestReport,
    ) -> io::Result<Vec<Sent>> {
        let send_start = Instant::now();
        let stop = Shutdown::new();
        let streams = targets
            .iter()
            .map(|&(addr, stream)| {
                let deadline = self.send_deadline(hello, send_start);
                let plan = stream_plan(hello, stream, addr, deadline, self.config.offload);
                Ok((self.socket.try_clone()?, plan))
            })
            .collect::<io::Result<Vec<_>>>()?;
        let mut senders = Senders::start(streams, &stop)?;
        let mut clock = IntervalClock::new(send_start, self.config.interval);
        let mut printed_heading = false;
        test.last_heard = Instant::now();
        while !senders.finished() {
            if let Some(end) = self.over(test) {
                stop.trigger();
                report.end = end;
            }
            if let Some((start, end)) = clock.advance(Instant::now()) {
                let closed = senders.close_interval(start, end);
                if !self.config.json {
                    report::print_interval_rows(&closed, false, &mut printed_heading);
                }
            }
            if let Some((len, from)) = self.recv_with_timeout(SEND_LOOP_WAIT)? {
                if let Next::End(end) = self.heard_while_sending(test, len, from) {
                    // The client gave up early: it gets its reply at once.
                    stop.trigger();
                    report.end = end;
                }
            }
        }
        let json = self.config.json;
        let (sent, intervals) = senders.wait(&mut clock, |closed| {
            if !json {
                report::print_interval_rows(closed, false, &mut printed_heading);
            }
        })?;
        let finished = sent.iter().map(|s| s.finished).max().unwrap_or(send_start);
        report.view = sender::sender_view(send_start, &sent, intervals);
        report.receive_time = finished.saturating_duration_since(send_start);
        if report.end == TestEnd::Stopped && stop.is_triggered() {
            // Stopped by the client mid-test: no FIN phase.
            return Ok(Vec::new());
        }
        Ok(sent)
    }

    /// When the senders stop: the requested time, cut to
    /// `--server-max-duration`; `None` for a test of a byte count without
    /// a maximum.
    fn send_deadline(&self, hello: Hello, send_start: Instant) -> Option<Instant> {
        let asked = (hello.bytes == 0).then(|| Duration::from_millis(hello.time_ms.max(1)));
        let max = self.config.caps.max_duration;
        let limit = match (asked, max) {
            (Some(asked), Some(max)) => Some(asked.min(max)),
            (asked, max) => asked.or(max),
        };
        limit.map(|limit| send_start + limit)
    }

    /// Phase 3: `FIN` on every stream until the client's `STOP` (its
    /// receivers are done), shutdown or the idle timeout. An empty `sent`
    /// (the client already stopped) ends at once.
    fn fin_until_stop(
        &mut self,
        test: &mut ReceiveTest,
        targets: &[(SocketAddr, u16)],
        sent: &[Sent],
    ) -> io::Result<TestEnd> {
        if sent.is_empty() {
            return Ok(TestEnd::Stopped);
        }
        let fins: Vec<(SocketAddr, String)> = targets
            .iter()
            .zip(sent)
            .map(|(&(addr, stream), s)| {
                let fin = Fin {
                    stream,
                    packets: s.packets,
                    bytes: s.bytes,
                };
                (addr, Control::Fin(fin).encode())
            })
            .collect();
        let mut last_fin: Option<Instant> = None;
        test.last_heard = Instant::now();
        loop {
            if let Some(end) = self.over(test) {
                return Ok(end);
            }
            if last_fin.is_none_or(|at| at.elapsed() >= FIN_REPEAT) {
                for (addr, fin) in &fins {
                    self.reply(*addr, fin.as_bytes())?;
                }
                last_fin = Some(Instant::now());
            }
            if let Some((len, from)) = self.recv_with_timeout(FIN_REPEAT)? {
                if let Next::End(end) = self.heard_while_sending(test, len, from) {
                    return Ok(end);
                }
            }
        }
    }
}

/// What the sender of `stream` sends to `target`: its share of the bytes
/// or the time, at its share of the rate (batched with `offload`).
fn stream_plan(
    hello: Hello,
    stream: u16,
    target: SocketAddr,
    deadline: Option<Instant>,
    offload: bool,
) -> StreamPlan {
    StreamPlan {
        stream,
        bytes: (hello.bytes > 0).then(|| sender::share(hello.bytes, hello.streams, stream)),
        deadline,
        length: hello.length,
        rate: hello.rate / u64::from(hello.streams),
        spacing: Spacing::from_micros(hello.pacing_us),
        target: Some(target),
        offload,
    }
}
