//! `a3-file-server PORT [PATH]` — offers one file to every client that
//! sends the shared key. See `socklab::a3_file`.
#![deny(clippy::print_stdout, clippy::print_stderr)]
use clap::Parser;
use socklab::a3_file::protocol::{DEFAULT_AUTH_PAUSE, DEFAULT_KEY, MAX_KEY_LEN, PATH_PROMPT};
use socklab::a3_file::server::check_source;
use socklab::a3_file::{serve, ServerConfig};
use socklab::cli::parse_rate;
use socklab::cli::{exit_with, usage_error, LifecycleArgs, ListenArgs, OutputArgs, Seconds};
use socklab::output::JsonObject;
use socklab::shutdown::Shutdown;
use std::io::{self, BufRead};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Keyed TCP file server (a3): sends the file at PATH to every client whose
/// first message is the key, one thread per client, until Ctrl-C (--once:
/// one connection, as the seed). Defaults: at most 64 clients at once, a
/// client silent for 30 s is dropped.
#[derive(Parser, Debug)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    /// TCP port to listen on (seed form; same as --port; with --port, the
    /// one positional argument is PATH).
    #[arg(value_name = "PORT")]
    port_arg: Option<String>,
    /// The file to offer; asked for on stdin when missing (as the seed does).
    path: Option<PathBuf>,
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    lifecycle: LifecycleArgs,
    /// The shared key clients must send.
    #[arg(long, default_value = DEFAULT_KEY)]
    key: String,
    /// Serve one connection, then exit (the seed's behaviour); the exit
    /// status says whether that client got the file.
    #[arg(long)]
    once: bool,
    /// Same as --idle-timeout (the earlier spelling).
    #[arg(long, value_name = "SECONDS", hide = true, value_parser = socklab::cli::positive_seconds)]
    timeout: Option<Seconds>,
    /// Pause between AUTH_SUCCESS and the file, in milliseconds, so the
    /// seed client gets AUTH_SUCCESS in a read of its own.
    #[arg(long, default_value_t = DEFAULT_AUTH_PAUSE.as_millis() as u64, value_name = "MS")]
    pause_ms: u64,
    /// Limit each transfer to this many bits per second (K, M, G
    /// suffixes; 0 = unlimited), to watch a transfer or test a slow link.
    #[arg(long, default_value = "0", value_parser = parse_rate)]
    rate: u64,
    #[command(flatten)]
    output: OutputArgs,
}

/// Clients served at once unless `--max-clients` says otherwise.
const DEFAULT_MAX_CLIENTS: usize = 64;
/// How long a client may stay silent unless `--idle-timeout` says otherwise.
const DEFAULT_IDLE_TIMEOUT: Seconds = Seconds::new(30);

fn main() -> ExitCode {
    let args = Args::parse();
    args.output.install();
    if args.key.is_empty() || args.key.len() > MAX_KEY_LEN {
        usage_error(format_args!("--key must be 1 to {MAX_KEY_LEN} bytes long"));
    }
    exit_with(run(args))
}

fn run(args: Args) -> io::Result<()> {
    // With --port, `a3-file-server --port 0 notes.pdf` names only the file.
    let (port_arg, path) = match (args.listen.port, args.port_arg, args.path) {
        (Some(_), Some(only), None) => (None, Some(PathBuf::from(only))),
        (_, port, path) => (port, path),
    };
    let port_arg = port_arg.map(|text| {
        text.parse::<u16>()
            .unwrap_or_else(|_| usage_error(format_args!("{text:?} is not a port number")))
    });
    let port = args.listen.port_or(port_arg, None);
    let path = match path {
        Some(path) => path,
        None => ask_for_path()?,
    };
    // Checked before binding: a missing file is an error before the run.
    check_source(&path)?;
    let idle = args.timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT);
    let config = ServerConfig {
        bind: ListenArgs::resolve(args.listen.host_or(None).as_deref(), port)?,
        path,
        key: args.key.into_bytes(),
        once: args.once,
        limits: args.lifecycle.limits(DEFAULT_MAX_CLIENTS, idle),
        auth_pause: Duration::from_millis(args.pause_ms),
        rate_bits: args.rate,
    };
    let shutdown = Shutdown::install()?;
    let totals = serve(&config, &shutdown)?;
    args.output.json(|| {
        JsonObject::new()
            .uint("files_sent", totals.sent.load(Ordering::Relaxed))
            .uint("sent_bytes", totals.bytes.load(Ordering::Relaxed))
            .uint("refused", totals.refused.load(Ordering::Relaxed))
            .uint("dropped", totals.dropped.load(Ordering::Relaxed))
            .uint("failed", totals.failed.load(Ordering::Relaxed))
    });
    Ok(())
}

/// Prompts `Enter the file path: ` and reads one line from stdin.
fn ask_for_path() -> io::Result<PathBuf> {
    // The question must be seen, --quiet or not.
    socklab::output::text(PATH_PROMPT, true);
    let mut line = String::new();
    if io::stdin().lock().read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no file path given (stdin closed)",
        ));
    }
    Ok(PathBuf::from(line.trim_end_matches(['\n', '\r'])))
}

const EXAMPLES: &str = "Examples:
  a3-file-server 9000 notes.pdf        offer notes.pdf to clients with the key
  a3-file-server 9000                  asks \"Enter the file path: \" (as the course's)
  a3-file-server 9000 notes.pdf --once --key hunter2";
