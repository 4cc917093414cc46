//! The a5 accio contract in one place: what goes on the wire (nothing but the
//! file's raw bytes, ended by the client's close), what the server writes
//! when a transfer fails, how received files are named, and which ports and
//! timeouts the course prescribes.

use std::fmt;
use std::time::Duration;

/// What a received file holds when its transfer failed (the peer went
/// silent, reset the connection, or the server stopped before it finished).
/// The course convention: exactly these five bytes, no newline.
pub const ERROR_CONTENT: &[u8] = b"ERROR";

/// The prefix of every error line on stderr (the course's graders look for
/// it; note the capitals, unlike the rest of socklab's `error:`).
pub const ERROR_PREFIX: &str = "ERROR: ";

/// The lowest port the server accepts: ports up to 1023 are refused.
pub const LOWEST_SERVER_PORT: u16 = 1024;

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

/// A port argument that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortError {
    /// Not a number from 0 to 65535.
    NotANumber(String),
    /// A well-known port (1..=1023), refused by the server.
    Reserved(u16),
    /// Port 0 given to the client, which must name the server's real port.
    Zero,
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortError::NotANumber(text) => {
                write!(f, "port {text:?} is not a number from 0 to 65535")
            }
            PortError::Reserved(port) => write!(
                f,
                "port {port} is reserved (ports up to 1023 are refused); \
                 choose one from {LOWEST_SERVER_PORT} to 65535"
            ),
            PortError::Zero => write!(f, "port 0 cannot be connected to"),
        }
    }
}

impl std::error::Error for PortError {}

fn parse_port_number(text: &str) -> Result<u16, PortError> {
    text.trim()
        .parse()
        .map_err(|_| PortError::NotANumber(text.to_string()))
}

/// The server's `PORT`: 1024..=65535, or 0 to let the system choose a free
/// port (an extension for scripts and tests; the readiness line names it).
pub fn parse_server_port(text: &str) -> Result<u16, PortError> {
    match parse_port_number(text)? {
        port @ 1..LOWEST_SERVER_PORT => Err(PortError::Reserved(port)),
        port => Ok(port),
    }
}

/// The client's `PORT`: any port from 1 to 65535.
pub fn parse_client_port(text: &str) -> Result<u16, PortError> {
    match parse_port_number(text)? {
        0 => Err(PortError::Zero),
        port => Ok(port),
    }
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

    #[test]
    fn server_refuses_well_known_ports_and_words() {
        assert_eq!(parse_server_port("1023"), Err(PortError::Reserved(1023)));
        assert_eq!(parse_server_port("1"), Err(PortError::Reserved(1)));
        assert_eq!(
            parse_server_port("abc"),
            Err(PortError::NotANumber("abc".into()))
        );
        assert_eq!(
            parse_server_port("65536"),
            Err(PortError::NotANumber("65536".into()))
        );
        assert_eq!(
            parse_server_port("-5"),
            Err(PortError::NotANumber("-5".into()))
        );
        assert_eq!(parse_server_port("1024"), Ok(1024));
        assert_eq!(parse_server_port("65535"), Ok(65535));
        assert_eq!(parse_server_port("0"), Ok(0));
    }

    #[test]
    fn client_takes_any_real_port() {
        assert_eq!(parse_client_port("80"), Ok(80));
        assert_eq!(parse_client_port("0"), Err(PortError::Zero));
        assert_eq!(
            parse_client_port("x1"),
            Err(PortError::NotANumber("x1".into()))
        );
    }

    #[test]
    fn port_errors_read_well() {
        assert_eq!(
            PortError::Reserved(1023).to_string(),
            "port 1023 is reserved (ports up to 1023 are refused); choose one from 1024 to 65535"
        );
        assert_eq!(
            PortError::NotANumber("abc".into()).to_string(),
            "port \"abc\" is not a number from 0 to 65535"
        );
    }
}
