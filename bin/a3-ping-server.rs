//! `a3-ping-server` — the a3 UDP ping server with artificial delay and loss.
//!
//! Seed form: `a3-ping-server -p PORT` (default 8080).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use socklab::a3_ping::server::{self, Impairment, ServerConfig, DEFAULT_PROBE_CREDIT};
use socklab::cli::{
    check_impairment, exit_with, probe_credit, ListenArgs, OutputArgs, ReplyLimitArgs, Seconds,
};
use socklab::output::JsonObject;
use socklab::shutdown::Shutdown;
use std::process::ExitCode;

/// UDP ping server: acknowledges probes after a random delay, dropping some.
///
/// Answers `C <size>` (calibration) and `exit` at once; any other datagram
/// is a probe, acknowledged with `Packet Acknowledged` (plus the probe's
/// sequence number when it has one) after a delay drawn from
/// [--min-delay, --max-delay], or not at all with probability --loss.
/// Stops at a client's `exit`, as the seed does.
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    listen: ListenArgs,
    /// Probability (0 to 1) that a probe gets no acknowledgement.
    #[arg(long, default_value_t = 0.1)]
    loss: f64,
    /// Shortest delay before an acknowledgement, in seconds.
    #[arg(long, default_value_t = Seconds(std::time::Duration::from_micros(100)), value_name = "SECONDS")]
    min_delay: Seconds,
    /// Longest delay before an acknowledgement, in seconds.
    #[arg(long, default_value_t = Seconds::from_millis(500), value_name = "SECONDS")]
    max_delay: Seconds,
    /// Random seed, for a run that repeats the same delays and losses.
    #[arg(long)]
    seed: Option<u64>,
    /// Honour `exit` from any address (default: only from 127.0.0.1 or ::1).
    #[arg(long)]
    remote_exit: bool,
    #[command(flatten)]
    reply_limits: ReplyLimitArgs,
    /// Reply bytes each probe earns its source, per byte of probe (on top
    /// of --reply-rate), so real clients are answered at any speed.
    #[arg(long, value_name = "RATIO", default_value_t = DEFAULT_PROBE_CREDIT, value_parser = probe_credit)]
    probe_credit: f64,
    #[command(flatten)]
    output: OutputArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.output.install();
    exit_with(run(&args))
}

fn run(args: &Args) -> std::io::Result<()> {
    check_impairment(args.loss, args.min_delay.0, args.max_delay.0)
        .map_err(std::io::Error::other)?;
    let port = args.listen.port_or(None, Some(8080));
    let config = ServerConfig {
        bind: ListenArgs::resolve(args.listen.host_or(None).as_deref(), port)?,
        impairment: Impairment {
            loss: args.loss,
            min_delay: args.min_delay.0,
            max_delay: args.max_delay.0,
        },
        seed: args.seed,
        verbose: args.output.verbose,
        remote_exit: args.remote_exit,
        reply_limits: args.reply_limits.limits(),
        probe_credit: args.probe_credit,
    };
    let shutdown = Shutdown::install()?;
    let socket = server::bind(&config)?;
    let (_, stats) = server::serve(&socket, &config, &shutdown)?;
    args.output.json(|| {
        JsonObject::new()
            .uint("probes", stats.probes)
            .uint("acked", stats.acked)
            .uint("dropped", stats.dropped)
            .uint("ignored", stats.ignored)
            .uint("abandoned", stats.abandoned)
            .uint("rate_limited", stats.limited)
            .uint("remote_exits_refused", stats.exits_refused)
    });
    Ok(())
}

const EXAMPLES: &str = "Examples:
  a3-ping-server -p 8080               delays acks 0.1 ms-0.5 s, drops 1 in 10 (as the course's)
  a3-ping-server -p 8080 --loss 0      delays only
  a3-ping-server -p 8080 --loss 0.2 --max-delay 0.1 --seed 7   a repeatable run";
