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
//! - [`server`] — the accept loop: limits, refusals, stopping;
//! - [`numbering`] — file numbers on disk: claims, leftovers, never overwriting;
//! - [`transfer`] — one receiving thread: stream to `.n.file.part`, publish or `ERROR`;
//! - [`client`] — connect, stream the file, half-close, wait for the close.

pub mod client;
pub mod numbering;
pub mod protocol;
pub mod server;
pub mod transfer;

use crate::output::warn;
use std::fmt::Display;
use std::process::ExitCode;

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
            warn(format_args!(
                "{}{}",
                protocol::ERROR_PREFIX,
                text.trim_start_matches("error: ").trim_end()
            ));
            Err(ExitCode::FAILURE)
        }
    }
}

/// Maps a binary's result to its exit status: 0, or 1 after printing
/// `ERROR: <message>` on stderr.
pub fn exit_with<T, E: Display>(result: Result<T, E>) -> ExitCode {
    crate::cli::exit_with_prefix(result, protocol::ERROR_PREFIX)
}

/// Durations on the command line: the kit's one seconds parser.
pub use crate::cli::Seconds;
