//! `a1-iperf-client`: the a1 UDP iPerf client (see `socklab::a1_iperf`).
//!
//! Seed form: `a1-iperf-client SIZE_MB` (25 to 200), to 127.0.0.1:5555
//! from 127.0.0.1:7777.
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use socklab::a1_iperf::sender::Spacing;
use socklab::a1_iperf::{client, protocol};
use socklab::cli::{exit_with, positive_seconds, usage_error, OutputArgs, Seconds};
use socklab::cli::{parse_rate, parse_size_mb};
use socklab::shutdown::Shutdown;
use std::net::SocketAddr;
use std::process::ExitCode;

/// UDP iPerf client: sends SIZE_MB megabytes (25..=200), or sends for
/// --time seconds, to the server and prints what both sides measured.
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    /// Size of the payload in MB (1 MB = 1,000,000 bytes), 25 to 200; leave
    /// out with --time.
    #[arg(value_name = "SIZE_MB", allow_negative_numbers = true)]
    size_mb: Option<String>,
    /// Send for this many seconds instead of SIZE_MB.
    #[arg(long, value_name = "SECONDS")]
    time: Option<Seconds>,
    /// Server host name or address, IPv4 or IPv6 (`::1` or `[::1]`).
    #[arg(long = "server", aliases = ["ip", "host"], value_name = "HOST",
          default_value_t = protocol::DEFAULT_SERVER.ip().to_string())]
    server: String,
    /// Server UDP port.
    #[arg(short = 'p', long, value_name = "PORT",
          default_value_t = protocol::DEFAULT_SERVER.port())]
    port: u16,
    /// The client's own address and port (port 0 picks a free one);
    /// default 127.0.0.1:7777 as the seed ([::1]:7777 for an IPv6 server).
    #[arg(long, value_name = "ADDR:PORT")]
    bind: Option<SocketAddr>,
    /// Payload bytes per datagram.
    #[arg(long, default_value_t = protocol::DEFAULT_LENGTH as u16,
          value_parser = clap::value_parser!(u16).range(1..=protocol::MAX_LENGTH as i64))]
    length: u16,
    /// Target rate in bits per second for all streams together, with
    /// K/M/G suffixes (like iperf3 -b); 0 sends as fast as possible.
    #[arg(long, default_value = "0", value_parser = parse_rate)]
    rate: u64,
    /// Pace like iperf3: every this many microseconds, send the datagrams
    /// the rate allows by then, back to back (iperf3's default is 1000).
    /// Without it the datagrams are spaced evenly.
    #[arg(long, value_name = "MICROSECONDS",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pacing_timer: Option<u64>,
    /// Seconds between interval reports (0 turns them off).
    #[arg(long, default_value_t = Seconds::new(1), value_name = "SECONDS")]
    interval: Seconds,
    /// The server sends and the client receives (socklab server only).
    #[arg(long)]
    reverse: bool,
    /// Number of parallel streams, one socket and thread each (socklab
    /// server only when more than 1).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=protocol::MAX_STREAMS as i64))]
    parallel: u16,
    /// Give up when the server has not replied to STOP after this many
    /// seconds (also spelled --stop-timeout).
    #[arg(long, visible_alias = "stop-timeout", default_value_t = Seconds::new(30),
          value_name = "SECONDS", value_parser = positive_seconds)]
    timeout: Seconds,
    /// Turn UDP segmentation and receive offload off (on by default where
    /// the kernel has it; iperf3 turns them on with --gsro): datagrams
    /// then go in sendmmsg/recvmmsg batches, as when the kernel refuses.
    #[arg(long, visible_alias = "no-gsro")]
    no_offload: bool,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.output.install();
    let size = match (args.time, &args.size_mb) {
        (Some(_), Some(_)) => usage_error("give SIZE_MB or --time, not both"),
        (Some(_), None) => None,
        // The seed's own messages, with the kit's prefix and status.
        (None, _) => match parse_size_mb(args.size_mb.as_slice(), protocol::SIZE_RANGE_MB) {
            Ok(size) => Some(size * protocol::MB),
            Err(error) => usage_error(error),
        },
    };
    if args.pacing_timer.is_some() && args.rate == 0 {
        usage_error("--pacing-timer needs --rate (an unpaced sender has nothing to time)");
    }
    let run = |shutdown: &Shutdown| {
        let server = client::resolve_server(&args.server, args.port)?;
        let config = client::ClientConfig {
            size,
            time: args.time.map(|t| t.0),
            server,
            bind: args.bind.unwrap_or_else(|| client::default_bind(server)),
            length: usize::from(args.length),
            rate: args.rate,
            spacing: Spacing::from_micros(args.pacing_timer.unwrap_or(0)),
            stop_timeout: args.timeout.0,
            json: args.output.json,
            interval: Some(args.interval.0).filter(|i| !i.is_zero()),
            reverse: args.reverse,
            parallel: args.parallel,
            offload: !args.no_offload,
        };
        client::run(&config, shutdown).map(drop)
    };
    exit_with(Shutdown::install().and_then(|shutdown| run(&shutdown)))
}

const EXAMPLES: &str = "Examples:
  a1-iperf-client 100                  100 MB to 127.0.0.1:5555, unpaced (as the course's)
  a1-iperf-client 25 --rate 200M       paced to 200 Mbit/s
  a1-iperf-client --time 10 --rate 100M --parallel 4   10 s over 4 streams
  a1-iperf-client 50 --server ::1 --json               IPv6; one JSON object";
