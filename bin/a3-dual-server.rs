//! `a3-dual-server HOST PORT`: the a3 IPv4/IPv6 server (see `socklab::a3_dual`).

use clap::Parser;
use socklab::a3_dual::server::{run, ServerConfig};
use socklab::cli::exit_with;
use socklab::net::{parse_seconds, Limits};
use socklab::shutdown::Shutdown;
use std::process::ExitCode;
use std::time::Duration;

/// IPv4/IPv6 TCP server: acknowledges every message with `Acknowledgement`
/// until the client sends `exit`; one thread per connection; Ctrl-C stops it.
/// The address family follows from resolving HOST (`127.0.0.1`, `::1`, `::`,
/// `localhost`, ...).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Host name or address to listen on.
    host: String,
    /// Port to listen on (0 picks a free one).
    port: u16,
    /// Close a connection that sends nothing for this many seconds
    /// (fractions allowed; a person typing pauses, but not for 5 minutes).
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = parse_seconds)]
    idle_timeout: Duration,
    /// Most connections served at once; when full, the one that has made
    /// the least progress is evicted for a newcomer.
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_clients: u64,
    /// Most connections from one address (default: a quarter of
    /// --max-clients, at least 8).
    #[arg(long, value_name = "N")]
    max_per_source: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = ServerConfig {
        host: args.host,
        port: args.port,
        limits: Limits::new(
            usize::try_from(args.max_clients).unwrap_or(usize::MAX),
            args.idle_timeout,
        )
        .with_share(args.max_per_source),
    };
    exit_with(Shutdown::install().and_then(|shutdown| run(&config, &shutdown)))
}
