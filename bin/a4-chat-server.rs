//! `a4-chat-server HOST PORT` — the a4 chat server (see `socklab::a4_chat`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use socklab::a4_chat::{server, ServerConfig};
use socklab::cli::{exit_with, positive_seconds, LifecycleArgs, ListenArgs, OutputArgs, Seconds};
use socklab::output::JsonObject;
use socklab::shutdown::Shutdown;
use std::path::PathBuf;
use std::process::ExitCode;

/// Multi-client TCP chat server with file upload (a4). Uploads go to
/// ./server/; Ctrl-C prints `exit` (as the seed), closes every client and
/// prints a summary. Serves until stopped; at most 1024 clients at once
/// unless --max-clients says otherwise.
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    /// Address to listen on (seed form; same as --bind), for example
    /// 127.0.0.1, 0.0.0.0 or ::1.
    #[arg(value_name = "HOST")]
    host_arg: Option<String>,
    /// Port to listen on (seed form; same as --port).
    #[arg(value_name = "PORT")]
    port_arg: Option<u16>,
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    lifecycle: LifecycleArgs,
    /// Largest upload accepted, in bytes (the default is 1 GiB).
    #[arg(long, default_value_t = 1 << 30)]
    max_upload: u64,
    /// Folder uploads are saved in (the seed uses ./server).
    #[arg(long, default_value = "server")]
    upload_dir: PathBuf,
    /// Seconds a client may go without reading while messages wait for it
    /// before it is disconnected.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds::new(5),
          value_parser = positive_seconds)]
    stall_timeout: Seconds,
    /// Bytes of messages that may wait for a client that reads slowly; one
    /// more and it is disconnected (bounds the server's memory).
    #[arg(long, value_name = "BYTES", default_value_t = server::DEFAULT_MAX_BACKLOG as u64,
          value_parser = clap::value_parser!(u64).range(8192..))]
    max_backlog: u64,
    #[command(flatten)]
    output: OutputArgs,
}

/// Clients served at once unless `--max-clients` says otherwise.
const DEFAULT_MAX_CLIENTS: usize = 1024;
/// A client that sends nothing for this long is dropped unless
/// `--idle-timeout` says otherwise (a chat may be quiet for a long time).
const DEFAULT_IDLE_TIMEOUT: Seconds = Seconds::new(3600);

fn main() -> ExitCode {
    let args = Args::parse();
    args.output.install();
    exit_with(run(args))
}

fn run(args: Args) -> std::io::Result<()> {
    let (host_arg, port_arg) = args
        .listen
        .positionals(args.host_arg.clone(), args.port_arg);
    let port = args.listen.port_or(port_arg, None);
    let host = args.listen.host_or(host_arg);
    let config = ServerConfig {
        addr: ListenArgs::resolve(host.as_deref(), port)?,
        upload_dir: args.upload_dir.clone(),
        limits: args
            .lifecycle
            .limits(DEFAULT_MAX_CLIENTS, DEFAULT_IDLE_TIMEOUT),
        max_upload: args.max_upload,
        stall_timeout: args.stall_timeout.0,
        max_backlog: usize::try_from(args.max_backlog).unwrap_or(usize::MAX),
    };
    let summary = server::run(&config, &Shutdown::install()?)?;
    args.output
        .json(|| JsonObject::new().uint("clients", summary.clients));
    Ok(())
}

const EXAMPLES: &str = "Examples:
  a4-chat-server 127.0.0.1 9999        uploads land in ./server/
  a4-chat-server 0.0.0.0 9999 --max-clients 200 --max-upload 100000000";
