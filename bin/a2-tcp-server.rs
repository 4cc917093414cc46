//! `a2-tcp-server [PORT]`: the a2 half-echo server (see `socklab::a2_tcp`).

use clap::Parser;
use socklab::a2_tcp::protocol::DEFAULT_PORT;
use socklab::a2_tcp::server::{run, ServerConfig};
use socklab::cli::exit_with;
use socklab::net::{parse_seconds, Limits};
use socklab::shutdown::Shutdown;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

/// TCP half-echo server: replies to each request with its first half
/// (`GET / HTTP/1.1\r\n\r\n` → `GET / HTT`) and closes the connection.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Address to listen on (`0.0.0.0` = all IPv4 interfaces, `::` = all).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind: IpAddr,
    /// Keep serving, each connection on its own thread, until Ctrl-C
    /// (default: serve one connection and exit, as the seed does).
    #[arg(long)]
    forever: bool,
    /// Seconds a connection may stay silent before it is closed unanswered
    /// (fractions allowed; `--timeout` is the old name).
    #[arg(long, alias = "timeout", value_name = "SECONDS", default_value = "30",
          value_parser = parse_seconds)]
    idle_timeout: Duration,
    /// With --forever: most connections served at once; when full, the one
    /// that has made the least progress is evicted for a newcomer.
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_clients: u64,
    /// With --forever: most connections from one address (default: a
    /// quarter of --max-clients, at least 8).
    #[arg(long, value_name = "N")]
    max_per_source: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = ServerConfig {
        bind: SocketAddr::new(args.bind, args.port),
        forever: args.forever,
        limits: Limits::new(
            usize::try_from(args.max_clients).unwrap_or(usize::MAX),
            args.idle_timeout,
        )
        .with_share(args.max_per_source),
    };
    exit_with(Shutdown::install().and_then(|shutdown| run(&config, &shutdown)))
}
