//! Receiver statistics for a1, as iperf3 computes them, and the figures
//! both sides report.
//!
//! - [`SeqStats`]: per stream, from each datagram's sequence number and send
//!   time ([`super::protocol::Header`]): datagrams lost (sequence numbers
//!   never seen), duplicates, out-of-order arrivals and RFC 3550
//!   interarrival jitter. Lost is `highest sequence + 1 − distinct
//!   sequences received`, so a late datagram that fills a gap is not lost
//!   (iperf3 takes the loss back the same way). Unlike iperf3, a duplicate
//!   is counted as a duplicate, not as out of order; a bitmap of the last
//!   [`WINDOW`] sequence numbers tells them apart in fixed memory.
//! - [`StreamReceiver`]: one stream's counters plus its per-interval
//!   records, closed by an [`IntervalClock`] shared by the streams of a test.
//! - [`Figures`], [`Interval`], [`View`]: what one side saw (totals per
//!   stream and intervals); a `View` travels in-band to the client as text
//!   lines ([`View::to_lines`], [`View::from_lines`]).
//!
//! Jitter (RFC 3550 § 6.4.1): for datagram *i*, the transit time is
//! `D(i) = arrival − send time`; `J += (|D(i) − D(i−1)| − J) / 16`. The two
//! clocks' offset cancels in the difference.

use std::time::{Duration, Instant};

/// Sequence numbers remembered below the highest one, for telling a
/// duplicate from a late arrival (a bitmap of 512 bytes per stream).
pub const WINDOW: u64 = 4096;

/// Loss, duplicates, reordering and jitter of one stream.
#[derive(Debug, Clone)]
pub struct SeqStats {
    /// Highest sequence number seen + 1 (0 before any).
    expected: u64,
    /// Distinct sequence numbers received.
    unique: u64,
    duplicates: u64,
    out_of_order: u64,
    /// Bit `s % WINDOW` is set when sequence `s` (within the window) arrived.
    seen: [u64; (WINDOW / 64) as usize],
    jitter_ns: f64,
    prev_transit_ns: Option<i128>,
}

impl Default for SeqStats {
    fn default() -> Self {
        SeqStats {
            expected: 0,
            unique: 0,
            duplicates: 0,
            out_of_order: 0,
            seen: [0; (WINDOW / 64) as usize],
            jitter_ns: 0.0,
            prev_transit_ns: None,
        }
    }
}

impl SeqStats {
    fn bit(&mut self, sequence: u64) -> (&mut u64, u64) {
        let index = sequence % WINDOW;
        (&mut self.seen[(index / 64) as usize], 1 << (index % 64))
    }

    /// Records one datagram: its sequence number, its send time and its
    /// arrival time (both in ns on the senders' and receiver's clocks; an
    /// arrival of 0 is unknown and leaves the jitter alone).
    pub fn record(&mut self, sequence: u64, sent_ns: u64, arrival_ns: u64) {
        if sequence >= self.expected {
            // New highest: forget the window slots the jump passes over.
            let cleared = (sequence - self.expected + 1).min(WINDOW);
            for s in sequence + 1 - cleared..=sequence {
                let (word, mask) = self.bit(s);
                *word &= !mask;
            }
            let (word, mask) = self.bit(sequence);
            *word |= mask;
            self.expected = sequence + 1;
            self.unique += 1;
        } else if self.expected - sequence > WINDOW {
            // Too old to tell a duplicate from a late arrival: late.
            self.unique += 1;
            self.out_of_order += 1;
        } else {
            let (word, mask) = self.bit(sequence);
            if *word & mask != 0 {
                self.duplicates += 1;
            } else {
                *word |= mask;
                self.unique += 1;
                self.out_of_order += 1;
            }
        }
        if arrival_ns == 0 {
            return;
        }
        let transit = i128::from(arrival_ns) - i128::from(sent_ns);
        if let Some(previous) = self.prev_transit_ns {
            let d = (transit - previous).abs() as f64;
            self.jitter_ns += (d - self.jitter_ns) / 16.0;
        }
        self.prev_transit_ns = Some(transit);
    }

    /// Datagrams never seen below the highest sequence number.
    pub fn lost(&self) -> u64 {
        self.expected - self.unique.min(self.expected)
    }

    /// Highest sequence number + 1: the datagrams the sender had sent by
    /// the latest one that arrived.
    pub fn expected(&self) -> u64 {
        self.expected
    }

    /// Distinct datagrams received.
    pub fn unique(&self) -> u64 {
        self.unique
    }

    /// Datagrams that arrived more than once (each extra copy counts).
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Datagrams that arrived after a higher sequence number.
    pub fn out_of_order(&self) -> u64 {
        self.out_of_order
    }

    /// The RFC 3550 interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_ns / 1e6
    }
}

/// What one side counted on one stream, in total or over one interval.
/// Receiver-only figures are `None` on a sender's side and for a stream
/// whose datagrams carried no header (a seed client).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// Payload bytes (header included, as the seed counts).
    pub bytes: u64,
    /// Datagrams.
    pub packets: u64,
    /// Length of the period measured.
    pub seconds: f64,
    /// Datagrams lost (receiver, by sequence).
    pub lost: Option<u64>,
    /// Extra copies received (receiver).
    pub duplicates: Option<u64>,
    /// Late arrivals (receiver).
    pub out_of_order: Option<u64>,
    /// RFC 3550 jitter in ms (receiver).
    pub jitter_ms: Option<f64>,
}

impl Figures {
    /// Bits per second (0 over an empty period).
    pub fn bits_per_second(&self) -> f64 {
        crate::output::rate(self.bytes, Duration::from_secs_f64(self.seconds.max(0.0))) * 8.0
    }

    /// Lost datagrams as a percentage of those sent (lost + distinct
    /// received), when known.
    pub fn lost_percent(&self) -> Option<f64> {
        let lost = self.lost?;
        let unique = self.packets - self.duplicates.unwrap_or(0).min(self.packets);
        let total = lost + unique;
        Some(if total == 0 {
            0.0
        } else {
            lost as f64 * 100.0 / total as f64
        })
    }

    /// The sum over streams: counts add up, the period is the longest, and
    /// the jitter is the streams' mean (as iperf3 sums it).
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a Figures>) -> Figures {
        let mut sum = Figures::default();
        let mut jitters = 0usize;
        let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        for f in all {
            sum.bytes += f.bytes;
            sum.packets += f.packets;
            sum.seconds = sum.seconds.max(f.seconds);
            sum.lost = add(sum.lost, f.lost);
            sum.duplicates = add(sum.duplicates, f.duplicates);
            sum.out_of_order = add(sum.out_of_order, f.out_of_order);
            if let Some(j) = f.jitter_ms {
                sum.jitter_ms = Some(sum.jitter_ms.unwrap_or(0.0) + j);
                jitters += 1;
            }
        }
        if let Some(j) = sum.jitter_ms.as_mut() {
            *j /= jitters as f64;
        }
        sum
    }
}

/// One interval report of one stream: `start..end` seconds from the start
/// of the test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The stream.
    pub stream: u16,
    /// Start, in seconds from the start of the test.
    pub start: f64,
    /// End, in seconds from the start of the test.
    pub end: f64,
    /// What was counted in it.
    pub figures: Figures,
}

/// What one side of a test saw: totals per stream and interval records
/// (of every stream, in order of time).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    /// Totals, one per stream, in stream order.
    pub streams: Vec<Figures>,
    /// Interval records of all streams, by start time then stream.
    pub intervals: Vec<Interval>,
}

fn opt_u64(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn opt_f64(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.6}"))
}

fn figures_fields(f: &Figures) -> String {
    format!(
        "{} {} {:.6} {} {} {} {}",
        f.bytes,
        f.packets,
        f.seconds,
        opt_u64(f.lost),
        opt_u64(f.duplicates),
        opt_u64(f.out_of_order),
        opt_f64(f.jitter_ms)
    )
}

fn parse_figures<'a>(fields: &mut impl Iterator<Item = &'a str>) -> Option<Figures> {
    let mut next = || fields.next();
    let opt_u = |w: &str| -> Option<Option<u64>> {
        if w == "-" {
            Some(None)
        } else {
            w.parse().ok().map(Some)
        }
    };
    let opt_f = |w: &str| -> Option<Option<f64>> {
        if w == "-" {
            Some(None)
        } else {
            w.parse().ok().filter(|v: &f64| v.is_finite()).map(Some)
        }
    };
    Some(Figures {
        bytes: next()?.parse().ok()?,
        packets: next()?.parse().ok()?,
        seconds: next()?.parse().ok().filter(|s: &f64| s.is_finite())?,
        lost: opt_u(next()?)?,
        duplicates: opt_u(next()?)?,
        out_of_order: opt_u(next()?)?,
        jitter_ms: opt_f(next()?)?,
    })
}

impl View {
    /// The view as text lines, for the in-band `STATS` datagrams:
    /// `S <stream> <figures>` per stream, then
    /// `I <stream> <start> <end> <figures>` per interval, where
    /// `<figures>` is `bytes packets seconds lost duplicates out_of_order
    /// jitter_ms` and `-` marks a figure the side does not have.
    pub fn to_lines(&self) -> Vec<String> {
        let streams = self
            .streams
            .iter()
            .enumerate()
            .map(|(i, f)| format!("S {i} {}", figures_fields(f)));
        let intervals = self.intervals.iter().map(|i| {
            format!(
                "I {} {:.6} {:.6} {}",
                i.stream,
                i.start,
                i.end,
                figures_fields(&i.figures)
            )
        });
        streams.chain(intervals).collect()
    }

    /// Parses [`to_lines`](Self::to_lines) output; `None` if any line is
    /// malformed.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<View> {
        let mut view = View::default();
        for line in lines {
            let mut fields = line.split(' ');
            match fields.next()? {
                "S" => {
                    let stream: usize = fields.next()?.parse().ok()?;
                    (stream == view.streams.len()).then_some(())?;
                    view.streams.push(parse_figures(&mut fields)?);
                }
                "I" => {
                    let stream = fields.next()?.parse().ok()?;
                    let start = fields.next()?.parse().ok()?;
                    let end = fields.next()?.parse().ok()?;
                    let figures = parse_figures(&mut fields)?;
                    view.intervals.push(Interval {
                        stream,
                        start,
                        end,
                        figures,
                    });
                }
                "" => {}
                _ => return None,
            }
            if fields.next().is_some() {
                return None;
            }
        }
        Some(view)
    }

    /// The totals summed over streams.
    pub fn total(&self) -> Figures {
        Figures::sum(&self.streams)
    }

    /// The interval records grouped by time: one `(start, end, per-stream
    /// records)` per interval, in order.
    pub fn interval_rows(&self) -> Vec<(f64, f64, Vec<Interval>)> {
        let mut rows: Vec<(f64, f64, Vec<Interval>)> = Vec::new();
        for interval in &self.intervals {
            match rows.last_mut() {
                Some((start, _, records)) if (*start - interval.start).abs() < 1e-4 => {
                    records.push(*interval)
                }
                _ => rows.push((interval.start, interval.end, vec![*interval])),
            }
        }
        rows
    }
}

/// Interval boundaries `period` apart from the start of a test.
#[derive(Debug, Clone)]
pub struct IntervalClock {
    start: Instant,
    period: Option<Duration>,
    /// Index of the interval now running.
    index: u32,
}

impl IntervalClock {
    /// A clock starting at `start`; `period` `None` (or zero) turns
    /// intervals off.
    pub fn new(start: Instant, period: Option<Duration>) -> Self {
        IntervalClock {
            start,
            period: period.filter(|p| !p.is_zero()),
            index: 0,
        }
    }

    /// When the running interval ends (`None` when intervals are off).
    pub fn next_boundary(&self) -> Option<Instant> {
        Some(self.start + self.period? * (self.index + 1))
    }

    /// If `now` is past the running interval's end, moves on to the next
    /// interval and returns the one that ended as `(start, end)` seconds.
    pub fn advance(&mut self, now: Instant) -> Option<(f64, f64)> {
        let period = self.period?;
        let end = period * (self.index + 1);
        if now < self.start + end {
            return None;
        }
        let start = period * self.index;
        self.index += 1;
        Some((start.as_secs_f64(), end.as_secs_f64()))
    }

    /// The running interval's start, in seconds from the test start.
    pub fn current_start(&self) -> f64 {
        self.period.map_or(0.0, |p| (p * self.index).as_secs_f64())
    }

    /// Seconds from the start of the test to `at`.
    pub fn seconds_at(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64()
    }
}

/// Unix time in nanoseconds for monotonic instants, from one wall-clock
/// reading: the receive loop reads only the monotonic clock per datagram.
#[derive(Debug, Clone, Copy)]
pub struct UnixClock {
    instant: Instant,
    unix_ns: u64,
}

impl UnixClock {
    /// Pairs the monotonic and the wall clock now.
    pub fn now() -> Self {
        UnixClock {
            instant: Instant::now(),
            unix_ns: super::protocol::unix_ns(),
        }
    }

    /// Nanoseconds since the Unix epoch at `instant`.
    pub fn at(&self, instant: Instant) -> u64 {
        self.unix_ns + instant.saturating_duration_since(self.instant).as_nanos() as u64
    }

    /// The arrival time jitter is computed from: the kernel's stamp where
    /// there is one, else this clock at `now`; 0 for a datagram without a
    /// header (`sequenced` false), which has no jitter.
    pub fn arrival_ns(&self, sequenced: bool, kernel_ns: Option<u64>, now: Instant) -> u64 {
        match (sequenced, kernel_ns) {
            (false, _) => 0,
            (true, Some(ns)) => ns,
            (true, None) => self.at(now),
        }
    }
}

/// Running counters of one stream, as a receiver keeps them.
#[derive(Debug, Clone, Default)]
pub struct StreamReceiver {
    bytes: u64,
    packets: u64,
    /// Whether any datagram carried a header.
    sequenced: bool,
    seq: SeqStats,
    /// Counters at the start of the running interval.
    mark: Mark,
    /// When the last datagram arrived.
    last_arrival: Option<Instant>,
    intervals: Vec<Interval>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    bytes: u64,
    packets: u64,
    expected: u64,
    unique: u64,
    duplicates: u64,
    out_of_order: u64,
}

impl StreamReceiver {
    /// Counts one datagram of `len` bytes that arrived at `arrival`
    /// (`arrival_ns` on the Unix clock), with its header if it had one.
    pub fn record(
        &mut self,
        len: usize,
        header: Option<super::protocol::Header>,
        arrival: Instant,
        arrival_ns: u64,
    ) {
        self.bytes += len as u64;
        self.packets += 1;
        self.last_arrival = Some(arrival);
        if let Some(header) = header {
            self.sequenced = true;
            self.seq.record(header.sequence, header.sent_ns, arrival_ns);
        }
    }

    /// When the last datagram arrived.
    pub fn last_arrival(&self) -> Option<Instant> {
        self.last_arrival
    }

    /// Payload bytes counted.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether the stream's datagrams carried headers.
    pub fn sequenced(&self) -> bool {
        self.sequenced
    }

    fn mark_now(&self) -> Mark {
        Mark {
            bytes: self.bytes,
            packets: self.packets,
            expected: self.seq.expected,
            unique: self.seq.unique,
            duplicates: self.seq.duplicates,
            out_of_order: self.seq.out_of_order,
        }
    }

    /// Closes the interval `start..end` (seconds) on `stream`: records and
    /// returns what arrived since the previous one.
    pub fn close_interval(&mut self, stream: u16, start: f64, end: f64) -> Interval {
        let now = self.mark_now();
        let then = self.mark;
        self.mark = now;
        let sequenced = self.sequenced;
        let lost = (now.expected - then.expected).saturating_sub(now.unique - then.unique);
        let interval = Interval {
            stream,
            start,
            end,
            figures: Figures {
                bytes: now.bytes - then.bytes,
                packets: now.packets - then.packets,
                seconds: end - start,
                lost: sequenced.then_some(lost),
                duplicates: sequenced.then_some(now.duplicates - then.duplicates),
                out_of_order: sequenced.then_some(now.out_of_order - then.out_of_order),
                jitter_ms: sequenced.then_some(self.seq.jitter_ms()),
            },
        };
        self.intervals.push(interval);
        interval
    }

    /// Whether anything arrived since the last closed interval.
    pub fn has_unreported(&self) -> bool {
        self.packets > self.mark.packets
    }

    /// The totals over `seconds`.
    pub fn totals(&self, seconds: f64) -> Figures {
        let sequenced = self.sequenced;
        Figures {
            bytes: self.bytes,
            packets: self.packets,
            seconds,
            lost: sequenced.then_some(self.seq.lost()),
            duplicates: sequenced.then_some(self.seq.duplicates),
            out_of_order: sequenced.then_some(self.seq.out_of_order),
            jitter_ms: sequenced.then_some(self.seq.jitter_ms()),
        }
    }

    /// The interval records so far.
    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }
}

/// Merges per-stream interval lists into one list ordered by start time,
/// then stream.
pub fn merge_intervals<'a>(lists: impl IntoIterator<Item = &'a [Interval]>) -> Vec<Interval> {
    let mut all: Vec<Interval> = lists.into_iter().flatten().copied().collect();
    all.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.stream.cmp(&b.stream)));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test sender: datagrams 0..n, then `mangle` drops, repeats or
    /// swaps some of them on their way to the receiver.
    fn receive(order: &[u64]) -> SeqStats {
        let mut stats = SeqStats::default();
        for &sequence in order {
            stats.record(sequence, 0, 0);
        }
        stats
    }

    #[test]
    fn in_order_stream_has_no_loss() {
        let order: Vec<u64> = (0..10_000).collect();
        let stats = receive(&order);
        assert_eq!(
            (stats.lost(), stats.duplicates(), stats.out_of_order()),
            (0, 0, 0)
        );
        assert_eq!(stats.unique(), 10_000);
    }

    #[test]
    fn drops_repeats_and_swaps_give_exact_counts() {
        // 0..100 with 10 and 50..=52 dropped, 20 sent three times, 30
        // twice, 40/41 and 70/71 swapped.
        let mut order = Vec::new();
        for s in 0..100u64 {
            match s {
                10 | 50..=52 => {}
                20 => order.extend([20, 20, 20]),
                30 => order.extend([30, 30]),
                40 => order.extend([41, 40]),
                41 => {}
                70 => order.extend([71, 70]),
                71 => {}
                _ => order.push(s),
            }
        }
        let stats = receive(&order);
        assert_eq!(stats.lost(), 4);
        assert_eq!(stats.duplicates(), 3);
        assert_eq!(stats.out_of_order(), 2);
        assert_eq!(stats.expected(), 100);
        assert_eq!(stats.unique(), 96);
    }

    #[test]
    fn a_late_datagram_fills_its_gap_and_very_old_ones_count_as_late() {
        let mut order: Vec<u64> = (0..10).filter(|&s| s != 3).collect();
        order.push(3);
        let stats = receive(&order);
        assert_eq!((stats.lost(), stats.out_of_order()), (0, 1));
        // Beyond the window: cannot tell a duplicate, counted as late.
        let mut order: Vec<u64> = (0..WINDOW + 10).collect();
        order.push(1);
        let stats = receive(&order);
        assert_eq!((stats.duplicates(), stats.out_of_order()), (0, 1));
        // Within the window a duplicate is a duplicate, even after a jump.
        let stats = receive(&[0, 1, 5000, 5000, 4999]);
        assert_eq!(stats.duplicates(), 1);
        assert_eq!(stats.out_of_order(), 1);
        assert_eq!(stats.lost(), 5001 - 4);
    }

    #[test]
    fn jitter_matches_a_hand_computed_rfc3550_value() {
        // Sent every 10 ms; transit times 5, 7, 6, 10, 10 ms.
        // |D| = 2, 1, 4, 0 ms:
        //   J1 = 0 + (2 − 0)/16           = 0.125
        //   J2 = 0.125 + (1 − 0.125)/16   = 0.1796875
        //   J3 = J2 + (4 − J2)/16         = 0.418457031
        //   J4 = J3 + (0 − J3)/16         = 0.392303467 ms
        let mut stats = SeqStats::default();
        for (i, transit_ms) in [5u64, 7, 6, 10, 10].into_iter().enumerate() {
            let sent = 1_700_000_000_000_000_000 + i as u64 * 10_000_000;
            stats.record(i as u64, sent, sent + transit_ms * 1_000_000);
        }
        let expected = 0.392_303_466_796_875;
        assert!(
            (stats.jitter_ms() - expected).abs() < 1e-9,
            "{}",
            stats.jitter_ms()
        );
    }

    #[test]
    fn intervals_split_the_counts_exactly() {
        let start = Instant::now();
        let mut clock = IntervalClock::new(start, Some(Duration::from_secs(1)));
        let mut stream = StreamReceiver::default();
        let header = |sequence| super::super::protocol::Header {
            stream: 0,
            sequence,
            sent_ns: 0,
        };
        let mut closed = Vec::new();
        // 3 datagrams in [0,1), none in [1,2), 2 in [2,3) with one lost.
        for (at_ms, sequence) in [(100, 0), (500, 1), (900, 2), (2100, 3), (2500, 5)] {
            let at = start + Duration::from_millis(at_ms);
            while let Some((s, e)) = clock.advance(at) {
                closed.push(stream.close_interval(0, s, e));
            }
            stream.record(1000, Some(header(sequence)), at, 0);
        }
        let end = stream.close_interval(0, clock.current_start(), 2.5);
        assert_eq!(closed.len(), 2);
        assert_eq!((closed[0].start, closed[0].end), (0.0, 1.0));
        assert_eq!(closed[0].figures.bytes, 3000);
        assert_eq!(closed[1].figures.packets, 0);
        assert_eq!((end.start, end.end), (2.0, 2.5));
        assert_eq!(end.figures.packets, 2);
        assert_eq!(end.figures.lost, Some(1));
        assert_eq!(stream.totals(2.5).lost, Some(1));
        assert_eq!(
            stream
                .intervals()
                .iter()
                .map(|i| i.figures.bytes)
                .sum::<u64>(),
            stream.bytes()
        );
        assert!(IntervalClock::new(start, Some(Duration::ZERO))
            .advance(start + Duration::from_secs(9))
            .is_none());
    }

    #[test]
    fn views_travel_as_lines() {
        let sequenced = Figures {
            bytes: 1500,
            packets: 1,
            seconds: 1.25,
            lost: Some(2),
            duplicates: Some(0),
            out_of_order: Some(1),
            jitter_ms: Some(0.012345),
        };
        let plain = Figures {
            bytes: 7,
            packets: 1,
            seconds: 0.5,
            ..Figures::default()
        };
        let view = View {
            streams: vec![sequenced, plain],
            intervals: vec![
                Interval {
                    stream: 0,
                    start: 0.0,
                    end: 1.0,
                    figures: sequenced,
                },
                Interval {
                    stream: 1,
                    start: 0.0,
                    end: 1.0,
                    figures: plain,
                },
            ],
        };
        let lines = view.to_lines();
        assert_eq!(lines[0], "S 0 1500 1 1.250000 2 0 1 0.012345");
        assert_eq!(lines[1], "S 1 7 1 0.500000 - - - -");
        assert_eq!(lines[3], "I 1 0.000000 1.000000 7 1 0.500000 - - - -");
        let back = View::from_lines(lines.iter().map(String::as_str)).unwrap();
        assert_eq!(back, view);
        assert_eq!(back.interval_rows().len(), 1);
        assert!(View::from_lines(["S 0 1 2"]).is_none());
        assert!(View::from_lines(["S 1 1 1 1.0 - - - -"]).is_none());
        let total = view.total();
        assert_eq!((total.bytes, total.packets, total.lost), (1507, 2, Some(2)));
        assert_eq!(total.seconds, 1.25);
        let percent = sequenced.lost_percent().unwrap();
        assert!((percent - 200.0 / 3.0).abs() < 1e-9);
    }
}
