//! Pacing: send something every `period`, on a schedule that does not drift.
//!
//! The k-th tick is planned at `origin + k·period` (absolute instants), so
//! small oversleeps do not add up over a long run. The pacer sleeps until
//! shortly before the planned instant ([`SPIN_WINDOW`]) and spins the rest,
//! which keeps the schedule error in the tens of microseconds. When the
//! caller falls behind by a whole period or more, the pacer *re-bases*
//! (the late tick becomes the new origin) instead of bursting to catch up.

use crate::shutdown::Shutdown;
use std::time::{Duration, Instant};

/// How long before a planned instant the pacer stops sleeping and spins.
pub const SPIN_WINDOW: Duration = Duration::from_micros(100);

/// One tick of the schedule: when it was planned and when it was released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Sequence number of the tick, from 0.
    pub index: u64,
    /// The instant the schedule planned for this tick.
    pub planned: Instant,
    /// The instant the pacer actually returned it.
    pub actual: Instant,
}

impl Tick {
    /// How late the tick was released (zero if on time).
    pub fn lateness(&self) -> Duration {
        self.actual.saturating_duration_since(self.planned)
    }
}

/// A drift-free schedule of ticks `period` apart.
#[derive(Debug, Clone)]
pub struct Pacer {
    origin: Instant,
    period: Duration,
    /// Ticks planned since `origin` (reset on a re-base).
    since_origin: u32,
    /// Ticks handed out in total.
    index: u64,
    rebases: u64,
}

impl Pacer {
    /// A pacer whose first tick is due at once.
    pub fn new(period: Duration) -> Self {
        Self::starting_at(Instant::now(), period)
    }

    /// A pacer whose first tick is due at `origin`.
    pub fn starting_at(origin: Instant, period: Duration) -> Self {
        Pacer {
            origin,
            period,
            since_origin: 0,
            index: 0,
            rebases: 0,
        }
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Changes the period from the next tick on (used by the ramp client,
    /// whose interval shrinks after every probe). The next tick is planned at
    /// the previous planned instant plus the new period.
    pub fn set_period(&mut self, period: Duration) {
        self.origin = self.next_planned();
        self.since_origin = 0;
        self.period = period;
    }

    /// How many times the pacer re-based because the caller fell behind.
    pub fn rebases(&self) -> u64 {
        self.rebases
    }

    /// The instant planned for the next tick.
    pub fn next_planned(&self) -> Instant {
        self.origin + self.period * self.since_origin
    }

    /// Waits for the next tick; `None` if shutdown came first.
    pub fn wait(&mut self, shutdown: &Shutdown) -> Option<Tick> {
        let mut planned = self.next_planned();
        let now = Instant::now();
        if now >= planned + self.period && self.since_origin > 0 {
            // A whole period behind: start a new schedule here, no burst.
            self.origin = now;
            self.since_origin = 0;
            self.rebases += 1;
            planned = now;
        }
        if let Some(before) = planned.checked_sub(SPIN_WINDOW) {
            let now = Instant::now();
            if before > now && shutdown.sleep(before - now) {
                return None;
            }
        }
        while Instant::now() < planned {
            std::hint::spin_loop();
        }
        if shutdown.is_triggered() {
            return None;
        }
        let tick = Tick {
            index: self.index,
            planned,
            actual: Instant::now(),
        };
        self.since_origin += 1;
        self.index += 1;
        Some(tick)
    }
}

/// Parses a rate in bits per second with an optional K/M/G suffix (powers of
/// 1000, as iperf3 `-b`): `"800M"` is 800,000,000. `"0"` means unpaced.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, multiplier) = match text.char_indices().last() {
        Some((at, 'k' | 'K')) => (&text[..at], 1_000.0),
        Some((at, 'm' | 'M')) => (&text[..at], 1_000_000.0),
        Some((at, 'g' | 'G')) => (&text[..at], 1_000_000_000.0),
        _ => (text, 1.0),
    };
    let value: f64 = digits.parse().map_err(|_| {
        format!("invalid rate {text:?}: expected a number with an optional K, M or G suffix")
    })?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("invalid rate {text:?}: must be zero or positive"));
    }
    Ok((value * multiplier).round() as u64)
}

/// The period between datagrams of `length` bytes sent at `bits_per_second`.
pub fn period_for_rate(length: usize, bits_per_second: u64) -> Option<Duration> {
    if bits_per_second == 0 {
        return None;
    }
    let nanos = (length as u128 * 8 * 1_000_000_000) / bits_per_second as u128;
    Some(Duration::from_nanos(nanos.max(1) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_follow_absolute_schedule() {
        let shutdown = Shutdown::new();
        let period = Duration::from_millis(2);
        let mut pacer = Pacer::new(period);
        let mut previous = pacer.wait(&shutdown).unwrap();
        for _ in 0..20 {
            let rebases = pacer.rebases();
            let tick = pacer.wait(&shutdown).unwrap();
            assert_eq!(tick.index, previous.index + 1);
            assert!(tick.actual >= tick.planned);
            if pacer.rebases() == rebases {
                // On schedule: exactly one period after the last planned tick.
                assert_eq!(tick.planned, previous.planned + period);
            } else {
                // The test thread was held up a whole period: a new schedule.
                assert!(tick.planned >= previous.planned + period * 2);
            }
            previous = tick;
        }
    }

    #[test]
    fn falling_behind_rebases_instead_of_bursting() {
        let shutdown = Shutdown::new();
        let period = Duration::from_millis(20);
        let mut pacer = Pacer::new(period);
        pacer.wait(&shutdown).unwrap();
        std::thread::sleep(period * 5);
        let woke = Instant::now();
        let late = pacer.wait(&shutdown).unwrap();
        // Re-based: the late tick is planned now, not four periods ago.
        assert!(late.planned >= woke);
        assert!(pacer.rebases() >= 1);
        // No burst: the next tick still waits a whole period after it
        // (however the test thread itself is scheduled).
        let next = pacer.wait(&shutdown).unwrap();
        assert!(next.actual >= late.planned + period);
    }

    #[test]
    fn set_period_continues_from_last_planned_tick() {
        let shutdown = Shutdown::new();
        let mut pacer = Pacer::new(Duration::from_millis(40));
        let first = pacer.wait(&shutdown).unwrap();
        pacer.set_period(Duration::from_millis(20));
        assert_eq!(
            pacer.next_planned(),
            first.planned + Duration::from_millis(40)
        );
        let second = pacer.wait(&shutdown).unwrap();
        assert_eq!(
            pacer.next_planned(),
            second.planned + Duration::from_millis(20)
        );
    }

    #[test]
    fn shutdown_interrupts_wait() {
        let shutdown = Shutdown::new();
        let mut pacer = Pacer::new(Duration::from_secs(60));
        pacer.wait(&shutdown).unwrap();
        shutdown.trigger();
        assert!(pacer.wait(&shutdown).is_none());
    }

    #[test]
    fn rates_parse_with_suffixes() {
        assert_eq!(parse_rate("0"), Ok(0));
        assert_eq!(parse_rate("800"), Ok(800));
        assert_eq!(parse_rate("1.5K"), Ok(1500));
        assert_eq!(parse_rate("800M"), Ok(800_000_000));
        assert_eq!(parse_rate("2g"), Ok(2_000_000_000));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("-1M").is_err());
    }

    #[test]
    fn period_matches_rate() {
        assert_eq!(period_for_rate(1500, 0), None);
        assert_eq!(
            period_for_rate(1500, 12_000_000),
            Some(Duration::from_millis(1))
        );
    }
}
