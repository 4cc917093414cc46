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
#[command(name = env!("CARGO_BIN_NAME"), version)]
// A chat client may stay silent as long as it likes: --idle-timeout is
// not offered here (a client that stops *reading* meets --stall-timeout).
#[command(mut_arg("idle_timeout", |arg| arg.hide(true)))]
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
    #[command(flatten)]
    output: OutputArgs,
}

/// Clients served at once unless `--max-clients` says otherwise.
const DEFAULT_MAX_CLIENTS: usize = 1024;

fn main() -> ExitCode {
    let args = Args::parse();
    args.output.install();
    args.lifecycle.refuse_per_source();
    if args.lifecycle.idle_timeout.is_some() {
        socklab::cli::usage_error("--idle-timeout is not available on this server");
    }
    exit_with(run(args))
}

fn run(args: Args) -> std::io::Result<()> {
    let port = args.listen.port_or(args.port_arg, None);
    let host = args.listen.host_or(args.host_arg);
    let config = ServerConfig {
        addr: ListenArgs::resolve(host.as_deref(), port)?,
        upload_dir: args.upload_dir.clone(),
        max_clients: args.lifecycle.max_clients.unwrap_or(DEFAULT_MAX_CLIENTS),
        max_upload: args.max_upload,
        stall_timeout: args.stall_timeout.0,
    };
    let summary = server::run(&config, &Shutdown::install()?)?;
    args.output
        .json(|| JsonObject::new().uint("clients", summary.clients));
    Ok(())
}
