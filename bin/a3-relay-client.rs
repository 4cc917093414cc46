//! `a3-relay-client IP PORT` — the relay client's menu on stdin (see
//! `socklab::a3_relay`).

use clap::Parser;
use socklab::a3_relay::client::{self, ClientConfig};
use socklab::shutdown::Shutdown;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

/// UDP relay client: a menu on stdin (1 Initialize, 2 Send Message,
/// 3 Receive Message, 4 Exit, 5 Close Server); messages from other clients
/// are printed as they arrive. Works with piped input.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The relay server's IP address or host name
    server_ip: String,
    /// The relay server's UDP port
    server_port: u16,
    /// Local IP address to bind (default: any)
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Seconds to wait for the server's reply to a request
    #[arg(long, default_value_t = 2.0, value_parser = seconds)]
    timeout: f64,
    /// Seconds menu 3 waits for a message
    #[arg(long, default_value_t = 60.0, value_parser = seconds)]
    wait: f64,
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(s),
        _ => Err(format!("{text:?} is not a number of seconds in (0, 86400]")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    socklab::cli::exit_with(run(args))
}

fn run(args: Args) -> std::io::Result<()> {
    let shutdown = Shutdown::install()?;
    let server = client::resolve_server(&args.server_ip, args.server_port)?;
    let config = ClientConfig {
        server,
        bind: args.bind,
        reply_timeout: Duration::from_secs_f64(args.timeout),
        receive_wait: Duration::from_secs_f64(args.wait),
    };
    client::run(config, std::io::BufReader::new(std::io::stdin()), &shutdown)
}
