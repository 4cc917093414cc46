//! The a3 dual wire contract in one place: the messages, the read size, how
//! the server recognises `exit`, and how addresses and families are named.

use std::borrow::Cow;
use std::net::SocketAddr;

/// What the client sends each round.
pub const GREETING: &str = "Hii Server";

/// What the server answers to every message: 15 bytes, no terminator.
pub const ACKNOWLEDGEMENT: &str = "Acknowledgement";

/// What the client sends last; the server then closes the connection.
pub const EXIT: &str = "exit";

/// How many rounds the seed client runs.
pub const DEFAULT_ROUNDS: u64 = 5;

/// The seed server reads at most this many bytes (`recv(1024)`) and treats
/// each read as one message, so a client message must fit in one read.
pub const READ_SIZE: usize = 1024;

/// One read as the server understands it.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// `exit` (a trailing newline, as typed into `nc`, is allowed): the
    /// client is done.
    Exit,
    /// Anything else, as text (bytes that are not UTF-8 become U+FFFD);
    /// answered with [`ACKNOWLEDGEMENT`].
    Message(Cow<'a, str>),
}

/// Classifies the bytes of one read.
pub fn classify(read: &[u8]) -> Incoming<'_> {
    let text = String::from_utf8_lossy(read);
    if text.trim_end_matches(['\r', '\n']) == EXIT {
        Incoming::Exit
    } else {
        Incoming::Message(text)
    }
}

/// `text` with control characters escaped (`\n`, `\u{1b}`), so junk from a
/// peer cannot garble the terminal; a trailing newline is dropped.
pub fn printable(text: &str) -> Cow<'_, str> {
    let text = text.trim_end_matches(['\r', '\n']);
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Why a message cannot be used for the client's rounds, if it cannot.
pub fn check_message(message: &str) -> Result<(), String> {
    if message.is_empty() {
        Err("the message must not be empty (the server would never see it)".into())
    } else if classify(message.as_bytes()) == Incoming::Exit {
        Err(format!(
            "{message:?} would end the session instead of being acknowledged"
        ))
    } else if message.len() > READ_SIZE {
        Err(format!(
            "the message is {} bytes; the server reads {READ_SIZE} at a time",
            message.len()
        ))
    } else {
        Ok(())
    }
}

/// The address family of `addr`, as printed: `IPv4 (AF_INET)` or
/// `IPv6 (AF_INET6)`.
pub fn family_name(addr: SocketAddr) -> &'static str {
    match addr {
        SocketAddr::V4(_) => "IPv4 (AF_INET)",
        SocketAddr::V6(_) => "IPv6 (AF_INET6)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_seeds_bytes() {
        assert_eq!(GREETING.as_bytes(), b"Hii Server");
        assert_eq!(ACKNOWLEDGEMENT.as_bytes(), b"Acknowledgement");
        assert_eq!(ACKNOWLEDGEMENT.len(), 15);
        assert_eq!(EXIT.as_bytes(), b"exit");
    }

    #[test]
    fn exit_ends_the_session_with_or_without_a_newline() {
        assert_eq!(classify(b"exit"), Incoming::Exit);
        assert_eq!(classify(b"exit\n"), Incoming::Exit);
        assert_eq!(classify(b"exit\r\n"), Incoming::Exit);
        assert_eq!(classify(b"exits"), Incoming::Message("exits".into()));
        assert_eq!(classify(b" exit"), Incoming::Message(" exit".into()));
    }

    #[test]
    fn other_reads_are_messages_even_when_not_utf8() {
        assert_eq!(
            classify(b"Hii Server"),
            Incoming::Message("Hii Server".into())
        );
        assert_eq!(
            classify(&[0xff, b'a']),
            Incoming::Message("\u{fffd}a".into())
        );
    }

    #[test]
    fn printing_escapes_control_characters() {
        assert_eq!(printable("Hii Server"), "Hii Server");
        assert_eq!(printable("hello\r\n"), "hello");
        assert_eq!(printable("a\u{1b}[2Jb\tc"), "a\\u{1b}[2Jb\\tc");
    }

    #[test]
    fn client_messages_must_be_acknowledgeable() {
        assert!(check_message(GREETING).is_ok());
        assert!(check_message("").is_err());
        assert!(check_message("exit").is_err());
        assert!(check_message("exit\n").is_err());
        assert!(check_message(&"x".repeat(READ_SIZE)).is_ok());
        assert!(check_message(&"x".repeat(READ_SIZE + 1)).is_err());
    }

    #[test]
    fn families_are_named_like_the_socket_module() {
        assert_eq!(family_name("[::1]:1".parse().unwrap()), "IPv6 (AF_INET6)");
        assert_eq!(
            family_name("192.0.2.1:1".parse().unwrap()),
            "IPv4 (AF_INET)"
        );
    }
}
