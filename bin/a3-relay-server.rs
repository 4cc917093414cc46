//! `a3-relay-server PORT` — the UDP relay between clients (see
//! `socklab::a3_relay`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use socklab::a3_relay::server::{self, ServerConfig, DEFAULT_MAX_CLIENTS};
use socklab::cli::{exit_with, positive_count, ListenArgs, OutputArgs, ReplyLimitArgs};
use socklab::output::JsonObject;
use socklab::shutdown::Shutdown;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

/// UDP relay: clients say `hii`, then send `to:IP/PORT;content:MESSAGE` and
/// the server forwards the message to that client. IPv4 only, as the seed
/// (`:` separates the request's fields). Stops at `exit server` (menu 5).
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    /// UDP port to listen on (seed form; same as --port).
    #[arg(value_name = "PORT")]
    port_arg: Option<u16>,
    #[command(flatten)]
    listen: ListenArgs,
    /// Forward to any address, as the seed did (default: only to clients
    /// that said `hii`)
    #[arg(long)]
    open_relay: bool,
    /// Honour `exit server` from any address (default: only from 127.0.0.1
    /// or ::1)
    #[arg(long)]
    remote_exit: bool,
    /// How many registered clients to remember (the oldest is forgotten first)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CLIENTS,
          value_parser = positive_count)]
    max_registered: usize,
    #[command(flatten)]
    reply_limits: ReplyLimitArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.output.install();
    exit_with(run(args))
}

fn run(args: Args) -> std::io::Result<()> {
    let port = args.listen.port_or(args.port_arg, None);
    // The relay's requests name IPv4 addresses only: it listens on IPv4.
    let bind = match args.listen.host_or(None) {
        Some(host) => socklab::net::resolve(&host, port)?,
        None => SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
    };
    let shutdown = Shutdown::install()?;
    let config = ServerConfig {
        bind,
        open_relay: args.open_relay,
        remote_exit: args.remote_exit,
        quiet: args.output.quiet,
        max_clients: args.max_registered,
        reply_limits: args.reply_limits.limits(),
    };
    let summary = server::run(config, &shutdown)?;
    socklab::report!("{summary}");
    args.output.json(|| {
        JsonObject::new()
            .uint("datagrams", summary.datagrams)
            .uint("forwarded", summary.forwarded)
            .uint("refused", summary.refused)
            .uint("ignored", summary.ignored)
            .uint("rate_limited", summary.limited)
    });
    Ok(())
}

const EXAMPLES: &str = "Examples:
  a3-relay-server 5000                 IPv4, every interface
  a3-relay-server 5000 --bind 127.0.0.1 -q";
