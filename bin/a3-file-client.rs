//! `a3-file-client IP PORT` — downloads the file an a3 file server offers
//! into `RECIEVED_FILE.txt`. See `socklab::a3_file`.
#![deny(clippy::print_stdout, clippy::print_stderr)]
use clap::Parser;
use socklab::a3_file::protocol::{
    AUTH_ERROR_MESSAGE, DEFAULT_KEY, DEFAULT_OUTPUT, SUCCESS_MESSAGE,
};
use socklab::a3_file::{fetch, ClientConfig, Fetched};
use socklab::cli::{exit_with, positive_seconds, ConnectArgs, OutputArgs, Seconds};
use socklab::output::{human_bytes, human_rate, rate, JsonObject};
use socklab::shutdown::Shutdown;
use socklab::{report, say};
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

/// Keyed TCP file client (a3): sends the key and stores the file the
/// server returns. The output appears only once the whole file is in.
#[derive(Parser, Debug)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    server: ConnectArgs,
    /// Where to store the file (the report's spelling by default).
    #[arg(short, long, default_value = DEFAULT_OUTPUT)]
    output: PathBuf,
    /// The shared key to send.
    #[arg(long, default_value = DEFAULT_KEY)]
    key: String,
    /// Give up when the server sends nothing for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds::new(30),
          value_parser = positive_seconds)]
    timeout: Seconds,
    /// -v prints every read as the seed does: `Received Data :  b'…'`.
    #[command(flatten)]
    print: OutputArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.print.install();
    exit_with(run(args))
}

fn run(args: Args) -> io::Result<()> {
    // Checked before connecting: a bad output path fails before the download.
    socklab::cli::check_output_path(&args.output)?;
    let config = ClientConfig {
        host: args.server.host(None),
        port: args.server.port(None),
        key: args.key.into_bytes(),
        output: args.output,
        timeout: args.timeout.0,
        verbose: args.print.verbose,
    };
    let shutdown = Shutdown::install()?;
    match fetch(&config, &shutdown)? {
        Fetched::File { bytes, elapsed } => {
            say!("{SUCCESS_MESSAGE}");
            report!(
                "Received {bytes} bytes ({}) in {:.3} s ({}) into {}",
                human_bytes(bytes),
                elapsed.as_secs_f64(),
                human_rate(rate(bytes, elapsed)),
                config.output.display()
            );
            args.print.json(|| {
                JsonObject::new()
                    .str("output", &config.output.display().to_string())
                    .uint("received_bytes", bytes)
                    .num("elapsed_seconds", elapsed.as_secs_f64())
                    .num("rate_bps", rate(bytes, elapsed) * 8.0)
            });
            Ok(())
        }
        Fetched::Refused => {
            say!("{AUTH_ERROR_MESSAGE}");
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the server refused the key (AUTH_ERROR)",
            ))
        }
    }
}

const EXAMPLES: &str = "Examples:
  a3-file-client 127.0.0.1 9000        writes RECIEVED_FILE.txt (the course's spelling)
  a3-file-client 127.0.0.1 9000 -o notes.pdf --key hunter2";
