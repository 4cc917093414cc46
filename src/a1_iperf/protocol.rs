//! The a1 wire format: the `START`/`STOP` markers, the payload pattern, the
//! server's throughput reply, and the client's argument rules — all in one
//! place, pinned by the unit tests below.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// First datagram of a test (5 bytes).
pub const START: &[u8] = b"START";
/// Last datagram of a test (4 bytes); resent every second until the reply.
pub const STOP: &[u8] = b"STOP";

/// The seed server's address: `127.0.0.1:5555`.
pub const DEFAULT_SERVER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5555));
/// The seed client's own address: `127.0.0.1:7777`.
pub const DEFAULT_CLIENT: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7777));

/// The seed's datagram length.
pub const DEFAULT_LENGTH: usize = 1500;
/// The largest UDP payload over IPv4.
pub const MAX_LENGTH: usize = 65_507;
/// Bytes in a (decimal) megabyte, as the seed counts.
pub const MB: u64 = 1_000_000;
/// The smallest and largest size the seed client accepts, in MB.
pub const SIZE_RANGE_MB: std::ops::RangeInclusive<u64> = 25..=200;

/// The payload's alphabet: byte *i* of the payload is `b'a' + i % 26`.
const ALPHABET_LEN: usize = 26;

/// The seed payload, cut into datagrams without ever holding it whole.
///
/// Byte *i* of the payload is `b'a' + (i % 26)`. Since a datagram starting at
/// offset *o* is the same as one starting at `o % 26`, one buffer of
/// `length + 25` pattern bytes serves every datagram as a slice.
pub struct Payload {
    pattern: Vec<u8>,
    total: u64,
    length: usize,
}

impl Payload {
    /// A payload of `total` bytes sent in datagrams of `length` bytes.
    pub fn new(total: u64, length: usize) -> Self {
        let pattern = (0..length + ALPHABET_LEN - 1)
            .map(|i| b'a' + (i % ALPHABET_LEN) as u8)
            .collect();
        Payload {
            pattern,
            total,
            length,
        }
    }

    /// Total payload bytes.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The datagram that starts at payload byte `offset` (the last one holds
    /// the rest); empty once `offset` reaches the end.
    pub fn datagram_at(&self, offset: u64) -> &[u8] {
        let remaining = self.total.saturating_sub(offset);
        let len = remaining.min(self.length as u64) as usize;
        let start = (offset % ALPHABET_LEN as u64) as usize;
        &self.pattern[start..start + len]
    }
}

/// The server's reply: the seed sentence, with the byte count appended
/// (seed clients print the whole reply; socklab clients use the count to
/// compute loss).
pub fn throughput_reply(kilobytes_per_second: f64, bytes_received: u64) -> String {
    format!("Throughput: {kilobytes_per_second:.3} Kilobytes per second, received {bytes_received} bytes")
}

/// The byte count in a reply from a socklab server, or `None` for a seed
/// server's reply (which has no count).
pub fn parse_received_bytes(reply: &str) -> Option<u64> {
    let (_, tail) = reply.split_once(", received ")?;
    tail.strip_suffix(" bytes")?.parse().ok()
}

/// The kilobytes-per-second figure in a reply (seed or socklab).
pub fn parse_throughput(reply: &str) -> Option<f64> {
    reply
        .strip_prefix("Throughput: ")?
        .split_once(" Kilobytes per second")?
        .0
        .parse()
        .ok()
}

/// Why the client's size argument was refused; `Display` gives the seed's
/// own message (the usage line names this program instead of the seed's
/// file name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeError {
    /// Not exactly one argument.
    Usage,
    /// Not all ASCII digits (`str.isdigit()` in the seed).
    NotANumber,
    /// Outside 25..=200.
    OutOfRange,
}

impl std::fmt::Display for SizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SizeError::Usage => "Usage: a1-iperf-client [size in MB to send]",
            SizeError::NotANumber => "Not a number!",
            SizeError::OutOfRange => "size must be between 25 and 200",
        })
    }
}

impl std::error::Error for SizeError {}

/// Validates the client's positional arguments the way the seed does and
/// returns the size in MB.
pub fn parse_size_mb(args: &[String]) -> Result<u64, SizeError> {
    let [arg] = args else {
        return Err(SizeError::Usage);
    };
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SizeError::NotANumber);
    }
    // All digits: only overflow can fail, and that is out of range too.
    let size: u64 = arg.parse().map_err(|_| SizeError::OutOfRange)?;
    if SIZE_RANGE_MB.contains(&size) {
        Ok(size)
    } else {
        Err(SizeError::OutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_the_seed_bytes() {
        assert_eq!(START, [0x53, 0x54, 0x41, 0x52, 0x54]);
        assert_eq!(STOP, [0x53, 0x54, 0x4f, 0x50]);
        assert_eq!(DEFAULT_SERVER.to_string(), "127.0.0.1:5555");
        assert_eq!(DEFAULT_CLIENT.to_string(), "127.0.0.1:7777");
    }

    #[test]
    fn payload_matches_the_seed_pattern_across_datagrams() {
        let total = 3 * 1500 + 7;
        let payload = Payload::new(total, 1500);
        let mut joined = Vec::new();
        let mut offset = 0;
        loop {
            let datagram = payload.datagram_at(offset);
            if datagram.is_empty() {
                break;
            }
            offset += datagram.len() as u64;
            joined.extend_from_slice(datagram);
        }
        let expected: Vec<u8> = (0..total).map(|i| b'a' + (i % 26) as u8).collect();
        assert_eq!(joined, expected);
        // 4500 % 26 == 2: the last datagram starts at 'c' and holds the 7-byte rest.
        assert_eq!(payload.datagram_at(4500), b"cdefghi");
        assert_eq!(&payload.datagram_at(0)[..3], b"abc");
    }

    #[test]
    fn reply_keeps_the_seed_sentence_and_adds_the_count() {
        let reply = throughput_reply(123456.78949, 100_000_000);
        assert_eq!(
            reply,
            "Throughput: 123456.789 Kilobytes per second, received 100000000 bytes"
        );
        assert_eq!(parse_received_bytes(&reply), Some(100_000_000));
        assert_eq!(parse_throughput(&reply), Some(123456.789));
        let seed_reply = "Throughput: 5.000 Kilobytes per second";
        assert_eq!(parse_received_bytes(seed_reply), None);
        assert_eq!(parse_throughput(seed_reply), Some(5.0));
    }

    #[test]
    fn size_argument_follows_the_seed_rules() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_size_mb(&args(&["100"])), Ok(100));
        assert_eq!(parse_size_mb(&args(&["25"])), Ok(25));
        assert_eq!(parse_size_mb(&args(&["200"])), Ok(200));
        assert_eq!(parse_size_mb(&args(&[])), Err(SizeError::Usage));
        assert_eq!(parse_size_mb(&args(&["1", "2"])), Err(SizeError::Usage));
        assert_eq!(parse_size_mb(&args(&["abc"])), Err(SizeError::NotANumber));
        assert_eq!(parse_size_mb(&args(&["-5"])), Err(SizeError::NotANumber));
        assert_eq!(parse_size_mb(&args(&["2.5"])), Err(SizeError::NotANumber));
        assert_eq!(parse_size_mb(&args(&["24"])), Err(SizeError::OutOfRange));
        assert_eq!(parse_size_mb(&args(&["201"])), Err(SizeError::OutOfRange));
        assert_eq!(
            parse_size_mb(&args(&["99999999999999999999999"])),
            Err(SizeError::OutOfRange)
        );
        assert_eq!(SizeError::NotANumber.to_string(), "Not a number!");
        assert_eq!(
            SizeError::OutOfRange.to_string(),
            "size must be between 25 and 200"
        );
    }
}
