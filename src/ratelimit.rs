//! Per-source rate limiting for UDP replies.
//!
//! A UDP server answers whatever source address a datagram claims, so a
//! forged source can turn the server into a reflector: small requests, larger
//! replies, all aimed at a victim. Each server therefore passes every reply
//! through a [`PerSourceLimiter`]: one token bucket per source IP address,
//! measured in bytes. A real client stays far below its bucket's rate; a
//! flood of requests in someone else's name runs the bucket dry and further
//! replies are dropped silently until it refills.
//!
//! The table of buckets is bounded: when it is full, buckets that have
//! refilled completely (sources that went quiet) are forgotten, and sources
//! beyond the bound share one overflow bucket, so a spoofed flood from many
//! addresses cannot grow memory either.
//!
//! A server can also [`credit`](PerSourceLimiter::credit) a source for the
//! bytes it sent: a client whose requests are larger than the replies then
//! never runs dry however fast it sends (the a3 ramp), while a flood of tiny
//! requests still gets no more than the burst, the rate, and its credit.
//! [`ReplyLimits`] holds the two settings, which every UDP server that uses
//! them takes on its command line ([`crate::cli::ReplyLimitArgs`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// A token bucket: holds up to `capacity` tokens, refilled at `rate` tokens
/// per second; taking more than it holds fails and takes nothing.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    rate: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: f64, rate: f64, now: Instant) -> Self {
        TokenBucket {
            capacity,
            rate,
            tokens: capacity,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.updated = now;
    }

    /// Takes `amount` tokens if the bucket holds them at `now`.
    pub fn try_take(&mut self, amount: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }

    /// Adds `amount` tokens at `now`, never beyond the capacity.
    pub fn add(&mut self, amount: f64, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens + amount).min(self.capacity);
    }

    /// Whether the bucket has refilled completely by `now`.
    fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.capacity
    }
}

/// How many sources get a bucket of their own before the rest share one.
pub const MAX_TRACKED_SOURCES: usize = 4096;

/// One [`TokenBucket`] of reply bytes per source IP address.
#[derive(Debug)]
pub struct PerSourceLimiter {
    burst_bytes: f64,
    bytes_per_second: f64,
    buckets: HashMap<IpAddr, TokenBucket>,
    overflow: TokenBucket,
    dropped: u64,
}

impl PerSourceLimiter {
    /// Each source may receive a burst of `burst_bytes`, then
    /// `bytes_per_second` on average.
    pub fn new(burst_bytes: u64, bytes_per_second: u64) -> Self {
        let (burst, rate) = (burst_bytes as f64, bytes_per_second as f64);
        PerSourceLimiter {
            burst_bytes: burst,
            bytes_per_second: rate,
            buckets: HashMap::new(),
            overflow: TokenBucket::new(burst, rate, Instant::now()),
            dropped: 0,
        }
    }

    /// Whether a reply of `bytes` to `source` may be sent now; counts it
    /// against the source's bucket if so.
    pub fn allow(&mut self, source: IpAddr, bytes: usize) -> bool {
        self.allow_at(source, bytes, Instant::now())
    }

    /// [`allow`](Self::allow) at a given time (for tests).
    pub fn allow_at(&mut self, source: IpAddr, bytes: usize, now: Instant) -> bool {
        let allowed = match self.bucket(source, now) {
            Some(bucket) => bucket.try_take(bytes as f64, now),
            None => self.overflow.try_take(bytes as f64, now),
        };
        if !allowed {
            self.dropped += 1;
        }
        allowed
    }

    /// How many replies were refused so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Credits `source` with `bytes` more reply bytes (never beyond the
    /// burst), for a request it sent that deserves an answer. A source
    /// without a bucket of its own (the table is full) gets no credit, so
    /// one source cannot fill the shared overflow bucket for the others.
    pub fn credit(&mut self, source: IpAddr, bytes: f64) {
        self.credit_at(source, bytes, Instant::now());
    }

    /// [`credit`](Self::credit) at a given time (for tests).
    pub fn credit_at(&mut self, source: IpAddr, bytes: f64, now: Instant) {
        if let Some(bucket) = self.bucket(source, now) {
            bucket.add(bytes, now);
        }
    }

    /// The bucket of `source`, created full if there is room (after
    /// forgetting sources that went quiet); `None` if the table is full.
    fn bucket(&mut self, source: IpAddr, now: Instant) -> Option<&mut TokenBucket> {
        if !self.buckets.contains_key(&source) && self.buckets.len() >= MAX_TRACKED_SOURCES {
            self.buckets.retain(|_, bucket| !bucket.is_full(now));
        }
        let (burst, rate) = (self.burst_bytes, self.bytes_per_second);
        if self.buckets.len() < MAX_TRACKED_SOURCES {
            Some(
                self.buckets
                    .entry(source)
                    .or_insert_with(|| TokenBucket::new(burst, rate, now)),
            )
        } else {
            self.buckets.get_mut(&source)
        }
    }
}

/// Default [`ReplyLimits::burst_bytes`]: 64 KiB.
pub const DEFAULT_REPLY_BURST: u64 = 64 * 1024;
/// Default [`ReplyLimits::bytes_per_second`]: 16 KiB/s.
pub const DEFAULT_REPLY_RATE: u64 = 16 * 1024;

/// The per-source reply limits of a UDP server (its `--reply-burst` and
/// `--reply-rate`, parsed by [`crate::cli::ReplyLimitArgs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLimits {
    /// Bytes of replies one source address may receive at once before the
    /// rate applies.
    pub burst_bytes: u64,
    /// Bytes of replies per second one source address may receive after
    /// its burst (replies beyond it are dropped and counted).
    pub bytes_per_second: u64,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            burst_bytes: DEFAULT_REPLY_BURST,
            bytes_per_second: DEFAULT_REPLY_RATE,
        }
    }
}

impl ReplyLimits {
    /// A limiter with these settings.
    pub fn limiter(&self) -> PerSourceLimiter {
        PerSourceLimiter::new(self.burst_bytes, self.bytes_per_second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(100.0, 10.0, start);
        assert!(bucket.try_take(60.0, start));
        assert!(bucket.try_take(40.0, start));
        assert!(!bucket.try_take(1.0, start));
        let later = start + Duration::from_millis(500);
        assert!(bucket.try_take(5.0, later));
        assert!(!bucket.try_take(1.0, later));
        let much_later = start + Duration::from_secs(100);
        assert!(bucket.try_take(100.0, much_later));
        assert!(!bucket.try_take(1.0, much_later));
    }

    #[test]
    fn sources_have_separate_buckets() {
        let now = Instant::now();
        let mut limiter = PerSourceLimiter::new(100, 1);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        assert!(limiter.allow_at(a, 100, now));
        assert!(!limiter.allow_at(a, 1, now));
        assert!(limiter.allow_at(b, 100, now));
        assert_eq!(limiter.dropped(), 1);
    }

    #[test]
    fn credit_tops_up_a_source_but_never_past_the_burst() {
        let now = Instant::now();
        let mut limiter = PerSourceLimiter::new(100, 1);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        assert!(limiter.allow_at(a, 100, now));
        assert!(!limiter.allow_at(a, 30, now));
        limiter.credit_at(a, 40.0, now);
        assert!(limiter.allow_at(a, 30, now));
        assert!(!limiter.allow_at(a, 30, now));
        // A full bucket cannot be credited beyond its burst.
        limiter.credit_at(b, 1000.0, now);
        assert!(limiter.allow_at(b, 100, now));
        assert!(!limiter.allow_at(b, 1, now));
        assert_eq!(limiter.dropped(), 3);
    }

    #[test]
    fn table_stays_bounded_and_forgets_quiet_sources() {
        let start = Instant::now();
        let mut limiter = PerSourceLimiter::new(10, 10);
        for i in 0..MAX_TRACKED_SOURCES as u32 {
            let source = IpAddr::from(std::net::Ipv4Addr::from(0x7f00_0000 + i));
            assert!(limiter.allow_at(source, 10, start));
        }
        assert_eq!(limiter.buckets.len(), MAX_TRACKED_SOURCES);
        // Still empty buckets: the newcomer shares the overflow bucket.
        let newcomer: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(limiter.allow_at(newcomer, 10, start));
        assert!(!limiter.allow_at(newcomer, 10, start));
        // ... and earns no credit there.
        limiter.credit_at(newcomer, 10.0, start);
        assert!(!limiter.allow_at(newcomer, 10, start));
        assert_eq!(limiter.buckets.len(), MAX_TRACKED_SOURCES);
        // Once the old sources have refilled they are forgotten.
        let later = start + Duration::from_secs(2);
        let another: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.allow_at(another, 10, later));
        assert_eq!(limiter.buckets.len(), 1);
    }
}
