//! `a4-chat-client HOST PORT` — the a4 chat client (see `socklab::a4_chat`).

use clap::Parser;
use socklab::a4_chat::client;
use socklab::shutdown::Shutdown;
use std::process::ExitCode;

/// Chat client for the a4 chat server. Type lines to chat (stdin may be a
/// pipe); `#upload 'name'` sends a file from the working directory; Ctrl-C
/// or end of input leaves.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Server host name or address.
    host: String,
    /// Server port.
    port: u16,
}

fn main() -> ExitCode {
    let args = Args::parse();
    socklab::cli::exit_with(run(&args))
}

fn run(args: &Args) -> std::io::Result<()> {
    let shutdown = Shutdown::install()?;
    let addr = socklab::net::resolve(&args.host, args.port)?;
    client::run(addr, &shutdown)
}
