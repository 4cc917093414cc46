//! The value parsers of the kit's flags and arguments, one per kind of
//! value: durations ([`Seconds`]), counts, rates, the a1 size argument and
//! port numbers. clap calls them (`value_parser = …`, or [`FromStr`]) so a
//! bad value is a usage error naming the flag, before anything runs.

use std::fmt::{self, Display};
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
