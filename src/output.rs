//! Output helpers shared by every binary: lines that never panic on a
//! closed pipe ([`say`], [`warn`]), the readiness line servers print,
//! human-readable sizes and rates, a progress line on stderr (only when
//! stderr is a terminal), and a tiny JSON object writer for `--json`.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Prints one line on stdout. Unlike `println!` it never panics: a server
/// whose stdout pipe was closed (`… | head`) must keep serving.
pub fn say(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Prints one line on stderr; like [`say`], output errors are ignored.
pub fn warn(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Prints the readiness line every server prints once its socket is bound,
/// for example `Listening on 127.0.0.1:5555 (udp)`. Tests wait for it, and it
/// names the port actually bound (port 0 picks a free one).
pub fn announce_listening(addr: SocketAddr, transport: &str) {
    let mut out = std::io::stdout().lock();
    // Output errors (a closed pipe) must not stop a server.
    let _ = writeln!(out, "Listening on {addr} ({transport})");
    let _ = out.flush();
}

/// `1234567` → `"1.23 MB"` (decimal units, as the course uses).
pub fn human_bytes(bytes: u64) -> String {
    scaled(bytes as f64, "B")
}

/// Bytes per second → `"123.45 MB/s"`.
pub fn human_rate(bytes_per_second: f64) -> String {
    scaled(bytes_per_second, "B/s")
}

/// Bits per second → `"1.23 Gbit/s"`.
pub fn human_bits(bits_per_second: f64) -> String {
    scaled(bits_per_second, "bit/s")
}

fn scaled(value: f64, unit: &str) -> String {
    const PREFIXES: [&str; 5] = ["", "k", "M", "G", "T"];
    let mut value = value;
    let mut prefix = 0;
    while value.abs() >= 1000.0 && prefix < PREFIXES.len() - 1 {
        value /= 1000.0;
        prefix += 1;
    }
    if prefix == 0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.2} {}{unit}", PREFIXES[prefix])
    }
}

/// Bytes over a duration → bytes per second (0 for an empty duration, never
/// a division by zero).
pub fn rate(bytes: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        bytes as f64 / seconds
    } else {
        0.0
    }
}

/// A one-line progress display on stderr, redrawn at most every 200 ms and
/// only when stderr is a terminal (never in pipes, logs or tests).
pub struct Progress {
    label: String,
    total: Option<u64>,
    started: Instant,
    last_draw: Option<Instant>,
    enabled: bool,
}

impl Progress {
    /// A progress line for a transfer of `total` bytes (if known).
    pub fn new(label: impl Into<String>, total: Option<u64>) -> Self {
        Progress {
            label: label.into(),
            total,
            started: Instant::now(),
            last_draw: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// Reports that `done` bytes are through; draws only after the transfer
    /// has run a second and then at most five times a second.
    pub fn update(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.started) < Duration::from_secs(1) {
            return;
        }
        if self
            .last_draw
            .is_some_and(|last| now.duration_since(last) < Duration::from_millis(200))
        {
            return;
        }
        self.last_draw = Some(now);
        let speed = human_rate(rate(done, now.duration_since(self.started)));
        let line = match self.total {
            Some(total) if total > 0 => format!(
                "{}: {} / {} ({:.0}%) {}",
                self.label,
                human_bytes(done),
                human_bytes(total),
                done as f64 * 100.0 / total as f64,
                speed
            ),
            _ => format!("{}: {} {}", self.label, human_bytes(done), speed),
        };
        let _ = write!(std::io::stderr(), "\r\x1b[2K{line}");
    }

    /// Clears the progress line, if one was drawn.
    pub fn finish(&mut self) {
        if self.last_draw.take().is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A value in a [`JsonObject`].
pub enum JsonValue<'a> {
    /// A string, escaped on output.
    Str(&'a str),
    /// An unsigned integer.
    Uint(u64),
    /// A float (non-finite values become `null`).
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// Already formatted JSON (an array or object), inserted as is.
    Raw(&'a str),
}

/// Builds one flat JSON object, key by key, without a JSON crate.
#[derive(Default)]
pub struct JsonObject {
    text: String,
}

impl JsonObject {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key: value`.
    pub fn field(mut self, key: &str, value: JsonValue<'_>) -> Self {
        self.text.push(if self.text.is_empty() { '{' } else { ',' });
        push_json_string(&mut self.text, key);
        self.text.push(':');
        match value {
            JsonValue::Str(s) => push_json_string(&mut self.text, s),
            JsonValue::Uint(n) => {
                let _ = write!(self.text, "{n}");
            }
            JsonValue::Float(x) if x.is_finite() => {
                let _ = write!(self.text, "{x}");
            }
            JsonValue::Float(_) => self.text.push_str("null"),
            JsonValue::Bool(b) => self.text.push_str(if b { "true" } else { "false" }),
            JsonValue::Raw(json) => self.text.push_str(json),
        }
        self
    }

    /// The finished object text.
    pub fn finish(mut self) -> String {
        if self.text.is_empty() {
            self.text.push('{');
        }
        self.text.push('}');
        self.text
    }
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_decimal_units() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500), "1.50 kB");
        assert_eq!(human_bytes(100_000_000), "100.00 MB");
        assert_eq!(human_rate(2_500_000_000.0), "2.50 GB/s");
        assert_eq!(human_bits(8e6), "8.00 Mbit/s");
    }

    #[test]
    fn rate_of_empty_duration_is_zero() {
        assert_eq!(rate(100, Duration::ZERO), 0.0);
        assert_eq!(rate(100, Duration::from_secs(2)), 50.0);
    }

    #[test]
    fn json_object_escapes_and_orders_fields() {
        let json = JsonObject::new()
            .field("name", JsonValue::Str("a \"b\"\n"))
            .field("bytes", JsonValue::Uint(42))
            .field("loss", JsonValue::Float(0.5))
            .field("nan", JsonValue::Float(f64::NAN))
            .field("ok", JsonValue::Bool(true))
            .finish();
        assert_eq!(
            json,
            r#"{"name":"a \"b\"\n","bytes":42,"loss":0.5,"nan":null,"ok":true}"#
        );
        assert_eq!(JsonObject::new().finish(), "{}");
    }
}
