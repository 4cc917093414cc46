//! `a4-chat-client HOST PORT` — the a4 chat client (see `socklab::a4_chat`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use socklab::a4_chat::client;
use socklab::cli::{exit_with, positive_seconds, ConnectArgs, OutputArgs, Seconds};
use socklab::output::JsonObject;
use socklab::shutdown::Shutdown;
use std::process::ExitCode;

/// Chat client for the a4 chat server. Type lines to chat (stdin may be a
/// pipe); `#upload 'name'` sends a file from the working directory; Ctrl-C
/// or end of input leaves.
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    server: ConnectArgs,
    /// Seconds to wait for the connection.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds::new(10),
          value_parser = positive_seconds)]
    timeout: Seconds,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.output.install();
    let host = args.server.host(None);
    let port = args.server.port(None);
    exit_with(Shutdown::install().and_then(|shutdown| {
        let session = client::run(&host, port, args.timeout.0, &shutdown)?;
        args.output.json(|| {
            JsonObject::new()
                .uint("messages", session.messages)
                .bool("server_closed", session.server_closed)
        });
        Ok(())
    }))
}

const EXAMPLES: &str = "Examples:
  a4-chat-client 127.0.0.1 9999        type lines; Ctrl-D leaves
  then type:  I will upload a file
              #upload 'notes.pdf'
  printf 'hello\n' | a4-chat-client 127.0.0.1 9999";
