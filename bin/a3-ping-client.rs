//! `a3-ping-client` — the a3 UDP ping client.
//!
//! Seed form: `a3-ping-client -ip HOST -port PORT -n COUNT -i SECONDS -s BYTES`
//! (`-p` works for the port too).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use socklab::a3_ping::client::{self, PingConfig};
use socklab::cli::{
    exit_with, positive_seconds, usage_error, OutputArgs, PingTarget, Seconds, PING_SEED_FLAGS,
};
use socklab::shutdown::Shutdown;
use std::process::ExitCode;

/// UDP ping client: sends COUNT probes of BYTES bytes, one every SECONDS,
/// and reports each RTT, the loss and a ping-style summary.
///
/// A dedicated sender thread keeps the schedule; a receiver thread
/// timestamps the acks and matches them to probes by sequence number (or,
/// against a seed server, by the seed's rule). Ctrl-C prints the summary.
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    target: PingTarget,
    /// Seconds to wait for each ack [default: the interval].
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    timeout: Option<Seconds>,
    /// Do not send `exit` at the end (leaves the server running).
    #[arg(long)]
    no_exit: bool,
    /// Also print the sender's schedule error (p50/p99/max) and drift.
    #[arg(long)]
    schedule_report: bool,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    let args: Args = socklab::cli::parse(PING_SEED_FLAGS);
    args.output.install();
    if let Err(problem) = args.target.validate() {
        usage_error(problem);
    }
    let config = PingConfig {
        target: args.target,
        timeout: args.timeout.map(|s| s.0),
        send_exit: !args.no_exit,
        schedule_report: args.schedule_report,
        json: args.output.json,
    };
    exit_with(Shutdown::install().and_then(|shutdown| client::run(&config, &shutdown)))
}

const EXAMPLES: &str = "Examples:
  a3-ping-client -ip 127.0.0.1 -port 8080 -n 10 -i 0.6 -s 1024   the course's form
  a3-ping-client --server ::1 -p 8080 -n 100 -i 0.01 -s 64 --timeout 1 --json
  (an interval below the server's delay, up to 0.5 s, makes acks late: they count as lost)";
