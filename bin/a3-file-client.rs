//! `a3-file-client IP PORT` — downloads the file an a3 file server offers
//! into `RECIEVED_FILE.txt`. See `socklab::a3_file`.
use clap::Parser;
use socklab::a3_file::protocol::{
    AUTH_ERROR_MESSAGE, DEFAULT_KEY, DEFAULT_OUTPUT, SUCCESS_MESSAGE,
};
use socklab::a3_file::{fetch, ClientConfig, Fetched};
use socklab::cli::exit_with;
use socklab::net::resolve;
use socklab::output::{human_bytes, human_rate, rate};
use socklab::shutdown::Shutdown;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Keyed TCP file client (a3): sends the key and stores the file the
/// server returns. The output appears only once the whole file is in.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// The server's address.
    ip: String,
    /// The server's port.
    port: u16,
    /// Where to store the file (the report's spelling by default).
    #[arg(short, long, default_value = DEFAULT_OUTPUT)]
    output: PathBuf,
    /// The shared key to send.
    #[arg(long, default_value = DEFAULT_KEY)]
    key: String,
    /// Give up when the server sends nothing for this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    timeout: u64,
    /// Print every read as the seed does: `Received Data :  b'…'`.
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    exit_with(run(Args::parse()))
}

fn run(args: Args) -> io::Result<()> {
    if args.timeout == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--timeout must be at least 1 second",
        ));
    }
    let config = ClientConfig {
        server: resolve(&args.ip, args.port)?,
        key: args.key.into_bytes(),
        output: args.output,
        timeout: Duration::from_secs(args.timeout),
        verbose: args.verbose,
    };
    let shutdown = Shutdown::install()?;
    match fetch(&config, &shutdown)? {
        Fetched::File { bytes, elapsed } => {
            println!("{SUCCESS_MESSAGE}");
            println!(
                "Received {bytes} bytes ({}) in {:.3} s ({}) into {}",
                human_bytes(bytes),
                elapsed.as_secs_f64(),
                human_rate(rate(bytes, elapsed)),
                config.output.display()
            );
            Ok(())
        }
        Fetched::Refused => {
            println!("{AUTH_ERROR_MESSAGE}");
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the server refused the key (AUTH_ERROR)",
            ))
        }
    }
}
