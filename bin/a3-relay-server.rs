//! `a3-relay-server PORT` — the UDP relay between clients (see
//! `socklab::a3_relay`).

use clap::Parser;
use socklab::a3_relay::server::{self, ServerConfig, DEFAULT_MAX_CLIENTS};
use socklab::ratelimit::ReplyLimits;
use socklab::shutdown::Shutdown;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

/// UDP relay: clients say `hii`, then send `to:IP/PORT;content:MESSAGE` and
/// the server forwards the message to that client.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// UDP port to listen on (0 picks a free one)
    port: u16,
    /// Local address to bind
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind: IpAddr,
    /// Forward to any address, as the seed did (default: only to clients
    /// that said `hii`)
    #[arg(long)]
    open_relay: bool,
    /// Honour `exit server` from any address (default: only from 127.0.0.1
    /// or ::1)
    #[arg(long)]
    remote_exit: bool,
    /// Do not print a line per datagram
    #[arg(long, short)]
    quiet: bool,
    /// How many registered clients to remember (the oldest is forgotten first)
    #[arg(long, default_value_t = DEFAULT_MAX_CLIENTS)]
    max_clients: usize,
    #[command(flatten)]
    reply_limits: ReplyLimits,
}

fn main() -> ExitCode {
    let args = Args::parse();
    socklab::cli::exit_with(run(args))
}

fn run(args: Args) -> std::io::Result<()> {
    let shutdown = Shutdown::install()?;
    let config = ServerConfig {
        bind: SocketAddr::new(args.bind, args.port),
        open_relay: args.open_relay,
        remote_exit: args.remote_exit,
        quiet: args.quiet,
        max_clients: args.max_clients,
        reply_limits: args.reply_limits,
    };
    let summary = server::run(config, &shutdown)?;
    socklab::output::say(format_args!("{summary}"));
    Ok(())
}
