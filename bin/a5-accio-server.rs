//! `a5-accio-server PORT FILE_DIR` — receives files from any number of
//! clients at once and saves them as `FILE_DIR/1.file`, `2.file`, …
#![deny(clippy::print_stdout, clippy::print_stderr)]
use clap::Parser;
use socklab::a5_accio::{self, protocol, server};
use socklab::cli::{unreserved_port, LifecycleArgs, ListenArgs, OutputArgs, Seconds};
use socklab::output::JsonObject;
use socklab::shutdown::Shutdown;
use std::path::PathBuf;
use std::process::ExitCode;

/// a5 accio server: saves every upload as `FILE_DIR/<n>.file` (n = 1, 2, … in
/// accept order). A failed upload leaves a file holding exactly `ERROR`.
/// SIGTERM, SIGQUIT or Ctrl-C stop it: transfers in flight get a grace period
/// (exit 0); a second signal stops it at once (exit 130), unfinished uploads
/// saved as `ERROR`. Numbering continues past the files already in FILE_DIR.
/// Defaults: at most 1024 uploads at once (lowered to fit the open-file
/// limit), a connection silent for 10 s fails.
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version)]
struct Args {
    /// Port to listen on, 1024–65535 (0 picks a free port)
    #[arg(value_name = "PORT", value_parser = unreserved_port)]
    port_arg: u16,
    /// Directory for the received files (created if missing)
    file_dir: PathBuf,
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    lifecycle: LifecycleArgs,
    /// On SIGTERM/SIGQUIT/Ctrl-C, let transfers in flight finish for this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(protocol::DEFAULT_GRACE))]
    grace: Seconds,
    /// Same as --max-clients (the earlier spelling).
    #[arg(long, value_name = "N", hide = true, value_parser = socklab::cli::positive_count)]
    max_connections: Option<usize>,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    let args = match a5_accio::parse_args::<Args>() {
        Ok(args) => args,
        Err(status) => return status,
    };
    args.output.install();
    if args.listen.port.is_some_and(|flag| flag != args.port_arg) {
        return a5_accio::exit_with(Err::<(), _>("--port differs from PORT"));
    }
    a5_accio::exit_with((|| {
        let config = server::ServerConfig {
            bind: ListenArgs::resolve(args.listen.host_or(None).as_deref(), args.port_arg)?.ip(),
            port: args.port_arg,
            file_dir: args.file_dir.clone(),
            idle_timeout: args
                .lifecycle
                .idle_timeout
                .map_or(protocol::DEFAULT_IDLE_TIMEOUT, |s| s.0),
            grace: args.grace.0,
            max_connections: args
                .lifecycle
                .max_clients
                .or(args.max_connections)
                .unwrap_or(protocol::DEFAULT_MAX_CONNECTIONS),
            max_per_source: args.lifecycle.max_per_source,
        };
        let shutdown = Shutdown::install_with_sigquit()?;
        let summary = server::run(&config, &shutdown)?;
        socklab::report!("{summary}");
        args.output.json(|| {
            JsonObject::new()
                .uint("files", summary.complete + summary.failed)
                .uint("complete", summary.complete)
                .uint("failed", summary.failed)
                .uint("received_bytes", summary.bytes)
        });
        std::io::Result::Ok(())
    })())
}
