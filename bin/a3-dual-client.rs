//! `a3-dual-client HOST PORT`: the a3 IPv4/IPv6 client (see `socklab::a3_dual`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use socklab::a3_dual::client::{run, ClientConfig};
use socklab::a3_dual::protocol::{check_message, DEFAULT_ROUNDS, GREETING};
use socklab::cli::{exit_with, positive_seconds, ConnectArgs, OutputArgs, Seconds};
use socklab::output::JsonObject;
use std::process::ExitCode;

/// IPv4/IPv6 TCP client: sends `Hii Server` and waits for `Acknowledgement`,
/// five times, then `exit`. The address family follows from resolving HOST.
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    server: ConnectArgs,
    /// Number of message / acknowledgement rounds.
    #[arg(long, short = 'n', default_value_t = DEFAULT_ROUNDS)]
    count: u64,
    /// The message sent each round (at most 1024 bytes, not `exit`).
    #[arg(long, short = 'm', default_value = GREETING, value_parser = parse_message)]
    message: String,
    /// Seconds to wait for the connection and for each acknowledgement.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds::new(10),
          value_parser = positive_seconds)]
    timeout: Seconds,
    #[command(flatten)]
    output: OutputArgs,
}

fn parse_message(text: &str) -> Result<String, String> {
    check_message(text).map(|()| text.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.output.install();
    let config = ClientConfig {
        host: args.server.host(None),
        port: args.server.port(None),
        rounds: args.count,
        message: args.message,
        timeout: args.timeout.0,
    };
    exit_with(run(&config).map(|session| {
        args.output.json(|| {
            let rtt = session.round_trips;
            JsonObject::new()
                .uint("rounds", session.rounds)
                .num("elapsed_seconds", session.elapsed.as_secs_f64())
                .num("rtt_min_seconds", rtt.map(|r| r.min / 1e6))
                .num("rtt_median_seconds", rtt.map(|r| r.p50 / 1e6))
                .num("rtt_mean_seconds", rtt.map(|r| r.mean / 1e6))
                .num("rtt_max_seconds", rtt.map(|r| r.max / 1e6))
        })
    }))
}

const EXAMPLES: &str = "Examples:
  a3-dual-client ::1 5000              five Hii Server / Acknowledgement rounds
  a3-dual-client 127.0.0.1 5000 --count 1000 --message hello";
