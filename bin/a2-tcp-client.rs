//! `a2-tcp-client [HOST] [PORT]`: the a2 client (see `socklab::a2_tcp`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use socklab::a2_tcp::client::{run, ClientConfig};
use socklab::a2_tcp::protocol::{DEFAULT_HOST, DEFAULT_PORT};
use socklab::cli::{exit_with, positive_seconds, ConnectArgs, OutputArgs, Seconds};
use socklab::output::JsonObject;
use std::process::ExitCode;

/// TCP client: sends `GET / HTTP/1.1\r\n\r\n` and prints the reply as
/// Python prints bytes (`b'GET / HTT'` from the a2 server). Works against
/// any TCP server, a web server included. HOST and PORT default to
/// 127.0.0.1 and 2347, as in the seed.
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    server: ConnectArgs,
    /// Seconds to wait for the connection and for the first reply byte.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds::new(10),
          value_parser = positive_seconds)]
    timeout: Seconds,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.output.install();
    let config = ClientConfig {
        host: args.server.host(Some(DEFAULT_HOST)),
        port: args.server.port(Some(DEFAULT_PORT)),
        timeout: args.timeout.0,
    };
    exit_with(run(&config).map(|reply| {
        args.output.json(|| {
            JsonObject::new()
                .str("reply", &String::from_utf8_lossy(&reply))
                .uint("reply_bytes", reply.len() as u64)
        })
    }))
}

const EXAMPLES: &str = "Examples:
  a2-tcp-client                        127.0.0.1 2347: prints b'GET / HTT'
  a2-tcp-client localhost 8000         any TCP server";
