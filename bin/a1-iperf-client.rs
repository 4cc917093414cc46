//! `a1-iperf-client`: the a1 UDP iPerf client (see `socklab::a1_iperf`).

use clap::Parser;
use socklab::a1_iperf::{client, protocol};
use socklab::pacing::parse_rate;
use socklab::shutdown::Shutdown;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// UDP iPerf client: sends SIZE_MB megabytes (25..=200), or sends for
/// --time seconds, to the server and prints what both sides measured.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Size of the payload in MB (1 MB = 1,000,000 bytes), 25 to 200; leave
    /// out with --time.
    #[arg(value_name = "SIZE_MB", allow_negative_numbers = true)]
    size_mb: Vec<String>,
    /// Send for this many seconds instead of SIZE_MB.
    #[arg(long, value_name = "SECONDS")]
    time: Option<f64>,
    /// Server address: IPv4, IPv6 (`::1` or `[::1]`) or a host name.
    #[arg(long, default_value_t = protocol::DEFAULT_SERVER.ip().to_string())]
    server: String,
    /// Server UDP port.
    #[arg(long, default_value_t = protocol::DEFAULT_SERVER.port())]
    port: u16,
    /// The client's own address and port (port 0 picks a free one);
    /// default 127.0.0.1:7777 as the seed ([::1]:7777 for an IPv6 server).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Payload bytes per datagram.
    #[arg(long, default_value_t = protocol::DEFAULT_LENGTH as u16,
          value_parser = clap::value_parser!(u16).range(1..=protocol::MAX_LENGTH as i64))]
    length: u16,
    /// Target rate in bits per second for all streams together, with
    /// K/M/G suffixes (like iperf3 -b); 0 sends as fast as possible.
    #[arg(long, default_value = "0", value_parser = parse_rate)]
    rate: u64,
    /// Seconds between interval reports (0 turns them off).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    interval: f64,
    /// The server sends and the client receives (socklab server only).
    #[arg(long)]
    reverse: bool,
    /// Number of parallel streams, one socket and thread each (socklab
    /// server only when more than 1).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=protocol::MAX_STREAMS as i64))]
    parallel: u16,
    /// Give up when the server has not replied to STOP after this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    stop_timeout: u64,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    json: bool,
}

fn seconds(value: f64, flag: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("{flag} must be a non-negative number of seconds"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let size = match (args.time, args.size_mb.is_empty()) {
        (Some(_), false) => {
            socklab::output::warn(format_args!("error: give SIZE_MB or --time, not both"));
            return ExitCode::from(2);
        }
        (Some(_), true) => None,
        (None, _) => match protocol::parse_size_mb(&args.size_mb) {
            Ok(size) => Some(size * protocol::MB),
            Err(error) => {
                socklab::output::warn(format_args!("{error}"));
                return ExitCode::FAILURE;
            }
        },
    };
    let (time, interval) = match (
        args.time.map(|t| seconds(t, "--time")).transpose(),
        seconds(args.interval, "--interval"),
    ) {
        (Ok(time), Ok(interval)) => (time, interval),
        (Err(error), _) | (_, Err(error)) => {
            socklab::output::warn(format_args!("error: {error}"));
            return ExitCode::from(2);
        }
    };
    let run = |shutdown: &Shutdown| {
        let server = client::resolve_server(&args.server, args.port)?;
        let config = client::ClientConfig {
            size,
            time,
            server,
            bind: args.bind.unwrap_or_else(|| client::default_bind(server)),
            length: usize::from(args.length),
            rate: args.rate,
            stop_timeout: Duration::from_secs(args.stop_timeout),
            json: args.json,
            interval: Some(interval).filter(|i| !i.is_zero()),
            reverse: args.reverse,
            parallel: args.parallel,
        };
        client::run(&config, shutdown).map(drop)
    };
    socklab::cli::exit_with(Shutdown::install().and_then(|shutdown| run(&shutdown)))
}
