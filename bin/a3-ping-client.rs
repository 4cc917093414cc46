//! `a3-ping-client` — the a3 UDP ping client.
//!
//! Seed form: `a3-ping-client -ip HOST -port PORT -n COUNT -i SECONDS -s BYTES`
//! (`-p` works for the port too).

use clap::Parser;
use socklab::a3_ping::client::{self, PingConfig};
use socklab::a3_ping::session::{Target, SEED_FLAGS};
use socklab::shutdown::Shutdown;
use std::process::ExitCode;
use std::time::Duration;

/// UDP ping client: sends COUNT probes of BYTES bytes, one every SECONDS,
/// and reports each RTT, the loss and a ping-style summary.
///
/// A dedicated sender thread keeps the schedule; a receiver thread
/// timestamps the acks and matches them to probes by sequence number (or,
/// against a seed server, by the seed's rule). Ctrl-C prints the summary.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    target: Target,
    /// Seconds to wait for each ack [default: the interval].
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    timeout: Option<Duration>,
    /// Do not send `exit` at the end (leaves the server running).
    #[arg(long)]
    no_exit: bool,
    /// Also print the sender's schedule error (p50/p99/max) and drift.
    #[arg(long)]
    schedule_report: bool,
    /// Print one JSON object with every figure as the last line.
    #[arg(long)]
    json: bool,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0 => {
            Ok(Duration::from_secs_f64(seconds))
        }
        _ => Err(format!(
            "{text:?} is not a number of seconds above 0 and up to 3600"
        )),
    }
}

fn main() -> ExitCode {
    let argv = socklab::cli::rewrite_seed_flags(std::env::args(), SEED_FLAGS);
    let args = Args::parse_from(argv);
    socklab::cli::exit_with(run(args))
}

fn run(args: Args) -> std::io::Result<()> {
    let config = PingConfig {
        target: args.target,
        timeout: args.timeout,
        send_exit: !args.no_exit,
        schedule_report: args.schedule_report,
        json: args.json,
    };
    config.target.validate().map_err(std::io::Error::other)?;
    let shutdown = Shutdown::install()?;
    client::run(&config, &shutdown)
}
