//! `a2-tcp-server [PORT]`: the a2 half-echo server (see `socklab::a2_tcp`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use socklab::a2_tcp::protocol::DEFAULT_PORT;
use socklab::a2_tcp::server::{run, ServerConfig};
use socklab::cli::{exit_with, positive_seconds, LifecycleArgs, ListenArgs, OutputArgs, Seconds};
use socklab::output::JsonObject;
use socklab::shutdown::Shutdown;
use std::process::ExitCode;

/// TCP half-echo server: replies to each request with its first half
/// (`GET / HTTP/1.1\r\n\r\n` → `GET / HTT`) and closes the connection.
/// Serves one connection and exits, as the seed does, unless --forever.
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    /// Port to listen on (seed form; same as --port) [default: 2347].
    #[arg(value_name = "PORT")]
    port_arg: Option<u16>,
    #[command(flatten)]
    listen: ListenArgs,
    /// Keep serving, each connection on its own thread, until Ctrl-C
    /// (default: serve one connection and exit, as the seed does).
    #[arg(long)]
    forever: bool,
    /// Old name of --idle-timeout.
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds, hide = true)]
    timeout: Option<Seconds>,
    /// With --forever, --max-clients defaults to 256; a silent connection
    /// is closed unanswered after --idle-timeout (default 30 s).
    #[command(flatten)]
    lifecycle: LifecycleArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.output.install();
    let port = args.listen.port_or(args.port_arg, Some(DEFAULT_PORT));
    let idle = args.timeout.unwrap_or(Seconds::new(30));
    exit_with((|| {
        let config = ServerConfig {
            bind: ListenArgs::resolve(args.listen.host_or(None).as_deref(), port)?,
            forever: args.forever,
            limits: args.lifecycle.limits(256, idle),
        };
        let connections = run(&config, &Shutdown::install()?)?;
        args.output
            .json(|| JsonObject::new().uint("connections", connections));
        std::io::Result::Ok(())
    })())
}

const EXAMPLES: &str = "Examples:
  a2-tcp-server                        port 2347, one connection, then exit (as the course's)
  a2-tcp-server --forever 2347         a thread per connection until Ctrl-C
  a2-tcp-server --bind ::1 0           IPv6 loopback, a free port";
