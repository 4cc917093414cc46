//! Command-line helpers shared by the binaries.
//!
//! The course handouts use single-dash words such as `-ip` and `-port`,
//! which clap cannot parse; [`rewrite_seed_flags`] turns them into their long
//! forms before clap sees them. [`exit_with`] turns a binary's result into
//! an exit status with one clear `error:` line on stderr.

use std::fmt::Display;
use std::process::ExitCode;

/// Rewrites each argument equal to a seed spelling (`from`) to its long form
/// (`to`); `--flag=value` and everything else pass through unchanged.
pub fn rewrite_seed_flags<I>(args: I, spellings: &[(&str, &str)]) -> Vec<String>
where
    I: IntoIterator<Item = String>,
{
    args.into_iter()
        .map(|arg| {
            spellings
                .iter()
                .find(|(from, _)| *from == arg)
                .map_or(arg, |(_, to)| (*to).to_string())
        })
        .collect()
}

/// Prints `error: <message>` on stderr for an error and maps the result to
/// an exit status: 0 on success, 1 on error.
pub fn exit_with<E: Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_flags_become_long_flags() {
        let args = [
            "prog",
            "-ip",
            "127.0.0.1",
            "-port",
            "8080",
            "-n",
            "3",
            "--ip=x",
        ]
        .map(String::from);
        let rewritten = rewrite_seed_flags(args, &[("-ip", "--ip"), ("-port", "--port")]);
        assert_eq!(
            rewritten,
            [
                "prog",
                "--ip",
                "127.0.0.1",
                "--port",
                "8080",
                "-n",
                "3",
                "--ip=x"
            ]
        );
    }
}
