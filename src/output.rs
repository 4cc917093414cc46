//! The one output path of the kit: every line a binary prints goes through
//! here, so the conventions live in one place.
//!
//! - Lines never panic on a closed pipe ([`say`], [`warn`], [`report`]): a
//!   server whose stdout was closed (`… | head -1`) keeps serving. The
//!   print macros are forbidden elsewhere (clippy's `print_stdout` and
//!   `print_stderr`, and `disallowed_methods` for `io::stdout()`), so no
//!   other path exists.
//! - The process's [`Mode`] (from `-q/--quiet` and `--json`, see
//!   [`crate::cli::OutputArgs`]) decides where a line goes:
//!
//!   | function | normal | `--quiet` | `--json` |
//!   |---|---|---|---|
//!   | [`say`] (progress, per-event lines) | stdout | dropped | stderr |
//!   | [`text`] (prompts; messages a client shows) | stdout | dropped / kept | stderr |
//!   | [`report`] (results, the summary) | stdout | stdout | stderr |
//!   | [`announce_listening`] (readiness) | stdout | stdout | stderr |
//!   | [`warn`] (warnings, errors) | stderr | stderr | stderr |
//!   | [`json`] (the one JSON object) | stdout | stdout | stdout |
//!
//! [`Writer::say`] and [`Writer::report`] take text built with `write!` the
//! same two ways. Also here: human-readable sizes and rates, a progress line on stderr
//! (only when stderr is a terminal), and a tiny JSON object writer.

#![allow(clippy::disallowed_methods)] // the one module that may touch stdout/stderr

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How much a process prints and in which form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mode {
    /// Drop the lines printed with [`say`].
    pub quiet: bool,
    /// stdout carries only the JSON object; human lines go to stderr.
    pub json: bool,
}

static QUIET: AtomicBool = AtomicBool::new(false);
static JSON: AtomicBool = AtomicBool::new(false);

/// Sets the process's output mode (once, in `main`, before any output).
pub fn set_mode(mode: Mode) {
    QUIET.store(mode.quiet, Ordering::Relaxed);
    JSON.store(mode.json, Ordering::Relaxed);
}

/// The process's output mode.
pub fn mode() -> Mode {
    Mode {
        quiet: QUIET.load(Ordering::Relaxed),
        json: JSON.load(Ordering::Relaxed),
    }
}

/// Writes `text` to stdout, or to stderr in `--json` mode, in one write
/// (so lines from different threads never interleave mid-line), and
/// flushes. Output errors (a closed pipe) are ignored.
#[cfg(not(test))]
fn human(text: &[u8]) {
    if mode().json {
        let _ = std::io::stderr().lock().write_all(text);
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text).and_then(|()| out.flush());
    }
}

fn line(args: std::fmt::Arguments<'_>) -> String {
    let mut text = String::with_capacity(64);
    let _ = writeln!(text, "{args}");
    text
}

/// Prints one progress or per-event line (dropped with `--quiet`). Unlike
/// `println!` it never panics: a server whose stdout pipe was closed
/// (`… | head`) must keep serving.
pub fn say(args: std::fmt::Arguments<'_>) {
    if !mode().quiet {
        human(line(args).as_bytes());
    }
}

/// Prints one line of a result or summary (kept with `--quiet`).
pub fn report(args: std::fmt::Arguments<'_>) {
    human(line(args).as_bytes());
}

/// Prints one line on stderr; like [`say`], output errors are ignored.
pub fn warn(args: std::fmt::Arguments<'_>) {
    #[cfg(not(test))]
    let _ = std::io::stderr().lock().write_all(line(args).as_bytes());
    #[cfg(test)]
    #[allow(clippy::print_stderr)]
    {
        eprint!("{}", line(args));
    }
}

/// Reports a run's failure: `<prefix><message>` on stderr and, with
/// `--json`, also one object on stdout, `{"error": "<message>",
/// "exit_status": <status>}`, so a script reading stdout always gets JSON.
pub fn fail(prefix: &str, message: &str, status: u8) {
    warn(format_args!("{prefix}{message}"));
    if mode().json {
        json(
            JsonObject::new()
                .str("error", message)
                .uint("exit_status", u64::from(status)),
        );
    }
}

/// Prints text as it is, without adding a newline (a prompt, or a message
/// that is the program's result), flushed at once. `keep_when_quiet` says
/// whether `--quiet` keeps it (a result) or drops it (a menu's prompt).
pub fn text(text: &str, keep_when_quiet: bool) {
    if keep_when_quiet || !mode().quiet {
        human(text.as_bytes());
    }
}

/// In unit tests, lines go through `print!` so that the test harness
/// captures them (it shows them only for a failing test).
#[cfg(test)]
#[allow(clippy::print_stdout)]
fn human(text: &[u8]) {
    print!("{}", String::from_utf8_lossy(text));
}

/// Prints the `--json` object on stdout, on a line of its own.
pub fn json(object: JsonObject) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", object.finish()).and_then(|()| out.flush());
}

/// A writer for text built with `write!`, going where [`say`] lines go
/// ([`Writer::say`]) or where [`report`] lines go ([`Writer::report`]);
/// output errors are ignored.
pub struct Writer {
    keep_when_quiet: bool,
}

impl Writer {
    /// Per-event text (dropped with `--quiet`).
    pub fn say() -> Writer {
        Writer {
            keep_when_quiet: false,
        }
    }

    /// Result text (kept with `--quiet`).
    pub fn report() -> Writer {
        Writer {
            keep_when_quiet: true,
        }
    }
}

impl Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.keep_when_quiet || !mode().quiet {
            human(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `say!("x = {x}")`: [`say`] with `format!` syntax.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::output::say(format_args!($($arg)*)) };
}

/// `report!("x = {x}")`: [`report`] with `format!` syntax.
#[macro_export]
macro_rules! report {
    ($($arg:tt)*) => { $crate::output::report(format_args!($($arg)*)) };
}

/// `warn!("x = {x}")`: [`warn`] with `format!` syntax.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::output::warn(format_args!($($arg)*)) };
}

/// Prints the readiness line every server prints once its socket is bound,
/// for example `Listening on 127.0.0.1:5555 (udp)`. Tests wait for it, and it
/// names the port actually bound (port 0 picks a free one).
pub fn announce_listening(addr: SocketAddr, transport: &str) {
    human(line(format_args!("Listening on {addr} ({transport})")).as_bytes());
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

/// Redraws a one-line status (a progress bar) on stderr when stderr is a
/// terminal; an empty `text` clears it. Elsewhere it prints nothing.
pub fn status_line(text: &str) {
    let mut err = std::io::stderr();
    if err.is_terminal() {
        let _ = write!(err, "\r\x1b[2K{text}");
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
        }
        self
    }

    /// Adds a string field.
    pub fn str(self, key: &str, value: &str) -> Self {
        self.field(key, JsonValue::Str(value))
    }

    /// Adds an unsigned integer field.
    pub fn uint(self, key: &str, value: u64) -> Self {
        self.field(key, JsonValue::Uint(value))
    }

    /// Adds a number rounded to 6 decimals (`null` when `None` or not
    /// finite), so `--json` never prints `0.30000000000000004`.
    pub fn num(self, key: &str, value: impl Into<Option<f64>>) -> Self {
        let rounded = value.into().map_or(f64::NAN, |x| (x * 1e6).round() / 1e6);
        self.field(key, JsonValue::Float(rounded))
    }

    /// Adds a boolean field.
    pub fn bool(self, key: &str, value: bool) -> Self {
        self.field(key, JsonValue::Bool(value))
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

/// Nested values for [`JsonObject`]: objects, arrays and `null`.
impl JsonObject {
    /// Adds `key: <json>`, where `json` is already valid JSON text (a
    /// finished object, an array from [`json_array`], or `null`).
    pub fn raw_field(mut self, key: &str, json: &str) -> Self {
        self.text.push(if self.text.is_empty() { '{' } else { ',' });
        push_json_string(&mut self.text, key);
        self.text.push(':');
        self.text.push_str(json);
        self
    }

    /// Adds `key: value` when `value` is `Some`, `key: null` otherwise.
    pub fn optional(self, key: &str, value: Option<JsonValue<'_>>) -> Self {
        match value {
            Some(value) => self.field(key, value),
            None => self.raw_field(key, "null"),
        }
    }
}

/// A JSON array of values that are already JSON text.
pub fn json_array(items: impl IntoIterator<Item = String>) -> String {
    let mut text = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&item);
    }
    text.push(']');
    text
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

/// A log printed by a thread of its own and bounded in bytes, for servers
/// whose log must never hold them up nor grow without limit: when stdout is
/// slower than the lines come (a terminal, a pipe nobody reads, a full
/// disk), lines beyond `budget` bytes of waiting text are dropped and
/// counted, and a line `! N log lines dropped: the log output is too slow`
/// takes their place once the printer catches up. [`BoundedLog::finish`]
/// prints what waits and returns how many lines were dropped in all.
pub struct BoundedLog {
    queue: std::sync::Arc<LogQueue>,
    printer: Option<std::thread::JoinHandle<()>>,
}

/// The lines waiting for the printer thread of a [`BoundedLog`].
struct LogQueue {
    state: std::sync::Mutex<LogState>,
    ready: std::sync::Condvar,
    budget: usize,
}

#[derive(Default)]
struct LogState {
    lines: std::collections::VecDeque<String>,
    bytes: usize,
    /// Dropped since the printer last reported it.
    dropped_unreported: u64,
    dropped_total: u64,
    closed: bool,
}

impl BoundedLog {
    /// Starts a log where [`say`] lines go, holding at most `budget` bytes
    /// of waiting lines.
    pub fn start(thread_name: &str, budget: usize) -> std::io::Result<BoundedLog> {
        Self::to_writer(thread_name, budget, Writer::say())
    }

    /// Like [`BoundedLog::start`], printing to `out`.
    pub fn to_writer(
        thread_name: &str,
        budget: usize,
        out: impl Write + Send + 'static,
    ) -> std::io::Result<BoundedLog> {
        let queue = std::sync::Arc::new(LogQueue {
            state: std::sync::Mutex::new(LogState::default()),
            ready: std::sync::Condvar::new(),
            budget,
        });
        let printing = queue.clone();
        let printer = std::thread::Builder::new()
            .name(thread_name.to_string())
            .spawn(move || printing.print_until_closed(out))?;
        Ok(BoundedLog {
            queue,
            printer: Some(printer),
        })
    }

    /// Queues one line (without its newline), or drops and counts it when
    /// `budget` bytes are already waiting.
    pub fn line(&self, line: impl Into<String>) {
        let line = line.into();
        let mut state = self.queue.lock();
        if state.bytes + line.len() > self.queue.budget {
            state.dropped_unreported += 1;
            state.dropped_total += 1;
            return;
        }
        state.bytes += line.len();
        state.lines.push_back(line);
        drop(state);
        self.queue.ready.notify_one();
    }

    /// How many lines were dropped so far.
    pub fn dropped(&self) -> u64 {
        self.queue.lock().dropped_total
    }

    /// Prints every waiting line, stops the printer and returns how many
    /// lines were dropped in all.
    pub fn finish(mut self) -> u64 {
        self.close();
        self.dropped()
    }

    fn close(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_one();
        if let Some(printer) = self.printer.take() {
            let _ = printer.join();
        }
    }
}

impl Drop for BoundedLog {
    fn drop(&mut self) {
        self.close();
    }
}

impl LogQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        crate::sync::lock(&self.state)
    }

    /// The printer thread: takes everything waiting at once and writes it
    /// with one flush, so a burst costs few system calls. Output errors (a
    /// closed stdout) are ignored: the server must keep serving.
    fn print_until_closed(&self, out: impl Write) {
        let mut out = std::io::BufWriter::new(out);
        let mut batch = std::collections::VecDeque::new();
        loop {
            let mut state = self.lock();
            while state.lines.is_empty() && state.dropped_unreported == 0 && !state.closed {
                state = crate::sync::wait(&self.ready, state);
            }
            if state.lines.is_empty() && state.dropped_unreported == 0 {
                return;
            }
            std::mem::swap(&mut batch, &mut state.lines);
            let dropped = std::mem::take(&mut state.dropped_unreported);
            drop(state);
            for line in batch.drain(..) {
                let _ = writeln!(out, "{line}");
                self.lock().bytes -= line.len();
            }
            if dropped > 0 {
                let _ = writeln!(
                    out,
                    "! {dropped} log lines dropped: the log output is too slow"
                );
            }
            let _ = out.flush();
            if batch.capacity() > 1024 {
                batch = std::collections::VecDeque::new();
            }
        }
    }
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
        let rounded = JsonObject::new()
            .num("a_seconds", 0.1 + 0.2)
            .num("b_bps", None)
            .uint("c_bytes", 3)
            .finish();
        assert_eq!(rounded, r#"{"a_seconds":0.3,"b_bps":null,"c_bytes":3}"#);
    }

    /// A writer that blocks until the test lets it go, then keeps what it got.
    struct Gate {
        open: std::sync::mpsc::Receiver<()>,
        got: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
        waited: bool,
    }

    impl Write for Gate {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if !self.waited {
                let _ = self.open.recv();
                self.waited = true;
            }
            self.got.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_slow_log_drops_lines_beyond_its_budget_and_says_so() {
        let (release, open) = std::sync::mpsc::channel();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let gate = Gate {
            open,
            got: got.clone(),
            waited: false,
        };
        let log = BoundedLog::to_writer("test-log", 100, gate).unwrap();
        for n in 0..1000 {
            log.line(format!("line {n:04} ..."));
        }
        let dropped = log.dropped();
        assert!((900..1000).contains(&dropped), "{dropped} dropped");
        release.send(()).unwrap();
        assert_eq!(log.finish(), dropped);
        let text = String::from_utf8(got.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("line 0000 ...\n"), "{text}");
        let (notes, lines): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with('!'));
        let reported: u64 = notes
            .iter()
            .map(|note| note[2..].split(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(reported, dropped, "{text}");
        assert_eq!(lines.len() as u64, 1000 - dropped);
    }

    #[test]
    fn json_nests_objects_arrays_and_null() {
        let inner = JsonObject::new().field("a", JsonValue::Uint(1)).finish();
        let json = JsonObject::new()
            .raw_field("inner", &inner)
            .raw_field("list", &json_array([inner.clone(), "2".to_string()]))
            .optional("none", None)
            .optional("some", Some(JsonValue::Bool(false)))
            .finish();
        assert_eq!(
            json,
            r#"{"inner":{"a":1},"list":[{"a":1},2],"none":null,"some":false}"#
        );
        assert_eq!(json_array([]), "[]");
    }
}
