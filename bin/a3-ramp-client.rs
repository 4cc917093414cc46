//! `a3-ramp-client` — the a3 decreasing-interval client with its plot.
//!
//! Seed form: `a3-ramp-client -ip HOST -port PORT -n COUNT -i SECONDS -s BYTES`
//! (`-p` works for the port too; `-i` is the first interval).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use socklab::a3_ping::ramp::{self, RampConfig};
use socklab::cli::{
    check_output_path, exit_with, usage_error, OutputArgs, PingTarget, PING_SEED_FLAGS,
};
use socklab::shutdown::Shutdown;
use std::path::PathBuf;
use std::process::ExitCode;

/// UDP ramp client: sends COUNT probes, shrinking the interval by 5 % after
/// each, then prints throughput and delay per second and plots them.
///
/// Each probe may take up to its own interval to be acked. The plot is an
/// SVG file with two panels (throughput in bits/s, delay in s).
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    target: PingTarget,
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
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    let args: Args = socklab::cli::parse(PING_SEED_FLAGS);
    args.output.install();
    if let Err(problem) = args.target.validate() {
        usage_error(problem);
    }
    let config = RampConfig {
        target: args.target,
        plot: (!args.no_plot).then_some(args.plot),
        csv: args.csv,
        send_exit: !args.no_exit,
        json: args.output.json,
    };
    exit_with((|| {
        // Checked before the run: a bad path fails now, not after it.
        for path in config.plot.iter().chain(&config.csv) {
            check_output_path(path)?;
        }
        ramp::run(&config, &Shutdown::install()?)
    })())
}

const EXAMPLES: &str = "Examples:
  a3-ramp-client -ip 127.0.0.1 -port 8080 -n 20 -i 1 -s 1024     writes ramp.svg
  a3-ramp-client -ip 127.0.0.1 -port 8080 -n 30 -i 0.1 -s 1024 --csv ramp.csv";
