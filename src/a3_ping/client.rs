//! The ping client: probes at a fixed interval and prints the seed's lines
//! plus a ping-style summary.
//!
//! Output, in order: the calibration reply; per probe the seed's block
//! (`Sending message of S bytes: k`, then `Message from Server b'…'` and
//! `RTT for packet k: …`, or `PACKET LOSS OCCURRED SENDING NEXT PACKET`);
//! a line for every late ack; `Finished sending.`, `Final Message from the
//! Server b'…'`, `Average RTT: …`, `Loss Percentage: …%`; then the summary
//! (`N packets transmitted, M received, L late, P% packet loss` and the RTT
//! min/avg/max/mdev and p50/p99 in ms). `--schedule-report` adds the
//! sender's schedule error and drift, `--json` one JSON object with all
//! figures. Ctrl-C skips to the summary.

use super::protocol;
use super::session::{self, LateAck, Observer, Outcome, Plan, Probe, Report};
use super::{say, warn};
use crate::cli::PingTarget;
use crate::output::{JsonObject, JsonValue};
use crate::python;
use crate::shutdown::Shutdown;
use crate::stats::Summary;
use std::io::{self, Write};
use std::time::Duration;

/// Ping client settings.
#[derive(Debug, Clone)]
pub struct PingConfig {
    /// Server, count, interval and size.
    pub target: PingTarget,
    /// Ack timeout (`None`: the interval, as the seed).
    pub timeout: Option<Duration>,
    /// Send `exit` at the end (stops the server, as the seed does).
    pub send_exit: bool,
    /// Print the sender's schedule error and drift.
    pub schedule_report: bool,
    /// Print one JSON object with every figure instead of the report.
    pub json: bool,
}

/// Runs the ping client; the error says what failed.
pub fn run(config: &PingConfig, shutdown: &Shutdown) -> io::Result<()> {
    let target = &config.target;
    let timeout = config
        .timeout
        .unwrap_or_else(|| Duration::from_secs_f64(target.interval));
    let Some((socket, server)) = session::connect(target, protocol::PING_PROBE, timeout, shutdown)?
    else {
        return Ok(());
    };

    let plan = Plan {
        server,
        count: target.count,
        interval: target.interval,
        shrink: 1.0,
        timeout: Some(timeout),
        size: target.size,
        text: protocol::PING_PROBE,
        send_exit: config.send_exit,
    };
    let mut printer = PingPrinter { size: target.size };
    let report = session::run(&socket, &plan, shutdown, &mut printer)?;

    let mut out = crate::output::Writer::report();
    print_seed_totals(&mut out, &report)?;
    print_summary(&mut out, &format!("{server}"), &report)?;
    if config.schedule_report {
        print_schedule(&mut out, &report)?;
    }
    if config.json {
        crate::output::json(json_summary(&report));
    }
    Ok(())
}

/// Prints the seed's per-probe blocks as outcomes are decided.
struct PingPrinter {
    size: usize,
}

impl Observer for PingPrinter {
    fn decided(&mut self, probe: &Probe) {
        let mut out = crate::output::Writer::say();
        // Output errors (a closed pipe) must not stop the measurement.
        let _ = match &probe.outcome {
            Outcome::Acked { reply, .. } => writeln!(
                out,
                "Sending message of {} bytes: {}\nMessage from Server {}\nRTT for packet {}: {}\n",
                self.size,
                probe.seq,
                python::bytes_repr(reply),
                probe.seq,
                python::float_repr(probe.rtt().unwrap_or_default().as_secs_f64())
            ),
            Outcome::Lost | Outcome::SendFailed(_) => writeln!(
                out,
                "Sending message of {} bytes: {}\nPACKET LOSS OCCURRED SENDING NEXT PACKET\n",
                self.size, probe.seq
            ),
            Outcome::Pending | Outcome::Unanswered => Ok(()),
        };
    }

    fn late(&mut self, late: &LateAck) {
        say(format_args!("{}\n", late_line(late)));
    }

    fn finished_sending(&mut self) {
        say(format_args!("Finished sending."));
    }
}

/// The line printed for a late ack.
pub fn late_line(late: &LateAck) -> String {
    match (late.seq, late.after) {
        (Some(seq), Some(after)) => format!(
            "LATE ACK for packet {seq} after {} s (after its timeout; not counted): {}",
            python::float_repr(after.as_secs_f64()),
            python::bytes_repr(&late.reply)
        ),
        _ => format!(
            "LATE ACK with no sequence number (not counted): {}",
            python::bytes_repr(&late.reply)
        ),
    }
}

/// The seed's closing lines: the reply to `exit`, average RTT, loss.
fn print_seed_totals(out: &mut impl Write, report: &Report) -> io::Result<()> {
    if report.exit_sent {
        match &report.exit_reply {
            Some(reply) => writeln!(
                out,
                "Final Message from the Server {}",
                python::bytes_repr(reply)
            )?,
            None => warn(format_args!(
                "no reply to exit; the server may still be running"
            )),
        }
    }
    let rtts = report.rtts();
    match Summary::of(&rtts) {
        Some(summary) => writeln!(out, "Average RTT: {}\n", python::float_repr(summary.mean))?,
        None => writeln!(out, "Average RTT: n/a (no packet was acknowledged)\n")?,
    }
    writeln!(
        out,
        "Loss Percentage: {}%\n",
        python::float_repr(loss_percent(report))
    )
}

/// Percentage of sent probes without an in-time ack (0 when none was sent).
pub fn loss_percent(report: &Report) -> f64 {
    let sent = report.probes.len();
    if sent == 0 {
        return 0.0;
    }
    (sent - report.received()) as f64 / sent as f64 * 100.0
}

fn print_summary(out: &mut impl Write, server: &str, report: &Report) -> io::Result<()> {
    let sent = report.probes.len();
    let elapsed = report.probes.last().map_or(Duration::ZERO, |last| {
        last.sent.saturating_duration_since(report.started)
    });
    writeln!(out, "--- {server} ping statistics ---")?;
    if report.interrupted {
        writeln!(out, "(interrupted)")?;
    }
    writeln!(
        out,
        "{sent} packets transmitted, {} received, {} late, {}% packet loss, time {}ms",
        report.received(),
        report.late.len(),
        trim_float(loss_percent(report), 1),
        elapsed.as_millis()
    )?;
    let rtts_ms: Vec<f64> = report.rtts().iter().map(|s| s * 1e3).collect();
    if let Some(rtt) = Summary::of(&rtts_ms) {
        writeln!(
            out,
            "rtt min/avg/max/mdev = {:.3}/{:.3}/{:.3}/{:.3} ms",
            rtt.min, rtt.mean, rtt.max, rtt.mdev
        )?;
        writeln!(out, "rtt p50/p99 = {:.3}/{:.3} ms", rtt.p50, rtt.p99)?;
    }
    Ok(())
}

/// `12.50` → `12.5`, `10.00` → `10`: ping's style for the loss percentage.
fn trim_float(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Schedule error (actual − planned send time) of every probe, in µs.
pub fn schedule_errors_us(report: &Report) -> Vec<f64> {
    report
        .probes
        .iter()
        .map(|p| p.schedule_error().as_secs_f64() * 1e6)
        .collect()
}

fn print_schedule(out: &mut impl Write, report: &Report) -> io::Result<()> {
    let Some(errors) = Summary::of(&schedule_errors_us(report)) else {
        return Ok(());
    };
    let span = match (report.probes.first(), report.probes.last()) {
        (Some(first), Some(last)) => last.sent.duration_since(first.sent).as_secs_f64(),
        _ => 0.0,
    };
    writeln!(
        out,
        "schedule error p50/p99/max = {:.1}/{:.1}/{:.1} us, drift {:.3} ms over {span:.3} s, {} re-bases",
        errors.p50,
        errors.p99,
        errors.max,
        report.drift().unwrap_or_default() * 1e3,
        report.rebases
    )
}

/// Every figure of the run as one JSON object (times in µs, keys `…_us`).
pub fn json_summary(report: &Report) -> JsonObject {
    let rtts_us: Vec<f64> = report.rtts().iter().map(|s| s * 1e6).collect();
    let json = JsonObject::new()
        .field("sent", JsonValue::Uint(report.probes.len() as u64))
        .field("received", JsonValue::Uint(report.received() as u64))
        .field("late", JsonValue::Uint(report.late.len() as u64))
        .field("loss_percent", JsonValue::Float(loss_percent(report)))
        .field("interrupted", JsonValue::Bool(report.interrupted));
    // Keys without a value (nothing acked, too few probes) are null.
    let rtt = Summary::of(&rtts_us);
    let errors = Summary::of(&schedule_errors_us(report));
    json.num("rtt_min_us", rtt.as_ref().map(|r| r.min))
        .num("rtt_avg_us", rtt.as_ref().map(|r| r.mean))
        .num("rtt_max_us", rtt.as_ref().map(|r| r.max))
        .num("rtt_mdev_us", rtt.as_ref().map(|r| r.mdev))
        .num("rtt_p50_us", rtt.as_ref().map(|r| r.p50))
        .num("rtt_p99_us", rtt.as_ref().map(|r| r.p99))
        .num("schedule_error_p50_us", errors.as_ref().map(|e| e.p50))
        .num("schedule_error_p99_us", errors.as_ref().map(|e| e.p99))
        .num("schedule_error_max_us", errors.as_ref().map(|e| e.max))
        .num("drift_us", report.drift().map(|d| d * 1e6))
        .field("rebases", JsonValue::Uint(report.rebases))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn keys_without_a_value_are_null_never_missing() {
        let now = Instant::now();
        let lost = Probe {
            seq: 1,
            interval: 0.1,
            timeout: Duration::from_millis(100),
            planned: now,
            sent: now,
            outcome: Outcome::Lost,
        };
        let report = Report {
            started: now,
            probes: vec![lost],
            late: Vec::new(),
            exit_reply: None,
            exit_sent: false,
            interrupted: false,
            rebases: 0,
        };
        let json = json_summary(&report).finish();
        for key in ["rtt_min_us", "rtt_avg_us", "rtt_p99_us", "drift_us"] {
            assert!(
                json.contains(&format!("\"{key}\":")),
                "{key} missing: {json}"
            );
        }
        assert!(json.contains("\"rtt_avg_us\":null"), "{json}");
        assert!(json.contains("\"received\":0"), "{json}");
    }

    #[test]
    fn loss_is_trimmed_like_ping() {
        assert_eq!(trim_float(10.0, 1), "10");
        assert_eq!(trim_float(12.5, 1), "12.5");
        assert_eq!(trim_float(0.0, 1), "0");
    }
}
