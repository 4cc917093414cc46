//! The a3 ping wire format in one place: every datagram the client and the
//! server exchange, how each is parsed, and the two Python-style formatters
//! (`b'…'` byte strings and float `repr`) the seed's output lines use.
//!
//! ```text
//! client → server                     server → client
//! C <size>                            Buffer Size Calibrated at Server.
//! Hello Server [<seq> <padding>]      Packet Acknowledged[ <seq>]  (maybe delayed or lost)
//! exit                                Stopping the Server.
//! ```

/// The calibration request starts with this letter: `C <size>`.
pub const CALIBRATION_PREFIX: &str = "C";
/// The server's reply to a calibration request (never dropped or delayed).
pub const CALIBRATION_REPLY: &[u8] = b"Buffer Size Calibrated at Server.";
/// The request that stops the server.
pub const EXIT_REQUEST: &[u8] = b"exit";
/// The server's reply to [`EXIT_REQUEST`].
pub const EXIT_REPLY: &[u8] = b"Stopping the Server.";
/// The acknowledgement of a probe; socklab appends ` <seq>` when the probe
/// carried a sequence number.
pub const ACK: &str = "Packet Acknowledged";
/// The ping client's probe text (the seed sends exactly this, 12 bytes).
pub const PING_PROBE: &str = "Hello Server";
/// The ramp client's probe text (the seed sends exactly this, 13 bytes).
pub const RAMP_PROBE: &str = "Hello Server.";
/// The largest UDP payload over IPv4, and so the largest valid size.
pub const MAX_DATAGRAM: usize = crate::cli::MAX_UDP_PAYLOAD;
/// The character socklab pads probes with, after one space.
const PADDING: u8 = b'.';

/// What the server makes of one datagram, in the contract's dispatch order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `C <size>` with a size in `1..=MAX_DATAGRAM`.
    Calibrate(usize),
    /// Exactly `exit`.
    Exit,
    /// Anything else: a probe, with the sequence number socklab clients add.
    Probe(Option<u64>),
}

/// Why the server ignores a datagram (logged, never fatal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// A zero-length datagram.
    Empty,
    /// Bytes that are not UTF-8 text.
    NotText,
    /// `C` followed by something that is not a size in `1..=MAX_DATAGRAM`.
    BadCalibration(String),
    /// One of the server's own replies (`Packet Acknowledged…`, the
    /// calibration or the exit reply). No client sends these; answering them
    /// would let a forged source make two servers ack each other forever.
    ServerReply,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::Empty => write!(f, "empty datagram"),
            Rejected::NotText => write!(f, "datagram is not UTF-8 text"),
            Rejected::BadCalibration(text) => {
                write!(f, "calibration {text:?} needs a size in 1..={MAX_DATAGRAM}")
            }
            Rejected::ServerReply => write!(f, "a ping server's reply is not a request"),
        }
    }
}

/// Parses a datagram the server received.
///
/// A calibration is `C` alone or `C` followed by whitespace (the seed
/// treated *any* text starting with `C` as one); other text starting with
/// `C` is a probe like any other. A datagram that is one of the server's
/// own replies is no request at all ([`Rejected::ServerReply`]).
pub fn parse_request(datagram: &[u8]) -> Result<Request, Rejected> {
    if datagram.is_empty() {
        return Err(Rejected::Empty);
    }
    if parse_reply(datagram) != Reply::Unknown {
        return Err(Rejected::ServerReply);
    }
    let text = std::str::from_utf8(datagram).map_err(|_| Rejected::NotText)?;
    if let Some(rest) = text.strip_prefix(CALIBRATION_PREFIX) {
        if rest.is_empty() || rest.starts_with(char::is_whitespace) {
            return match rest.split_whitespace().next().map(str::parse::<usize>) {
                Some(Ok(size)) if (1..=MAX_DATAGRAM).contains(&size) => {
                    Ok(Request::Calibrate(size))
                }
                _ => Err(Rejected::BadCalibration(text.chars().take(40).collect())),
            };
        }
    }
    if datagram == EXIT_REQUEST {
        return Ok(Request::Exit);
    }
    Ok(Request::Probe(probe_sequence(text)))
}

/// The sequence number in a socklab probe (`Hello Server 17 ....` or
/// `Hello Server. 17 ....`); `None` for a seed probe or any other text.
pub fn probe_sequence(text: &str) -> Option<u64> {
    let rest = text.strip_prefix(PING_PROBE)?;
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    let rest = rest.strip_prefix(' ')?;
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (digits, tail) = rest.split_at(digits_end);
    if digits.is_empty() || !(tail.is_empty() || tail.starts_with(' ')) {
        return None;
    }
    digits.parse().ok()
}

/// The calibration request `C <size>`.
pub fn calibration_request(size: usize) -> Vec<u8> {
    format!("{CALIBRATION_PREFIX} {size}").into_bytes()
}

/// A socklab probe: `<text> <seq>`, then a space and `.` padding up to
/// exactly `size` bytes. If `size` is too small for the text and the number,
/// the probe is just `<text> <seq>` (see [`probe_fits`]).
pub fn probe(text: &str, seq: u64, size: usize) -> Vec<u8> {
    let mut bytes = format!("{text} {seq}").into_bytes();
    if bytes.len() < size {
        bytes.push(b' ');
        bytes.resize(size, PADDING);
    }
    bytes
}

/// Whether probes up to sequence number `last_seq` fit in `size` bytes.
pub fn probe_fits(text: &str, last_seq: u64, size: usize) -> bool {
    format!("{text} {last_seq}").len() <= size
}

/// The acknowledgement the server sends for a probe.
pub fn ack(seq: Option<u64>) -> Vec<u8> {
    match seq {
        Some(seq) => format!("{ACK} {seq}").into_bytes(),
        None => ACK.as_bytes().to_vec(),
    }
}

/// What the client makes of one datagram from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `Packet Acknowledged`, with the sequence number a socklab server adds.
    Ack(Option<u64>),
    /// [`CALIBRATION_REPLY`].
    Calibrated,
    /// [`EXIT_REPLY`].
    Stopping,
    /// Anything else.
    Unknown,
}

/// Parses a datagram the client received.
pub fn parse_reply(datagram: &[u8]) -> Reply {
    if datagram == CALIBRATION_REPLY {
        return Reply::Calibrated;
    }
    if datagram == EXIT_REPLY {
        return Reply::Stopping;
    }
    let Ok(text) = std::str::from_utf8(datagram) else {
        return Reply::Unknown;
    };
    match text.strip_prefix(ACK) {
        Some("") => Reply::Ack(None),
        Some(rest) => match rest.strip_prefix(' ').map(str::parse::<u64>) {
            Some(Ok(seq)) => Reply::Ack(Some(seq)),
            _ => Reply::Unknown,
        },
        None => Reply::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_constants_are_the_seeds_bytes() {
        assert_eq!(calibration_request(1024), b"C 1024");
        assert_eq!(CALIBRATION_REPLY, b"Buffer Size Calibrated at Server.");
        assert_eq!(EXIT_REQUEST, b"exit");
        assert_eq!(EXIT_REPLY, b"Stopping the Server.");
        assert_eq!(ack(None), b"Packet Acknowledged");
        assert_eq!(ack(Some(42)), b"Packet Acknowledged 42");
        assert_eq!(PING_PROBE.len(), 12);
        assert_eq!(RAMP_PROBE.len(), 13);
    }

    #[test]
    fn probes_are_padded_to_the_exact_size() {
        assert_eq!(probe(PING_PROBE, 7, 20), b"Hello Server 7 .....");
        assert_eq!(probe(PING_PROBE, 7, 15), b"Hello Server 7 ");
        assert_eq!(probe(PING_PROBE, 7, 14), b"Hello Server 7");
        assert_eq!(probe(PING_PROBE, 7, 4), b"Hello Server 7");
        assert_eq!(probe(RAMP_PROBE, 3, 18), b"Hello Server. 3 ..");
        assert_eq!(probe(PING_PROBE, 1, 1024).len(), 1024);
        assert!(probe_fits(PING_PROBE, 99, 15));
        assert!(!probe_fits(PING_PROBE, 100, 15));
    }

    #[test]
    fn server_dispatch_follows_the_contract() {
        assert_eq!(parse_request(b"C 1024"), Ok(Request::Calibrate(1024)));
        assert_eq!(parse_request(b"C  64 "), Ok(Request::Calibrate(64)));
        assert_eq!(parse_request(b"exit"), Ok(Request::Exit));
        assert_eq!(parse_request(b"Hello Server"), Ok(Request::Probe(None)));
        assert_eq!(parse_request(b"Hello Server."), Ok(Request::Probe(None)));
        assert_eq!(
            parse_request(b"Hello Server 12 ....."),
            Ok(Request::Probe(Some(12)))
        );
        assert_eq!(
            parse_request(b"Hello Server. 3"),
            Ok(Request::Probe(Some(3)))
        );
        // Not a calibration: a probe that happens to start with C.
        assert_eq!(parse_request(b"Cheers"), Ok(Request::Probe(None)));
        assert_eq!(parse_request(b"exit "), Ok(Request::Probe(None)));
    }

    #[test]
    fn junk_is_rejected_not_fatal() {
        assert_eq!(parse_request(b""), Err(Rejected::Empty));
        assert_eq!(parse_request(b"\xff\xfe"), Err(Rejected::NotText));
        for bad in [
            &b"C"[..],
            b"C ",
            b"C x",
            b"C 0",
            b"C 65508",
            b"C -1",
            b"C 99999999999999999999",
        ] {
            assert!(
                matches!(parse_request(bad), Err(Rejected::BadCalibration(_))),
                "{bad:?}"
            );
        }
        assert_eq!(parse_request(b"C 65507"), Ok(Request::Calibrate(65_507)));
    }

    #[test]
    fn the_servers_own_replies_are_not_requests() {
        for reply in [
            ack(None),
            ack(Some(7)),
            CALIBRATION_REPLY.to_vec(),
            EXIT_REPLY.to_vec(),
        ] {
            assert_eq!(
                parse_request(&reply),
                Err(Rejected::ServerReply),
                "{reply:?}"
            );
        }
        // Only the exact forms: other text is still a probe.
        assert_eq!(
            parse_request(b"Packet Acknowledged x"),
            Ok(Request::Probe(None))
        );
    }

    #[test]
    fn sequence_numbers_need_the_exact_form() {
        assert_eq!(probe_sequence("Hello Server 5"), Some(5));
        assert_eq!(probe_sequence("Hello Server 5 ..."), Some(5));
        assert_eq!(probe_sequence("Hello Server 5x"), None);
        assert_eq!(probe_sequence("Hello Server  5"), None);
        assert_eq!(probe_sequence("Hello Server"), None);
        assert_eq!(probe_sequence("Hello World 5"), None);
    }

    #[test]
    fn replies_parse_with_and_without_sequence() {
        assert_eq!(parse_reply(b"Packet Acknowledged"), Reply::Ack(None));
        assert_eq!(parse_reply(b"Packet Acknowledged 9"), Reply::Ack(Some(9)));
        assert_eq!(parse_reply(b"Packet Acknowledged x"), Reply::Unknown);
        assert_eq!(parse_reply(b"Packet Acknowledgedx"), Reply::Unknown);
        assert_eq!(
            parse_reply(b"Buffer Size Calibrated at Server."),
            Reply::Calibrated
        );
        assert_eq!(parse_reply(b"Stopping the Server."), Reply::Stopping);
        assert_eq!(parse_reply(b"\xff"), Reply::Unknown);
    }
}
