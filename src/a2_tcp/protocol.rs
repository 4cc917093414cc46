//! The a2 wire contract in one place: the request, the read sizes, how the
//! server halves the text, and how the client prints the reply.

use std::time::Duration;

/// The port the seed server binds.
pub const DEFAULT_PORT: u16 = 2347;

/// The host the client connects to by default (the seed used
/// `www.google.com:80`; any host and port work).
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// The request the client sends: 18 bytes, an HTTP/1.1 request line and the
/// blank line that ends the header.
pub const REQUEST: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

/// The seed server reads at most this many bytes (`recv(1024)`).
pub const SERVER_READ_SIZE: usize = 1024;

/// The seed client reads at most this many bytes (`recv(2000)`).
pub const CLIENT_READ_SIZE: usize = 2000;

/// The blank line that ends an HTTP header: once it has arrived the request
/// is complete and the server answers without waiting any longer.
pub const HEADER_END: &[u8] = b"\r\n\r\n";

/// How long a reader waits for more bytes after the last piece before it
/// takes what it has as the whole message. TCP may deliver one `send` in
/// several pieces; the pieces of one message arrive far closer together.
pub const QUIET_GAP: Duration = Duration::from_millis(200);

/// Whether `received` is a complete request: the HTTP header has ended or
/// the seed's one read would be full.
pub fn request_complete(received: &[u8]) -> bool {
    received.len() >= SERVER_READ_SIZE
        || received
            .windows(HEADER_END.len())
            .any(|window| window == HEADER_END)
}

/// The server's reply: the first half of the text received, as the seed
/// meant (`data_str[:len(data_str) // 2]`).
///
/// Text that is valid UTF-8 is halved by characters, exactly like Python's
/// `str` slicing, so no character is cut in two; anything else (which the
/// seed could not decode at all) is halved by bytes.
pub fn half_echo(request: &[u8]) -> &[u8] {
    match std::str::from_utf8(request) {
        Ok(text) => {
            let half = text.chars().count() / 2;
            let end = text.char_indices().nth(half).map_or(text.len(), |(i, _)| i);
            &request[..end]
        }
        Err(_) => &request[..request.len() / 2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_the_seeds_18_bytes() {
        assert_eq!(REQUEST, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(REQUEST.len(), 18);
    }

    #[test]
    fn half_of_the_request_is_get_slash_htt() {
        assert_eq!(half_echo(REQUEST), b"GET / HTT");
    }

    #[test]
    fn odd_lengths_round_down_and_empty_stays_empty() {
        assert_eq!(half_echo(b"hello"), b"he");
        assert_eq!(half_echo(b"a"), b"");
        assert_eq!(half_echo(b""), b"");
    }

    #[test]
    fn utf8_text_is_halved_by_characters_like_python() {
        // "héllo!" is 6 characters, 7 bytes: Python keeps "hél".
        assert_eq!(half_echo("héllo!".as_bytes()), "hél".as_bytes());
    }

    #[test]
    fn bytes_that_are_not_utf8_are_halved_by_bytes() {
        assert_eq!(half_echo(&[0xff, 0xfe, 0x00, 0x41]), &[0xff, 0xfe]);
    }

    #[test]
    fn request_is_complete_at_the_blank_line_or_a_full_read() {
        assert!(request_complete(REQUEST));
        assert!(!request_complete(b"GET / HTTP/1.1\r\n"));
        assert!(!request_complete(b"hello"));
        assert!(request_complete(&[b'x'; SERVER_READ_SIZE]));
    }
}
