//! a3 ramp client cases.
//!
//! The checker plays the ping server (see [`ping`](super::ping)) for a
//! client whose probes (`Hello Server.`) come at an interval that shrinks
//! by 5 % a probe, withholds or delays acks on purpose, and then reads the
//! report: per message `Message k`, `Interval:`, `Timestamp1:` (send time
//! from the start), `Timestamp2:` (ack time, `-1` if lost), and per second
//! *t* `Average Throughput for second t:` (acked × size × 8 × 2) and
//! `Average Delay for second t:` (mean RTT of the probes sent in it, or 0),
//! where a probe sent at time x belongs to second ceil(x), or x + 1 when x
//! is a whole number. Every value is recomputed from the report's own
//! lines and the calibration size, so a wrong formula is named.

use super::ping::{
    count_lines, ends_without_exit_reply, expect_final_message, finished, need_probes, serve,
    stale_plan, Ack, Run, Script, STALE_DELAY, STALE_GAP, STALE_NEEDS, STALE_PROBES,
};
use super::target::contains;
use super::wire::{Fail, Verdict};
use super::{Case, Ctx, Tier};
use crate::a3_ping::protocol::RAMP_PROBE;
use std::time::Duration;

/// The ramp client cases.
pub fn client_cases() -> Vec<Case> {
    let case = super::process_cases_within(Duration::from_secs(25));
    vec![
        case("probes", Tier::Wire, "`C <size>`, `Hello Server.` probes, `exit`; per-message and per-second report lines", ramp_probes),
        case("interval-decreases", Tier::Wire, "the gap between probes shrinks by 5 % a probe", ramp_interval).needing("7 probes"),
        case("lost-probe", Tier::Wire, "the 2nd ack withheld → `Timestamp2: -1` once, the ramp goes on", ramp_lost).needing("2 probes"),
        case("report-formula", Tier::Wire, "the 2nd ack withheld: intervals × 0.95 a message, Timestamp2 -1 exactly for the lost one, each second's throughput (acked × size × 8 × 2) and mean delay as the report's own timestamps give them", report_formula).needing("3 probes"),
        case("late-ack", Tier::Robust, "the 1st ack sent late is not taken as the 2nd probe's, nor as the reply to `exit`", ramp_late_ack).needing("2 probes"),
        case("stale-ack", Tier::Robust, "the 1st ack arrives after the 2nd's, the 4th never: Timestamp2 -1 exactly for those two, no other RTT shorter than the ack's hold (a stale ack is not credited to a later probe)", stale_ack).needing(STALE_NEEDS),
        case("no-exit-reply", Tier::Robust, "no reply to `exit` → the client still ends with its report, no traceback", ramp_no_exit_reply),
    ]
}

/// One `Message k` block of the report.
#[derive(Debug, Clone, PartialEq)]
struct Message {
    k: usize,
    interval: f64,
    sent: f64,
    /// `-1` for a lost probe.
    acked: f64,
}

/// One second's lines of the report.
#[derive(Debug, Clone, PartialEq)]
struct Second {
    t: usize,
    throughput: f64,
    delay: f64,
}

/// The report's numbers.
#[derive(Debug, Default, PartialEq)]
struct Report {
    messages: Vec<Message>,
    seconds: Vec<Second>,
}

/// The report labels (each followed by a number) and a sample line.
const LABELS: [(&str, &str); 5] = [
    ("Interval:", "Interval: 0.285"),
    ("Timestamp1:", "Timestamp1: 0.300012"),
    ("Timestamp2:", "Timestamp2: 0.300512"),
    (
        "Average Throughput for second",
        "Average Throughput for second 1: 2048",
    ),
    (
        "Average Delay for second",
        "Average Delay for second 1: 0.0005",
    ),
];

/// Reads the report's numbers from stdout; a labelled line whose number
/// does not parse is a mismatch against a sample line.
fn parse_report(stdout: &[u8]) -> Result<Report, Fail> {
    let text = String::from_utf8_lossy(stdout);
    let mut report = Report::default();
    let mut fields: [Option<f64>; 3] = [None; 3];
    let mut current: Option<usize> = None;
    for line in text.lines().map(str::trim) {
        if let Some(k) = line.strip_prefix("Message ").and_then(|k| k.parse().ok()) {
            finish_message(&mut report, current.take(), &mut fields)?;
            current = Some(k);
            continue;
        }
        let Some(index) = LABELS.iter().position(|(label, _)| line.starts_with(label)) else {
            continue;
        };
        let rest = &line[LABELS[index].0.len()..];
        let (t, value) = match rest.split_once(':') {
            Some((t, value)) if index >= 3 => (t.trim().parse::<usize>().ok(), value),
            _ => (Some(0), rest),
        };
        let (Some(t), Ok(value)) = (t, value.trim().parse::<f64>()) else {
            return Err(Fail::mismatch(
                format!(
                    "report line `{}` (no number where the formula needs one)",
                    LABELS[index].0
                ),
                LABELS[index].1.as_bytes(),
                line.as_bytes(),
            ));
        };
        match index {
            0..=2 => fields[index] = Some(value),
            3 => report.seconds.push(Second {
                t,
                throughput: value,
                delay: f64::NAN,
            }),
            _ => match report.seconds.iter_mut().rev().find(|s| s.t == t) {
                Some(second) => second.delay = value,
                None => {
                    return Err(Fail::problem(format!(
                        "`Average Delay for second {t}` without its throughput line before it"
                    )))
                }
            },
        }
    }
    finish_message(&mut report, current, &mut fields)?;
    Ok(report)
}

/// Adds message `k` (if any) with the fields read since its line.
fn finish_message(
    report: &mut Report,
    k: Option<usize>,
    fields: &mut [Option<f64>; 3],
) -> Result<(), Fail> {
    let Some(k) = k else {
        return Ok(());
    };
    let taken = std::mem::take(fields);
    match taken {
        [Some(interval), Some(sent), Some(acked)] => {
            report.messages.push(Message {
                k,
                interval,
                sent,
                acked,
            });
            Ok(())
        }
        _ => {
            let missing = LABELS[..3]
                .iter()
                .zip(taken)
                .filter(|(_, value)| value.is_none())
                .map(|((label, _), _)| format!("`{label}`"))
                .collect::<Vec<_>>()
                .join(", ");
            Err(Fail::problem(format!(
                "`Message {k}` lacks its {missing} line"
            )))
        }
    }
}

/// The second a probe sent at `sent` belongs to (the seed's rule).
fn second_of(sent: f64) -> usize {
    let second = if sent.fract() != 0.0 {
        sent.ceil()
    } else {
        sent + 1.0
    };
    second.max(1.0) as usize
}

/// The per-second lines the report's messages give with probes of `size`
/// bytes: (t, throughput, mean delay) for every second up to the last send.
fn expected_seconds(messages: &[Message], size: usize) -> Vec<(usize, f64, f64)> {
    let last = messages
        .iter()
        .map(|m| second_of(m.sent))
        .max()
        .unwrap_or(0);
    (1..=last)
        .map(|t| {
            let rtts: Vec<f64> = messages
                .iter()
                .filter(|m| second_of(m.sent) == t && m.acked != -1.0)
                .map(|m| m.acked - m.sent)
                .collect();
            let throughput = (rtts.len() * size * 8 * 2) as f64;
            let delay = match rtts.len() {
                0 => 0.0,
                n => rtts.iter().sum::<f64>() / n as f64,
            };
            (t, throughput, delay)
        })
        .collect()
}

/// Fails unless the report has messages 1..=n, each with `Timestamp2: -1`
/// exactly when the checker did not ack it in time.
fn check_messages(report: &Report, run: &Run) -> Result<(), Fail> {
    let numbers: Vec<usize> = report.messages.iter().map(|m| m.k).collect();
    let expected: Vec<usize> = (1..=run.probes.len()).collect();
    if numbers != expected {
        return Err(Fail::problem(format!(
            "the report's messages are {numbers:?}; {} probes were sent",
            run.probes.len()
        )));
    }
    for (message, acked) in report.messages.iter().zip(&run.acked) {
        let k = message.k;
        match (acked, message.acked == -1.0) {
            (true, true) => {
                return Err(Fail::problem(format!(
                    "`Timestamp2: -1` for message {k}, which was acknowledged"
                )))
            }
            (false, false) => {
                return Err(Fail::problem(format!(
                    "`Timestamp2: {}` for message {k}, which was never acknowledged in time \
                     (a late or stale ack was credited to it)",
                    message.acked
                )))
            }
            (true, false) if message.acked < message.sent => {
                return Err(Fail::problem(format!(
                    "message {k}: Timestamp2 {} is before Timestamp1 {}",
                    message.acked, message.sent
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

fn report_formula(ctx: &mut Ctx) -> Verdict {
    let socket = ctx.start_udp_client("127.0.0.1")?;
    let plan = |k| if k == 2 { Ack::Never } else { Ack::Held };
    let script = Script {
        delay: Duration::from_millis(5),
        ..Script::new(RAMP_PROBE, plan)
    };
    let run = serve(ctx, &socket, &script)?;
    need_probes(&run, 3, Duration::ZERO, "3 probes (-n 3 or more)")?;
    let stdout = finished(ctx, Duration::from_secs(5))?.stdout();
    let report = parse_report(&stdout)?;
    check_messages(&report, &run)?;
    for pair in report.messages.windows(2) {
        let ratio = pair[1].interval / pair[0].interval;
        if (ratio - 0.95).abs() > 1e-3 {
            return Err(Fail::problem(format!(
                "`Interval: {}` of message {} is {ratio:.4} × the one before (0.95 × by the formula)",
                pair[1].interval, pair[1].k
            )));
        }
        if pair[1].sent < pair[0].sent {
            return Err(Fail::problem(format!(
                "message {}'s Timestamp1 {} is before message {}'s {}",
                pair[1].k, pair[1].sent, pair[0].k, pair[0].sent
            )));
        }
    }
    let expected = expected_seconds(&report.messages, run.size);
    let seen: Vec<usize> = report.seconds.iter().map(|s| s.t).collect();
    let wanted: Vec<usize> = expected.iter().map(|(t, _, _)| *t).collect();
    if seen != wanted {
        return Err(Fail::problem(format!(
            "per-second lines for seconds {seen:?}; the Timestamp1 values give {wanted:?} \
             (second ceil(t), or t + 1 on a whole second)"
        )));
    }
    for (second, (t, throughput, delay)) in report.seconds.iter().zip(expected) {
        if (second.throughput - throughput).abs() > 1e-6 * throughput.max(1.0) {
            return Err(Fail::problem(format!(
                "`Average Throughput for second {t}: {}`; the formula gives {throughput} \
                 (acked probes sent in that second × {} bytes × 8 × 2)",
                second.throughput, run.size
            )));
        }
        if (second.delay - delay).abs() > 1e-5 {
            return Err(Fail::problem(format!(
                "`Average Delay for second {t}: {}`; the report's timestamps give {delay} (the \
                 mean of Timestamp2 − Timestamp1 over the acked probes sent in that second, 0 \
                 if none)",
                second.delay
            )));
        }
    }
    Ok(format!(
        "{} messages and {} seconds follow the formula (size {})",
        report.messages.len(),
        report.seconds.len(),
        run.size
    ))
}

fn stale_ack(ctx: &mut Ctx) -> Verdict {
    let socket = ctx.start_udp_client("127.0.0.1")?;
    let script = Script {
        delay: STALE_DELAY,
        ..Script::new(RAMP_PROBE, stale_plan)
    };
    let run = serve(ctx, &socket, &script)?;
    need_probes(&run, STALE_PROBES, STALE_GAP, STALE_NEEDS)?;
    let stdout = finished(ctx, Duration::from_secs(5))?.stdout();
    let report = parse_report(&stdout)?;
    check_messages(&report, &run)?;
    let hold = STALE_DELAY.as_secs_f64();
    let held = report.messages.iter().zip(&run.held).filter(|(_, h)| **h);
    for (message, _) in held {
        let rtt = message.acked - message.sent;
        if rtt < 0.9 * hold {
            return Err(Fail::problem(format!(
                "message {}: Timestamp2 − Timestamp1 = {rtt:.6} s, shorter than the {hold} s the \
                 checker held every ack: an earlier probe's stale ack was credited to it",
                message.k
            )));
        }
    }
    let lost = run.acked.iter().filter(|a| !**a).count();
    Ok(format!(
        "{lost} of {} lost, every RTT at least {hold} s",
        run.probes.len()
    ))
}

fn ramp_probes(ctx: &mut Ctx) -> Verdict {
    let socket = ctx.start_udp_client("127.0.0.1")?;
    let run = serve(ctx, &socket, &Script::new(RAMP_PROBE, |_| Ack::Now))?;
    let n = run.probes.len();
    let stdout = finished(ctx, Duration::from_secs(5))?.stdout();
    for k in 1..=n {
        if !contains(&stdout, &format!("Message {k}\n")) {
            return Err(Fail::problem(format!("no `Message {k}` line")));
        }
    }
    for needle in [
        "Interval: ",
        "Timestamp1: ",
        "Average Throughput for second 1: ",
        "Average Delay for second 1: ",
    ] {
        if !contains(&stdout, needle) {
            return Err(Fail::problem(format!("no `{needle}…` line")));
        }
    }
    if contains(&stdout, "Timestamp2: -1\n") {
        return Err(Fail::problem(
            "`Timestamp2: -1` although every probe was acked",
        ));
    }
    Ok(format!("{n} messages reported"))
}

fn ramp_interval(ctx: &mut Ctx) -> Verdict {
    let socket = ctx.start_udp_client("127.0.0.1")?;
    let run = serve(ctx, &socket, &Script::new(RAMP_PROBE, |_| Ack::Now))?;
    need_probes(&run, 7, Duration::ZERO, "7 probes (-n 7 or more)")?;
    let gaps: Vec<f64> = run
        .probes
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    let first = (gaps[0] + gaps[1] + gaps[2]) / 3.0;
    let k = gaps.len();
    let last = (gaps[k - 1] + gaps[k - 2] + gaps[k - 3]) / 3.0;
    let expected = 0.95f64.powi(k as i32 - 3);
    let ratio = last / first;
    if !(expected - 0.15..=expected + 0.15).contains(&ratio) {
        return Err(Fail::problem(format!(
            "the last gaps are {ratio:.2} × the first ({expected:.2} expected for 5 % a probe); \
             gaps {:?}",
            gaps.iter()
                .map(|g| (g * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>()
        )));
    }
    Ok(format!(
        "gaps shrank to {ratio:.2} × (expected {expected:.2})"
    ))
}

fn ramp_lost(ctx: &mut Ctx) -> Verdict {
    let socket = ctx.start_udp_client("127.0.0.1")?;
    let plan = |k| if k == 2 { Ack::Never } else { Ack::Now };
    let run = serve(ctx, &socket, &Script::new(RAMP_PROBE, plan))?;
    need_probes(&run, 2, Duration::ZERO, "2 probes (-n 2 or more)")?;
    let stdout = finished(ctx, Duration::from_secs(5))?.stdout();
    let lost = count_lines(&stdout, "Timestamp2: -1");
    if lost != 1 {
        return Err(Fail::problem(format!(
            "{lost} `Timestamp2: -1` lines for 1 lost probe"
        )));
    }
    Ok("one lost probe reported".into())
}

fn ramp_late_ack(ctx: &mut Ctx) -> Verdict {
    let socket = ctx.start_udp_client("127.0.0.1")?;
    let plan = |k| if k == 1 { Ack::Late } else { Ack::Now };
    let run = serve(ctx, &socket, &Script::new(RAMP_PROBE, plan))?;
    need_probes(&run, 2, Duration::ZERO, "2 probes (-n 2 or more)")?;
    let stdout = finished(ctx, Duration::from_secs(5))?.stdout();
    let lost = count_lines(&stdout, "Timestamp2: -1");
    if lost != 1 {
        return Err(Fail::problem(format!(
            "{lost} `Timestamp2: -1` lines for 1 late probe"
        )));
    }
    expect_final_message(&stdout)?;
    Ok("late ack not credited".into())
}

fn ramp_no_exit_reply(ctx: &mut Ctx) -> Verdict {
    ends_without_exit_reply(ctx, RAMP_PROBE, "Timestamp1: ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Message from Server b'Stopping the Server.'\n\
        Message 1\nInterval: 0.3\nTimestamp1: 6.2262e-05\nTimestamp2: 0.0101\n\n\
        Message 2\nInterval: 0.285\nTimestamp1: 0.3\nTimestamp2: -1\n\n\
        Message 3\nInterval: 0.27075\nTimestamp1: 1.0\nTimestamp2: 1.02\n\n\
        Average Throughput for second 1: 1024\nAverage Delay for second 1: 0.010037738\n\n\
        Average Throughput for second 2: 1024\nAverage Delay for second 2: 0.02\n";

    #[test]
    fn the_report_is_read_and_recomputed() {
        let report = parse_report(SAMPLE.as_bytes()).unwrap();
        assert_eq!(report.messages.len(), 3);
        assert_eq!(report.messages[1].acked, -1.0);
        assert_eq!(report.seconds.len(), 2);
        // A send at exactly 1.0 s belongs to second 2.
        let expected = expected_seconds(&report.messages, 64);
        assert_eq!(expected.len(), 2);
        assert_eq!(expected[0].1, 1024.0);
        assert!((expected[0].2 - 0.010037738).abs() < 1e-9);
        assert!((expected[1].2 - 0.02).abs() < 1e-9);
    }

    #[test]
    fn a_malformed_line_is_named() {
        let broken = SAMPLE.replace("Timestamp1: 0.3\n", "Timestamp1: soon\n");
        let fail = parse_report(broken.as_bytes()).unwrap_err();
        assert!(
            fail.describe().contains("Timestamp1:"),
            "{}",
            fail.describe()
        );
        let missing = SAMPLE.replace("Interval: 0.285\n", "");
        let fail = parse_report(missing.as_bytes()).unwrap_err();
        assert!(fail.describe().contains("Message 2"), "{}", fail.describe());
    }

    #[test]
    fn seconds_follow_the_seed_rule() {
        assert_eq!(second_of(0.0), 1);
        assert_eq!(second_of(0.2), 1);
        assert_eq!(second_of(1.0), 2);
        assert_eq!(second_of(1.5), 2);
    }
}
