//! The kit's command-line vocabulary, defined once and flattened into every
//! binary with `#[command(flatten)]`, so the same idea has the same spelling
//! everywhere:
//!
//! | struct | flags |
//! |---|---|
//! | [`OutputArgs`] | `-q/--quiet`, `-v/--verbose`, `--json` |
//! | [`ListenArgs`] (servers) | `--bind HOST`, `-p/--port PORT` |
//! | [`ConnectArgs`] (clients) | `[HOST] [PORT]`, `--server HOST` (also `--ip`, `--host`), `-p/--port PORT` |
//! | [`LifecycleArgs`] (TCP servers) | `--max-clients N`, `--idle-timeout SECONDS` (and `--max-per-source N`, hidden until wired) |
//! | [`ReplyLimitArgs`] (UDP servers) | `--reply-burst BYTES`, `--reply-rate BYTES_PER_SEC` |
//!
//! Every duration is a number of seconds with fractions, parsed by
//! [`Seconds`] (`--timeout 0.5`). A seed's own command line keeps working:
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
use std::fmt::{self, Display};
use std::io;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

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
            output::warn(format_args!("{prefix}{error}"));
            ExitCode::FAILURE
        }
    }
}

/// Ends the process with a usage error: `error: <message>` and a hint on
/// stderr, exit status 2 (as clap's own usage errors).
pub fn usage_error(message: impl Display) -> ! {
    output::warn(format_args!(
        "error: {message}\n\nFor more information, try '--help'."
    ));
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

/// A duration given in seconds, fractions allowed (`10`, `0.25`): the one
/// parser behind every `--timeout`, `--idle-timeout`, `--wait`, … in the
/// kit. clap parses it with [`FromStr`] and shows defaults with [`Display`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seconds(pub Duration);

impl Seconds {
    /// Whole seconds, for defaults: `Seconds::new(10)`.
    pub const fn new(seconds: u64) -> Self {
        Seconds(Duration::from_secs(seconds))
    }

    /// A duration in milliseconds, for defaults below a second.
    pub const fn from_millis(millis: u64) -> Self {
        Seconds(Duration::from_millis(millis))
    }
}

/// The longest duration accepted anywhere: one day.
const MAX_SECONDS: f64 = 86_400.0;

impl FromStr for Seconds {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && (0.0..=MAX_SECONDS).contains(&s) => {
                Ok(Seconds(Duration::from_secs_f64(s)))
            }
            _ => Err(format!(
                "{text:?} is not a number of seconds from 0 to {MAX_SECONDS}"
            )),
        }
    }
}

impl Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.as_secs_f64())
    }
}

/// A clap value parser for a duration above zero (a timeout of 0 s would
/// give up before anything could happen).
pub fn positive_seconds(text: &str) -> Result<Seconds, String> {
    match text.parse::<Seconds>()? {
        Seconds(d) if d.is_zero() => Err(format!("{text:?} must be more than 0 seconds")),
        seconds => Ok(seconds),
    }
}

/// A clap value parser for a count of at least 1 (`--max-clients 64`).
pub fn positive_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(format!("{text:?} is not a whole number of at least 1")),
    }
}

/// Parses a rate in bits per second with an optional K/M/G suffix (powers of
/// 1000, as iperf3 `-b`): `"800M"` is 800,000,000. `"0"` means unpaced.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, multiplier) = match text.char_indices().last() {
        Some((at, 'k' | 'K')) => (&text[..at], 1_000.0),
        Some((at, 'm' | 'M')) => (&text[..at], 1_000_000.0),
        Some((at, 'g' | 'G')) => (&text[..at], 1_000_000_000.0),
        _ => (text, 1.0),
    };
    let value: f64 = digits.parse().map_err(|_| {
        format!("invalid rate {text:?}: expected a number with an optional K, M or G suffix")
    })?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("invalid rate {text:?}: must be zero or positive"));
    }
    Ok((value * multiplier).round() as u64)
}

/// Why a seed-style size argument was refused; `Display` gives the seed's
/// own message (the usage line names the running program instead of the
/// seed's file name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeError {
    /// Not exactly one argument.
    Usage,
    /// Not all ASCII digits (`str.isdigit()` in the seed).
    NotANumber,
    /// Outside the range allowed.
    OutOfRange(RangeInclusive<u64>),
}

impl Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeError::Usage => write!(f, "Usage: {} [size in MB to send]", program_name()),
            SizeError::NotANumber => f.write_str("Not a number!"),
            SizeError::OutOfRange(range) => write!(
                f,
                "size must be between {} and {}",
                range.start(),
                range.end()
            ),
        }
    }
}

impl std::error::Error for SizeError {}

/// The running program's file name (`a1-iperf-client`).
fn program_name() -> String {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|path| Some(path.file_name()?.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// Validates a client's positional arguments the way the a1 seed does: one
/// argument, all digits, within `range`; returns the size in MB.
pub fn parse_size_mb(args: &[String], range: RangeInclusive<u64>) -> Result<u64, SizeError> {
    let [arg] = args else {
        return Err(SizeError::Usage);
    };
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SizeError::NotANumber);
    }
    // All digits: only overflow can fail, and that is out of range too.
    match arg.parse::<u64>() {
        Ok(size) if range.contains(&size) => Ok(size),
        _ => Err(SizeError::OutOfRange(range)),
    }
}

/// The lowest port [`unreserved_port`] accepts: ports up to 1023 are
/// refused.
pub const LOWEST_SERVER_PORT: u16 = 1024;

/// A port argument that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortError {
    /// Not a number from 0 to 65535.
    NotANumber(String),
    /// A well-known port (1..=1023), refused by the server.
    Reserved(u16),
    /// Port 0 given to the client, which must name the server's real port.
    Zero,
}

impl Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortError::NotANumber(text) => {
                write!(f, "port {text:?} is not a number from 0 to 65535")
            }
            PortError::Reserved(port) => write!(
                f,
                "port {port} is reserved (ports up to 1023 are refused); \
                 choose one from {LOWEST_SERVER_PORT} to 65535"
            ),
            PortError::Zero => write!(f, "port 0 cannot be connected to"),
        }
    }
}

impl std::error::Error for PortError {}

fn parse_port_number(text: &str) -> Result<u16, PortError> {
    text.trim()
        .parse()
        .map_err(|_| PortError::NotANumber(text.to_string()))
}

/// A server `PORT` outside the well-known ports (a5's rule): 1024..=65535,
/// or 0 to let the system choose a free port (an extension for scripts and
/// tests; the readiness line names it).
pub fn unreserved_port(text: &str) -> Result<u16, PortError> {
    match parse_port_number(text)? {
        port @ 1..LOWEST_SERVER_PORT => Err(PortError::Reserved(port)),
        port => Ok(port),
    }
}

/// A port to connect to: any port from 1 to 65535.
pub fn connectable_port(text: &str) -> Result<u16, PortError> {
    match parse_port_number(text)? {
        0 => Err(PortError::Zero),
        port => Ok(port),
    }
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
/// the flags `--server HOST` (also spelled `--ip`, the ping handout's
/// `-ip`, and `--host`) and `-p/--port PORT`. Names, IPv4 and IPv6
/// literals all work.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectArgs {
    /// Server host name or address, IPv4 or IPv6 (same as --server).
    #[arg(value_name = "HOST")]
    pub host_arg: Option<String>,
    /// Server port (same as --port).
    #[arg(value_name = "PORT")]
    pub port_arg: Option<u16>,
    /// Server host name or address, IPv4 or IPv6 (the ping handout's `-ip`).
    #[arg(
        long = "server",
        visible_alias = "ip",
        alias = "host",
        value_name = "HOST"
    )]
    pub server: Option<String>,
    /// Server port (the ping handout's `-port`).
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
    fn seconds_accept_fractions_and_refuse_the_rest() {
        assert_eq!("10".parse(), Ok(Seconds::new(10)));
        assert_eq!("0.25".parse(), Ok(Seconds::from_millis(250)));
        assert_eq!(" 2 ".parse(), Ok(Seconds::new(2)));
        for bad in ["-1", "soon", "nan", "inf", "86401", ""] {
            assert!(bad.parse::<Seconds>().is_err(), "{bad:?} was accepted");
        }
        assert_eq!(Seconds::new(10).to_string(), "10");
        assert_eq!(Seconds::from_millis(500).to_string(), "0.5");
        assert!(positive_seconds("0").is_err());
        assert_eq!(positive_seconds("0.1"), Ok(Seconds::from_millis(100)));
    }

    #[test]
    fn counts_start_at_one() {
        assert_eq!(positive_count("1024"), Ok(1024));
        assert!(positive_count("0").is_err());
        assert!(positive_count("many").is_err());
    }

    #[test]
    fn rates_parse_with_suffixes() {
        assert_eq!(parse_rate("0"), Ok(0));
        assert_eq!(parse_rate("800"), Ok(800));
        assert_eq!(parse_rate("1.5K"), Ok(1500));
        assert_eq!(parse_rate("800M"), Ok(800_000_000));
        assert_eq!(parse_rate("2g"), Ok(2_000_000_000));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("-1M").is_err());
    }

    #[test]
    fn size_argument_follows_the_seed_rules() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let parse = |v: &[&str]| parse_size_mb(&args(v), 25..=200);
        let out_of_range = Err(SizeError::OutOfRange(25..=200));
        assert_eq!(parse(&["100"]), Ok(100));
        assert_eq!(parse(&["25"]), Ok(25));
        assert_eq!(parse(&["200"]), Ok(200));
        assert_eq!(parse(&[]), Err(SizeError::Usage));
        assert_eq!(parse(&["1", "2"]), Err(SizeError::Usage));
        assert_eq!(parse(&["abc"]), Err(SizeError::NotANumber));
        assert_eq!(parse(&["-5"]), Err(SizeError::NotANumber));
        assert_eq!(parse(&["2.5"]), Err(SizeError::NotANumber));
        assert_eq!(parse(&["24"]), out_of_range);
        assert_eq!(parse(&["201"]), out_of_range);
        assert_eq!(parse(&["99999999999999999999999"]), out_of_range);
        assert_eq!(SizeError::NotANumber.to_string(), "Not a number!");
        assert_eq!(
            SizeError::OutOfRange(25..=200).to_string(),
            "size must be between 25 and 200"
        );
        let usage = SizeError::Usage.to_string();
        assert!(usage.starts_with("Usage: ") && usage.ends_with(" [size in MB to send]"));
    }

    #[test]
    fn server_refuses_well_known_ports_and_words() {
        assert_eq!(unreserved_port("1023"), Err(PortError::Reserved(1023)));
        assert_eq!(unreserved_port("1"), Err(PortError::Reserved(1)));
        assert_eq!(
            unreserved_port("abc"),
            Err(PortError::NotANumber("abc".into()))
        );
        assert_eq!(
            unreserved_port("65536"),
            Err(PortError::NotANumber("65536".into()))
        );
        assert_eq!(
            unreserved_port("-5"),
            Err(PortError::NotANumber("-5".into()))
        );
        assert_eq!(unreserved_port("1024"), Ok(1024));
        assert_eq!(unreserved_port("65535"), Ok(65535));
        assert_eq!(unreserved_port("0"), Ok(0));
    }

    #[test]
    fn client_takes_any_real_port() {
        assert_eq!(connectable_port("80"), Ok(80));
        assert_eq!(connectable_port("0"), Err(PortError::Zero));
        assert_eq!(
            connectable_port("x1"),
            Err(PortError::NotANumber("x1".into()))
        );
    }

    #[test]
    fn port_errors_read_well() {
        assert_eq!(
            PortError::Reserved(1023).to_string(),
            "port 1023 is reserved (ports up to 1023 are refused); choose one from 1024 to 65535"
        );
        assert_eq!(
            PortError::NotANumber("abc".into()).to_string(),
            "port \"abc\" is not a number from 0 to 65535"
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
