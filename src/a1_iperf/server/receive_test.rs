//! The state of a normal (receiving) test: who belongs to it, what each
//! stream counted, the interval clock, and what the test has earned the
//! client (its [`Budget`]); [`ReceiveTest::finish`] turns it into the
//! report.

use super::{report, ServerConfig, TestEnd, TestReport};
use crate::a1_iperf::guard::{Budget, Joins};
use crate::a1_iperf::protocol::{Hello, START};
use crate::a1_iperf::stats::{merge_intervals, IntervalClock, StreamReceiver, UnixClock, View};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A normal (receiving) test in progress.
pub(super) struct ReceiveTest {
    pub(super) client: SocketAddr,
    pub(super) started: Instant,
    /// `(address, stream id, counters)`; the client's own address first.
    pub(super) streams: Vec<(SocketAddr, u16, StreamReceiver)>,
    pub(super) clock: IntervalClock,
    /// When a datagram of the test last arrived.
    pub(super) last_heard: Instant,
    /// Arrival times on the Unix clock, for jitter.
    pub(super) unix: UnixClock,
    pub(super) strays: u64,
    pub(super) hello: Option<Hello>,
    /// Server-chosen: joins must carry it.
    pub(super) cookie: u64,
    pub(super) printed_heading: bool,
    /// Which addresses proved they receive, for which stream.
    pub(super) joins: Joins,
    /// What may be sent to the client's address.
    pub(super) budget: Budget,
    /// Where `--server-max-duration` cuts the test.
    pub(super) deadline: Option<Instant>,
    /// Why the `HELLO` was refused.
    pub(super) refusal: Option<String>,
}

impl ReceiveTest {
    /// When the receive loop must look at the clock next: the next
    /// interval boundary or the deadline, whichever comes first.
    pub(super) fn next_check(&self) -> Option<Instant> {
        match (self.clock.next_boundary(), self.deadline) {
            (Some(boundary), Some(deadline)) => Some(boundary.min(deadline)),
            (boundary, deadline) => boundary.or(deadline),
        }
    }

    /// A test that `START` from `client` began at `started`.
    pub(super) fn new(client: SocketAddr, started: Instant, config: &ServerConfig) -> ReceiveTest {
        let mut budget = Budget::default();
        budget.received(START.len() as u64);
        ReceiveTest {
            client,
            started,
            streams: vec![(client, 0, StreamReceiver::default())],
            clock: IntervalClock::new(started, config.interval),
            last_heard: started,
            unix: UnixClock::now(),
            strays: 0,
            hello: None,
            cookie: rand::random(),
            printed_heading: false,
            joins: Joins::default(),
            budget,
            deadline: config.caps.max_duration.map(|max| started + max),
            refusal: None,
        }
    }

    /// Closes every interval that ended by `now` and prints it.
    pub(super) fn close_intervals(&mut self, now: Instant, json: bool) {
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
            report::print_interval_rows(&closed, sequenced, &mut self.printed_heading);
        }
    }

    /// The report, after a last partial interval up to the last datagram,
    /// and what may still be sent to the client.
    pub(super) fn finish(
        mut self,
        end: TestEnd,
        started_unix: f64,
        config: &ServerConfig,
    ) -> (TestReport, Budget) {
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
        // The client's own datagrams count towards what it may be sent.
        if let Some((_, _, stream)) = self.streams.iter().find(|s| s.0 == self.client) {
            self.budget.received(stream.totals(0.0).bytes);
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
        let report = TestReport {
            client: self.client,
            started_unix,
            reverse: false,
            view,
            receive_time: last.map_or(Duration::ZERO, |l| l.saturating_duration_since(started)),
            strays: self.strays,
            end,
            socklab_client,
            refusal: self.refusal,
        };
        (report, self.budget)
    }
}
