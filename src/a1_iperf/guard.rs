//! What the a1 server may send, and to whom.
//!
//! Three rules keep a server from being turned against a third party or
//! the machine it shares:
//!
//! - **Return routability** ([`Joins`]): an address becomes a stream of a
//!   test only after it echoed a fresh random nonce the server sent *to
//!   it* (`JOIN` → `PROBE` → `ECHO` → `JOINED`); test data goes to such
//!   addresses only. The test's cookie went to the control address alone,
//!   so a `JOIN` carrying it proves nothing about its source.
//! - **No amplification** ([`Budget`]): to an address that has not proved
//!   it receives, the server sends at most as many bytes as it received
//!   from it — each answer no longer than the request it answers, and the
//!   answer to `STOP` (reply and `STATS`) no more than the whole test
//!   brought in from that address.
//! - **Operator caps** ([`Caps`]): the highest rate a `--reverse` test may
//!   ask for and the longest test (iperf3's `--server-bitrate-limit` and
//!   `--server-max-duration`); a `HELLO` asking for more gets a `REFUSED`
//!   line saying which cap and how much is allowed.

use super::protocol::{Control, Hello};
use crate::output::human_bits;
use std::net::SocketAddr;
use std::time::Duration;

/// The server operator's limits (0 or `None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Highest rate in bits per second a `--reverse` test may ask for (all
    /// streams together); an unpaced request asks for more than any.
    pub bitrate_limit: u64,
    /// Longest test, either direction.
    pub max_duration: Option<Duration>,
}

/// The server's default `--server-bitrate-limit`: 100 Mbit/s.
pub const DEFAULT_BITRATE_LIMIT: u64 = 100_000_000;
/// The server's default `--server-max-duration`: 60 s.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(60);

impl Default for Caps {
    fn default() -> Self {
        Caps {
            bitrate_limit: DEFAULT_BITRATE_LIMIT,
            max_duration: Some(DEFAULT_MAX_DURATION),
        }
    }
}

impl Caps {
    /// Why `hello` asks for more than these caps allow, or `None`.
    pub fn refusal(&self, hello: &Hello) -> Option<String> {
        let limit = self.bitrate_limit;
        if hello.reverse && limit > 0 && (hello.rate == 0 || hello.rate > limit) {
            let asked = match hello.rate {
                0 => "an unpaced test (no --rate)".to_string(),
                rate => format!("--rate {}", human_bits(rate as f64)),
            };
            return Some(format!(
                "{asked} is above this server's --server-bitrate-limit of {}",
                human_bits(limit as f64)
            ));
        }
        let max = self.max_duration?;
        let seconds = match (hello.time_ms, hello.reverse && hello.rate > 0) {
            (0, true) => hello.bytes as f64 * 8.0 / hello.rate as f64,
            (ms, _) => ms as f64 / 1000.0,
        };
        (seconds > max.as_secs_f64()).then(|| {
            format!(
                "a test of {seconds:.1} s is above this server's --server-max-duration of {} s",
                max.as_secs_f64()
            )
        })
    }
}

/// One stream's joining address and the nonce sent to it.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    stream: u16,
    addr: SocketAddr,
    nonce: u64,
    echoed: bool,
}

/// The return-routability state of one test's streams: at most one
/// candidate address per stream, so it stays as small as the test.
#[derive(Debug, Default)]
pub struct Joins {
    candidates: Vec<Candidate>,
}

/// What an `ECHO` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echoed {
    /// Wrong nonce, stream or source: ignored.
    No,
    /// The address proved it receives: it is now the stream's.
    New,
    /// A repeat from a stream that already joined (its `JOINED` was lost).
    Again,
}

impl Joins {
    /// The answer to a `JOIN` for `stream` from `from`: a `PROBE` with a
    /// fresh nonce (the same one again while unanswered), `JOINED` for an
    /// address that already proved itself, nothing when another address
    /// already holds the stream.
    pub fn join(&mut self, cookie: u64, stream: u16, from: SocketAddr) -> Option<Control> {
        let index = self.candidates.iter().position(|c| c.stream == stream);
        match index.map(|i| self.candidates[i]) {
            Some(c) if c.echoed => (c.addr == from).then_some(Control::Joined(cookie, stream)),
            Some(c) if c.addr == from => Some(Control::Probe(c.nonce, stream)),
            _ => {
                let candidate = Candidate {
                    stream,
                    addr: from,
                    nonce: rand::random(),
                    echoed: false,
                };
                self.candidates.retain(|c| c.stream != stream);
                self.candidates.push(candidate);
                Some(Control::Probe(candidate.nonce, stream))
            }
        }
    }

    /// An `ECHO` of `nonce` for `stream` from `from`.
    pub fn echo(&mut self, nonce: u64, stream: u16, from: SocketAddr) -> Echoed {
        let found = self
            .candidates
            .iter_mut()
            .find(|c| c.stream == stream && c.addr == from && c.nonce == nonce);
        match found {
            Some(c) if c.echoed => Echoed::Again,
            Some(c) => {
                c.echoed = true;
                Echoed::New
            }
            None => Echoed::No,
        }
    }

    /// The streams whose address proved it receives, as `(address, stream)`.
    pub fn joined(&self) -> Vec<(SocketAddr, u16)> {
        let mut joined: Vec<_> = self
            .candidates
            .iter()
            .filter(|c| c.echoed)
            .map(|c| (c.addr, c.stream))
            .collect();
        joined.sort_by_key(|j| j.1);
        joined
    }

    /// Whether `addr` proved it receives (for any stream).
    pub fn proved(&self, addr: SocketAddr) -> bool {
        self.candidates.iter().any(|c| c.echoed && c.addr == addr)
    }
}

/// The bytes the server may still send to one address: what it received
/// from it minus what it sent, unless the address proved it receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    received: u64,
    sent: u64,
    proved: bool,
}

impl Budget {
    /// A budget for an address that proved it receives: unlimited.
    pub fn proved() -> Budget {
        Budget {
            proved: true,
            ..Budget::default()
        }
    }

    /// Counts `len` bytes received from the address.
    pub fn received(&mut self, len: u64) {
        self.received = self.received.saturating_add(len);
    }

    /// Takes `len` bytes from the budget if they fit; returns whether
    /// they may be sent.
    pub fn spend(&mut self, len: usize) -> bool {
        let len = len as u64;
        if !self.proved && self.sent.saturating_add(len) > self.received {
            return false;
        }
        self.sent = self.sent.saturating_add(len);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(reverse: bool, rate: u64, bytes: u64, time_ms: u64) -> Hello {
        Hello {
            token: 1,
            streams: 1,
            reverse,
            length: 1500,
            rate,
            bytes,
            time_ms,
            pacing_us: 0,
        }
    }

    #[test]
    fn caps_refuse_what_is_above_them_and_say_which() {
        let caps = Caps {
            bitrate_limit: 10_000_000,
            max_duration: Some(Duration::from_secs(30)),
        };
        assert_eq!(caps.refusal(&hello(true, 10_000_000, 0, 30_000)), None);
        let fast = caps.refusal(&hello(true, 20_000_000, 0, 1000)).unwrap();
        assert_eq!(
            fast,
            "--rate 20.00 Mbit/s is above this server's --server-bitrate-limit of 10.00 Mbit/s"
        );
        let unpaced = caps.refusal(&hello(true, 0, 0, 1000)).unwrap();
        assert!(unpaced.starts_with("an unpaced test (no --rate) is above"));
        let long = caps.refusal(&hello(false, 0, 0, 31_000)).unwrap();
        assert_eq!(
            long,
            "a test of 31.0 s is above this server's --server-max-duration of 30 s"
        );
        // 50 MB at 10 Mbit/s take 40 s.
        assert!(caps
            .refusal(&hello(true, 10_000_000, 50_000_000, 0))
            .is_some());
        // Forward tests may ask for any rate: the client spends its own.
        assert_eq!(caps.refusal(&hello(false, 0, 0, 1000)), None);
        let none = Caps {
            bitrate_limit: 0,
            max_duration: None,
        };
        assert_eq!(none.refusal(&hello(true, 0, 0, 1_000_000)), None);
    }

    #[test]
    fn only_the_address_that_echoes_its_own_nonce_joins() {
        let victim: SocketAddr = "127.0.0.3:4000".parse().unwrap();
        let client: SocketAddr = "127.0.0.2:5000".parse().unwrap();
        let mut joins = Joins::default();
        let Some(Control::Probe(nonce, 0)) = joins.join(9, 0, victim) else {
            panic!("a probe")
        };
        // The same address asking again gets the same nonce.
        assert_eq!(joins.join(9, 0, victim), Some(Control::Probe(nonce, 0)));
        // An echo from elsewhere, or of another nonce, does nothing.
        assert_eq!(joins.echo(nonce, 0, client), Echoed::No);
        assert_eq!(joins.echo(nonce ^ 1, 0, victim), Echoed::No);
        assert!(joins.joined().is_empty());
        // A JOIN from another address replaces the unanswered candidate.
        let Some(Control::Probe(fresh, 0)) = joins.join(9, 0, client) else {
            panic!("a probe")
        };
        assert_eq!(joins.echo(nonce, 0, victim), Echoed::No);
        assert_eq!(joins.echo(fresh, 0, client), Echoed::New);
        assert_eq!(joins.echo(fresh, 0, client), Echoed::Again);
        assert_eq!(joins.joined(), [(client, 0)]);
        assert!(joins.proved(client) && !joins.proved(victim));
        // A joined stream is not taken over, and its JOIN is re-acknowledged.
        assert_eq!(joins.join(9, 0, victim), None);
        assert_eq!(joins.join(9, 0, client), Some(Control::Joined(9, 0)));
    }

    #[test]
    fn budget_never_sends_more_than_it_received_until_proved() {
        let mut budget = Budget::default();
        budget.received(9);
        assert!(!budget.spend(10));
        assert!(budget.spend(5));
        assert!(budget.spend(4));
        assert!(!budget.spend(1));
        let mut proved = Budget::proved();
        assert!(proved.spend(1 << 20));
    }
}
