//! `a1-iperf-server`: the a1 UDP iPerf server (see `socklab::a1_iperf`).
//!
//! Seed form: `a1-iperf-server` (no arguments): 127.0.0.1:5555, one test.
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use socklab::a1_iperf::{guard, protocol, server};
use socklab::cli::{exit_with, positive_seconds, ListenArgs, OutputArgs, Seconds};
use socklab::shutdown::Shutdown;
use std::process::ExitCode;

/// UDP iPerf server: counts the bytes a client sends between START and STOP
/// and replies with the throughput (and, to a socklab client, loss, jitter
/// and interval figures). Stops after one test, as the seed, unless
/// --forever; Ctrl-C or SIGTERM prints a summary and exits 0.
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
#[command(mut_arg("bind", |arg| arg.help(
    "Address or host name to listen on (IPv4, IPv6 or a name) [default: 127.0.0.1, as the seed]"
)))]
#[command(mut_arg("port", |arg| arg.help(
    "Port to listen on (0 picks a free one; the readiness line names it) [default: 5555]"
)))]
struct Args {
    #[command(flatten)]
    listen: ListenArgs,
    /// Keep serving test after test instead of exiting after the first.
    #[arg(long)]
    forever: bool,
    /// End a test whose client sends nothing for this many seconds.
    #[arg(long, default_value_t = Seconds::new(10), value_name = "SECONDS",
          value_parser = positive_seconds)]
    idle_timeout: Seconds,
    /// Receive buffer to ask the kernel for, in bytes (0: system default).
    #[arg(long, default_value_t = server::DEFAULT_RECV_BUFFER, value_name = "BYTES")]
    recv_buffer: usize,
    /// Seconds between interval reports during a test (0 turns them off).
    #[arg(long, default_value_t = Seconds::new(1), value_name = "SECONDS")]
    interval: Seconds,
    /// Highest rate a --reverse test may ask for, in bits per second
    /// (K/M/G suffixes; 0: no limit). An unpaced request asks for more;
    /// a client asking for more gets a refusal line.
    #[arg(long, default_value = "100M", value_name = "RATE",
          value_parser = socklab::cli::parse_rate)]
    server_bitrate_limit: u64,
    /// Longest test in seconds, either direction (0: no limit): a request
    /// for longer is refused, a test running longer is cut.
    #[arg(long, default_value_t = Seconds(guard::DEFAULT_MAX_DURATION), value_name = "SECONDS")]
    server_max_duration: Seconds,
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
    exit_with(run(&args))
}

fn run(args: &Args) -> std::io::Result<()> {
    let port = args
        .listen
        .port_or(None, Some(protocol::DEFAULT_SERVER.port()));
    let host = args
        .listen
        .host_or(None)
        .unwrap_or_else(|| protocol::DEFAULT_SERVER.ip().to_string());
    let config = server::ServerConfig {
        bind: ListenArgs::resolve(Some(&host), port)?,
        forever: args.forever,
        idle_timeout: args.idle_timeout.0,
        recv_buffer: (args.recv_buffer > 0).then_some(args.recv_buffer),
        interval: Some(args.interval.0).filter(|i| !i.is_zero()),
        json: args.output.json,
        caps: guard::Caps {
            bitrate_limit: args.server_bitrate_limit,
            max_duration: Some(args.server_max_duration.0).filter(|d| !d.is_zero()),
        },
        offload: !args.no_offload,
    };
    server::run(&config, &Shutdown::install()?).map(drop)
}

const EXAMPLES: &str = "Examples:
  a1-iperf-server                      127.0.0.1:5555, one test, then exit (as the course's)
  a1-iperf-server --forever --port 0   test after test on a free port (the readiness line names it)
  a1-iperf-server --bind ::1 --json    IPv6 loopback; one JSON object at exit";
