//! `a1-iperf-client`: the a1 UDP iPerf client (see `socklab::a1_iperf`).

use clap::Parser;
use socklab::a1_iperf::{client, protocol};
use socklab::pacing::parse_rate;
use socklab::shutdown::Shutdown;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// UDP iPerf client: sends SIZE_MB megabytes (25..=200) to the server and
/// prints the throughput it measured.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Size of the payload in MB (1 MB = 1,000,000 bytes), 25 to 200.
    #[arg(value_name = "SIZE_MB", allow_negative_numbers = true)]
    size_mb: Vec<String>,
    /// Server address.
    #[arg(long, default_value_t = protocol::DEFAULT_SERVER.ip())]
    server: std::net::IpAddr,
    /// Server UDP port.
    #[arg(long, default_value_t = protocol::DEFAULT_SERVER.port())]
    port: u16,
    /// The client's own address and port (port 0 picks a free one).
    #[arg(long, default_value_t = protocol::DEFAULT_CLIENT)]
    bind: SocketAddr,
    /// Payload bytes per datagram.
    #[arg(long, default_value_t = protocol::DEFAULT_LENGTH as u16,
          value_parser = clap::value_parser!(u16).range(1..=protocol::MAX_LENGTH as i64))]
    length: u16,
    /// Target rate in bits per second, with K/M/G suffixes (like iperf3 -b);
    /// 0 sends as fast as possible, as the seed does.
    #[arg(long, default_value = "0", value_parser = parse_rate)]
    rate: u64,
    /// Give up when the server has not replied to STOP after this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    stop_timeout: u64,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let size_mb = match protocol::parse_size_mb(&args.size_mb) {
        Ok(size) => size,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let config = client::ClientConfig {
        size: size_mb * protocol::MB,
        server: SocketAddr::new(args.server, args.port),
        bind: args.bind,
        length: usize::from(args.length),
        rate: args.rate,
        stop_timeout: Duration::from_secs(args.stop_timeout),
        json: args.json,
    };
    socklab::cli::exit_with(
        Shutdown::install().and_then(|shutdown| client::run(&config, &shutdown).map(drop)),
    )
}
