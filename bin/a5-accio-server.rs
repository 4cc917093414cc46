//! `a5-accio-server PORT FILE_DIR` — receives files from any number of
//! clients at once and saves them as `FILE_DIR/1.file`, `2.file`, …
use clap::Parser;
use socklab::a5_accio::{self, protocol, server, Seconds};
use socklab::shutdown::Shutdown;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// a5 accio server: saves every upload as `FILE_DIR/<n>.file` (n = 1, 2, … in
/// accept order). A failed upload leaves a file holding exactly `ERROR`.
/// SIGTERM, SIGQUIT or Ctrl-C stop it: transfers in flight get a grace period
/// (exit 0); a second signal stops it at once (exit 130), unfinished uploads
/// saved as `ERROR`. Numbering continues past the files already in FILE_DIR.
#[derive(Parser)]
#[command(name = "a5-accio-server", version)]
struct Args {
    /// Port to listen on, 1024–65535 (0 picks a free port)
    #[arg(value_parser = protocol::parse_server_port)]
    port: u16,
    /// Directory for the received files (created if missing)
    file_dir: PathBuf,
    /// Address to listen on
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Abort a connection that sends nothing for this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(protocol::DEFAULT_IDLE_TIMEOUT))]
    idle_timeout: Seconds,
    /// On SIGTERM/SIGQUIT/Ctrl-C, let transfers in flight finish for this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(protocol::DEFAULT_GRACE))]
    grace: Seconds,
    /// Serve at most this many connections at once; when full, the one that
    /// has sent the least recently (idle or trickling) is evicted for a
    /// newcomer, else newcomers wait to be accepted (`--max-connections` is
    /// the old name)
    #[arg(long, alias = "max-connections", value_name = "N",
          default_value_t = protocol::DEFAULT_MAX_CONNECTIONS,
          value_parser = a5_accio::parse_positive)]
    max_clients: usize,
    /// Serve at most this many connections from one address (default: a
    /// quarter of --max-clients, at least 8)
    #[arg(long, value_name = "N", value_parser = a5_accio::parse_positive)]
    max_per_source: Option<usize>,
}

fn main() -> ExitCode {
    let args = match a5_accio::parse_args::<Args>() {
        Ok(args) => args,
        Err(status) => return status,
    };
    let config = server::ServerConfig {
        bind: args.bind,
        port: args.port,
        file_dir: args.file_dir,
        idle_timeout: args.idle_timeout.0,
        grace: args.grace.0,
        max_connections: args.max_clients,
        max_per_source: args.max_per_source,
    };
    a5_accio::exit_with(Shutdown::install_with_sigquit().and_then(|shutdown| {
        let summary = server::run(&config, &shutdown)?;
        socklab::output::say(format_args!("{summary}"));
        Ok(())
    }))
}
