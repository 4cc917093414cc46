//! Pacing: send something every `period`, on a schedule that does not drift.
//!
//! The k-th tick is planned at `origin + k·period` (absolute instants), so
//! small oversleeps do not add up over a long run. The pacer sleeps to an
//! absolute deadline shortly before the planned instant ([`SPIN_WINDOW`])
//! and spins the rest, which keeps the schedule error in the tens of
//! microseconds. On Linux the sleep is `clock_nanosleep(TIMER_ABSTIME)` on
//! the monotonic clock (the clock `Instant` reads), so being preempted just
//! before going to sleep does not push the wake-up later, and the pacing
//! thread's timer slack is cut from the default 50 µs to 1 ns on its first
//! wait. Elsewhere it sleeps relative to now.
//!
//! When the caller falls behind (a stall of the thread or the machine), the
//! pacer *catches up*: the late ticks are released at once, on their
//! original planned instants, until the schedule is met again, so a stall of
//! a few milliseconds leaves no drift. Only a stall longer than
//! [`CATCH_UP_LIMIT`] (50 ms) or than [`CATCH_UP_TICKS`] (1000) periods, and
//! a whole period, *re-bases* the schedule (the late tick becomes the new
//! origin). So a stall ends in a burst of at most 50 ms or 1000 ticks worth
//! of sends, whichever is less:
//! - 50 ms covers the stalls of a busy machine (a scheduler tick is 4 ms at
//!   HZ=250; stalls of 13 ms were measured on this kit's 2-core machine),
//!   while a longer burst would overrun a bottleneck's queue (a 100 Mbit/s
//!   link with 20 ms of queue holds 250 kB) and distort the traffic more
//!   than the rate it gives back;
//! - 1000 ticks keep a fast sender's burst within what a receiver's buffer
//!   holds (1000 datagrams of 1500 bytes are 1.5 MB, 15 ms at 800 Mbit/s).
//!
//! On a busy machine the largest error is not the sleep but the wake-up:
//! the kernel may let a CPU-bound task finish its slice (up to a scheduler
//! tick, 4 ms at HZ=250) before the woken pacing thread runs. A sender that
//! must keep time can ask for [`Pacer::with_realtime`]: the pacing thread
//! then runs under `SCHED_FIFO` at the lowest real-time priority while the
//! period is at least [`REALTIME_MIN_PERIOD`] (so it spins at most a fifth
//! of the time), and goes back to normal scheduling when the period drops
//! below it or the pacer is dropped. This needs root (or `CAP_SYS_NICE`,
//! or an `RLIMIT_RTPRIO` above 0); without it the pacer silently keeps
//! normal scheduling.

use crate::shutdown::{Shutdown, POLL_INTERVAL};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

/// How long before a planned instant the pacer stops sleeping and spins.
pub const SPIN_WINDOW: Duration = Duration::from_micros(200);

/// The longest stall the pacer catches up on by releasing the late ticks at
/// once; a caller further behind than this (and than one period) re-bases.
pub const CATCH_UP_LIMIT: Duration = Duration::from_millis(50);

/// The most overdue ticks the pacer catches up on at once; a caller further
/// behind than this many periods re-bases (bounds the burst of a fast sender).
pub const CATCH_UP_TICKS: u32 = 1000;

/// How many ticks the pacer plans from one origin before it moves the
/// origin to the next planned instant (the schedule stays the same).
const FOLD_ORIGIN_EVERY: u32 = 1 << 30;

/// The shortest period at which a [`Pacer::with_realtime`] pacer runs its
/// thread under real-time scheduling: with [`SPIN_WINDOW`] of spinning per
/// tick, it keeps a real-time thread busy at most a fifth of the time.
pub const REALTIME_MIN_PERIOD: Duration = Duration::from_millis(1);

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
#[derive(Debug)]
pub struct Pacer {
    origin: Instant,
    period: Duration,
    /// Ticks planned since `origin` (reset on a re-base).
    since_origin: u32,
    /// Ticks handed out in total.
    index: u64,
    rebases: u64,
    /// The sleeping side of the pacer (absolute deadlines where possible).
    clock: clock::Sleeper,
    realtime: Realtime,
}

/// Where a pacer stands on real-time scheduling for its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Realtime {
    /// Not asked for.
    Off,
    /// Asked for; applied while the period is at least REALTIME_MIN_PERIOD.
    Wanted,
    /// Applied to this thread.
    On(ThreadId),
    /// Asked for, but the kernel refused (not privileged): not tried again.
    Denied,
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
            clock: clock::Sleeper::new(),
            realtime: Realtime::Off,
        }
    }

    /// Runs the waiting thread under real-time scheduling where permitted,
    /// while the period is at least [`REALTIME_MIN_PERIOD`] (see the module
    /// docs). Takes effect on the thread that calls [`Pacer::wait`].
    pub fn with_realtime(mut self) -> Self {
        self.realtime = Realtime::Wanted;
        self
    }

    /// Whether the waiting thread currently runs under real-time scheduling.
    pub fn is_realtime(&self) -> bool {
        matches!(self.realtime, Realtime::On(_))
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
    ///
    /// A tick already due is returned at once (catching up after a stall);
    /// see the module docs for when the pacer re-bases instead.
    pub fn wait(&mut self, shutdown: &Shutdown) -> Option<Tick> {
        let planned = self.plan_at(Instant::now());
        self.update_realtime();
        if let Some(before) = planned.checked_sub(SPIN_WINDOW) {
            if self.sleep_until(before, shutdown) {
                return None;
            }
        }
        while Instant::now() < planned {
            std::hint::spin_loop();
        }
        if shutdown.is_triggered() {
            return None;
        }
        Some(self.take(planned, Instant::now()))
    }

    /// The instant the next tick is planned for, judged at `now`: on the
    /// schedule, or `now` itself when the caller is too far behind to catch
    /// up without a long burst (a new schedule starts there). The clock is a
    /// parameter so that tests can stall the caller without sleeping.
    fn plan_at(&mut self, now: Instant) -> Instant {
        let planned = self.next_planned();
        let behind = now.saturating_duration_since(planned);
        let too_far = behind > CATCH_UP_LIMIT || behind > self.period * CATCH_UP_TICKS;
        if self.since_origin > 0 && behind >= self.period && too_far {
            self.origin = now;
            self.since_origin = 0;
            self.rebases += 1;
            return now;
        }
        planned
    }

    /// Counts the tick planned for `planned` and taken at `actual`.
    fn take(&mut self, planned: Instant, actual: Instant) -> Tick {
        let tick = Tick {
            index: self.index,
            planned,
            actual,
        };
        self.since_origin += 1;
        self.index += 1;
        if self.since_origin == FOLD_ORIGIN_EVERY {
            // Same schedule, nearer origin: `since_origin` never overflows
            // however long a fast sender runs.
            self.origin = self.next_planned();
            self.since_origin = 0;
        }
        tick
    }

    /// Applies or lifts real-time scheduling as the period asks.
    fn update_realtime(&mut self) {
        let long_enough = self.period >= REALTIME_MIN_PERIOD;
        match self.realtime {
            Realtime::Wanted if long_enough => {
                self.realtime = if clock::set_realtime(true) {
                    Realtime::On(thread::current().id())
                } else {
                    Realtime::Denied
                };
            }
            Realtime::On(_) if !long_enough => {
                clock::set_realtime(false);
                self.realtime = Realtime::Wanted;
            }
            _ => {}
        }
    }

    /// Sleeps until `deadline` in steps of at most [`POLL_INTERVAL`],
    /// looking at `shutdown` between them; `true` if shutdown came first.
    fn sleep_until(&mut self, deadline: Instant, shutdown: &Shutdown) -> bool {
        loop {
            if shutdown.is_triggered() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.clock.sleep_until(deadline.min(now + POLL_INTERVAL));
        }
    }
}

impl Drop for Pacer {
    /// Gives the thread back to normal scheduling if the pacer raised it.
    fn drop(&mut self) {
        if self.realtime == Realtime::On(thread::current().id()) {
            clock::set_realtime(false);
        }
    }
}

/// Sleeping to an absolute instant of the monotonic clock, and the
/// real-time scheduling switch (the C calls are in [`crate::net::sys`]).
#[cfg(target_os = "linux")]
mod clock {
    use crate::net::sys;
    use std::time::{Duration, Instant};

    pub use sys::set_realtime;

    /// Maps `Instant`s to `CLOCK_MONOTONIC` nanoseconds (the clock `Instant`
    /// reads on Linux) through one anchor pair read back to back, so a
    /// deadline stays absolute however late the sleep call is made.
    #[derive(Debug, Clone)]
    pub struct Sleeper {
        anchor: Instant,
        anchor_nanos: i128,
        slack_set: bool,
    }

    impl Sleeper {
        pub fn new() -> Self {
            // The tightest of three back-to-back reads (a preemption between
            // the two reads of one pair would skew the mapping).
            let mut best = read_anchor();
            for _ in 0..2 {
                let next = read_anchor();
                if next.2 < best.2 {
                    best = next;
                }
            }
            Sleeper {
                anchor: best.0,
                anchor_nanos: best.1,
                slack_set: false,
            }
        }

        /// Sleeps until `deadline` (or a signal: the caller loops).
        pub fn sleep_until(&mut self, deadline: Instant) {
            if !self.slack_set {
                sys::cut_timer_slack();
                self.slack_set = true;
            }
            let offset = match deadline.checked_duration_since(self.anchor) {
                Some(ahead) => ahead.as_nanos() as i128,
                None => -(self.anchor.duration_since(deadline).as_nanos() as i128),
            };
            sys::sleep_until_monotonic(self.anchor_nanos + offset);
        }
    }

    /// An `Instant`, the monotonic clock right after it, and how long the
    /// pair took to read.
    fn read_anchor() -> (Instant, i128, Duration) {
        let before = Instant::now();
        let nanos = sys::monotonic_nanos();
        (before, nanos, before.elapsed())
    }
}

/// Sleeping relative to now, where the absolute sleep is not wired up.
#[cfg(not(target_os = "linux"))]
mod clock {
    use std::time::Instant;

    #[derive(Debug, Clone)]
    pub struct Sleeper;

    /// Real-time scheduling is not wired up here.
    pub fn set_realtime(_on: bool) -> bool {
        false
    }

    impl Sleeper {
        pub fn new() -> Self {
            Sleeper
        }

        pub fn sleep_until(&mut self, deadline: Instant) {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        }
    }
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

    /// Takes the tick the pacer plans when the caller arrives at `now`
    /// (a tick is taken the moment it is due, or at once when overdue).
    fn tick_at(pacer: &mut Pacer, now: Instant) -> Tick {
        let planned = pacer.plan_at(now);
        pacer.take(planned, planned.max(now))
    }

    #[test]
    fn a_short_stall_is_caught_up_on_the_original_schedule() {
        let period = Duration::from_millis(10);
        let mut pacer = Pacer::new(period);
        let first = tick_at(&mut pacer, Instant::now());
        // The caller comes back four periods late: well inside
        // CATCH_UP_LIMIT and CATCH_UP_TICKS.
        let back = first.planned + period * 4;
        let ticks: Vec<Tick> = (0..6).map(|_| tick_at(&mut pacer, back)).collect();
        assert_eq!(pacer.rebases(), 0);
        for (k, tick) in (1u32..).zip(&ticks) {
            // Every tick keeps its planned instant: no drift from the stall.
            assert_eq!(tick.planned, first.planned + period * k);
        }
        // The overdue ticks come at once (a burst), then the schedule goes on.
        assert!(ticks[..4].iter().all(|tick| tick.actual == back));
        assert_eq!(ticks[4].actual, first.planned + period * 5);
    }

    #[test]
    fn a_long_stall_rebases_instead_of_bursting() {
        let period = Duration::from_millis(20);
        let mut pacer = Pacer::new(period);
        let first = tick_at(&mut pacer, Instant::now());
        let back = first.planned + CATCH_UP_LIMIT + period * 2;
        let late = tick_at(&mut pacer, back);
        // Re-based: the late tick is planned now, not many periods ago.
        assert_eq!(late.planned, back);
        assert_eq!(pacer.rebases(), 1);
        // No burst: the next tick waits a whole period after it.
        let next = tick_at(&mut pacer, back);
        assert_eq!(next.planned, back + period);
    }

    #[test]
    fn a_stall_of_more_than_catch_up_ticks_rebases() {
        let period = Duration::from_micros(10);
        let mut pacer = Pacer::new(period);
        let first = tick_at(&mut pacer, Instant::now());
        // 1500 periods behind: under CATCH_UP_LIMIT, over CATCH_UP_TICKS.
        let back = first.planned + period * 1500;
        let late = tick_at(&mut pacer, back);
        assert_eq!(pacer.rebases(), 1);
        assert_eq!(late.planned, back);
    }

    #[test]
    fn sleeping_reaches_the_deadline() {
        let mut sleeper = clock::Sleeper::new();
        for millis in [0u64, 1, 5, 20] {
            let deadline = Instant::now() + Duration::from_millis(millis);
            sleeper.sleep_until(deadline);
            let woke = Instant::now();
            // Never early (the Instant ↔ monotonic mapping is right) and not
            // absurdly late (generous: the machine may be busy).
            assert!(woke >= deadline, "woke {:?} early", deadline - woke);
            assert!(woke < deadline + Duration::from_secs(2));
        }
        // A deadline in the past returns at once.
        let started = Instant::now();
        sleeper.sleep_until(started - Duration::from_millis(5));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// The scheduling policy of the calling thread (0 normal, 1 FIFO), from
    /// /proc; `None` where /proc does not say.
    fn thread_policy() -> Option<u32> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        let after_name = &stat[stat.rfind(')')? + 1..];
        // Field 41 of stat(5); the text after the name starts at field 3.
        after_name.split_whitespace().nth(41 - 3)?.parse().ok()
    }

    #[test]
    fn realtime_is_applied_where_permitted_and_always_given_back() {
        // A thread of its own: the test harness's threads stay untouched.
        std::thread::spawn(|| {
            let shutdown = Shutdown::new();
            let mut pacer = Pacer::new(Duration::from_millis(2)).with_realtime();
            pacer.wait(&shutdown).unwrap();
            let raised = pacer.is_realtime();
            if let Some(policy) = thread_policy() {
                // What the pacer says is what the kernel has.
                assert_eq!(policy, u32::from(raised));
            }
            // Below REALTIME_MIN_PERIOD the thread goes back to normal.
            pacer.set_period(REALTIME_MIN_PERIOD / 2);
            pacer.wait(&shutdown).unwrap();
            assert!(!pacer.is_realtime());
            assert_ne!(thread_policy(), Some(1));
            // Long enough again: raised again (where permitted); dropping
            // the pacer gives the thread back.
            pacer.set_period(Duration::from_millis(2));
            pacer.wait(&shutdown).unwrap();
            assert_eq!(pacer.is_realtime(), raised);
            drop(pacer);
            assert_ne!(thread_policy(), Some(1));
        })
        .join()
        .unwrap();
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
    fn period_matches_rate() {
        assert_eq!(period_for_rate(1500, 0), None);
        assert_eq!(
            period_for_rate(1500, 12_000_000),
            Some(Duration::from_millis(1))
        );
    }
}
