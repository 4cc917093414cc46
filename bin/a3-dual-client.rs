//! `a3-dual-client HOST PORT`: the a3 IPv4/IPv6 client (see `socklab::a3_dual`).

use clap::Parser;
use socklab::a3_dual::client::{run, ClientConfig};
use socklab::a3_dual::protocol::{check_message, DEFAULT_ROUNDS, GREETING};
use socklab::cli::exit_with;
use std::process::ExitCode;
use std::time::Duration;

/// IPv4/IPv6 TCP client: sends `Hii Server` and waits for `Acknowledgement`,
/// five times, then `exit`. The address family follows from resolving HOST.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Server host name or address (IPv4 or IPv6).
    host: String,
    /// Server port.
    port: u16,
    /// Number of message / acknowledgement rounds.
    #[arg(long, short = 'n', default_value_t = DEFAULT_ROUNDS)]
    count: u64,
    /// The message sent each round (at most 1024 bytes, not `exit`).
    #[arg(long, short = 'm', default_value = GREETING, value_parser = parse_message)]
    message: String,
    /// Seconds to wait for the connection and for each acknowledgement.
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
}

fn parse_message(text: &str) -> Result<String, String> {
    check_message(text).map(|()| text.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = ClientConfig {
        host: args.host,
        port: args.port,
        rounds: args.count,
        message: args.message,
        timeout: Duration::from_secs(args.timeout),
    };
    exit_with(run(&config).map(drop))
}
