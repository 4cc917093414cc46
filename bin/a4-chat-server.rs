//! `a4-chat-server HOST PORT` — the a4 chat server (see `socklab::a4_chat`).

use clap::Parser;
use socklab::a4_chat::{server, ServerConfig};
use socklab::shutdown::Shutdown;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Multi-client TCP chat server with file upload (a4). Uploads go to
/// ./server/; Ctrl-C prints `exit` and closes every client.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on (for example 127.0.0.1, 0.0.0.0 or ::1).
    host: String,
    /// Port to listen on (0 picks a free one; the readiness line names it).
    port: u16,
    /// Most clients served at once. When full, the client that has sent the
    /// least recently is evicted for a newcomer; if all are active, the
    /// newcomer is turned away with a message.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    max_clients: u64,
    /// Most clients from one address (default: a quarter of --max-clients,
    /// at least 8).
    #[arg(long, value_name = "N")]
    max_per_source: Option<usize>,
    /// Disconnect a client that sends nothing for this many seconds
    /// (fractions allowed).
    #[arg(long, value_name = "SECONDS", default_value = "3600",
          value_parser = socklab::net::parse_seconds)]
    idle_timeout: Duration,
    /// Largest upload accepted, in bytes (the default is 1 GiB).
    #[arg(long, default_value_t = 1 << 30)]
    max_upload: u64,
    /// Folder uploads are saved in (the seed uses ./server).
    #[arg(long, default_value = "server")]
    upload_dir: PathBuf,
    /// Seconds a client may go without reading while messages wait for it
    /// before it is disconnected.
    #[arg(long, default_value_t = 5.0, value_parser = parse_seconds)]
    stall_timeout: f64,
    /// Bytes of messages that may wait for a client that reads slowly; one
    /// more and it is disconnected (bounds the server's memory).
    #[arg(long, value_name = "BYTES", default_value_t = server::DEFAULT_MAX_BACKLOG as u64,
          value_parser = clap::value_parser!(u64).range(8192..))]
    max_backlog: u64,
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds.is_finite() => Ok(seconds),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    socklab::cli::exit_with(run(&args))
}

fn run(args: &Args) -> std::io::Result<()> {
    let shutdown = Shutdown::install()?;
    let config = ServerConfig {
        addr: socklab::net::resolve(&args.host, args.port)?,
        upload_dir: args.upload_dir.clone(),
        limits: socklab::net::Limits::new(
            usize::try_from(args.max_clients).unwrap_or(usize::MAX),
            args.idle_timeout,
        )
        .with_share(args.max_per_source),
        max_upload: args.max_upload,
        stall_timeout: Duration::from_secs_f64(args.stall_timeout),
        max_backlog: usize::try_from(args.max_backlog).unwrap_or(usize::MAX),
    };
    server::run(&config, &shutdown)
}
