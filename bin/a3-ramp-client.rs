//! `a3-ramp-client` — the a3 decreasing-interval client with its plot.
//!
//! Seed form: `a3-ramp-client -ip HOST -port PORT -n COUNT -i SECONDS -s BYTES`
//! (`-p` works for the port too; `-i` is the first interval).

use clap::Parser;
use socklab::a3_ping::ramp::{self, RampConfig};
use socklab::a3_ping::session::{Target, SEED_FLAGS};
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
    #[command(flatten)]
    target: Target,
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
    let argv = socklab::cli::rewrite_seed_flags(std::env::args(), SEED_FLAGS);
    let args = Args::parse_from(argv);
    socklab::cli::exit_with(run(args))
}

fn run(args: Args) -> std::io::Result<()> {
    let config = RampConfig {
        target: args.target,
        plot: (!args.no_plot).then_some(args.plot),
        csv: args.csv,
        send_exit: !args.no_exit,
    };
    config.target.validate().map_err(std::io::Error::other)?;
    let shutdown = Shutdown::install()?;
    ramp::run(&config, &shutdown)
}
