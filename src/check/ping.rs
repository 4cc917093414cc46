//! a3 ping and ramp cases.
//!
//! Server role (the ping server, which the ramp uses too): calibration,
//! probes and `exit`, plus the seed's crashes on junk. Client roles (ping
//! and ramp): the checker plays the ping server without delay and drops,
//! delays or withholds acks on purpose, then reads the client's report.
//! A probe with a socklab sequence number (`Hello Server 7 ...`) gets the
//! matching `Packet Acknowledged 7` (the documented extension); a seed probe
//! gets the plain ack.

use super::target::{contains, Target};
use super::wire::{expect_bytes, recv_within, show, udp_exchange, udp_for, Context, Fail, Verdict};
use super::{Case, Ctx, Needs, Tier};
use crate::a3_ping::protocol::{
    self, parse_request, Request, ACK, CALIBRATION_REPLY, EXIT_REPLY, EXIT_REQUEST, PING_PROBE,
    RAMP_PROBE,
};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// The ping server cases.
pub fn server_cases() -> Vec<Case> {
    let case = super::cases_within(Duration::from_secs(15));
    vec![
        case("calibration", Tier::Wire, "`C 1024` → `Buffer Size Calibrated at Server.` (within 1 s, never dropped)", Needs::Network, calibration),
        case("probe-ack", Tier::Wire, "20 `Hello Server` probes → exact `Packet Acknowledged` replies, at least half of them, each within 0.6 s", Needs::Network, probe_ack),
        case("ramp-probe", Tier::Wire, "the ramp's `Hello Server.` probe is acknowledged too", Needs::Network, ramp_probe),
        case("exit", Tier::Wire, "`exit` → `Stopping the Server.`, then the server exits", Needs::Process, exit),
        case("empty-datagram", Tier::Robust, "an empty datagram does not crash the server", Needs::Network, empty_datagram),
        case("non-utf8", Tier::Robust, "a datagram that is not UTF-8 does not crash the server", Needs::Network, non_utf8),
        case("c-not-calibration", Tier::Robust, "`Cat` (starts with C, no size) does not crash the server", Needs::Network, c_not_calibration),
        case("small-calibration", Tier::Robust, "after `C 2` the server still reads a whole `exit`", Needs::Process, small_calibration),
        case("delays-independent", Tier::Robust, "20 probes sent at once: at least 14 acks within 1 s (one delay does not hold up the others)", Needs::Network, delays_independent),
        case("ctrl-c", Tier::Robust, "Ctrl-C (SIGINT) ends an idle server within 2 s, no traceback", Needs::Process, super::ctrl_c_server),
    ]
}

/// The ping client cases.
pub fn client_cases() -> Vec<Case> {
    let case = super::process_cases_within(Duration::from_secs(25));
    vec![
        case("all-acked", Tier::Wire, "`C <size>`, `Hello Server` probes, `exit`; every probe acked → an RTT line each, `Loss Percentage: 0.0%`", all_acked),
        case("loss-reported", Tier::Wire, "the 2nd ack withheld → `PACKET LOSS OCCURRED…` once and the matching loss percentage", loss_reported).needing("2 probes"),
        case("late-ack", Tier::Robust, "the 1st ack sent late (after the 2nd probe) is not credited to a later probe", late_ack).needing("2 probes"),
        case("stale-ack", Tier::Robust, "the 1st ack arrives after the 2nd's, the 4th never: RTT lines only for acked probes, none shorter than the ack's hold, loss lines and percentage exact (a stale ack is not credited to a later probe)", stale_ack).needing(STALE_NEEDS),
        case("all-lost", Tier::Robust, "no probe acked → loss 100 %, no crash dividing by zero", all_lost),
        case("no-exit-reply", Tier::Robust, "no reply to `exit` → the client still ends, within 5 s, with its report and no traceback", no_exit_reply),
    ]
}

fn calibration(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    udp_exchange(
        &socket,
        server,
        &protocol::calibration_request(1024),
        CALIBRATION_REPLY,
        Duration::from_secs(1),
    )?;
    Ok(show(CALIBRATION_REPLY))
}

/// Sends one probe and waits up to 0.6 s for an ack; `Ok(false)` if none.
fn probe_once(socket: &UdpSocket, server: SocketAddr, probe: &[u8]) -> Result<bool, Fail> {
    socket.send_to(probe, server).context("sending a probe")?;
    match recv_within(socket, Duration::from_millis(600)) {
        None => Ok(false),
        Some((reply, _)) => {
            expect_bytes(&format!("reply to {}", show(probe)), ACK.as_bytes(), &reply)?;
            Ok(true)
        }
    }
}

fn probe_ack(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    let mut acked = 0;
    for _ in 0..20 {
        if probe_once(&socket, server, PING_PROBE.as_bytes())? {
            acked += 1;
        } else {
            // A late ack must not be read as the next probe's.
            std::thread::sleep(Duration::from_millis(100));
            while recv_within(&socket, Duration::from_millis(1)).is_some() {}
        }
    }
    if acked < 10 {
        return Err(Fail::problem(format!(
            "only {acked} of 20 probes were acknowledged within 0.6 s (about 18 expected)"
        )));
    }
    Ok(format!("{acked} of 20 probes acknowledged"))
}

fn ramp_probe(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    for _ in 0..5 {
        if probe_once(&socket, server, RAMP_PROBE.as_bytes())? {
            return Ok("`Hello Server.` acknowledged".into());
        }
    }
    Err(Fail::problem(
        "none of 5 `Hello Server.` probes was acknowledged",
    ))
}

fn exit(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    udp_exchange(
        &socket,
        server,
        EXIT_REQUEST,
        EXIT_REPLY,
        Duration::from_secs(1),
    )?;
    let target = ctx.target()?;
    let status = target.expect_exit(Duration::from_secs(3), "after `exit`")?;
    Ok(format!("stopped ({status})"))
}

/// Sends `junk`, then checks that calibration still works.
fn survives(ctx: &mut Ctx, junk: &[u8]) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    socket.send_to(junk, server).context("sending junk")?;
    std::thread::sleep(Duration::from_millis(100));
    // Whatever the junk earned (an ack, nothing) is not judged.
    while recv_within(&socket, Duration::from_millis(600)).is_some() {}
    udp_exchange(
        &socket,
        server,
        &protocol::calibration_request(1024),
        CALIBRATION_REPLY,
        Duration::from_millis(500),
    )
    .map_err(|fail| match fail {
        Fail::Mismatch {
            what,
            expected,
            observed,
        } => Fail::Mismatch {
            what: format!("after {}: {what}", show(junk)),
            expected,
            observed,
        },
        other => other,
    })?;
    Ok(format!("still answering after {}", show(junk)))
}

fn empty_datagram(ctx: &mut Ctx) -> Verdict {
    survives(ctx, b"")
}

fn non_utf8(ctx: &mut Ctx) -> Verdict {
    survives(ctx, b"\xff\xfe\xfd")
}

fn c_not_calibration(ctx: &mut Ctx) -> Verdict {
    survives(ctx, b"Cat")
}

fn small_calibration(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    socket
        .send_to(&protocol::calibration_request(2), server)
        .context("sending `C 2`")?;
    recv_within(&socket, Duration::from_millis(500));
    socket
        .send_to(EXIT_REQUEST, server)
        .context("sending exit")?;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut seen = Vec::new();
    while let Some((reply, _)) =
        recv_within(&socket, deadline.saturating_duration_since(Instant::now()))
    {
        if reply == EXIT_REPLY {
            return Ok("`exit` understood after `C 2`".into());
        }
        seen = reply;
    }
    Err(Fail::mismatch(
        "reply to `exit` after `C 2` (within 2 s)",
        EXIT_REPLY,
        &seen,
    ))
}

fn delays_independent(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    let started = Instant::now();
    for _ in 0..20 {
        socket
            .send_to(PING_PROBE.as_bytes(), server)
            .context("sending a probe")?;
    }
    let mut acked = 0;
    let deadline = started + Duration::from_secs(1);
    while let Some((reply, _)) =
        recv_within(&socket, deadline.saturating_duration_since(Instant::now()))
    {
        expect_bytes("reply to a probe", ACK.as_bytes(), &reply)?;
        acked += 1;
    }
    // Delays of at most 0.5 s run side by side: all ~18 kept acks are back
    // within 1 s (7 or more drops out of 20 happen once in 400 runs). Served
    // one after another they add up to about 5 s.
    if acked < 14 {
        return Err(Fail::problem(format!(
            "only {acked} of 20 probes sent together were acknowledged within 1 s \
             (one delay holds up the others?)"
        )));
    }
    Ok(format!("{acked} of 20 acknowledged within 1 s"))
}

/// What the checker does with the ack for probe `k` (1-based).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Ack {
    /// Acknowledge at once.
    Now,
    /// Acknowledge after the script's delay.
    Held,
    /// Never acknowledge.
    Never,
    /// Acknowledge when the next probe arrives (after the client gave up),
    /// before that probe's own ack.
    Late,
    /// Acknowledge right after the next probe's ack: a stale ack that
    /// sits in the client's socket until its next probe.
    AfterNext,
}

/// How the checker plays the ping server for one client run.
pub(super) struct Script {
    /// The probe text (`Hello Server` or `Hello Server.`).
    pub probe: &'static str,
    /// What is done with each probe's ack.
    pub plan: fn(usize) -> Ack,
    /// How long each `Held` ack is held: its true RTT is at least this.
    pub delay: Duration,
    /// Whether `exit` is answered.
    pub answer_exit: bool,
}

impl Script {
    /// Acks per `plan` without delay and answers `exit`.
    pub fn new(probe: &'static str, plan: fn(usize) -> Ack) -> Script {
        Script {
            probe,
            plan,
            delay: Duration::ZERO,
            answer_exit: true,
        }
    }
}

/// What the checker saw of one client run.
pub(super) struct Run {
    /// When each probe arrived.
    pub probes: Vec<Instant>,
    /// Whether each probe's ack was sent in time (`Now` or `Held`).
    pub acked: Vec<bool>,
    /// Whether each probe's ack was held (`Held`).
    pub held: Vec<bool>,
    /// The size the calibration asked for (`C <size>`).
    pub size: usize,
}

/// How long a client run may take before the checker gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// Plays the ping server for one client run: calibration, probes (acked
/// per the script), then `exit`.
pub(super) fn serve(ctx: &mut Ctx, socket: &UdpSocket, script: &Script) -> Result<Run, Fail> {
    let started = Instant::now();
    let mut server = Server {
        script,
        run: Run {
            probes: Vec::new(),
            acked: Vec::new(),
            held: Vec::new(),
            size: 0,
        },
        calibrated: false,
        late: None,
        after_next: None,
    };
    while started.elapsed() < RUN_LIMIT {
        let Some((datagram, from)) = recv_within(socket, Duration::from_millis(200)) else {
            let target = ctx.target()?;
            if target.try_exit().is_some() {
                return Err(Fail::problem(format!(
                    "the client exited before sending `exit` ({} probes seen){}",
                    server.run.probes.len(),
                    target.stderr_tail()
                )));
            }
            continue;
        };
        if server.handle(socket, &datagram, from)? {
            return Ok(server.run);
        }
    }
    Err(Fail::problem(format!(
        "no `exit` within {} s ({} probes seen; a run meant to be that long needs fewer \
         probes or a shorter interval: at most about 15 s of probing)",
        RUN_LIMIT.as_secs(),
        server.run.probes.len()
    )))
}

/// The checker's ping server during one run.
struct Server<'a> {
    script: &'a Script,
    run: Run,
    calibrated: bool,
    /// An ack held until the next probe arrives.
    late: Option<(Vec<u8>, SocketAddr)>,
    /// An ack held until the next probe's ack is sent.
    after_next: Option<(Vec<u8>, SocketAddr)>,
}

impl Server<'_> {
    /// Answers one datagram; `Ok(true)` once `exit` came.
    fn handle(
        &mut self,
        socket: &UdpSocket,
        datagram: &[u8],
        from: SocketAddr,
    ) -> Result<bool, Fail> {
        if !self.calibrated {
            let Ok(Request::Calibrate(size)) = parse_request(datagram) else {
                return Err(Fail::mismatch("first datagram", b"C <size>", datagram));
            };
            self.calibrated = true;
            self.run.size = size;
            socket
                .send_to(CALIBRATION_REPLY, from)
                .context("answering calibration")?;
            return Ok(false);
        }
        if let Some((ack, to)) = self.late.take() {
            socket.send_to(&ack, to).context("sending a late ack")?;
            std::thread::sleep(Duration::from_millis(20));
        }
        if datagram == EXIT_REQUEST {
            if let Some((ack, to)) = self.after_next.take() {
                socket.send_to(&ack, to).context("sending a late ack")?;
            }
            if self.script.answer_exit {
                socket.send_to(EXIT_REPLY, from).context("answering exit")?;
            }
            return Ok(true);
        }
        let text = String::from_utf8_lossy(datagram);
        let probe = self.script.probe;
        let sequence = protocol::probe_sequence(&text);
        let is_probe =
            text == probe || (sequence.is_some() && text.starts_with(&format!("{probe} ")));
        if !is_probe {
            return Err(Fail::mismatch("probe", probe.as_bytes(), datagram));
        }
        self.run.probes.push(Instant::now());
        let ack = protocol::ack(sequence);
        let plan = (self.script.plan)(self.run.probes.len());
        self.run.acked.push(matches!(plan, Ack::Now | Ack::Held));
        self.run.held.push(plan == Ack::Held);
        match plan {
            Ack::Now | Ack::Held => {
                if plan == Ack::Held {
                    std::thread::sleep(self.script.delay);
                }
                socket.send_to(&ack, from).context("sending an ack")?;
                if let Some((stale, to)) = self.after_next.take() {
                    socket.send_to(&stale, to).context("sending a late ack")?;
                }
            }
            Ack::Never => {}
            Ack::Late => self.late = Some((ack, from)),
            Ack::AfterNext => self.after_next = Some((ack, from)),
        }
        Ok(false)
    }
}

/// Skips unless the run had at least `probes` probes, each of the first
/// `probes` at least `gap` after the one before.
pub(super) fn need_probes(
    run: &Run,
    probes: usize,
    gap: Duration,
    flags: &str,
) -> Result<(), Fail> {
    let seen = run.probes.len();
    if seen < probes {
        return Err(Fail::Skip(format!(
            "the client sent {seen} probes; this case needs {flags}"
        )));
    }
    let shortest = run.probes[..probes]
        .windows(2)
        .map(|w| w[1] - w[0])
        .min()
        .unwrap_or(Duration::MAX);
    if shortest < gap {
        return Err(Fail::Skip(format!(
            "probes came as close as {:.3} s; this case needs {flags}",
            shortest.as_secs_f64()
        )));
    }
    Ok(())
}

/// Waits for the client to exit and returns it (fails if it does not).
pub(super) fn finished(ctx: &mut Ctx, wait: Duration) -> Result<&mut Target, Fail> {
    let target = ctx.target()?;
    target.expect_exit(wait, "after `exit`")?;
    Ok(target)
}

/// The number after `label` on the last line that has it.
pub(super) fn number_after(stdout: &[u8], label: &str) -> Option<f64> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().rev().find(|l| l.contains(label))?;
    let rest = &line[line.find(label)? + label.len()..];
    let number: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-' || *c == 'e')
        .collect();
    number.parse().ok()
}

/// Counts lines containing `needle`.
pub(super) fn count_lines(stdout: &[u8], needle: &str) -> usize {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// Fails unless the report's loss percentage is `expected` (±0.01).
fn expect_loss(stdout: &[u8], expected: f64) -> Result<(), Fail> {
    match number_after(stdout, "Loss Percentage:") {
        Some(loss) if (loss - expected).abs() < 0.01 => Ok(()),
        _ => {
            let line = String::from_utf8_lossy(stdout)
                .lines()
                .rev()
                .find(|l| l.contains("Loss Percentage"))
                .unwrap_or("")
                .to_string();
            Err(Fail::mismatch(
                "loss line",
                format!("Loss Percentage: {expected:?}%").as_bytes(),
                line.as_bytes(),
            ))
        }
    }
}

/// Fails unless the client printed the server's `exit` reply as its final
/// message.
pub(super) fn expect_final_message(stdout: &[u8]) -> Result<(), Fail> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("Final Message from the Server") || l.contains("Message from Server"))
        .unwrap_or("");
    if line.contains("Stopping the Server.") {
        Ok(())
    } else {
        Err(Fail::mismatch(
            "final message line",
            b"Final Message from the Server b'Stopping the Server.'",
            line.as_bytes(),
        ))
    }
}

fn all_acked(ctx: &mut Ctx) -> Verdict {
    let socket = ctx.start_udp_client("127.0.0.1")?;
    let run = serve(ctx, &socket, &Script::new(PING_PROBE, |_| Ack::Now))?;
    let n = run.probes.len();
    let stdout = finished(ctx, Duration::from_secs(5))?.stdout();
    for k in 1..=n {
        if !contains(&stdout, &format!("RTT for packet {k}:")) {
            return Err(Fail::problem(format!(
                "no `RTT for packet {k}:` line for an acknowledged probe"
            )));
        }
    }
    if !contains(&stdout, "Average RTT:") {
        return Err(Fail::problem("no `Average RTT:` line"));
    }
    expect_loss(&stdout, 0.0)?;
    expect_final_message(&stdout)?;
    Ok(format!("{n} probes, {n} RTT lines, loss 0 %"))
}

fn loss_reported(ctx: &mut Ctx) -> Verdict {
    let socket = ctx.start_udp_client("127.0.0.1")?;
    let plan = |k| if k == 2 { Ack::Never } else { Ack::Now };
    let run = serve(ctx, &socket, &Script::new(PING_PROBE, plan))?;
    need_probes(&run, 2, Duration::ZERO, "2 probes (-n 2 or more)")?;
    let n = run.probes.len();
    let stdout = finished(ctx, Duration::from_secs(5))?.stdout();
    let losses = count_lines(&stdout, "PACKET LOSS OCCURRED SENDING NEXT PACKET");
    if losses != 1 {
        return Err(Fail::problem(format!(
            "{losses} `PACKET LOSS OCCURRED SENDING NEXT PACKET` lines for 1 lost probe"
        )));
    }
    if contains(&stdout, "RTT for packet 2:") {
        return Err(Fail::problem("an RTT was printed for the lost 2nd probe"));
    }
    expect_loss(&stdout, 100.0 / n as f64)?;
    Ok(format!("1 loss of {n} reported"))
}

fn late_ack(ctx: &mut Ctx) -> Verdict {
    let socket = ctx.start_udp_client("127.0.0.1")?;
    let plan = |k| if k == 1 { Ack::Late } else { Ack::Now };
    let run = serve(ctx, &socket, &Script::new(PING_PROBE, plan))?;
    need_probes(&run, 2, Duration::ZERO, "2 probes (-n 2 or more)")?;
    let n = run.probes.len();
    let stdout = finished(ctx, Duration::from_secs(5))?.stdout();
    if contains(&stdout, "RTT for packet 1:") {
        return Err(Fail::problem(
            "the 1st probe's late ack was counted as an RTT for packet 1",
        ));
    }
    expect_final_message(&stdout)?;
    Ok(format!("late ack not credited ({n} probes)"))
}

fn all_lost(ctx: &mut Ctx) -> Verdict {
    let socket = ctx.start_udp_client("127.0.0.1")?;
    serve(ctx, &socket, &Script::new(PING_PROBE, |_| Ack::Never))?;
    let target = finished(ctx, Duration::from_secs(5))?;
    let (stdout, stderr) = (target.stdout(), target.stderr());
    if contains(&stderr, "Traceback") {
        return Err(Fail::problem(format!(
            "crashed with every probe lost{}",
            target.stderr_tail()
        )));
    }
    expect_loss(&stdout, 100.0)?;
    Ok("loss 100 % reported".into())
}

fn no_exit_reply(ctx: &mut Ctx) -> Verdict {
    ends_without_exit_reply(ctx, PING_PROBE, "Loss Percentage:")
}

/// Acks every `probe` but never answers `exit`: the client must still end
/// with its report (a line holding `report`), without a traceback.
pub(super) fn ends_without_exit_reply(ctx: &mut Ctx, probe: &'static str, report: &str) -> Verdict {
    let socket = ctx.start_udp_client("127.0.0.1")?;
    let script = Script {
        answer_exit: false,
        ..Script::new(probe, |_| Ack::Now)
    };
    serve(ctx, &socket, &script)?;
    let target = finished(ctx, Duration::from_secs(5))?;
    if contains(&target.stderr(), "Traceback") {
        return Err(Fail::problem(format!(
            "crashed without a reply to exit{}",
            target.stderr_tail()
        )));
    }
    if !contains(&target.stdout(), report) {
        return Err(Fail::problem(format!(
            "no report (`{}`) without a reply to exit",
            report.trim_end()
        )));
    }
    Ok("ended with its report".into())
}

/// The stale-ack cases' plan: the 1st ack comes right after the 2nd's (it
/// waits in the client's socket), the 4th never comes, the 2nd, 3rd and
/// 5th are held (a stale ack credited to them would show as a short RTT).
pub(super) fn stale_plan(k: usize) -> Ack {
    match k {
        1 => Ack::AfterNext,
        4 => Ack::Never,
        2 | 3 | 5 => Ack::Held,
        _ => Ack::Now,
    }
}

/// How long the stale-ack cases hold every ack: a true RTT is never
/// shorter, a stale ack read at once always is.
pub(super) const STALE_DELAY: Duration = Duration::from_millis(50);
/// Probes the stale-ack cases need.
pub(super) const STALE_PROBES: usize = 5;
/// The shortest gap between probes the stale-ack cases need (an interval
/// well above [`STALE_DELAY`]).
pub(super) const STALE_GAP: Duration = Duration::from_millis(150);
/// The stale-ack cases' needs, for `--list` and the skip reason.
pub(super) const STALE_NEEDS: &str = "5 probes at least 0.15 s apart (-n 5 -i 0.15 or more)";

/// The number on each `RTT for packet k:` line, by `k` (`None` where the
/// number does not parse).
fn rtt_lines(stdout: &[u8]) -> Vec<(usize, Option<f64>)> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|line| {
            let rest = &line[line.find("RTT for packet ")? + "RTT for packet ".len()..];
            let (k, value) = rest.split_once(':')?;
            Some((k.trim().parse().ok()?, value.trim().parse().ok()))
        })
        .collect()
}

fn stale_ack(ctx: &mut Ctx) -> Verdict {
    let socket = ctx.start_udp_client("127.0.0.1")?;
    let script = Script {
        delay: STALE_DELAY,
        ..Script::new(PING_PROBE, stale_plan)
    };
    let run = serve(ctx, &socket, &script)?;
    need_probes(&run, STALE_PROBES, STALE_GAP, STALE_NEEDS)?;
    let stdout = finished(ctx, Duration::from_secs(5))?.stdout();
    let rtts = rtt_lines(&stdout);
    let hold = STALE_DELAY.as_secs_f64();
    for ((k, acked), held) in (1..).zip(&run.acked).zip(&run.held) {
        let rtt = rtts.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        match (acked, rtt) {
            (true, Some(Some(v))) if v >= 0.9 * hold || !held => {}
            (true, Some(Some(v))) => {
                return Err(Fail::problem(format!(
                    "`RTT for packet {k}: {v}` is shorter than the {hold} s the checker held \
                     every ack: an earlier probe's stale ack was credited to packet {k}"
                )))
            }
            (true, Some(None)) => {
                return Err(Fail::problem(format!(
                    "the `RTT for packet {k}:` line holds no number"
                )))
            }
            (true, None) => {
                return Err(Fail::problem(format!(
                    "no `RTT for packet {k}:` line for an acknowledged probe"
                )))
            }
            (false, Some(_)) => {
                return Err(Fail::problem(format!(
                    "an RTT line for packet {k}, which was never acknowledged in time: a stale \
                     ack was credited to it"
                )))
            }
            (false, None) => {}
        }
    }
    let lost = run.acked.iter().filter(|a| !**a).count();
    let losses = count_lines(&stdout, "PACKET LOSS OCCURRED SENDING NEXT PACKET");
    if losses != lost {
        return Err(Fail::problem(format!(
            "{losses} `PACKET LOSS OCCURRED SENDING NEXT PACKET` lines for {lost} lost probes \
             (the 1st and the 4th; a stale ack credited to a later probe hides a loss)"
        )));
    }
    let n = run.probes.len();
    expect_loss(&stdout, 100.0 * lost as f64 / n as f64)?;
    Ok(format!("{lost} of {n} lost, every RTT at least {hold} s"))
}
