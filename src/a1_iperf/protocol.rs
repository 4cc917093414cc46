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

/// The reply to `STOP` at the end of a `--reverse` test (socklab to
/// socklab only): the server's sending rate and the bytes it sent.
pub fn reverse_reply(kilobytes_per_second: f64, bytes_sent: u64) -> String {
    format!("Throughput: {kilobytes_per_second:.3} Kilobytes per second, sent {bytes_sent} bytes")
}

/// The byte count in a `--reverse` reply ([`reverse_reply`]).
pub fn parse_sent_bytes(reply: &str) -> Option<u64> {
    let (_, tail) = reply.split_once(", sent ")?;
    tail.strip_suffix(" bytes")?.parse().ok()
}

/// Magic bytes that open every socklab datagram (data header or control
/// message). The seed payload holds only lowercase letters and the seed
/// markers are `START`/`STOP`, so a datagram starting with these four bytes
/// never comes from a seed program.
pub const MAGIC: &[u8; 4] = b"SLB1";

/// Length of the data header at the start of each payload datagram a
/// socklab sender sends.
///
/// ```text
/// offset  0..4   "SLB1"                 magic
///         4..8   stream id               4 lowercase hex digits
///         8..24  sequence number         16 lowercase hex digits, from 0
///        24..40  send time               16 lowercase hex digits, ns since
///                                        the Unix epoch
/// ```
///
/// The header is ASCII on purpose: the seed server decodes every datagram
/// as UTF-8 and would crash on binary bytes. The rest of the datagram keeps
/// the seed pattern, so byte counts are those of the seed.
pub const HEADER_LEN: usize = 40;

/// The header of one payload datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Which stream of a `--parallel` test (0 for a single stream).
    pub stream: u16,
    /// Datagram number within the stream, from 0.
    pub sequence: u64,
    /// Sender's clock at sending: nanoseconds since the Unix epoch.
    pub sent_ns: u64,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_hex(out: &mut [u8], value: u64) {
    let digits = out.len();
    for (i, byte) in out.iter_mut().enumerate() {
        let shift = 4 * (digits - 1 - i);
        *byte = HEX[((value >> shift) & 0xf) as usize];
    }
}

fn read_hex(text: &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for &byte in text {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            _ => return None,
        };
        value = (value << 4) | u64::from(digit);
    }
    Some(value)
}

impl Header {
    /// Writes the header over the first [`HEADER_LEN`] bytes of `datagram`
    /// (which must be at least that long). No allocation.
    pub fn write(&self, datagram: &mut [u8]) {
        datagram[..4].copy_from_slice(MAGIC);
        write_hex(&mut datagram[4..8], u64::from(self.stream));
        write_hex(&mut datagram[8..24], self.sequence);
        write_hex(&mut datagram[24..40], self.sent_ns);
    }

    /// The header at the start of `datagram`, or `None` for a seed datagram
    /// (or anything else that does not carry one).
    pub fn parse(datagram: &[u8]) -> Option<Header> {
        if datagram.len() < HEADER_LEN || &datagram[..4] != MAGIC {
            return None;
        }
        Some(Header {
            stream: read_hex(&datagram[4..8])? as u16,
            sequence: read_hex(&datagram[8..24])?,
            sent_ns: read_hex(&datagram[24..40])?,
        })
    }
}

/// Nanoseconds since the Unix epoch now (0 if the clock is before 1970).
pub fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Control messages between socklab programs, sent in their own datagrams
/// (`SLB1:` and a word; fields separated by single spaces, all ASCII).
///
/// ```text
/// C→S  SLB1:HELLO <token> <streams> <reverse 0|1> <length> <rate> <bytes> <time_ms> <pacing_us>
/// S→C  SLB1:ACK <token> <cookie>               (HELLO accepted)
/// S→C  SLB1:REFUSED <reason>                   (HELLO asks for more than the caps)
/// C→S  SLB1:JOIN <cookie> <stream>             (from every stream's socket)
/// S→C  SLB1:PROBE <nonce> <stream>             (to the address the JOIN came from)
/// C→S  SLB1:ECHO <nonce> <stream>              (from that address: it receives)
/// S→C  SLB1:JOINED <cookie> <stream>
/// C→S  SLB1:ALIVE <cookie>                     (--reverse: every ALIVE_EVERY)
/// S→C  SLB1:FIN <stream> <packets> <bytes>     (--reverse: that stream is done)
/// S→C  SLB1:STATS <part> <parts>\n<lines>      (after the reply to STOP)
/// ```
///
/// A `HELLO` is sent after `START` only for `--parallel` > 1 or
/// `--reverse`; a seed server counts it as payload bytes and never
/// answers, so the client gives up with a clear error. Tokens, cookies and
/// nonces are 16 hex digits chosen at random. `HELLO` and `JOIN` are padded
/// to [`REQUEST_LEN`] bytes ([`Control::encode_padded`]) so that every
/// answer fits in the request it answers: the server never sends an
/// address that has not proved it receives more bytes than it got from it.
/// The cookie went to the control address only, so it proves nothing about
/// where a `JOIN` came from; the `PROBE` nonce, fresh for each stream and
/// sent to the joining address, does: only its echo makes that address a
/// stream (return routability). `pacing_us` is the sender's pacing timer in
/// microseconds (0: even spacing; see [`crate::a1_iperf::sender::Spacing`]);
/// a `HELLO` without it means 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The client asks for a test with several streams or in reverse.
    Hello(Hello),
    /// The server accepted the `HELLO` with this token; joins must carry
    /// the cookie.
    Ack(u64, u64),
    /// A stream's socket joins the test with the server's cookie.
    Join(u64, u16),
    /// The server's fresh nonce for a joining address, and the stream.
    Probe(u64, u16),
    /// The joining address echoes the nonce it received: it receives.
    Echo(u64, u16),
    /// The server refused the `HELLO`: the reason, one line.
    Refused(String),
    /// `--reverse`: the client is still there (with the test's cookie).
    Alive(u64),
    /// The server registered the stream.
    Joined(u64, u16),
    /// `--reverse`: the server finished sending on a stream.
    Fin(Fin),
    /// One part of the server's statistics.
    Stats {
        /// Part number, from 0.
        part: u32,
        /// Number of parts.
        parts: u32,
        /// The part's lines (see [`crate::a1_iperf::stats::View::to_lines`]).
        body: String,
    },
}

/// The parameters of a socklab test, sent in `HELLO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// Random token naming the test (joins must carry it).
    pub token: u64,
    /// Number of streams.
    pub streams: u16,
    /// The server sends, the client receives.
    pub reverse: bool,
    /// Payload bytes per datagram.
    pub length: usize,
    /// Target rate in bits per second for all streams together (0: unpaced).
    pub rate: u64,
    /// Bytes to send in all (0 when the test runs for `time_ms`).
    pub bytes: u64,
    /// Test duration in milliseconds (0 when it sends `bytes`).
    pub time_ms: u64,
    /// The sender's pacing timer in microseconds (0: even spacing).
    pub pacing_us: u64,
}

/// The end of one stream of a `--reverse` test, with the sender's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fin {
    /// The stream.
    pub stream: u16,
    /// Datagrams sent on it.
    pub packets: u64,
    /// Bytes sent on it.
    pub bytes: u64,
}

/// Length a `HELLO` or `JOIN` is padded to: at least the longest answer
/// (`ACK`, `REFUSED`, `PROBE`).
pub const REQUEST_LEN: usize = 256;
/// How often a `--reverse` client sends `ALIVE` while it receives.
pub const ALIVE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// Longest reason in a `REFUSED` line (it must fit in a padded `HELLO`).
const REFUSED_REASON_MAX: usize = REQUEST_LEN - 13;

/// Largest streams count a `HELLO` may ask for.
pub const MAX_STREAMS: u16 = 128;
/// Largest body of one `STATS` datagram (it fits any MTU and the seed
/// client's 4096-byte read).
pub const STATS_PART_LEN: usize = 1200;

impl Control {
    /// The datagram bytes.
    pub fn encode(&self) -> String {
        match self {
            Control::Hello(h) => format!(
                "SLB1:HELLO {:016x} {} {} {} {} {} {} {}",
                h.token,
                h.streams,
                u8::from(h.reverse),
                h.length,
                h.rate,
                h.bytes,
                h.time_ms,
                h.pacing_us
            ),
            Control::Ack(token, cookie) => format!("SLB1:ACK {token:016x} {cookie:016x}"),
            Control::Join(cookie, stream) => format!("SLB1:JOIN {cookie:016x} {stream}"),
            Control::Joined(cookie, stream) => format!("SLB1:JOINED {cookie:016x} {stream}"),
            Control::Probe(nonce, stream) => format!("SLB1:PROBE {nonce:016x} {stream}"),
            Control::Echo(nonce, stream) => format!("SLB1:ECHO {nonce:016x} {stream}"),
            Control::Refused(reason) => format!("SLB1:REFUSED {reason}"),
            Control::Alive(cookie) => format!("SLB1:ALIVE {cookie:016x}"),
            Control::Fin(f) => format!("SLB1:FIN {} {} {}", f.stream, f.packets, f.bytes),
            Control::Stats { part, parts, body } => format!("SLB1:STATS {part} {parts}\n{body}"),
        }
    }

    /// The datagram padded to [`REQUEST_LEN`] bytes: a newline, then dots
    /// (the parser reads the first line only).
    pub fn encode_padded(&self) -> Vec<u8> {
        let mut datagram = self.encode().into_bytes();
        if datagram.len() < REQUEST_LEN {
            datagram.push(b'\n');
            datagram.resize(REQUEST_LEN, b'.');
        }
        datagram
    }

    /// A `REFUSED` answer, its reason cut to fit a padded request.
    pub fn refused(reason: &str) -> Control {
        let mut end = reason.len().min(REFUSED_REASON_MAX);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        Control::Refused(reason[..end].replace('\n', " "))
    }

    /// Parses a control datagram; `None` for anything else (data, seed
    /// markers, junk).
    pub fn parse(datagram: &[u8]) -> Option<Control> {
        let text = std::str::from_utf8(datagram.strip_prefix(b"SLB1:")?).ok()?;
        let (first_line, body) = text.split_once('\n').unwrap_or((text, ""));
        let mut words = first_line.split(' ');
        let kind = words.next()?;
        let mut fields = words;
        let mut next_u64 = || fields.next()?.parse::<u64>().ok();
        let token = |word: Option<&str>| u64::from_str_radix(word?, 16).ok();
        let control = match kind {
            "ACK" => {
                let mut words = first_line.split(' ').skip(1);
                let ack = Control::Ack(token(words.next())?, token(words.next())?);
                words.next().is_none().then_some(ack)?
            }
            "ALIVE" => {
                let mut words = first_line.split(' ').skip(1);
                let alive = Control::Alive(token(words.next())?);
                words.next().is_none().then_some(alive)?
            }
            "REFUSED" => Control::Refused(first_line.split_once(' ')?.1.to_string()),
            "HELLO" | "JOIN" | "JOINED" | "PROBE" | "ECHO" => parse_tokened(kind, first_line)?,
            "FIN" => {
                let fin = Fin {
                    stream: u16::try_from(next_u64()?).ok()?,
                    packets: next_u64()?,
                    bytes: next_u64()?,
                };
                Control::Fin(fin)
            }
            "STATS" => {
                let part = u32::try_from(next_u64()?).ok()?;
                let parts = u32::try_from(next_u64()?).ok()?;
                (part < parts).then_some(())?;
                Control::Stats {
                    part,
                    parts,
                    body: body.to_string(),
                }
            }
            _ => return None,
        };
        Some(control)
    }
}

/// A control message whose first field is a 16-hex-digit token (or
/// cookie, or nonce) and the rest decimal numbers.
fn parse_tokened(kind: &str, first_line: &str) -> Option<Control> {
    let mut words = first_line.split(' ').skip(1);
    let token = u64::from_str_radix(words.next()?, 16).ok()?;
    let numbers: Vec<u64> = words
        .map(|w| w.parse().ok())
        .collect::<Option<Vec<u64>>>()?;
    let stream = |n: u64| u16::try_from(n).ok();
    let control = match (kind, numbers.as_slice()) {
        ("HELLO", fields) => Control::Hello(Hello::from_fields(token, fields)?),
        ("JOIN", &[n]) => Control::Join(token, stream(n)?),
        ("JOINED", &[n]) => Control::Joined(token, stream(n)?),
        ("PROBE", &[n]) => Control::Probe(token, stream(n)?),
        ("ECHO", &[n]) => Control::Echo(token, stream(n)?),
        _ => return None,
    };
    Some(control)
}

impl Hello {
    /// A `HELLO` from its token and numeric fields (the pacing field may be
    /// missing); `None` when out of range.
    fn from_fields(token: u64, fields: &[u64]) -> Option<Hello> {
        let &[streams, reverse, length, rate, bytes, time_ms, ref pacing @ ..] = fields else {
            return None;
        };
        let streams = u16::try_from(streams).ok()?;
        if pacing.len() > 1
            || !(1..=MAX_STREAMS).contains(&streams)
            || reverse > 1
            || !(1..=MAX_LENGTH as u64).contains(&length)
        {
            return None;
        }
        Some(Hello {
            token,
            streams,
            reverse: reverse == 1,
            length: length as usize,
            rate,
            bytes,
            time_ms,
            pacing_us: pacing.first().copied().unwrap_or(0),
        })
    }
}

/// Cuts statistics lines into `STATS` datagrams of at most
/// [`STATS_PART_LEN`] body bytes (a line is never split).
pub fn stats_datagrams(lines: &[String]) -> Vec<String> {
    let mut bodies: Vec<String> = vec![String::new()];
    for line in lines {
        let body = bodies.last_mut().expect("never empty");
        if !body.is_empty() && body.len() + line.len() + 1 > STATS_PART_LEN {
            bodies.push(String::new());
        }
        let body = bodies.last_mut().expect("never empty");
        body.push_str(line);
        body.push('\n');
    }
    let parts = bodies.len() as u32;
    bodies
        .into_iter()
        .enumerate()
        .map(|(part, body)| {
            Control::Stats {
                part: part as u32,
                parts,
                body,
            }
            .encode()
        })
        .collect()
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
    fn header_bytes_are_pinned() {
        let mut datagram = [b'x'; 48];
        let header = Header {
            stream: 3,
            sequence: 0x1234,
            sent_ns: 0x17d6_0f3a_5c00_0001,
        };
        header.write(&mut datagram);
        assert_eq!(
            &datagram[..HEADER_LEN],
            b"SLB10003000000000000123417d60f3a5c000001"
        );
        assert_eq!(&datagram[HEADER_LEN..], b"xxxxxxxx");
        assert_eq!(Header::parse(&datagram), Some(header));
        // Seed payloads, markers, short or damaged headers carry none.
        assert_eq!(
            Header::parse(b"abcdefghijklmnopqrstuvwxyzabcdefghijklmnop"),
            None
        );
        assert_eq!(Header::parse(START), None);
        assert_eq!(Header::parse(&datagram[..HEADER_LEN - 1]), None);
        let mut damaged = datagram;
        damaged[10] = b'G';
        assert_eq!(Header::parse(&damaged), None);
        // ASCII, so the seed server's decode() accepts it.
        assert!(std::str::from_utf8(&datagram).is_ok());
    }

    #[test]
    fn control_messages_are_pinned() {
        let hello = Control::Hello(Hello {
            token: 0xabc,
            streams: 4,
            reverse: true,
            length: 1500,
            rate: 0,
            bytes: 0,
            time_ms: 2500,
            pacing_us: 1000,
        });
        assert_eq!(
            hello.encode(),
            "SLB1:HELLO 0000000000000abc 4 1 1500 0 0 2500 1000"
        );
        // Without the pacing field (an older socklab client): even spacing.
        match Control::parse(b"SLB1:HELLO 0000000000000abc 4 1 1500 0 0 2500") {
            Some(Control::Hello(h)) => assert_eq!((h.time_ms, h.pacing_us), (2500, 0)),
            other => panic!("{other:?}"),
        }
        for control in [
            hello,
            Control::Ack(7, 0xfeed),
            Control::Join(7, 2),
            Control::Joined(7, 2),
            Control::Fin(Fin {
                stream: 1,
                packets: 10,
                bytes: 15000,
            }),
        ] {
            assert_eq!(Control::parse(control.encode().as_bytes()), Some(control));
        }
        assert_eq!(
            Control::Ack(7, 0xfeed).encode(),
            "SLB1:ACK 0000000000000007 000000000000feed"
        );
        assert_eq!(Control::Join(7, 2).encode(), "SLB1:JOIN 0000000000000007 2");
        assert_eq!(
            Control::parse(b"SLB1:FIN 1 10 15000"),
            Some(Control::Fin(Fin {
                stream: 1,
                packets: 10,
                bytes: 15000
            }))
        );
        // Junk, seed datagrams and out-of-range requests are not controls.
        for junk in [
            &b"STOP"[..],
            b"SLB1:HELLO 0 0 0 1500 0 0 0",
            b"SLB1:HELLO 1 4 2 1500 0 0 0",
            b"SLB1:HELLO 1 4 1 1500 0 0 0 1000 7",
            b"SLB1:ACK",
            b"SLB1:NOPE 1",
            b"SLB1:JOIN zz 1",
            b"SLB1:STATS 2 2\n",
            b"SLB1:FIN 1 2",
        ] {
            assert_eq!(Control::parse(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn validation_messages_are_pinned_and_fit_a_padded_request() {
        assert_eq!(
            Control::Probe(0xbeef, 3).encode(),
            "SLB1:PROBE 000000000000beef 3"
        );
        assert_eq!(
            Control::Echo(0xbeef, 3).encode(),
            "SLB1:ECHO 000000000000beef 3"
        );
        assert_eq!(Control::Alive(7).encode(), "SLB1:ALIVE 0000000000000007");
        assert_eq!(
            Control::Refused("rate too high".into()).encode(),
            "SLB1:REFUSED rate too high"
        );
        for control in [
            Control::Probe(1, 2),
            Control::Echo(1, 2),
            Control::Alive(9),
            Control::Refused("time 90 s is above 60 s".into()),
        ] {
            assert_eq!(Control::parse(control.encode().as_bytes()), Some(control));
        }
        // Padding: REQUEST_LEN bytes, and the parser reads through it.
        let join = Control::Join(7, 2).encode_padded();
        assert_eq!(join.len(), REQUEST_LEN);
        assert!(join.starts_with(b"SLB1:JOIN 0000000000000007 2\n..."));
        assert_eq!(Control::parse(&join), Some(Control::Join(7, 2)));
        // Every answer to a padded request fits in it.
        let long = "x".repeat(1000);
        for answer in [
            Control::Ack(u64::MAX, u64::MAX),
            Control::Probe(u64::MAX, u16::MAX),
            Control::refused(&long),
        ] {
            assert!(answer.encode().len() <= REQUEST_LEN, "{answer:?}");
        }
        assert_eq!(Control::refused("a\nb"), Control::Refused("a b".into()));
    }

    #[test]
    fn stats_are_cut_into_parts_that_parse_back() {
        let lines: Vec<String> = (0..100).map(|i| format!("I 0 {i} {:040}", i)).collect();
        let datagrams = stats_datagrams(&lines);
        assert!(datagrams.len() > 1);
        let mut joined = String::new();
        for (i, datagram) in datagrams.iter().enumerate() {
            assert!(datagram.len() <= STATS_PART_LEN + 32);
            match Control::parse(datagram.as_bytes()) {
                Some(Control::Stats { part, parts, body }) => {
                    assert_eq!(part as usize, i);
                    assert_eq!(parts as usize, datagrams.len());
                    joined.push_str(&body);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(joined.lines().collect::<Vec<_>>(), lines);
        assert_eq!(stats_datagrams(&[]), ["SLB1:STATS 0 1\n"]);
    }

    #[test]
    fn reverse_reply_names_the_bytes_sent() {
        let reply = reverse_reply(1000.0, 5);
        assert_eq!(
            reply,
            "Throughput: 1000.000 Kilobytes per second, sent 5 bytes"
        );
        assert_eq!(parse_sent_bytes(&reply), Some(5));
        assert_eq!(parse_received_bytes(&reply), None);
        assert_eq!(parse_throughput(&reply), Some(1000.0));
    }
}
