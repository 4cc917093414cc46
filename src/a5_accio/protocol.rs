//! The a5 accio contract in one place: what goes on the wire (nothing but the
//! file's raw bytes, ended by the client's close), what the server writes
//! when a transfer fails, how received files are named, and which timeouts
//! the course prescribes (its port rules are argument checks, in
//! [`crate::cli::unreserved_port`] and [`crate::cli::connectable_port`]).

use std::time::Duration;

/// What a received file holds when its transfer failed (the peer went
/// silent, reset the connection, or the server stopped before it finished).
/// The course convention: exactly these five bytes, no newline.
pub const ERROR_CONTENT: &[u8] = b"ERROR";

/// The prefix of every error line on stderr (the course's graders look for
/// it; note the capitals, unlike the rest of socklab's `error:`).
pub const ERROR_PREFIX: &str = "ERROR: ";

/// A connection that sends nothing for this long is aborted (its file then
/// holds [`ERROR_CONTENT`]).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The client gives up if connecting, or any single send, takes this long.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// After SIGTERM, SIGQUIT or Ctrl-C, transfers in flight get this long to
/// finish before they are aborted.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// How many connections the server serves at once by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Bytes the server gathers from the socket before each write to disk.
/// Measured on loopback: 128–256 KiB cost a third of the kernel time that
/// 512 KiB–1 MiB do (the copies stay in the CPU cache), and 256 KiB per
/// connection keeps a thousand connections within 256 MiB.
pub const RECEIVE_BUFFER: usize = 256 * 1024;

/// Bytes the client reads from the file and sends at a time (the same
/// cache-friendly size as [`RECEIVE_BUFFER`]).
pub const SEND_BUFFER: usize = 256 * 1024;

/// The name of the n-th received file: `1.file`, `2.file`, …
pub fn file_name(number: u64) -> String {
    format!("{number}.file")
}

/// The hidden name a file is written under until its transfer ends, so a
/// half-received file never looks complete: `.1.file.part`.
pub fn temp_file_name(number: u64) -> String {
    format!(".{number}.file.part")
}

/// The number of a received file's name, `7.file` → 7 (digits only, no
/// sign, no leading zeros); `None` for any other name.
pub fn file_number(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".file")?;
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !(digits.starts_with('0'));
    plain.then(|| digits.parse().ok()).flatten()
}

/// The number of a temporary name, `.7.file.part` → 7; `None` otherwise.
pub fn temp_file_number(name: &str) -> Option<u64> {
    file_number(name.strip_prefix('.')?.strip_suffix(".part")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_file_is_exactly_five_bytes() {
        assert_eq!(ERROR_CONTENT, [0x45, 0x52, 0x52, 0x4f, 0x52]);
        assert_eq!(ERROR_PREFIX, "ERROR: ");
    }

    #[test]
    fn files_are_numbered_from_one_with_hidden_temp_names() {
        assert_eq!(file_name(1), "1.file");
        assert_eq!(file_name(1024), "1024.file");
        assert_eq!(temp_file_name(7), ".7.file.part");
    }

    #[test]
    fn file_numbers_are_read_back_from_names() {
        assert_eq!(file_number("1.file"), Some(1));
        assert_eq!(file_number("1024.file"), Some(1024));
        assert_eq!(file_number(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(temp_file_number(".7.file.part"), Some(7));
        assert_eq!(temp_file_number(&temp_file_name(42)), Some(42));
        for other in [
            "file",
            ".file",
            "0.file",
            "01.file",
            "-1.file",
            "+1.file",
            "1.file.part",
            "1.files",
            "a.file",
            "99999999999999999999999.file",
            ".1.file",
            "1.file.part.part",
        ] {
            assert_eq!(file_number(other), None, "{other}");
            assert_eq!(temp_file_number(other), None, "{other}");
        }
    }
}
