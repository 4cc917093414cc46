//! `a2-tcp-client [HOST] [PORT]`: the a2 client (see `socklab::a2_tcp`).

use clap::Parser;
use socklab::a2_tcp::client::{run, ClientConfig};
use socklab::a2_tcp::protocol::{DEFAULT_HOST, DEFAULT_PORT};
use socklab::cli::exit_with;
use std::process::ExitCode;
use std::time::Duration;

/// TCP client: sends `GET / HTTP/1.1\r\n\r\n` and prints the reply as
/// Python prints bytes (`b'GET / HTT'` from the a2 server). Works against
/// any TCP server, a web server included.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Server host name or address (IPv4 or IPv6).
    #[arg(default_value = DEFAULT_HOST)]
    host: String,
    /// Server port.
    #[arg(default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Seconds to wait for the connection and for the first reply byte.
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = ClientConfig {
        host: args.host,
        port: args.port,
        timeout: Duration::from_secs(args.timeout),
    };
    exit_with(run(&config).map(drop))
}
