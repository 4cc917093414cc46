//! `a3-ramp-client` — the a3 decreasing-interval client with its plot.
//!
//! Seed form: `a3-ramp-client -ip HOST -port PORT -n COUNT -i SECONDS -s BYTES`
//! (`-p` works for the port too; `-i` is the first interval).

use clap::Parser;
use socklab::a3_ping::client;
use socklab::a3_ping::ramp::{self, RampConfig};
use socklab::shutdown::Shutdown;
use std::path::PathBuf;
use std::process::ExitCode;

/// UDP ramp client: sends COUNT probes, shrinking the interval by 5 % after
/// each, then prints throughput and delay per second and plots them.
///
/// Each probe may take up to its own interval to be acked. The plot is an
/// SVG file with two panels (throughput in bits/s, delay in s).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Server host name or address (seed: `-ip`).
    #[arg(long)]
    ip: String,
    /// Server port (seed: `-port` or `-p`).
    #[arg(short, long)]
    port: u16,
    /// Number of probes.
    #[arg(short = 'n', long = "count", value_name = "COUNT")]
    count: u64,
    /// The first interval in seconds (fractions allowed).
    #[arg(short, long, value_name = "SECONDS")]
    interval: f64,
    /// Probe size in bytes (1 to 65507).
    #[arg(short, long, value_name = "BYTES")]
    size: usize,
    /// Where to write the SVG plot.
    #[arg(long, value_name = "PATH", default_value = "ramp.svg")]
    plot: PathBuf,
    /// Do not write a plot.
    #[arg(long, conflicts_with = "plot")]
    no_plot: bool,
    /// Also write the per-second table as CSV to PATH.
    #[arg(long, value_name = "PATH")]
    csv: Option<PathBuf>,
    /// Do not send `exit` at the end (leaves the server running).
    #[arg(long)]
    no_exit: bool,
}

fn main() -> ExitCode {
    let argv =
        socklab::cli::rewrite_seed_flags(std::env::args(), &[("-ip", "--ip"), ("-port", "--port")]);
    let args = Args::parse_from(argv);
    socklab::cli::exit_with(run(args))
}

fn run(args: Args) -> std::io::Result<()> {
    let config = RampConfig {
        host: args.ip,
        port: args.port,
        count: args.count,
        interval: args.interval,
        size: args.size,
        plot: (!args.no_plot).then_some(args.plot),
        csv: args.csv,
        send_exit: !args.no_exit,
    };
    client::validate(config.count, config.interval, config.size).map_err(std::io::Error::other)?;
    let shutdown = Shutdown::install()?;
    ramp::run(&config, &shutdown)
}
