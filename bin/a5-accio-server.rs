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
#[command(name = env!("CARGO_BIN_NAME"), version,
          override_usage = "a5-accio-server [OPTIONS] PORT FILE_DIR\n       a5-accio-server [OPTIONS] --port PORT FILE_DIR",
          after_help = EXAMPLES)]
struct Args {
    /// PORT (1024–65535; 0 picks a free port), then FILE_DIR: the directory
    /// for the received files (created if missing). With --port, only FILE_DIR.
    #[arg(value_name = "PORT FILE_DIR", num_args = 1..=2, required = true)]
    positional: Vec<String>,
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
    let (port, file_dir) = match port_and_dir(&args) {
        Ok(both) => both,
        Err(problem) => return a5_accio::exit_with(Err::<(), _>(problem)),
    };
    a5_accio::exit_with((|| {
        let config = server::ServerConfig {
            bind: ListenArgs::resolve(args.listen.host_or(None).as_deref(), port)?.ip(),
            port,
            file_dir: file_dir.clone(),
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

/// The port (PORT or --port, checked as the course wants) and FILE_DIR.
fn port_and_dir(args: &Args) -> Result<(u16, PathBuf), String> {
    let (port_text, dir) = match (args.positional.as_slice(), args.listen.port) {
        ([port, dir], None) => (port.clone(), dir),
        ([port, dir], Some(flag)) if port.parse() == Ok(flag) => (port.clone(), dir),
        ([_, _], Some(_)) => return Err("--port differs from PORT".into()),
        ([dir], Some(flag)) => (flag.to_string(), dir),
        _ => return Err("give PORT and FILE_DIR (or --port PORT FILE_DIR)".into()),
    };
    let port = unreserved_port(&port_text).map_err(|e| e.to_string())?;
    Ok((port, PathBuf::from(dir)))
}

const EXAMPLES: &str = "Examples:
  a5-accio-server 5000 files              save uploads as files/1.file, files/2.file, ...
  a5-accio-server --port 0 files -q       a free port (the readiness line names it)
  a5-accio-client 127.0.0.1 5000 notes.pdf    (in another terminal) send one file";
