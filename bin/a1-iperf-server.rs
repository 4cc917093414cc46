//! `a1-iperf-server`: the a1 UDP iPerf server (see `socklab::a1_iperf`).

use clap::Parser;
use socklab::a1_iperf::{protocol, server};
use socklab::shutdown::Shutdown;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

/// UDP iPerf server: counts the bytes a client sends between START and STOP
/// and replies with the throughput (and, to a socklab client, loss, jitter
/// and interval figures).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to bind (IPv4 or IPv6, e.g. ::1).
    #[arg(long, default_value_t = protocol::DEFAULT_SERVER.ip())]
    bind: IpAddr,
    /// UDP port to bind (0 picks a free one).
    #[arg(long, default_value_t = protocol::DEFAULT_SERVER.port())]
    port: u16,
    /// Keep serving test after test instead of exiting after the first.
    #[arg(long)]
    forever: bool,
    /// End a test whose client sends nothing for this many seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    idle_timeout: f64,
    /// Receive buffer to ask the kernel for, in bytes (0: system default).
    #[arg(long, default_value_t = server::DEFAULT_RECV_BUFFER, value_name = "BYTES")]
    recv_buffer: usize,
    /// Seconds between interval reports during a test (0 turns them off).
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    interval: f64,
    /// Print one JSON object with every test at exit instead of the reports.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (Ok(idle_timeout), Ok(interval)) = (
        Duration::try_from_secs_f64(args.idle_timeout),
        Duration::try_from_secs_f64(args.interval),
    ) else {
        socklab::output::warn(format_args!(
            "error: --idle-timeout and --interval must be non-negative numbers of seconds"
        ));
        return ExitCode::from(2);
    };
    let config = server::ServerConfig {
        bind: SocketAddr::new(args.bind, args.port),
        forever: args.forever,
        idle_timeout,
        recv_buffer: (args.recv_buffer > 0).then_some(args.recv_buffer),
        interval: Some(interval).filter(|i| !i.is_zero()),
        json: args.json,
    };
    socklab::cli::exit_with(
        Shutdown::install().and_then(|shutdown| server::run(&config, &shutdown).map(drop)),
    )
}
