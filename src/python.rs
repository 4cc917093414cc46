//! How Python prints values, for output that must match the seed programs
//! byte for byte: `repr()` of `bytes` (`b'GET / HTT'`), of a float
//! (`0.8573749999999999`, `1.5e-05`) and of a socket address tuple
//! (`('127.0.0.1', 5000)`).

use std::fmt::Write as _;
use std::net::SocketAddr;

/// Python's `repr()` of a `bytes` value, such as `b'AUTH\n\x00'`: printable
/// ASCII as is, `\t \n \r \\` escaped, other bytes as `\xNN`, and double
/// quotes only when the bytes hold `'` and no `"`.
pub fn bytes_repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut text = String::with_capacity(bytes.len() + 3);
    text.push('b');
    text.push(quote);
    for &byte in bytes {
        match byte {
            b'\\' => text.push_str("\\\\"),
            b'\t' => text.push_str("\\t"),
            b'\n' => text.push_str("\\n"),
            b'\r' => text.push_str("\\r"),
            _ if char::from(byte) == quote => {
                text.push('\\');
                text.push(quote);
            }
            0x20..=0x7e => text.push(char::from(byte)),
            _ => {
                let _ = write!(text, "\\x{byte:02x}");
            }
        }
    }
    text.push(quote);
    text
}

/// Python's `repr()` of a float, as the seeds print RTTs and intervals:
/// shortest round-trip digits, `.0` on whole numbers, and `1e-05`-style
/// exponents below 1e-4 or from 1e16.
pub fn float_repr(value: f64) -> String {
    if !value.is_finite() {
        return if value.is_nan() {
            "nan".into()
        } else if value > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        let text = format!("{value:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let text = format!("{value}");
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

/// Python's `str()` of a socket address tuple: `('127.0.0.1', 52480)`, or
/// `('::1', 52480, 0, 0)` for IPv6 (flow info and scope id).
pub fn address_tuple(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => format!("('{}', {})", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!(
            "('{}', {}, {}, {})",
            v6.ip(),
            v6.port(),
            v6.flowinfo(),
            v6.scope_id()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_print_like_python() {
        assert_eq!(bytes_repr(b""), "b''");
        assert_eq!(bytes_repr(b"GET / HTT"), "b'GET / HTT'");
        assert_eq!(bytes_repr(b"Packet Acknowledged"), "b'Packet Acknowledged'");
        assert_eq!(
            bytes_repr(b"a\tb\nc\rd\\e\x00\x7f\xff"),
            r"b'a\tb\nc\rd\\e\x00\x7f\xff'"
        );
    }

    #[test]
    fn bytes_quotes_follow_pythons_choice() {
        assert_eq!(bytes_repr(b"it's"), r#"b"it's""#);
        assert_eq!(bytes_repr(br#"say "hi""#), r#"b'say "hi"'"#);
        assert_eq!(bytes_repr(br#"it's "x""#), r#"b'it\'s "x"'"#);
        assert_eq!(bytes_repr(b"'\""), r#"b'\'"'"#);
    }

    #[test]
    fn floats_print_like_python() {
        assert_eq!(float_repr(10.0), "10.0");
        assert_eq!(float_repr(0.0), "0.0");
        assert_eq!(float_repr(0.95 * 0.95), "0.9025");
        assert_eq!(float_repr(0.95 * 0.95 * 0.95), "0.8573749999999999");
        assert_eq!(float_repr(0.000123), "0.000123");
        assert_eq!(float_repr(1.5e-5), "1.5e-05");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(33.333333333333336), "33.333333333333336");
    }

    #[test]
    fn addresses_print_like_python_tuples() {
        assert_eq!(
            address_tuple("127.0.0.1:52480".parse().unwrap()),
            "('127.0.0.1', 52480)"
        );
        assert_eq!(
            address_tuple("[::1]:7".parse().unwrap()),
            "('::1', 7, 0, 0)"
        );
    }
}
