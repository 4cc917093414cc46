//! # a5 accio — a threaded file receiver
//!
//! The assignment (course report `004_…`, which has no code): a server that
//! receives files over TCP from any number of clients at once, and a client
//! that sends one file.
//!
//! ```text
//! a5-accio-server PORT FILE_DIR        a5-accio-client HOST PORT FILE
//!
//!   client                                server
//!     | ---- connect ----------------------> |  accept: this is connection n
//!     |                                      |  (a thread of its own)
//!     | ---- the file's raw bytes ---------> |  written to FILE_DIR/.n.file.part
//!     | ---- FIN (half-close: "that's all")> |  renamed to FILE_DIR/n.file
//!     | <--- FIN ----------------------------|  server closes: file is saved
//! ```
//!
//! There is no header, no length and no reply: the file is every byte the
//! client sends, and the end of the file is the end of the stream. That is
//! why the server must tell a *clean* end (EOF) from a broken one. Following
//! the course convention, a transfer that fails — the client is silent for
//! 10 s, resets the connection, or the server is stopped and the transfer
//! does not finish within its grace period — leaves a file holding exactly
//! `ERROR`, never a truncated file that looks complete.
//!
//! Files are numbered `1.file`, `2.file`, … in the order connections are
//! accepted, continuing past the highest number already in the directory,
//! so a restart never overwrites a file. Each transfer writes under a
//! hidden temporary name, `.n.file.part`, claimed with an exclusive create
//! (two servers on one directory never take the same number; a symlink
//! planted there is never followed), and is published as `n.file` when it
//! ends, never over an existing file — so a file named `n.file` is always
//! final. A `.part` left by a crash becomes an `ERROR` file at the next
//! start-up, and a second signal during the grace period records every
//! unfinished transfer as `ERROR` before exiting with status 130.
//!
//! Errors on the command line and in the client print one `ERROR: …` line on
//! stderr and exit with status 1 (the course's spelling, in capitals).
//!
//! - [`protocol`] — the contract: `ERROR`, file names, ports, timeouts;
//! - [`server`] — the accept loop and one receiving thread per connection;
//! - [`client`] — connect, stream the file, half-close, wait for the close.

pub mod client;
pub mod protocol;
pub mod server;

use crate::output::warn;
use std::fmt::{self, Display};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

/// Parses the command line into `C`, printing usage errors as one
/// `ERROR: …` paragraph with exit status 1 (clap's own would say `error:`
/// and exit 2); `--help` and `--version` print and exit 0.
pub fn parse_args<C: clap::Parser>() -> Result<C, ExitCode> {
    use clap::error::ErrorKind;
    match C::try_parse() {
        Ok(args) => Ok(args),
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            let _ = error.print();
            Err(ExitCode::SUCCESS)
        }
        Err(error) => {
            let text = error.to_string();
            eprint!(
                "{}{}",
                protocol::ERROR_PREFIX,
                text.trim_start_matches("error: ")
            );
            Err(ExitCode::FAILURE)
        }
    }
}

/// Maps a binary's result to its exit status: 0, or 1 after printing
/// `ERROR: <message>` on stderr.
pub fn exit_with<T, E: Display>(result: Result<T, E>) -> ExitCode {
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            warn(format_args!("{}{error}", protocol::ERROR_PREFIX));
            ExitCode::FAILURE
        }
    }
}

/// A duration given in seconds on the command line, such as `10` or `0.5`
/// (clap parses it with [`FromStr`] and shows defaults with [`Display`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration);

impl FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.trim()
            .parse::<f64>()
            .ok()
            .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
            .map(Seconds)
            .ok_or_else(|| format!("{text:?} is not a number of seconds"))
    }
}

impl Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// Parses a count of at least 1, such as `--max-connections 64`.
pub fn parse_positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(format!("{text:?} is not a whole number of at least 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_fractions_and_refuse_words() {
        assert_eq!("10".parse(), Ok(Seconds(Duration::from_secs(10))));
        assert_eq!("0.25".parse(), Ok(Seconds(Duration::from_millis(250))));
        assert!("-1".parse::<Seconds>().is_err());
        assert!("soon".parse::<Seconds>().is_err());
        assert_eq!(Seconds(Duration::from_secs(10)).to_string(), "10");
        assert_eq!(Seconds(Duration::from_millis(500)).to_string(), "0.5");
    }

    #[test]
    fn counts_start_at_one() {
        assert_eq!(parse_positive("1024"), Ok(1024));
        assert!(parse_positive("0").is_err());
        assert!(parse_positive("many").is_err());
    }
}
