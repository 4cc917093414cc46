//! The relay's wire format: every request, reply and forwarded message, and
//! the parsers for them, in one place.
//!
//! The seed server is Python, so a few details follow Python exactly:
//! whitespace is what `str.strip()` removes ([`python_strip`]), a port is
//! whatever `int()` accepts ([`parse_python_int`]), and the answer to `hii`
//! is the client's address as Python prints a tuple ([`crate::python::address_tuple`]).

use std::fmt;
use std::net::SocketAddr;

/// The seed server reads datagrams with `recvfrom(1024)`; longer ones are
/// answered [`ErrorCode::NoSeparator`] (`400`) instead of being truncated.
pub const MAX_REQUEST: usize = 1024;

/// Sent by a client to register; the server answers with the client's address.
pub const HELLO: &str = "hii";

/// Stops the server (only from loopback unless the server allows otherwise).
pub const EXIT_SERVER: &str = "exit server";

/// The reply to a request that was forwarded.
pub const SUCCESS: &str = "200, UDP Packet Sent Successfully";

/// The separator between the sender and the text of a forwarded message.
const FORWARD_SEPARATOR: &str = " ; content : ";

/// Why a request was refused; [`ErrorCode::reply`] is the exact datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `400`: no `;` in the request (also: not UTF-8, or longer than
    /// [`MAX_REQUEST`] bytes).
    NoSeparator,
    /// `401`: the header lacks exactly one `:` and one `/`, or the data
    /// lacks exactly one `:`.
    BadFormat,
    /// `402`: the header's first word is not `to`.
    NotTo,
    /// `403`: the port is not an integer.
    BadPort,
    /// `404`: the data's first word is not `content`.
    NotContent,
    /// `405`: the message could not be sent to the target (in socklab also:
    /// the target never said `hii`).
    Unreachable,
}

impl ErrorCode {
    /// Every code, in the order the server checks for them.
    pub const ALL: [ErrorCode; 6] = [
        ErrorCode::NoSeparator,
        ErrorCode::BadFormat,
        ErrorCode::NotTo,
        ErrorCode::BadPort,
        ErrorCode::NotContent,
        ErrorCode::Unreachable,
    ];

    /// The exact reply datagram the seed server sends.
    pub fn reply(self) -> &'static str {
        match self {
            ErrorCode::NoSeparator => "400",
            ErrorCode::BadFormat => "401",
            ErrorCode::NotTo => "402",
            ErrorCode::BadPort => "403",
            ErrorCode::NotContent => "404",
            ErrorCode::Unreachable => "405, Could not send the message to the requested address",
        }
    }

    /// The three-digit status code.
    pub fn code(self) -> &'static str {
        &self.reply()[..3]
    }

    /// The code whose reply starts with `code`, if any.
    pub fn from_code(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|e| e.code() == code)
    }

    /// A one-line explanation for people (the wire carries only the code).
    pub fn explanation(self) -> &'static str {
        match self {
            ErrorCode::NoSeparator => "the request has no ';' (or is not UTF-8, or is too long)",
            ErrorCode::BadFormat => {
                "invalid format: neither the address nor the message may contain ':'"
            }
            ErrorCode::NotTo => "the header does not start with 'to'",
            ErrorCode::BadPort => "the port is not a number",
            ErrorCode::NotContent => "the data does not start with 'content'",
            ErrorCode::Unreachable => {
                "the recipient cannot be reached, or it has not chosen 1. Initialize"
            }
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reply())
    }
}

/// A target port as Python's `int()` read it: a valid integer that may
/// still not be a usable port (the seed's `sendto` then fails: `405`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetPort {
    /// 0..=65535.
    Port(u16),
    /// An integer outside 0..=65535.
    OutOfRange,
}

/// A request a client sends to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `hii` in any case: register and learn one's own address.
    Hello,
    /// Exactly `exit server`.
    ExitServer,
    /// `to : <host> / <port> ; content : <message>`.
    Forward {
        /// The target host, trimmed (an IP address in practice).
        host: String,
        /// The target port.
        port: TargetPort,
        /// The message, trimmed.
        message: String,
    },
}

/// Parses a request with the seed server's checks, in the seed's order.
pub fn parse_request(text: &str) -> Result<Request, ErrorCode> {
    if text.to_lowercase() == HELLO {
        return Ok(Request::Hello);
    }
    if text == EXIT_SERVER {
        return Ok(Request::ExitServer);
    }
    let (header, data) = text.split_once(';').ok_or(ErrorCode::NoSeparator)?;
    if count(header, ':') != 1 || count(header, '/') != 1 || count(data, ':') != 1 {
        return Err(ErrorCode::BadFormat);
    }
    let (to_word, address) = header.split_once(':').ok_or(ErrorCode::BadFormat)?;
    if python_strip(to_word).to_lowercase() != "to" {
        return Err(ErrorCode::NotTo);
    }
    // The one '/' is in the address here: had it been in `to_word`, that
    // word would not be "to" (where the seed crashes instead).
    let (host, port) = address.split_once('/').ok_or(ErrorCode::NotTo)?;
    let port = match parse_python_int(python_strip(port)) {
        None => return Err(ErrorCode::BadPort),
        Some(Some(port)) => TargetPort::Port(port),
        Some(None) => TargetPort::OutOfRange,
    };
    let (content_word, message) = data.split_once(':').ok_or(ErrorCode::BadFormat)?;
    if python_strip(content_word).to_lowercase() != "content" {
        return Err(ErrorCode::NotContent);
    }
    Ok(Request::Forward {
        host: python_strip(host).to_string(),
        port,
        message: python_strip(message).to_string(),
    })
}

fn count(text: &str, c: char) -> usize {
    text.matches(c).count()
}

/// The request a client sends for menu 2: `to:<ip>/<port>;content:<message>`.
pub fn forward_request(ip: &str, port: u16, message: &str) -> String {
    format!("to:{ip}/{port};content:{message}")
}

/// What the server sends the target: `<srcIP>/<srcPort> ; content : <message>`.
pub fn forwarded_message(source: SocketAddr, message: &str) -> String {
    format!(
        "{}/{}{FORWARD_SEPARATOR}{message}",
        source.ip(),
        source.port()
    )
}

/// Reads the server's answer to `hii` the way the seed client does: the IP
/// between the quotes before the first comma, the port after it.
pub fn parse_address_tuple(text: &str) -> Option<(String, u16)> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    let mut fields = inner.split(',');
    let ip = fields
        .next()?
        .trim()
        .strip_prefix('\'')?
        .strip_suffix('\'')?;
    let port = fields.next()?.trim().parse().ok()?;
    Some((ip.to_string(), port))
}

/// A datagram a client receives, told apart by its form (never by when it
/// arrives): a forwarded message, a status reply or the answer to `hii`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// `<ip>/<port> ; content : <text>` — a message from another client.
    Forwarded {
        /// The original sender's IP as the server saw it.
        ip: String,
        /// The original sender's port.
        port: u16,
        /// The message.
        text: String,
    },
    /// A reply to menu 2: `200, …` or an error code (the whole datagram).
    Status(String),
    /// The answer to `hii`: the client's own address.
    Address {
        /// The client's IP as the server saw it.
        ip: String,
        /// The client's port as the server saw it.
        port: u16,
        /// The datagram as received (the seed client prints it).
        raw: String,
    },
    /// Anything else, shown to the user as it is.
    Other(String),
}

/// Classifies a datagram a client received.
pub fn classify(text: &str) -> Incoming {
    if let Some((sender, message)) = text.split_once(FORWARD_SEPARATOR) {
        if let Some((ip, port)) = sender.rsplit_once('/') {
            if let Ok(port) = port.parse() {
                return Incoming::Forwarded {
                    ip: ip.to_string(),
                    port,
                    text: message.to_string(),
                };
            }
        }
    }
    if is_status(text) {
        return Incoming::Status(text.to_string());
    }
    if let Some((ip, port)) = parse_address_tuple(text) {
        return Incoming::Address {
            ip,
            port,
            raw: text.to_string(),
        };
    }
    Incoming::Other(text.to_string())
}

/// Whether `text` is something a relay *sends* rather than a request: a
/// status reply (`200…`, `400`…`409…`), the answer to `hii` (`('…`) or a
/// forwarded message (`<ip>/<port> ; content : …`). No client sends these,
/// and a relay never answers them, so two relays — one tricked by a forged
/// source address into writing to the other — cannot keep replying to each
/// other.
pub fn is_relay_output(text: &str) -> bool {
    let bytes = text.as_bytes();
    let error_status = bytes.len() >= 3 && bytes.starts_with(b"40") && bytes[2].is_ascii_digit();
    text.starts_with("200")
        || error_status
        || text.starts_with("('")
        || matches!(classify(text), Incoming::Forwarded { .. })
}

/// A status reply is three digits, alone or followed by `,`.
fn is_status(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 3
        && bytes[..3].iter().all(u8::is_ascii_digit)
        && (bytes.len() == 3 || bytes[3] == b',')
}

/// Whether a status reply means the message was sent (the seed client's
/// test: it starts with `200`).
pub fn is_success(status: &str) -> bool {
    status.starts_with("200")
}

/// Python's `str.strip()`: Rust's `trim()` plus the four ASCII separators
/// U+001C–U+001F, which Python also counts as whitespace.
pub fn python_strip(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// Python's `int()` on a stripped string: `Some(Some(n))` for an integer in
/// 0..=65535, `Some(None)` for any other integer, `None` for not an integer.
///
/// Accepts an optional sign, ASCII digits and single underscores between
/// digits (`1_000`). Python also accepts non-ASCII decimal digits such as
/// `٥٠٠٠`; those are refused here as not an integer.
pub fn parse_python_int(text: &str) -> Option<Option<u16>> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let groups_valid = digits
        .split('_')
        .all(|group| !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit()));
    if !groups_valid {
        return None;
    }
    let value: String = digits.chars().filter(|&c| c != '_').collect();
    let value = value.trim_start_matches('0');
    if value.is_empty() {
        return Some(Some(0));
    }
    if negative {
        return Some(None);
    }
    Some(value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn forward(host: &str, port: u16, message: &str) -> Result<Request, ErrorCode> {
        Ok(Request::Forward {
            host: host.into(),
            port: TargetPort::Port(port),
            message: message.into(),
        })
    }

    #[test]
    fn replies_are_the_seed_bytes() {
        let replies: Vec<&str> = ErrorCode::ALL.iter().map(|e| e.reply()).collect();
        assert_eq!(
            replies,
            [
                "400",
                "401",
                "402",
                "403",
                "404",
                "405, Could not send the message to the requested address"
            ]
        );
        assert_eq!(SUCCESS, "200, UDP Packet Sent Successfully");
        assert_eq!(ErrorCode::from_code("405"), Some(ErrorCode::Unreachable));
        assert_eq!(ErrorCode::from_code("200"), None);
    }

    #[test]
    fn hello_in_any_case_and_exact_exit() {
        assert_eq!(parse_request("hii"), Ok(Request::Hello));
        assert_eq!(parse_request("HiI"), Ok(Request::Hello));
        assert_eq!(parse_request("hii "), Err(ErrorCode::NoSeparator));
        assert_eq!(parse_request("exit server"), Ok(Request::ExitServer));
        assert_eq!(parse_request("EXIT SERVER"), Err(ErrorCode::NoSeparator));
        assert_eq!(parse_request(""), Err(ErrorCode::NoSeparator));
    }

    #[test]
    fn checks_run_in_the_seed_order() {
        assert_eq!(parse_request("hello"), Err(ErrorCode::NoSeparator));
        assert_eq!(
            parse_request("to:127.0.0.9;content:x"),
            Err(ErrorCode::BadFormat)
        );
        assert_eq!(
            parse_request("to:a:b/1;content:x"),
            Err(ErrorCode::BadFormat)
        );
        assert_eq!(
            parse_request("to:a/1;content:x:y"),
            Err(ErrorCode::BadFormat)
        );
        assert_eq!(parse_request("to:a/1;content"), Err(ErrorCode::BadFormat));
        // 401 wins over 402, 402 over 403, 403 over 404.
        assert_eq!(parse_request("xx:a/b;yy:z:z"), Err(ErrorCode::BadFormat));
        assert_eq!(parse_request("xx:a/b;yy:z"), Err(ErrorCode::NotTo));
        assert_eq!(parse_request("to:a/b;yy:z"), Err(ErrorCode::BadPort));
        assert_eq!(parse_request("to:a/1;yy:z"), Err(ErrorCode::NotContent));
        // The '/' in the first word: the seed crashes; it is not "to".
        assert_eq!(parse_request("t/o:a;content:z"), Err(ErrorCode::NotTo));
    }

    #[test]
    fn forward_fields_are_trimmed_like_python() {
        assert_eq!(
            parse_request("to:127.0.0.1/5000;content:hello"),
            forward("127.0.0.1", 5000, "hello")
        );
        assert_eq!(
            parse_request(" TO : 127.0.0.1 / 5000 ; Content :  hi there \n"),
            forward("127.0.0.1", 5000, "hi there")
        );
        assert_eq!(parse_request("to:h/1;content:a;b"), forward("h", 1, "a;b"));
        assert_eq!(
            parse_request("to:h/\u{1f}7\u{1c};content:\u{1e}x\u{1d}"),
            forward("h", 7, "x")
        );
        assert_eq!(
            parse_request("to:h/99999;content:x"),
            Ok(Request::Forward {
                host: "h".into(),
                port: TargetPort::OutOfRange,
                message: "x".into()
            })
        );
    }

    #[test]
    fn ports_follow_python_int() {
        assert_eq!(parse_python_int("5000"), Some(Some(5000)));
        assert_eq!(parse_python_int("+05_000"), Some(Some(5000)));
        assert_eq!(parse_python_int("-0"), Some(Some(0)));
        assert_eq!(parse_python_int("-1"), Some(None));
        assert_eq!(parse_python_int("65536"), Some(None));
        assert_eq!(
            parse_python_int("123456789012345678901234567890"),
            Some(None)
        );
        for bad in ["", "-", "1_", "_1", "1__0", "0x10", "1.0", "five", "1 2"] {
            assert_eq!(parse_python_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn messages_have_the_seed_form() {
        assert_eq!(
            forward_request("127.0.0.1", 5000, "hello"),
            "to:127.0.0.1/5000;content:hello"
        );
        assert_eq!(
            forwarded_message(addr("127.0.0.1:52480"), "hello"),
            "127.0.0.1/52480 ; content : hello"
        );
    }

    #[test]
    fn address_tuple_round_trips() {
        assert_eq!(
            parse_address_tuple("('127.0.0.1', 52480)"),
            Some(("127.0.0.1".into(), 52480))
        );
        assert_eq!(
            parse_address_tuple("('::1', 7, 0, 0)"),
            Some(("::1".into(), 7))
        );
        assert_eq!(parse_address_tuple("(127.0.0.1, 1)"), None);
        assert_eq!(parse_address_tuple("('a', x)"), None);
    }

    #[test]
    fn relay_output_is_recognised_and_requests_are_not() {
        let mut outputs = vec![
            SUCCESS.to_string(),
            "('127.0.0.1', 52480)".to_string(),
            "('::1', 7, 0, 0)".to_string(),
            forwarded_message(addr("127.0.0.1:5000"), "hi"),
        ];
        outputs.extend(ErrorCode::ALL.iter().map(|e| e.reply().to_string()));
        for output in &outputs {
            assert!(is_relay_output(output), "{output:?}");
        }
        for request in [
            "hii",
            "HII",
            "exit server",
            "to:127.0.0.1/5000;content:200, hi",
            "hello",
            "4",
            "40",
            "",
        ] {
            assert!(!is_relay_output(request), "{request:?}");
        }
    }

    #[test]
    fn incoming_datagrams_are_told_apart_by_form() {
        assert_eq!(
            classify("127.0.0.1/5000 ; content : 200, hi"),
            Incoming::Forwarded {
                ip: "127.0.0.1".into(),
                port: 5000,
                text: "200, hi".into()
            }
        );
        assert_eq!(classify(SUCCESS), Incoming::Status(SUCCESS.into()));
        assert_eq!(classify("403"), Incoming::Status("403".into()));
        assert_eq!(
            classify("('127.0.0.1', 1)"),
            Incoming::Address {
                ip: "127.0.0.1".into(),
                port: 1,
                raw: "('127.0.0.1', 1)".into()
            }
        );
        assert_eq!(classify("4000"), Incoming::Other("4000".into()));
        assert_eq!(classify("hello"), Incoming::Other("hello".into()));
        assert!(is_success(SUCCESS));
        assert!(!is_success(ErrorCode::Unreachable.reply()));
    }
}
