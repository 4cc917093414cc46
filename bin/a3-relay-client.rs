//! `a3-relay-client IP PORT` — the relay client's menu on stdin (see
//! `socklab::a3_relay`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use socklab::a3_relay::client::{self, ClientConfig};
use socklab::cli::{exit_with, positive_seconds, ConnectArgs, OutputArgs, Seconds};
use socklab::output::JsonObject;
use socklab::shutdown::Shutdown;
use std::net::IpAddr;
use std::process::ExitCode;

/// UDP relay client: a menu on stdin (1 Initialize, 2 Send Message,
/// 3 Receive Message, 4 Exit, 5 Close Server); messages from other clients
/// are printed as they arrive. Works with piped input.
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    server: ConnectArgs,
    /// Local IP address to bind (default: any)
    #[arg(long, value_name = "IP")]
    bind: Option<IpAddr>,
    /// Local UDP port to bind (default: a free one), so other clients can
    /// address this one at a known port
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    local_port: u16,
    /// Seconds to wait for the server's reply to a request
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds::new(2),
          value_parser = positive_seconds)]
    timeout: Seconds,
    /// Seconds menu 3 waits for a message
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds::new(60),
          value_parser = positive_seconds)]
    wait: Seconds,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.output.install();
    exit_with(run(args))
}

fn run(args: Args) -> std::io::Result<()> {
    let host = args.server.host(None);
    let port = args.server.port(None);
    let shutdown = Shutdown::install()?;
    let server = client::resolve_server(&host, port)?;
    let config = ClientConfig {
        server,
        bind: args.bind,
        local_port: args.local_port,
        reply_timeout: args.timeout.0,
        receive_wait: args.wait.0,
    };
    let session = client::run(config, std::io::BufReader::new(std::io::stdin()), &shutdown)?;
    args.output.json(|| {
        JsonObject::new()
            .str("server", &server.to_string())
            .uint("sent", session.sent)
            .uint("received", session.received)
    });
    Ok(())
}

const EXAMPLES: &str = "Examples:
  a3-relay-client 127.0.0.1 5000       the menu: 1 Initialize, 2 Send, 3 Receive, 4 Exit
  printf '1\n3\n4\n' | a3-relay-client 127.0.0.1 5000 --local-port 40000   wait for a message
  printf '1\n2\n127.0.0.1\n40000\nhello\n4\n' | a3-relay-client 127.0.0.1 5000";
