//! The ramp client: probes at an interval that shrinks by 5 % after every
//! probe, then reports throughput and delay per second and plots both.
//!
//! Probe k is sent at `Σ interval_j (j < k)` after the start, and may take
//! up to its own interval to be acked. Afterwards each probe is filed under
//! second `t = ceil(Timestamp1)` (a send exactly on a whole second counts
//! for the next one, as in the seed); per second the report gives
//! `acked × size × 8 × 2` bits (the probe went there and back) and the mean
//! RTT of the acked probes. The seed showed a matplotlib window; socklab
//! writes the same two panels as an SVG file, and the table as CSV if asked.

use super::client::late_line;
use super::protocol;
use super::session::{self, LateAck, Observer, Outcome, Plan, Probe, Report};
use super::svg::{self, Panel};
use super::{say, warn};
use crate::cli::PingTarget;
use crate::error::Context;
use crate::python;
use crate::shutdown::Shutdown;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

/// The interval factor applied after every probe.
pub const SHRINK: f64 = 0.95;

/// Ramp client settings.
#[derive(Debug, Clone)]
pub struct RampConfig {
    /// Server, count, first interval and size.
    pub target: PingTarget,
    /// Where to write the SVG plot (`None`: no plot).
    pub plot: Option<PathBuf>,
    /// Where to write the per-second table as CSV.
    pub csv: Option<PathBuf>,
    /// Send `exit` at the end (stops the server, as the seed does).
    pub send_exit: bool,
    /// Print one JSON object instead of the report ([`json_summary`]).
    pub json: bool,
}

/// One second of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Second {
    /// The second, from 1.
    pub second: usize,
    /// Probes sent in it.
    pub sent: usize,
    /// Probes acked in time.
    pub acked: usize,
    /// `acked × size × 8 × 2` bits.
    pub throughput_bits: u64,
    /// Mean RTT of the acked probes in seconds, `None` if none was acked.
    pub average_delay: Option<f64>,
}

/// The second a probe sent at `offset` seconds after the start belongs to.
pub fn second_of(offset: f64) -> usize {
    if offset == offset.trunc() {
        offset as usize + 1
    } else {
        offset.ceil() as usize
    }
}

/// Files probes `(Timestamp1, RTT if acked)` into seconds 1..=last, with
/// empty seconds in between, as the seed does.
pub fn per_second(probes: &[(f64, Option<f64>)], size: usize) -> Vec<Second> {
    let mut seconds: Vec<Second> = Vec::new();
    let mut delays: Vec<f64> = Vec::new();
    for &(offset, rtt) in probes {
        let t = second_of(offset);
        while seconds.len() < t {
            seconds.push(Second {
                second: seconds.len() + 1,
                sent: 0,
                acked: 0,
                throughput_bits: 0,
                average_delay: None,
            });
            delays.push(0.0);
        }
        let entry = &mut seconds[t - 1];
        entry.sent += 1;
        if let Some(rtt) = rtt {
            entry.acked += 1;
            entry.throughput_bits += size as u64 * 8 * 2;
            delays[t - 1] += rtt;
        }
    }
    for (entry, total) in seconds.iter_mut().zip(delays) {
        if entry.acked > 0 {
            entry.average_delay = Some(total / entry.acked as f64);
        }
    }
    seconds
}

/// Runs the ramp client; the error says what failed.
pub fn run(config: &RampConfig, shutdown: &Shutdown) -> io::Result<()> {
    let target = &config.target;
    let wait = Duration::from_secs_f64(target.interval);
    let Some((socket, server)) = session::connect(target, protocol::RAMP_PROBE, wait, shutdown)?
    else {
        return Ok(());
    };

    let plan = Plan {
        server,
        count: target.count,
        interval: target.interval,
        shrink: SHRINK,
        timeout: None,
        size: target.size,
        text: protocol::RAMP_PROBE,
        send_exit: config.send_exit,
    };
    let mut printer = RampPrinter { size: target.size };
    let report = session::run(&socket, &plan, shutdown, &mut printer)?;

    let timeline: Vec<(f64, Option<f64>)> = report
        .probes
        .iter()
        .map(|p| (offset(&report, p), p.rtt().map(|r| r.as_secs_f64())))
        .collect();
    let seconds = per_second(&timeline, target.size);
    print_report(&mut crate::output::Writer::report(), &report, &seconds)?;
    if let Some(path) = &config.plot {
        std::fs::write(path, plot(&seconds))
            .context(|| format!("cannot write the plot {}", path.display()))?;
        say(format_args!("Plot written to {}", path.display()));
    }
    if let Some(path) = &config.csv {
        std::fs::write(path, csv(&seconds))
            .context(|| format!("cannot write {}", path.display()))?;
        say(format_args!("Table written to {}", path.display()));
    }
    if config.json {
        crate::output::json(json_summary(&report, &seconds));
    }
    Ok(())
}

/// The run's totals as one JSON object: probes `sent`, `acknowledged`,
/// `late`, the number of `seconds` in the table and the best second's
/// throughput (`peak_throughput_bps`).
pub fn json_summary(report: &Report, seconds: &[Second]) -> crate::output::JsonObject {
    crate::output::JsonObject::new()
        .uint("sent", report.probes.len() as u64)
        .uint("acknowledged", report.received() as u64)
        .uint("late", report.late.len() as u64)
        .bool("interrupted", report.interrupted)
        .uint("seconds", seconds.len() as u64)
        .uint(
            "peak_throughput_bps",
            seconds.iter().map(|s| s.throughput_bits).max().unwrap_or(0),
        )
}

/// Seconds from the start to when `probe` was sent (the seed's Timestamp1).
fn offset(report: &Report, probe: &Probe) -> f64 {
    probe.sent.duration_since(report.started).as_secs_f64()
}

/// Prints the seed's live lines as probes are decided.
struct RampPrinter {
    size: usize,
}

impl Observer for RampPrinter {
    fn decided(&mut self, probe: &Probe) {
        let mut out = crate::output::Writer::say();
        let header = format!(
            "Sending message {} of size {}:  {}",
            probe.seq,
            self.size,
            protocol::RAMP_PROBE
        );
        // Output errors (a closed pipe) must not stop the measurement.
        let _ = match &probe.outcome {
            Outcome::Acked { reply, .. } => writeln!(
                out,
                "{header}\nAcknowledgement:  {}\n\nInterval: {}\nRTT: {}\n",
                String::from_utf8_lossy(reply),
                python::float_repr(probe.interval),
                python::float_repr(probe.rtt().unwrap_or_default().as_secs_f64())
            ),
            Outcome::Lost | Outcome::SendFailed(_) => {
                writeln!(out, "{header}\nTimeout, Packet Loss.\n")
            }
            Outcome::Pending | Outcome::Unanswered => Ok(()),
        };
    }

    fn late(&mut self, late: &LateAck) {
        say(format_args!("{}\n", late_line(late)));
    }

    fn finished_sending(&mut self) {
        say(format_args!(
            "Finished sending, Terminating the connection.."
        ));
    }
}

fn print_report(out: &mut impl Write, report: &Report, seconds: &[Second]) -> io::Result<()> {
    if report.interrupted {
        writeln!(out, "(interrupted: reporting the probes sent so far)")?;
    }
    if report.exit_sent {
        match &report.exit_reply {
            Some(reply) => writeln!(out, "Message from Server {}", python::bytes_repr(reply))?,
            None => warn(format_args!(
                "no reply to exit; the server may still be running"
            )),
        }
    }
    for probe in &report.probes {
        let acked = probe
            .rtt()
            .map(|rtt| python::float_repr(offset(report, probe) + rtt.as_secs_f64()));
        writeln!(
            out,
            "Message {}\nInterval: {}\nTimestamp1: {}\nTimestamp2: {}\n",
            probe.seq,
            python::float_repr(probe.interval),
            python::float_repr(offset(report, probe)),
            acked.as_deref().unwrap_or("-1")
        )?;
    }
    for second in seconds {
        let delay = second.average_delay.map_or("0".into(), python::float_repr);
        writeln!(
            out,
            "Average Throughput for second {t}: {}\nAverage Delay for second {t}: {delay}\n",
            second.throughput_bits,
            t = second.second
        )?;
    }
    let late = report.late.len();
    writeln!(
        out,
        "{} messages sent, {} acknowledged, {late} late acks",
        report.probes.len(),
        report.received()
    )
}

/// The two panels the seed plots, as an SVG document.
pub fn plot(seconds: &[Second]) -> String {
    let time = |s: &Second| s.second as f64;
    svg::render(&[
        Panel {
            title: "Average Throughput (bits/sec)".into(),
            x_label: "Time (in sec)".into(),
            y_label: "Average Throughput (bits/sec)".into(),
            points: seconds
                .iter()
                .map(|s| (time(s), s.throughput_bits as f64))
                .collect(),
            line_color: "#f72533".into(),
            marker_color: "#cf0412".into(),
        },
        Panel {
            title: "Average Delay (in sec)".into(),
            x_label: "Time (in sec)".into(),
            y_label: "Average Delay (in sec)".into(),
            points: seconds
                .iter()
                .map(|s| (time(s), s.average_delay.unwrap_or(0.0)))
                .collect(),
            line_color: "#2525f7".into(),
            marker_color: "#0505a6".into(),
        },
    ])
}

/// The per-second table as CSV with a header line.
pub fn csv(seconds: &[Second]) -> String {
    let mut text = String::from("second,sent,acked,throughput_bps,average_delay_s\n");
    for s in seconds {
        let delay = s.average_delay.map_or(String::new(), |d| format!("{d}"));
        text.push_str(&format!(
            "{},{},{},{},{delay}\n",
            s.second, s.sent, s.acked, s.throughput_bits
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_follow_the_seed_rule() {
        assert_eq!(second_of(0.0), 1);
        assert_eq!(second_of(0.3), 1);
        assert_eq!(second_of(1.0), 2);
        assert_eq!(second_of(1.000001), 2);
        assert_eq!(second_of(2.5), 3);
    }

    #[test]
    fn table_counts_acked_probes_both_ways_and_fills_gaps() {
        let probes = [
            (0.0, Some(0.010)),
            (0.5, None),
            (0.9, Some(0.030)),
            (2.2, None),
        ];
        let table = per_second(&probes, 100);
        assert_eq!(table.len(), 3);
        assert_eq!(table[0].sent, 3);
        assert_eq!(table[0].acked, 2);
        assert_eq!(table[0].throughput_bits, 2 * 100 * 8 * 2);
        assert!((table[0].average_delay.unwrap() - 0.020).abs() < 1e-12);
        assert_eq!((table[1].sent, table[1].average_delay), (0, None));
        assert_eq!(
            (table[2].sent, table[2].acked, table[2].throughput_bits),
            (1, 0, 0)
        );
        let csv = csv(&table);
        assert!(
            csv.starts_with("second,sent,acked,throughput_bps,average_delay_s\n1,3,2,3200,0.02")
        );
        assert_eq!(csv.lines().count(), 4);
    }

    #[test]
    fn interval_shrinks_exactly_as_in_python() {
        let mut interval = 1.0_f64;
        interval *= SHRINK;
        interval *= SHRINK;
        interval *= SHRINK;
        assert_eq!(python::float_repr(interval), "0.8573749999999999");
    }
}
