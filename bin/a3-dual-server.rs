//! `a3-dual-server HOST PORT`: the a3 IPv4/IPv6 server (see `socklab::a3_dual`).

use clap::Parser;
use socklab::a3_dual::server::{run, ServerConfig};
use socklab::cli::exit_with;
use socklab::shutdown::Shutdown;
use std::process::ExitCode;

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
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = ServerConfig {
        host: args.host,
        port: args.port,
    };
    exit_with(Shutdown::install().and_then(|shutdown| run(&config, &shutdown)))
}
