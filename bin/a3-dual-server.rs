//! `a3-dual-server HOST PORT`: the a3 IPv4/IPv6 server (see `socklab::a3_dual`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use socklab::a3_dual::server::{run, ServerConfig};
use socklab::cli::{exit_with, LifecycleArgs, ListenArgs, OutputArgs, Seconds};
use socklab::output::JsonObject;
use socklab::shutdown::Shutdown;
use std::process::ExitCode;

/// IPv4/IPv6 TCP server: acknowledges every message with `Acknowledgement`
/// until the client sends `exit`; one thread per connection; Ctrl-C stops it.
/// The address family follows from resolving HOST (`127.0.0.1`, `::1`, `::`,
/// `localhost`, ...); without a host it listens on every interface, IPv4
/// and IPv6.
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    /// Host name or address to listen on (seed form; same as --bind).
    #[arg(value_name = "HOST")]
    host_arg: Option<String>,
    /// Port to listen on (seed form; same as --port).
    #[arg(value_name = "PORT")]
    port_arg: Option<u16>,
    #[command(flatten)]
    listen: ListenArgs,
    /// --max-clients defaults to 256; --idle-timeout to 300 s (a person
    /// typing pauses, but not for 5 minutes).
    #[command(flatten)]
    lifecycle: LifecycleArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.output.install();
    let (host_arg, port_arg) = args
        .listen
        .positionals(args.host_arg.clone(), args.port_arg);
    let port = args.listen.port_or(port_arg, None);
    let config = ServerConfig {
        host: args.listen.host_or(host_arg).unwrap_or_else(|| "::".into()),
        port,
        limits: args.lifecycle.limits(256, Seconds::new(300)),
    };
    exit_with(Shutdown::install().and_then(|shutdown| {
        let summary = run(&config, &shutdown)?;
        args.output.json(|| {
            JsonObject::new()
                .uint("connections", summary.connections)
                .uint("acknowledged", summary.acknowledged)
        });
        Ok(())
    }))
}

const EXAMPLES: &str = "Examples:
  a3-dual-server ::1 5000              IPv6 loopback
  a3-dual-server --port 5000           every address, IPv4 and IPv6";
