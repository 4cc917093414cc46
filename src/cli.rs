//! The kit's command-line vocabulary, defined once and flattened into every
//! binary with `#[command(flatten)]`, so the same idea has the same spelling
//! everywhere:
//!
//! | struct | flags |
//! |---|---|
//! | [`OutputArgs`] | `-q/--quiet`, `-v/--verbose`, `--json` |
//! | [`ListenArgs`] (servers) | `--bind HOST`, `-p/--port PORT` |
//! | [`ConnectArgs`] (clients) | `[HOST] [PORT]`, `--server HOST`, `-p/--port PORT` |
//! | [`LifecycleArgs`] (TCP servers) | `--max-clients N`, `--idle-timeout SECONDS` (and `--max-per-source N`, hidden until wired) |
//! | [`ReplyLimitArgs`] (UDP servers) | `--reply-burst BYTES`, `--reply-rate BYTES_PER_SEC` |
//!
//! Every value a flag takes has its one parser (in `cli/value.rs`, re-exported
//! here): every duration is a number of seconds with fractions, parsed by
//! [`Seconds`] (`--timeout 0.5`); counts by [`positive_count`], rates by
//! [`parse_rate`], the a1 size by [`parse_size_mb`], the a5 ports by
//! [`unreserved_port`] and [`connectable_port`]. A seed's own command line keeps working:
//! positional `HOST PORT` stay beside the flags (a client's are part of
//! [`ConnectArgs`]; a server merges its own with [`ListenArgs::port_or`]),
//! and the handouts' single-dash words (`-ip`, `-port`) are rewritten by
//! [`rewrite_seed_flags`] before clap sees them ([`parse`] does both).
//! Output paths are checked before a run with [`check_output_path`].
//!
//! [`exit_with`] turns a binary's result into its exit status: 0, or one
//! `error: …` line on stderr and 1; usage errors exit 2 ([`usage_error`]).
//!
//! Every binary names itself in `--version` with
//! `#[command(name = env!("CARGO_BIN_NAME"), version)]`.

use crate::output;
use crate::ratelimit;
use std::fmt::Display;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

mod value;

pub use value::{
    connectable_port, parse_rate, parse_size_mb, positive_count, positive_seconds, unreserved_port,
    PortError, Seconds, SizeError, LOWEST_SERVER_PORT,
};

/// Rewrites each argument equal to a seed spelling (`from`) to its long form
/// (`to`); `--flag=value` and everything else pass through unchanged.
pub fn rewrite_seed_flags<I>(args: I, spellings: &[(&str, &str)]) -> Vec<String>
where
    I: IntoIterator<Item = String>,
{
    args.into_iter()
        .map(|arg| {
            spellings
                .iter()
                .find(|(from, _)| *from == arg)
                .map_or(arg, |(_, to)| (*to).to_string())
        })
        .collect()
}

/// Parses the process's arguments into `A` after rewriting the seed
/// spellings in `seed_flags`; a usage error exits with status 2.
pub fn parse<A: clap::Parser>(seed_flags: &[(&str, &str)]) -> A {
    A::parse_from(rewrite_seed_flags(std::env::args(), seed_flags))
}

/// Prints `error: <message>` on stderr for an error and maps the result to
/// an exit status: 0 on success, 1 on error.
pub fn exit_with<T, E: Display>(result: Result<T, E>) -> ExitCode {
    exit_with_prefix(result, "error: ")
}

/// Like [`exit_with`] with another prefix (a5 prints the course's `ERROR: `).
pub fn exit_with_prefix<T, E: Display>(result: Result<T, E>, prefix: &str) -> ExitCode {
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            output::fail(prefix, &error.to_string(), 1);
            ExitCode::FAILURE
        }
    }
}

/// Ends the process with a usage error: `error: <message>` and a hint on
/// stderr, exit status 2 (as clap's own usage errors).
pub fn usage_error(message: impl Display) -> ! {
    output::fail("error: ", &message.to_string(), 2);
    output::warn(format_args!("\nFor more information, try '--help'."));
    std::process::exit(2)
}

/// Checks, before a run, that a file can be written at `path` (`--plot`,
/// `--csv`, `-o`): it is not a directory, its directory exists, and a file
/// can be created there. The error names the path and the reason.
pub fn check_output_path(path: &Path) -> io::Result<()> {
    let invalid = |reason: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot write {}: {reason}", path.display()),
        )
    };
    if path.is_dir() {
        return Err(invalid("it is a directory"));
    }
    let name = path.file_name().ok_or_else(|| invalid("no file name"))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(invalid(&format!("no directory {}", dir.display())));
    }
    let probe = dir.join(format!(
        ".{}.{}.check",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| invalid(&e.to_string()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// `-q/--quiet`, `-v/--verbose` and `--json`: how much a binary prints and
/// in which form. [`OutputArgs::install`] hands them to [`crate::output`],
/// which every line goes through.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct OutputArgs {
    /// Print only the readiness line, the result or summary, and errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print more: the seed's per-datagram or per-read debug lines.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Print exactly one JSON object on stdout instead of the human report
    /// (servers: their summary, at exit); other lines go to stderr.
    #[arg(long)]
    pub json: bool,
}

impl OutputArgs {
    /// Sets the process's output mode from these flags.
    pub fn install(&self) {
        output::set_mode(output::Mode {
            quiet: self.quiet,
            json: self.json,
        });
    }

    /// With `--json`, prints the object `build` makes (the binary's one
    /// JSON object); without, does nothing.
    pub fn json(&self, build: impl FnOnce() -> output::JsonObject) {
        if self.json {
            output::json(build());
        }
    }
}

/// Where a server listens: `--bind HOST` (a name, an IPv4 or an IPv6
/// address) and `-p/--port PORT`. A server whose seed takes the port (or
/// host) as a positional argument keeps it; the flag is the same value.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ListenArgs {
    /// Address or host name to listen on (IPv4, IPv6 or a name)
    /// [default: every interface, IPv4 and IPv6 where the system allows].
    #[arg(long, value_name = "HOST")]
    pub bind: Option<String>,
    /// Port to listen on (0 picks a free one; the readiness line names it).
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    pub port: Option<u16>,
}

impl ListenArgs {
    /// The port: the flag, else the seed's positional, else `default`
    /// (`None`: a usage error, the port is required).
    pub fn port_or(&self, positional: Option<u16>, default: Option<u16>) -> u16 {
        match (self.port, positional) {
            (Some(flag), Some(pos)) if flag != pos => {
                usage_error(format_args!("two ports given: {pos} and --port {flag}"))
            }
            (Some(port), _) | (None, Some(port)) => port,
            (None, None) => {
                default.unwrap_or_else(|| usage_error("no port given (PORT or --port)"))
            }
        }
    }

    /// The seed's positionals `[HOST] [PORT]` read with the flags: after
    /// `--bind HOST`, a lone positional that is a number is the PORT
    /// (`--bind ::1 5000`).
    pub fn positionals(
        &self,
        host: Option<String>,
        port: Option<u16>,
    ) -> (Option<String>, Option<u16>) {
        match (&self.bind, host, port) {
            (Some(_), Some(lone), None) if lone.parse::<u16>().is_ok() => (None, lone.parse().ok()),
            (_, host, port) => (host, port),
        }
    }

    /// The host: `--bind`, else the seed's positional HOST (both given and
    /// different is a usage error); `None` means "every interface".
    pub fn host_or(&self, positional: Option<String>) -> Option<String> {
        match (self.bind.clone(), positional) {
            (Some(flag), Some(pos)) if flag != pos => {
                usage_error(format_args!("two hosts given: {pos} and --bind {flag}"))
            }
            (host, pos) => host.or(pos),
        }
    }

    /// The socket address to bind for `host` (from [`ListenArgs::host_or`])
    /// and `port`. No host means every interface: `[::]` with
    /// `IPV6_V6ONLY` off (see [`crate::net`]), so IPv4 and IPv6 clients both
    /// reach the server, or `0.0.0.0` where the system has no IPv6.
    pub fn resolve(host: Option<&str>, port: u16) -> io::Result<SocketAddr> {
        match host {
            Some(host) => crate::net::resolve(host, port),
            None => Ok(crate::net::any_address(port)),
        }
    }
}

/// Which server a client talks to: the seed's positional `HOST PORT`, or
/// the flags `--server HOST` (also accepted as `--ip` and `--host`) and
/// `-p/--port PORT`. Names, IPv4 and IPv6
/// literals all work.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectArgs {
    /// Server host name or address, IPv4 or IPv6 (same as --server).
    #[arg(value_name = "HOST")]
    pub host_arg: Option<String>,
    /// Server port (same as --port).
    #[arg(value_name = "PORT")]
    pub port_arg: Option<u16>,
    /// Server host name or address, IPv4 or IPv6.
    #[arg(long = "server", aliases = ["ip", "host"], value_name = "HOST")]
    pub server: Option<String>,
    /// Server port.
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    pub port: Option<u16>,
}

impl ConnectArgs {
    /// The host given, by flag or position (`None` when neither).
    pub fn given_host(&self) -> Option<&str> {
        self.server.as_deref().or(self.host_arg.as_deref())
    }

    /// The port given, by flag or position (`None` when neither).
    pub fn given_port(&self) -> Option<u16> {
        self.port.or(self.port_arg)
    }

    /// The host: `--server`, else HOST, else `default` (`None`: a usage
    /// error, the host is required). Both, and different: a usage error.
    pub fn host(&self, default: Option<&str>) -> String {
        if let (Some(flag), Some(pos)) = (&self.server, &self.host_arg) {
            if flag != pos {
                usage_error(format_args!("two servers given: {pos} and --server {flag}"));
            }
        }
        self.given_host()
            .or(default)
            .map(str::to_string)
            .unwrap_or_else(|| usage_error("no server given (HOST or --server)"))
    }

    /// The port: `--port`, else PORT, else `default` (`None`: a usage
    /// error). Both, and different: a usage error.
    pub fn port(&self, default: Option<u16>) -> u16 {
        ListenArgs {
            bind: None,
            port: self.port,
        }
        .port_or(self.port_arg, default)
    }
}

/// How a TCP server treats its connections: `--max-clients N` (served at
/// once), `--max-per-source N` (at once from one address) and
/// `--idle-timeout SECONDS` (a silent peer is dropped). `None` keeps the
/// server's own default.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct LifecycleArgs {
    /// Most clients served at once [default: the server's own].
    #[arg(long, value_name = "N", value_parser = positive_count)]
    pub max_clients: Option<usize>,
    /// Most clients served at once from one source address
    /// [default: a quarter of --max-clients, at least 8].
    #[arg(long, value_name = "N", value_parser = positive_count)]
    pub max_per_source: Option<usize>,
    /// Drop a client that sends nothing for this many seconds
    /// [default: the server's own].
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub idle_timeout: Option<Seconds>,
}

impl LifecycleArgs {
    /// The server's [`Limits`](crate::net::Limits): the flags given, the
    /// server's own defaults for the rest.
    pub fn limits(&self, default_max: usize, default_idle: Seconds) -> crate::net::Limits {
        let idle = self.idle_timeout.unwrap_or(default_idle).0;
        crate::net::Limits::new(self.max_clients.unwrap_or(default_max), idle)
            .with_share(self.max_per_source)
    }
}

/// `--reply-burst BYTES` and `--reply-rate BYTES_PER_SEC`: how much a UDP
/// server replies to one source address (see [`crate::ratelimit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct ReplyLimitArgs {
    /// Bytes of replies one source address may receive at once before the
    /// rate applies.
    #[arg(
        long = "reply-burst",
        value_name = "BYTES",
        default_value_t = ratelimit::DEFAULT_REPLY_BURST,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub burst_bytes: u64,
    /// Bytes of replies per second one source address may receive after
    /// its burst (replies beyond it are dropped and counted).
    #[arg(
        long = "reply-rate",
        value_name = "BYTES_PER_SEC",
        default_value_t = ratelimit::DEFAULT_REPLY_RATE,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub bytes_per_second: u64,
}

impl ReplyLimitArgs {
    /// The server's [`ReplyLimits`](ratelimit::ReplyLimits).
    pub fn limits(&self) -> ratelimit::ReplyLimits {
        ratelimit::ReplyLimits {
            burst_bytes: self.burst_bytes,
            bytes_per_second: self.bytes_per_second,
        }
    }
}

// ---------------------------------------------------------------------------
// a3 ping: the probing clients' target and the server's artificial network.
// ---------------------------------------------------------------------------

/// The largest UDP payload over IPv4 (65,535 bytes less the 20-byte IP and
/// 8-byte UDP headers): the largest ping probe.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// The ping handout's single-dash flags and the long forms clap understands.
pub const PING_SEED_FLAGS: &[(&str, &str)] = &[("-ip", "--ip"), ("-port", "--port")];

/// What both ping clients are told on the command line: where the server
/// is and what to send (the seed's `-ip -port -n -i -s`; the binaries
/// rewrite the single-dash seed spellings with [`PING_SEED_FLAGS`] before
/// parsing). The server is the kit's [`ConnectArgs`]: `--server` (or the
/// seed's `--ip`) and `-p/--port`.
#[derive(Debug, Clone, clap::Args)]
pub struct PingTarget {
    #[command(flatten)]
    pub server: ConnectArgs,
    /// Number of probes.
    #[arg(short = 'n', long = "count", value_name = "COUNT")]
    pub count: u64,
    /// Seconds between probes, fractions allowed (the ramp: the first interval).
    #[arg(short, long, value_name = "SECONDS")]
    pub interval: f64,
    /// Probe size in bytes (1 to 65507).
    #[arg(short, long, value_name = "BYTES")]
    pub size: usize,
}

impl PingTarget {
    /// Checks that the server is given, and the count, interval and size.
    pub fn validate(&self) -> Result<(), String> {
        if self.server.given_host().is_none() {
            return Err("no server given (-ip HOST or --server HOST)".into());
        }
        if self.server.given_port().is_none() {
            return Err("no server port given (-port PORT or --port PORT)".into());
        }
        if self.count == 0 {
            return Err("the number of messages (-n) must be at least 1".into());
        }
        if !self.interval.is_finite() || self.interval <= 0.0 || self.interval > 3600.0 {
            return Err(format!(
                "the interval (-i) must be a number of seconds above 0 and up to 3600, not {}",
                self.interval
            ));
        }
        if !(1..=MAX_UDP_PAYLOAD).contains(&self.size) {
            return Err(format!(
                "the packet size (-s) must be between 1 and {MAX_UDP_PAYLOAD}, not {}",
                self.size
            ));
        }
        Ok(())
    }
}

/// Checks the ping server's `--loss`, `--min-delay` and `--max-delay`:
/// the loss is a probability (0 to 1) and the shortest delay is no longer
/// than the longest.
pub fn check_impairment(loss: f64, min_delay: Duration, max_delay: Duration) -> Result<(), String> {
    if !(0.0..=1.0).contains(&loss) {
        return Err(format!("--loss must be between 0 and 1, not {loss}"));
    }
    if min_delay > max_delay {
        return Err(format!(
            "--min-delay ({min_delay:?}) is larger than --max-delay ({max_delay:?})"
        ));
    }
    Ok(())
}

/// A clap value parser for the ping server's `--probe-credit`: a ratio
/// from 0 to 1000.
pub fn probe_credit(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(ratio) if ratio.is_finite() && (0.0..=1000.0).contains(&ratio) => Ok(ratio),
        _ => Err(format!("{text:?} is not a number from 0 to 1000")),
    }
}

#[cfg(test)]
mod ping_tests {
    use super::*;

    #[test]
    fn ping_targets_are_checked() {
        let target = |count, interval, size| PingTarget {
            server: ConnectArgs {
                server: Some("127.0.0.1".into()),
                port: Some(8080),
                ..ConnectArgs::default()
            },
            count,
            interval,
            size,
        };
        assert!(target(10, 0.5, 1024).validate().is_ok());
        assert!(target(0, 0.5, 1024).validate().is_err());
        assert!(target(1, 0.0, 1024).validate().is_err());
        assert!(target(1, f64::NAN, 1024).validate().is_err());
        assert!(target(1, 0.5, 0).validate().is_err());
        assert!(target(1, 0.5, 65_507).validate().is_ok());
        assert!(target(1, 0.5, 65_508).validate().is_err());
        let mut no_port = target(1, 0.5, 10);
        no_port.server.port = None;
        assert!(no_port.validate().unwrap_err().contains("port"));
    }

    #[test]
    fn impairment_settings_are_checked() {
        let ms = Duration::from_millis;
        assert!(check_impairment(0.1, ms(0), ms(500)).is_ok());
        assert!(check_impairment(1.5, ms(0), ms(500))
            .unwrap_err()
            .contains("--loss"));
        assert!(check_impairment(f64::NAN, ms(0), ms(500)).is_err());
        assert!(check_impairment(0.1, ms(2000), ms(500))
            .unwrap_err()
            .contains("--min-delay"));
    }

    #[test]
    fn probe_credit_is_a_ratio_up_to_1000() {
        assert_eq!(probe_credit("2"), Ok(2.0));
        assert_eq!(probe_credit("0"), Ok(0.0));
        for bad in ["-1", "1001", "nan", "inf", "lots"] {
            assert!(probe_credit(bad).is_err(), "{bad:?} was accepted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_flags_become_long_flags() {
        let args = [
            "prog",
            "-ip",
            "127.0.0.1",
            "-port",
            "8080",
            "-n",
            "3",
            "--ip=x",
        ]
        .map(String::from);
        let rewritten = rewrite_seed_flags(args, &[("-ip", "--ip"), ("-port", "--port")]);
        assert_eq!(
            rewritten,
            [
                "prog",
                "--ip",
                "127.0.0.1",
                "--port",
                "8080",
                "-n",
                "3",
                "--ip=x"
            ]
        );
    }

    #[test]
    fn output_paths_are_checked_before_a_run() {
        let dir = std::env::temp_dir();
        assert!(check_output_path(&dir.join("socklab-cli-check.svg")).is_ok());
        let missing = check_output_path(Path::new("no-such-dir-socklab/r.svg")).unwrap_err();
        assert!(missing.to_string().contains("no directory"), "{missing}");
        assert!(check_output_path(&dir).is_err());
    }

    #[test]
    fn flags_and_positionals_merge() {
        let listen = ListenArgs {
            bind: Some("::1".into()),
            port: Some(7),
        };
        assert_eq!(listen.port_or(None, Some(1)), 7);
        assert_eq!(listen.port_or(Some(7), None), 7);
        assert_eq!(listen.host_or(None).as_deref(), Some("::1"));
        let mut connect = ConnectArgs::default();
        assert_eq!(connect.host(Some("127.0.0.1")), "127.0.0.1");
        connect.host_arg = Some("h".into());
        connect.port_arg = Some(9);
        assert_eq!(connect.host(None), "h");
        assert_eq!(connect.port(Some(1)), 9);
        connect.server = Some("h".into());
        assert_eq!(connect.given_host(), Some("h"));
        assert!(ListenArgs::resolve(None, 5).unwrap().ip().is_unspecified());
    }
}
