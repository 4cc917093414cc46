//! How a1 shows its figures: iperf3-like interval rows for people, and
//! JSON objects with iperf3's key names for programs.
//!
//! Human rows (one per stream per interval, plus `[SUM]` with several
//! streams):
//!
//! ```text
//! [ ID] Interval          Transfer        Bitrate  Datagrams      Jitter  Lost/Total
//! [  0]  0.00-1.00  sec   97.50 MB  780.00 Mbit/s      65000    0.012 ms  0/65000 (0%)
//! ```
//!
//! The client prints the sender's and the receiver's columns side by side
//! (`|` between them). JSON figures use `bytes`, `seconds`,
//! `bits_per_second`, `packets`, and on the receiver's side `lost_packets`,
//! `lost_percent`, `jitter_ms`, `out_of_order`, `duplicates` (`null` when
//! that side could not know them, e.g. a seed program on the other end).

use super::client::{ClientConfig, ClientReport};
use super::server::{ServerConfig, TestEnd, TestReport};
use super::stats::{Figures, Interval, View};
use crate::output::{self, human_bits, human_bytes, json_array, JsonObject, JsonValue};
use crate::{report, say, warn};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Width of one side's columns in a human row.
const SIDE_WIDTH: usize = 41;

/// `[  3]` or `[SUM]`.
pub fn id_label(stream: Option<u16>) -> String {
    match stream {
        Some(id) => format!("[{id:>3}]"),
        None => "[SUM]".to_string(),
    }
}

fn interval_label(start: f64, end: f64) -> String {
    format!("{start:>6.2}-{end:<6.2} sec")
}

/// One side's transfer, bitrate and datagrams columns.
fn side_columns(f: Option<&Figures>) -> String {
    match f {
        Some(f) => format!(
            "{:>10} {:>15} {:>10}",
            human_bytes(f.bytes),
            human_bits(f.bits_per_second()),
            f.packets
        ),
        None => format!("{:>SIDE_WIDTH$}", "-"),
    }
}

/// The receiver-only columns: jitter and lost/total (percent).
fn receiver_columns(f: Option<&Figures>) -> String {
    let jitter = f
        .and_then(|f| f.jitter_ms)
        .map_or_else(|| "-".to_string(), |j| format!("{j:.3} ms"));
    let lost = match f.and_then(|f| Some((f.lost?, f.lost_percent()?, f))) {
        Some((lost, percent, f)) => {
            let unique = f.packets - f.duplicates.unwrap_or(0).min(f.packets);
            format!("{lost}/{} ({percent:.2}%)", lost + unique)
        }
        None => "-".to_string(),
    };
    format!("{jitter:>11}  {lost:<19}")
}

/// The heading over one-side rows ([`one_side_row`]).
pub fn one_side_heading(receiver: bool) -> String {
    let mut line = format!(
        "[ ID] Interval         {:>10} {:>15} {:>10}",
        "Transfer", "Bitrate", "Datagrams"
    );
    if receiver {
        line.push_str(&format!("{:>11}  {:<19}", "Jitter", "Lost/Total"));
    }
    line.trim_end().to_string()
}

/// A row of one side's figures (the server's live reports).
pub fn one_side_row(
    stream: Option<u16>,
    start: f64,
    end: f64,
    f: &Figures,
    receiver: bool,
) -> String {
    let mut line = format!(
        "{} {} {}",
        id_label(stream),
        interval_label(start, end),
        side_columns(Some(f))
    );
    if receiver {
        line.push_str(&receiver_columns(Some(f)));
    }
    line.trim_end().to_string()
}

/// The heading over side-by-side rows ([`two_side_row`]).
pub fn two_side_heading() -> String {
    let side = format!("{:>10} {:>15} {:>10}", "Transfer", "Bitrate", "Datagrams");
    format!(
        "[ ID] Interval          | sender {side} | receiver {side}{:>11}  {}",
        "Jitter", "Lost/Total"
    )
}

/// A row with the sender's and the receiver's figures side by side.
pub fn two_side_row(
    stream: Option<u16>,
    start: f64,
    end: f64,
    sender: Option<&Figures>,
    receiver: Option<&Figures>,
) -> String {
    let line = format!(
        "{} {} | sender {} | receiver {}{}",
        id_label(stream),
        interval_label(start, end),
        side_columns(sender),
        side_columns(receiver),
        if receiver.is_some() {
            receiver_columns(receiver)
        } else {
            String::new()
        }
    );
    line.trim_end().to_string()
}

/// One side's interval rows, as [`View::interval_rows`] gives them.
pub type Rows = [(f64, f64, Vec<Interval>)];

/// The index of the row in `rows` that covers the same interval as
/// `start..end`: the same start and length (each side closes its own
/// intervals, so a side with another `--interval` matches nothing), or,
/// for the `last` row, the other side's last row with the same start (a
/// final partial interval ends at each side's own last datagram).
pub fn matching_row(rows: &Rows, start: f64, end: f64, last: bool) -> Option<usize> {
    const TOLERANCE: f64 = 1e-3;
    let final_row = rows.len().checked_sub(1);
    rows.iter().enumerate().position(|(k, (s, e, _))| {
        (s - start).abs() < TOLERANCE
            && ((e - end).abs() < TOLERANCE || (last && Some(k) == final_row))
    })
}

/// One row of a side-by-side report: an interval and each side's records
/// for it (`None` where that side has no such interval).
pub type PairedRow = (f64, f64, Option<Vec<Interval>>, Option<Vec<Interval>>);

/// Pairs the sender's interval rows with the receiver's
/// ([`matching_row`]); a receiver row that no sender row matches gets a row
/// of its own, so each side's rows all appear once.
pub fn paired_rows(sender: &View, receiver: Option<&View>) -> Vec<PairedRow> {
    let sender_rows = sender.interval_rows();
    let receiver_rows = receiver.map(View::interval_rows).unwrap_or_default();
    let last = sender_rows.len().saturating_sub(1);
    let mut used = vec![false; receiver_rows.len()];
    let mut rows: Vec<PairedRow> = Vec::new();
    for (k, (start, end, records)) in sender_rows.into_iter().enumerate() {
        let matched = matching_row(&receiver_rows, start, end, k == last).map(|i| {
            used[i] = true;
            receiver_rows[i].2.clone()
        });
        rows.push((start, end, Some(records), matched));
    }
    for ((start, end, records), used) in receiver_rows.into_iter().zip(used) {
        if !used {
            rows.push((start, end, None, Some(records)));
        }
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    rows
}

/// The side-by-side table of a finished test: interval rows (per stream
/// and `[SUM]` with several streams), then the totals.
pub fn two_side_table(sender: &View, receiver: Option<&View>) -> Vec<String> {
    let streams = sender.streams.len();
    let mut lines = vec![two_side_heading()];
    for (start, end, sent, received) in paired_rows(sender, receiver) {
        let records = sent
            .as_ref()
            .or(received.as_ref())
            .cloned()
            .unwrap_or_default();
        for record in &records {
            let find = |side: &Option<Vec<Interval>>| {
                side.as_ref()
                    .and_then(|r| r.iter().find(|i| i.stream == record.stream))
                    .map(|i| i.figures)
            };
            lines.push(two_side_row(
                Some(record.stream),
                start,
                end,
                find(&sent).as_ref(),
                find(&received).as_ref(),
            ));
        }
        if streams > 1 {
            let sum = |side: &Option<Vec<Interval>>| {
                side.as_ref()
                    .map(|r| Figures::sum(r.iter().map(|i| &i.figures)))
            };
            lines.push(two_side_row(
                None,
                start,
                end,
                sum(&sent).as_ref(),
                sum(&received).as_ref(),
            ));
        }
    }
    lines.push("- - - - - - - - - - - - - - - - - - - - - - - - -".to_string());
    lines.extend(two_side_totals(sender, receiver));
    lines
}

/// The totals under the side-by-side table: per stream, then `[SUM]`.
fn two_side_totals(sender: &View, receiver: Option<&View>) -> Vec<String> {
    let streams = sender.streams.len();
    let mut lines = Vec::new();
    for (stream, sent) in sender.streams.iter().enumerate() {
        let received = receiver.and_then(|r| r.streams.get(stream));
        if streams > 1 || receiver.is_some() {
            lines.push(two_side_row(
                Some(stream as u16),
                0.0,
                sent.seconds.max(received.map_or(0.0, |r| r.seconds)),
                Some(sent),
                received,
            ));
        }
    }
    if streams > 1 {
        let sent = sender.total();
        let received = receiver.map(View::total);
        lines.push(two_side_row(
            None,
            0.0,
            sent.seconds.max(received.map_or(0.0, |r| r.seconds)),
            Some(&sent),
            received.as_ref(),
        ));
    }
    lines
}

/// The receiver's loss line, when the figures have sequence statistics:
/// `Lost datagrams: L (P%), duplicates: D, out of order: O, jitter: J ms`.
pub fn loss_line(f: &Figures) -> Option<String> {
    let (lost, percent) = (f.lost?, f.lost_percent()?);
    Some(format!(
        "Lost datagrams: {lost} ({percent:.3}%), duplicates: {}, out of order: {}, jitter: {:.3} ms",
        f.duplicates.unwrap_or(0),
        f.out_of_order.unwrap_or(0),
        f.jitter_ms.unwrap_or(0.0)
    ))
}

/// One side's figures as a JSON object: `bytes`, `seconds`,
/// `bits_per_second`, `packets`, and for a receiver `lost_packets`,
/// `lost_percent`, `jitter_ms`, `out_of_order`, `duplicates`.
pub fn figures_json(f: &Figures, receiver: bool) -> JsonObject {
    let object = JsonObject::new()
        .field("bytes", JsonValue::Uint(f.bytes))
        .field("seconds", JsonValue::Float(f.seconds))
        .field("bits_per_second", JsonValue::Float(f.bits_per_second()))
        .field("packets", JsonValue::Uint(f.packets));
    if receiver {
        receiver_fields(object, Some(f))
    } else {
        object
    }
}

fn receiver_fields(object: JsonObject, f: Option<&Figures>) -> JsonObject {
    object
        .optional("lost_packets", f.and_then(|f| f.lost).map(JsonValue::Uint))
        .optional(
            "lost_percent",
            f.and_then(Figures::lost_percent).map(JsonValue::Float),
        )
        .optional(
            "jitter_ms",
            f.and_then(|f| f.jitter_ms).map(JsonValue::Float),
        )
        .optional(
            "out_of_order",
            f.and_then(|f| f.out_of_order).map(JsonValue::Uint),
        )
        .optional(
            "duplicates",
            f.and_then(|f| f.duplicates).map(JsonValue::Uint),
        )
}

/// A receiver object for a seed server, which only tells its rate: every
/// other figure is `null`.
pub fn rate_only_json(bits_per_second: Option<f64>) -> String {
    let object = JsonObject::new()
        .raw_field("bytes", "null")
        .raw_field("seconds", "null")
        .optional("bits_per_second", bits_per_second.map(JsonValue::Float))
        .raw_field("packets", "null");
    receiver_fields(object, None).finish()
}

/// One interval as a JSON object: `start`, `end`, `seconds`, then the
/// figures of `main` (receiver figures when `receiver`), then, if given, the
/// other side's figures under its key (`null` when that side has no such
/// interval).
pub fn interval_json(
    start: f64,
    end: f64,
    main: Option<&Figures>,
    receiver: bool,
    other: Option<(&str, Option<&Figures>, bool)>,
) -> String {
    let mut object = JsonObject::new()
        .field("start", JsonValue::Float(start))
        .field("end", JsonValue::Float(end))
        .field("seconds", JsonValue::Float(end - start));
    object = match main {
        Some(f) => object
            .field("bytes", JsonValue::Uint(f.bytes))
            .field("bits_per_second", JsonValue::Float(f.bits_per_second()))
            .field("packets", JsonValue::Uint(f.packets)),
        None => object
            .raw_field("bytes", "null")
            .raw_field("bits_per_second", "null")
            .raw_field("packets", "null"),
    };
    if receiver {
        object = receiver_fields(object, main);
    }
    if let Some((key, figures, is_receiver)) = other {
        let text = figures.map_or_else(
            || "null".to_string(),
            |f| figures_json(f, is_receiver).finish(),
        );
        object = object.raw_field(key, &text);
    }
    object.finish()
}

/// The JSON `intervals` array of one side's [`View`], summed over streams.
pub fn intervals_json(view: &View, receiver: bool) -> String {
    json_array(
        view.interval_rows()
            .into_iter()
            .map(|(start, end, records)| {
                let sum = Figures::sum(records.iter().map(|r| &r.figures));
                interval_json(start, end, Some(&sum), receiver, None)
            }),
    )
}

/// Prints interval rows as they close (per stream when several, then
/// `[SUM]`), with the heading before the first: the one live-row printer
/// of the client, the server, and the server's reverse sender.
pub fn print_interval_rows(closed: &[Interval], receiver: bool, printed_heading: &mut bool) {
    if !*printed_heading {
        say!("{}", one_side_heading(receiver));
        *printed_heading = true;
    }
    if closed.len() > 1 {
        for i in closed {
            say!(
                "{}",
                one_side_row(Some(i.stream), i.start, i.end, &i.figures, receiver)
            );
        }
    }
    if let Some(first) = closed.first() {
        let sum = Figures::sum(closed.iter().map(|i| &i.figures));
        let stream = (closed.len() == 1).then_some(first.stream);
        say!(
            "{}",
            one_side_row(stream, first.start, first.end, &sum, receiver)
        );
    }
}

/// How many stray datagrams are logged per wait or test before the log
/// goes quiet.
const STRAY_LOG_LIMIT: u64 = 5;

/// Logs the server's `strays`-th stray datagram (the first few of each
/// wait or test).
pub fn log_stray(strays: u64, len: usize, from: SocketAddr, waiting_for: &str) {
    if strays <= STRAY_LOG_LIMIT {
        warn!("ignoring a {len}-byte datagram from {from}: {waiting_for}");
    } else if strays == STRAY_LOG_LIMIT + 1 {
        warn!("ignoring further datagrams from other sources (not logged)");
    }
}

/// The server's line after its readiness line (the seed's).
pub fn server_ready(json: bool) {
    if !json {
        say!("Server is receiving data now...");
    }
}

/// The server's last words: one JSON object with every test, or (stopped
/// by Ctrl-C or SIGTERM) the summary line every server prints. A
/// seed-style run that ends after its one test keeps the seed's last line.
pub fn server_summary(reports: &[TestReport], json: bool, stopped: bool) {
    if json {
        let tests = json_array(reports.iter().map(TestReport::to_json));
        output::json(JsonObject::new().raw_field("tests", &tests));
    } else if stopped {
        report!("Server stopped: {} test(s) served", reports.len());
    }
}

impl TestReport {
    /// What the server says when a test is over: a warning for a client
    /// that went silent, then (unless `--json`) the report and the reply.
    pub fn print_end(&self, config: &ServerConfig) {
        if self.end == TestEnd::IdleTimeout {
            warn!(
                "client {} sent nothing for {:.1} s: ending its test without STOP",
                self.client,
                config.idle_timeout.as_secs_f64()
            );
        }
        if config.json {
            return;
        }
        if self.end == TestEnd::Refused {
            self.print_how_it_ended();
            return;
        }
        self.print();
        if matches!(self.end, TestEnd::Stopped | TestEnd::TimeLimit) {
            report!("{}", self.reply());
        }
        say!("Server process completed iPerfectly!");
    }

    /// Prints the seed's report lines (verbatim) and a few more.
    pub fn print(&self) {
        let total = self.view.total();
        let verb = if self.reverse { "sent" } else { "received" };
        report!("Time that first packet was received: {}", self.started_unix);
        report!("Client IP address:  {}", self.client.ip());
        report!("Size of data {verb} (bytes):  {}", total.bytes);
        report!(
            "Time taken to {} (seconds):  {}",
            if self.reverse { "send" } else { "receive" },
            self.receive_time.as_secs_f64()
        );
        report!(
            "Datagrams {verb}: {} ({}, {})",
            total.packets,
            output::human_bytes(total.bytes),
            output::human_rate(self.kilobytes_per_second() * 1000.0)
        );
        if let Some(line) = loss_line(&total) {
            report!("{line}");
        }
        if self.view.streams.len() > 1 {
            self.print_streams();
        }
        if self.strays > 0 {
            report!("Stray datagrams ignored: {}", self.strays);
        }
        self.print_how_it_ended();
    }

    fn print_streams(&self) {
        let receiver = !self.reverse;
        report!("{}", one_side_heading(receiver));
        for (id, figures) in self.view.streams.iter().enumerate() {
            report!(
                "{}",
                one_side_row(Some(id as u16), 0.0, figures.seconds, figures, receiver)
            );
        }
        let total = self.view.total();
        report!(
            "{}",
            one_side_row(None, 0.0, total.seconds, &total, receiver)
        );
    }

    fn print_how_it_ended(&self) {
        match self.end {
            TestEnd::Stopped => {}
            TestEnd::IdleTimeout => report!("Test ended: the client went silent (no STOP)"),
            TestEnd::Interrupted => report!("Test ended: interrupted"),
            TestEnd::TimeLimit => {
                report!("Test ended: it reached this server's --server-max-duration")
            }
            TestEnd::Refused => report!(
                "Test refused to {}: {}",
                self.client,
                self.refusal
                    .as_deref()
                    .unwrap_or("above this server's caps")
            ),
        }
    }

    /// The test as a JSON object (see the README for the keys).
    pub fn to_json(&self) -> String {
        let receiver = !self.reverse;
        let side = if receiver { "receiver" } else { "sender" };
        let mut json = JsonObject::new()
            .field("client", JsonValue::Str(&self.client.to_string()))
            .field("start_unix", JsonValue::Float(self.started_unix))
            .field("reverse", JsonValue::Bool(self.reverse))
            .field("end", JsonValue::Str(self.end.name()))
            .field("strays", JsonValue::Uint(self.strays))
            .raw_field(side, &figures_json(&self.view.total(), receiver).finish())
            .raw_field("intervals", &intervals_json(&self.view, receiver));
        if let Some(refusal) = &self.refusal {
            json = json.field("refusal", JsonValue::Str(refusal));
        }
        if self.view.streams.len() > 1 {
            let streams = self.view.streams.iter().enumerate().map(|(id, f)| {
                JsonObject::new()
                    .field("id", JsonValue::Uint(id as u64))
                    .raw_field(side, &figures_json(f, receiver).finish())
                    .finish()
            });
            json = json.raw_field("streams", &json_array(streams));
        }
        json.finish()
    }
}

/// The client's first line (the seed's).
pub fn client_starting(json: bool) {
    if !json {
        say!("Client is sending data now...");
    }
}

/// The client's line after `START` (the seed's): the Unix time.
pub fn first_packet_sent(json: bool) {
    if !json {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        say!("Time of first packet sent: {now}");
    }
}

/// The client's warning that its datagrams of `length` bytes, `on_wire`
/// bytes with headers, exceed the path MTU (`fits`: the longest that fit).
pub fn warn_fragmented(length: usize, on_wire: usize, mtu: usize, fits: usize) {
    warn!(
        "warning: {length}-byte datagrams are {on_wire} bytes on the wire, over the path MTU \
         of {mtu}: each is sent in fragments (--length {fits} fits)"
    );
}

/// The client's lines before it waits for the reply (the seed's).
pub fn waiting_for_reply(config: &ClientConfig) {
    if !config.json {
        say!("Server IP address:  {}", config.server.ip());
        say!("Client is listening for a response...");
    }
}

impl ClientReport {
    /// Prints the seed's reply, the summary, and the seed's last line; or
    /// (`--json`) the one JSON object.
    pub fn print(&self, config: &ClientConfig) {
        if config.json {
            output::json(self.to_json());
            return;
        }
        if let Some(reply) = &self.reply {
            report!("{reply}");
        }
        self.print_summary();
        say!("Client process completed iPerfectly!");
    }

    fn print_summary(&self) {
        self.print_totals();
        if let Some(line) = self.receiver.as_ref().and_then(|r| loss_line(&r.total())) {
            report!("{line}");
        }
        if self.receiver.is_some() || self.sender.streams.len() > 1 {
            for line in two_side_table(&self.sender, self.receiver.as_ref()) {
                report!("{line}");
            }
        }
        if self.interrupted {
            report!("Test interrupted");
        }
    }

    /// The totals lines: what each side sent and received.
    fn print_totals(&self) {
        let sent = self.sender.total();
        let send_rate = sent.bits_per_second() / 8.0;
        if self.reverse {
            if let Some(received) = &self.receiver {
                let total = received.total();
                report!(
                    "Received {} bytes in {} datagrams in {:.3} s ({})",
                    total.bytes,
                    total.packets,
                    total.seconds,
                    output::human_rate(total.bits_per_second() / 8.0)
                );
            }
            report!(
                "Server sent {} bytes in {} datagrams ({})",
                sent.bytes,
                sent.packets,
                output::human_rate(send_rate)
            );
        } else {
            report!(
                "Sent {} bytes in {} datagrams in {:.3} s ({})",
                sent.bytes,
                sent.packets,
                sent.seconds,
                output::human_rate(send_rate)
            );
            if let (Some(received), Some(loss)) = (self.bytes_received(), self.loss_percent()) {
                report!("Server received {received} bytes: loss {loss:.3}%");
            }
            if let Some(rate) = self.receive_rate() {
                report!("Receiver throughput: {}", output::human_rate(rate));
            }
        }
    }

    /// The report as one JSON object (see the README for the keys).
    pub fn to_json(&self) -> JsonObject {
        let sent = self.sender.total();
        let received_json = match &self.receiver {
            Some(view) => figures_json(&view.total(), true).finish(),
            None => rate_only_json(self.receive_rate().map(|r| r * 8.0)),
        };
        let sum = |side: &Option<Vec<Interval>>| {
            side.as_ref()
                .map(|records| Figures::sum(records.iter().map(|r| &r.figures)))
        };
        let intervals = paired_rows(&self.sender, self.receiver.as_ref())
            .into_iter()
            .map(|(start, end, sent, received)| {
                let sent = sum(&sent);
                interval_json(
                    start,
                    end,
                    sum(&received).as_ref(),
                    true,
                    Some(("sender", sent.as_ref(), false)),
                )
            });
        let mut json = JsonObject::new()
            .field("reverse", JsonValue::Bool(self.reverse))
            .field(
                "parallel",
                JsonValue::Uint(self.sender.streams.len().max(1) as u64),
            )
            .raw_field("sender", &figures_json(&sent, false).finish())
            .raw_field("receiver", &received_json)
            .raw_field("intervals", &json_array(intervals));
        if self.sender.streams.len() > 1 {
            let streams = self.sender.streams.iter().enumerate().map(|(id, f)| {
                let received = self.receiver.as_ref().and_then(|r| r.streams.get(id));
                let received_json = match received {
                    Some(r) => figures_json(r, true).finish(),
                    None => "null".to_string(),
                };
                JsonObject::new()
                    .field("id", JsonValue::Uint(id as u64))
                    .raw_field("sender", &figures_json(f, false).finish())
                    .raw_field("receiver", &received_json)
                    .finish()
            });
            json = json.raw_field("streams", &json_array(streams));
        }
        json.optional("reply", self.reply.as_deref().map(JsonValue::Str))
            .field("interrupted", JsonValue::Bool(self.interrupted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received() -> Figures {
        Figures {
            bytes: 1_500_000,
            packets: 1000,
            seconds: 1.0,
            lost: Some(10),
            duplicates: Some(0),
            out_of_order: Some(2),
            jitter_ms: Some(0.0125),
        }
    }

    #[test]
    fn rows_show_iperf3_columns() {
        let row = one_side_row(Some(0), 0.0, 1.0, &received(), true);
        assert_eq!(
            row,
            "[  0]   0.00-1.00   sec    1.50 MB    12.00 Mbit/s       1000   0.013 ms  10/1010 (0.99%)"
        );
        let sum = two_side_row(None, 1.0, 2.0, Some(&received()), None);
        assert!(
            sum.starts_with("[SUM]   1.00-2.00   sec | sender    1.50 MB"),
            "{sum}"
        );
        assert!(
            sum.ends_with("| receiver                                         -"),
            "{sum}"
        );
    }

    #[test]
    fn json_uses_iperf3_names_and_null_for_the_unknown() {
        let json = figures_json(&received(), true).finish();
        assert_eq!(
            json,
            r#"{"bytes":1500000,"seconds":1,"bits_per_second":12000000,"packets":1000,"lost_packets":10,"lost_percent":0.9900990099009901,"jitter_ms":0.0125,"out_of_order":2,"duplicates":0}"#
        );
        let sender = figures_json(
            &Figures {
                lost: None,
                ..received()
            },
            false,
        )
        .finish();
        assert!(!sender.contains("lost"), "{sender}");
        let seed = rate_only_json(Some(8000.0));
        assert!(
            seed.contains(r#""bytes":null"#) && seed.contains(r#""bits_per_second":8000"#),
            "{seed}"
        );
        let interval = interval_json(
            0.0,
            1.0,
            None,
            true,
            Some(("sender", Some(&received()), false)),
        );
        assert_eq!(
            interval,
            r#"{"start":0,"end":1,"seconds":1,"bytes":null,"bits_per_second":null,"packets":null,"lost_packets":null,"lost_percent":null,"jitter_ms":null,"out_of_order":null,"duplicates":null,"sender":{"bytes":1500000,"seconds":1,"bits_per_second":12000000,"packets":1000}}"#
        );
    }
    #[test]
    fn rows_match_only_the_same_interval() {
        let row = |start: f64, end: f64| (start, end, Vec::new());
        let receiver = vec![row(0.0, 1.0), row(1.0, 2.0), row(2.0, 2.31)];
        assert!(matching_row(&receiver, 1.0, 2.0, false).is_some());
        // Another period: no pairing.
        assert!(matching_row(&receiver, 0.0, 0.5, false).is_none());
        // Final partial rows pair even though their ends differ.
        assert!(matching_row(&receiver, 2.0, 2.30, true).is_some());
        assert!(matching_row(&receiver, 2.0, 2.30, false).is_none());
    }
    #[test]
    fn paired_rows_keep_every_row_of_both_sides() {
        let interval = |start: f64, end: f64, bytes: u64| Interval {
            stream: 0,
            start,
            end,
            figures: Figures {
                bytes,
                ..Figures::default()
            },
        };
        let sender = View {
            streams: vec![Figures::default()],
            intervals: vec![interval(0.0, 1.0, 10)],
        };
        let receiver = View {
            streams: vec![Figures::default()],
            intervals: vec![interval(0.0, 1.0, 7), interval(1.0, 1.01, 3)],
        };
        let rows = paired_rows(&sender, Some(&receiver));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].3.as_ref().unwrap()[0].figures.bytes, 7);
        assert!(rows[1].2.is_none());
        assert_eq!(rows[1].3.as_ref().unwrap()[0].figures.bytes, 3);
        let table = two_side_table(&sender, Some(&receiver));
        assert!(
            table[2].starts_with("[  0]   1.00-1.01   sec | sender"),
            "{table:?}"
        );
    }
}
