//! `a3-ping-server` — the a3 UDP ping server with artificial delay and loss.
//!
//! Seed form: `a3-ping-server -p PORT` (default 8080).

use clap::Parser;
use socklab::a3_ping::server::{self, Impairment, ServerConfig, DEFAULT_PROBE_CREDIT};
use socklab::ratelimit::ReplyLimits;
use socklab::shutdown::Shutdown;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

/// UDP ping server: acknowledges probes after a random delay, dropping some.
///
/// Answers `C <size>` (calibration) and `exit` at once; any other datagram
/// is a probe, acknowledged with `Packet Acknowledged` (plus the probe's
/// sequence number when it has one) after a delay drawn from
/// [--min-delay, --max-delay], or not at all with probability --loss.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// UDP port to listen on (0 picks a free one).
    #[arg(short, long, default_value_t = 8080)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Probability (0 to 1) that a probe gets no acknowledgement.
    #[arg(long, default_value_t = 0.1)]
    loss: f64,
    /// Shortest delay before an acknowledgement, in seconds.
    #[arg(long, default_value_t = 0.0001, value_name = "SECONDS", value_parser = parse_seconds)]
    min_delay: f64,
    /// Longest delay before an acknowledgement, in seconds.
    #[arg(long, default_value_t = 0.5, value_name = "SECONDS", value_parser = parse_seconds)]
    max_delay: f64,
    /// Random seed, for a run that repeats the same delays and losses.
    #[arg(long)]
    seed: Option<u64>,
    /// Print every datagram as the seed does (`Message from Client:b'…'`).
    #[arg(short, long)]
    verbose: bool,
    /// Honour `exit` from any address (default: only from 127.0.0.1 or ::1).
    #[arg(long)]
    remote_exit: bool,
    #[command(flatten)]
    reply_limits: ReplyLimits,
    /// Reply bytes each probe earns its source, per byte of probe (on top
    /// of --reply-rate), so real clients are answered at any speed.
    #[arg(long, value_name = "RATIO", default_value_t = DEFAULT_PROBE_CREDIT, value_parser = parse_credit)]
    probe_credit: f64,
}

fn parse_credit(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(ratio) if ratio.is_finite() && (0.0..=1000.0).contains(&ratio) => Ok(ratio),
        _ => Err(format!("{text:?} is not a number from 0 to 1000")),
    }
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && (0.0..=3600.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "{text:?} is not a number of seconds from 0 to 3600"
        )),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    socklab::cli::exit_with(run(&args))
}

fn run(args: &Args) -> std::io::Result<()> {
    let config = ServerConfig {
        bind: SocketAddr::new(args.bind, args.port),
        impairment: Impairment {
            loss: args.loss,
            min_delay: Duration::from_secs_f64(args.min_delay),
            max_delay: Duration::from_secs_f64(args.max_delay),
        },
        seed: args.seed,
        verbose: args.verbose,
        remote_exit: args.remote_exit,
        reply_limits: args.reply_limits,
        probe_credit: args.probe_credit,
    };
    config
        .impairment
        .validate()
        .map_err(std::io::Error::other)?;
    let shutdown = Shutdown::install()?;
    let socket = server::bind(&config)?;
    server::serve(&socket, &config, &shutdown)?;
    Ok(())
}
