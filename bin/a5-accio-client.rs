//! `a5-accio-client HOST PORT FILE` — sends one file to an accio server.
#![deny(clippy::print_stdout, clippy::print_stderr)]
use clap::Parser;
use socklab::a5_accio::{self, client, protocol, Seconds};
use socklab::cli::{connectable_port, OutputArgs};
use socklab::output::{rate, JsonObject};
use socklab::shutdown::Shutdown;
use std::path::PathBuf;
use std::process::ExitCode;

/// a5 accio client: sends FILE's bytes to the server, half-closes, and waits
/// for the server's close (which means the file is saved). Errors print
/// `ERROR: …` and exit 1. (The seed's positional HOST PORT FILE only: a
/// required FILE after them leaves no room for optional positionals.)
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    /// The server's host name or address (IPv4 or IPv6)
    host: String,
    /// The server's port
    #[arg(value_parser = connectable_port)]
    port: u16,
    /// The file to send
    file: PathBuf,
    /// Give up if connecting, a send, or the server's final close takes longer
    #[arg(long, value_name = "SECONDS", default_value_t = Seconds(protocol::DEFAULT_CLIENT_TIMEOUT))]
    timeout: Seconds,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    let args = match a5_accio::parse_args::<Args>() {
        Ok(args) => args,
        Err(status) => return status,
    };
    args.output.install();
    let config = client::ClientConfig {
        host: args.host,
        port: args.port,
        file: args.file,
        timeout: args.timeout.0,
    };
    a5_accio::exit_with(Shutdown::install().and_then(|shutdown| {
        let upload = client::send_file(&config, &shutdown)?;
        socklab::report!("{upload}");
        args.output.json(|| {
            JsonObject::new()
                .str("server", &upload.server.to_string())
                .uint("sent_bytes", upload.bytes)
                .num("elapsed_seconds", upload.elapsed.as_secs_f64())
                .num("rate_bps", rate(upload.bytes, upload.elapsed) * 8.0)
        });
        Ok(())
    }))
}

const EXAMPLES: &str = "Examples:
  a5-accio-client 127.0.0.1 5000 notes.pdf   exits 0 once the server has saved it";
