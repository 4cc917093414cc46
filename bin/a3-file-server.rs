//! `a3-file-server PORT [PATH]` — offers one file to every client that
//! sends the shared key. See `socklab::a3_file`.
use clap::Parser;
use socklab::a3_file::protocol::{DEFAULT_AUTH_PAUSE, DEFAULT_KEY, MAX_KEY_LEN, PATH_PROMPT};
use socklab::a3_file::{serve, ServerConfig};
use socklab::cli::exit_with;
use socklab::net::{parse_seconds, resolve, Limits};
use socklab::pacing::parse_rate;
use socklab::shutdown::Shutdown;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Keyed TCP file server (a3): sends the file at PATH to every client whose first
/// message is the key, one thread per client.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// TCP port to listen on (0 picks a free one).
    port: u16,
    /// The file to offer; asked for on stdin when missing (as the seed does).
    path: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind: String,
    /// The shared key clients must send.
    #[arg(long, default_value = DEFAULT_KEY)]
    key: String,
    /// Serve one connection, then exit (the seed's behaviour); the exit
    /// status says whether that client got the file.
    #[arg(long)]
    once: bool,
    /// Serve at most this many clients at once; when full, the one that has
    /// made the least progress is evicted for a newcomer.
    #[arg(long, default_value_t = 64, value_name = "N")]
    max_clients: usize,
    /// Most connections from one address (default: a quarter of
    /// --max-clients, at least 8).
    #[arg(long, value_name = "N")]
    max_per_source: Option<usize>,
    /// Drop a client that sends no key, or reads nothing, for this many
    /// seconds (fractions allowed; `--timeout` is the old name).
    #[arg(long, alias = "timeout", default_value = "30", value_name = "SECONDS",
          value_parser = parse_seconds)]
    idle_timeout: Duration,
    /// Pause between AUTH_SUCCESS and the file, in milliseconds, so the
    /// seed client gets AUTH_SUCCESS in a read of its own.
    #[arg(long, default_value_t = DEFAULT_AUTH_PAUSE.as_millis() as u64, value_name = "MS")]
    pause_ms: u64,
    /// Limit each transfer to this many bits per second (K, M, G
    /// suffixes; 0 = unlimited), to watch a transfer or test a slow link.
    #[arg(long, default_value = "0", value_parser = parse_rate)]
    rate: u64,
}

fn main() -> ExitCode {
    exit_with(run(Args::parse()))
}

fn run(args: Args) -> io::Result<()> {
    if args.key.is_empty() || args.key.len() > MAX_KEY_LEN {
        return Err(invalid(format!(
            "--key must be 1 to {MAX_KEY_LEN} bytes long"
        )));
    }
    if args.max_clients == 0 {
        return Err(invalid("--max-clients must be at least 1".into()));
    }
    let path = match args.path {
        Some(path) => path,
        None => ask_for_path()?,
    };
    let config = ServerConfig {
        bind: resolve(&args.bind, args.port)?,
        path,
        key: args.key.into_bytes(),
        once: args.once,
        limits: Limits::new(args.max_clients, args.idle_timeout).with_share(args.max_per_source),
        auth_pause: Duration::from_millis(args.pause_ms),
        rate_bits: args.rate,
    };
    let shutdown = Shutdown::install()?;
    serve(&config, &shutdown).map(drop)
}

/// Prompts `Enter the file path: ` and reads one line from stdin.
fn ask_for_path() -> io::Result<PathBuf> {
    print!("{PATH_PROMPT}");
    io::stdout().flush()?;
    let mut line = String::new();
    if io::stdin().lock().read_line(&mut line)? == 0 {
        return Err(invalid("no file path given (stdin closed)".into()));
    }
    Ok(PathBuf::from(line.trim_end_matches(['\n', '\r'])))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
