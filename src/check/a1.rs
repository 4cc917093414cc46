//! a1 UDP iPerf cases.
//!
//! Server role: the checker sends `START`, a short payload in 1500-byte
//! datagrams (the seed pattern, lightly paced so loopback loses nothing),
//! then `STOP` every second until the reply comes. Client role: the checker
//! plays the seed server on `{port}` (the seed client's fixed 5555 with
//! `--port 5555`), counts the payload, checks its pattern and answers
//! `STOP`.

use super::target::{contains, SIGINT};
use super::wire::{expect_bytes, recv_within, show, udp_for, Context, Fail, Verdict};
use super::{Case, Ctx, Needs, Tier};
use crate::a1_iperf::protocol::{self, Payload, START, STOP};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Datagrams in the payload the checker sends a server (300 kB).
const DATAGRAMS: u64 = 200;

/// The a1 server cases.
pub fn server_cases() -> Vec<Case> {
    let case = super::cases_within(Duration::from_secs(15));
    vec![
        case(
            "throughput-reply",
            Tier::Wire,
            "START, 300 kB, STOP → `Throughput: X.XXX Kilobytes per second` to the STOP's sender",
            Needs::Network,
            throughput_reply,
        ),
        case(
            "report",
            Tier::Wire,
            "after one test the server prints the seed's report lines with the exact byte count",
            Needs::Process,
            report,
        ),
        case(
            "stray-before-start",
            Tier::Robust,
            "a stray datagram before START is ignored, the test that follows still works",
            Needs::Network,
            stray_before_start,
        ),
        case(
            "empty-test",
            Tier::Robust,
            "START then STOP with no data: a finite, non-negative throughput, in a reply or (a \
             server that never sends 57 bytes for 9) in its report of 0 bytes",
            Needs::Network,
            empty_test,
        ),
        case(
            "non-utf8",
            Tier::Robust,
            "payload bytes that are not UTF-8 are counted like any other",
            Needs::Network,
            non_utf8,
        ),
        case(
            "repeated-stop",
            Tier::Robust,
            "a STOP repeated after the reply (the reply was lost) is answered again",
            Needs::Network,
            repeated_stop,
        ),
        case(
            "ctrl-c",
            Tier::Robust,
            "Ctrl-C (SIGINT) ends an idle server within 2 s, status 0, no traceback",
            Needs::Process,
            super::ctrl_c_server,
        ),
    ]
}

/// The a1 client cases.
pub fn client_cases() -> Vec<Case> {
    let case = super::process_cases_within(Duration::from_secs(45));
    vec![
        case("payload", Tier::Wire, "START, then whole MB of the seed pattern in datagrams ≤ 1500 bytes, then STOP; the reply is printed and the client exits 0", payload),
        case("stop-retry", Tier::Wire, "when the first STOP gets no reply, STOP is sent again about a second later", stop_retry),
        case("ctrl-c-while-waiting", Tier::Robust, "Ctrl-C while the client waits for the reply ends it within 3 s", ctrl_c_waiting),
    ]
}

/// Sends START and the payload from `socket`; returns the bytes sent.
fn send_payload(socket: &UdpSocket, server: SocketAddr, datagrams: u64) -> Result<u64, Fail> {
    socket.send_to(START, server).context("sending START")?;
    let total = datagrams * protocol::DEFAULT_LENGTH as u64;
    let payload = Payload::new(total, protocol::DEFAULT_LENGTH);
    let mut offset = 0;
    let mut sent = 0u64;
    while offset < total {
        let datagram = payload.datagram_at(offset);
        socket
            .send_to(datagram, server)
            .context("sending the payload")?;
        offset += datagram.len() as u64;
        sent += 1;
        if sent.is_multiple_of(8) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(total)
}

/// Sends STOP every second (at most 5 times) until a reply arrives.
fn stop_until_reply(socket: &UdpSocket, server: SocketAddr) -> Result<Vec<u8>, Fail> {
    for _ in 0..5 {
        socket.send_to(STOP, server).context("sending STOP")?;
        if let Some((reply, _)) = recv_within(socket, Duration::from_millis(1100)) {
            return Ok(reply);
        }
    }
    Err(Fail::problem("no reply to STOP within 5 tries of 1 s"))
}

/// Fails unless `reply` is the seed sentence (optionally with socklab's
/// `, received N bytes`); returns the throughput.
fn check_reply(reply: &[u8]) -> Result<f64, Fail> {
    let sample = b"Throughput: 1234.567 Kilobytes per second";
    let text = std::str::from_utf8(reply)
        .map_err(|_| Fail::mismatch("reply to STOP (not UTF-8)", sample, reply))?;
    let Some(value) = protocol::parse_throughput(text) else {
        return Err(Fail::mismatch("reply to STOP", sample, reply));
    };
    let number = text["Throughput: ".len()..].split(' ').next().unwrap_or("");
    let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
    let tail = &text[text.find(" Kilobytes per second").unwrap_or(0) + 21..];
    if decimals != 3 || !(tail.is_empty() || protocol::parse_received_bytes(text).is_some()) {
        return Err(Fail::mismatch(
            "reply to STOP (3 decimals, nothing after but `, received N bytes`)",
            sample,
            reply,
        ));
    }
    Ok(value)
}

fn throughput_reply(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    send_payload(&socket, server, DATAGRAMS)?;
    let reply = stop_until_reply(&socket, server)?;
    let value = check_reply(&reply)?;
    Ok(format!("{} ({value} kB/s)", show(&reply)))
}

fn report(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    let total = send_payload(&socket, server, DATAGRAMS)?;
    let reply = stop_until_reply(&socket, server)?;
    check_reply(&reply)?;
    let target = ctx.target()?;
    // The seed exits after its test; a server that keeps serving is stopped.
    if target.wait_exit(Duration::from_secs(3)).is_none() {
        target.signal(SIGINT);
        target.wait_exit(Duration::from_secs(3));
    }
    let stdout = target.stdout();
    for line in [
        format!("Size of data received (bytes):  {total}"),
        "Time that first packet was received: ".to_string(),
        "Client IP address:  127.0.0.1".to_string(),
        "Time taken to receive (seconds):  ".to_string(),
    ] {
        if !contains(&stdout, &line) {
            return Err(Fail::problem(format!(
                "the report lacks the line {line:?} (stdout {})",
                show(&stdout)
            )));
        }
    }
    Ok(format!("report counts {total} bytes"))
}

fn stray_before_start(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let stray = udp_for(server)?;
    stray
        .send_to(b"hello?", server)
        .context("sending a stray datagram")?;
    std::thread::sleep(Duration::from_millis(100));
    let socket = udp_for(server)?;
    send_payload(&socket, server, 20)?;
    let reply = stop_until_reply(&socket, server)?;
    check_reply(&reply)?;
    Ok("the test after the stray datagram was answered".into())
}

fn empty_test(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    socket.send_to(START, server).context("sending START")?;
    std::thread::sleep(Duration::from_millis(50));
    let reply = match stop_until_reply(&socket, server) {
        Ok(reply) => reply,
        // No amplification: 9 bytes in need not get a 57-byte reply; the
        // server's own report must then show the empty test.
        Err(no_reply) => {
            let report = "Size of data received (bytes):  0";
            let target = ctx.target()?;
            if target.wait_stdout(report, Duration::from_secs(1)) {
                return Ok("no reply to 9 bytes; the report counts 0 bytes".into());
            }
            return Err(no_reply);
        }
    };
    let value = check_reply(&reply)?;
    if !value.is_finite() || reply.starts_with(b"Throughput: -") {
        return Err(Fail::mismatch(
            "throughput of an empty test",
            b"Throughput: 0.000 Kilobytes per second",
            &reply,
        ));
    }
    Ok(show(&reply))
}

fn non_utf8(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    socket.send_to(START, server).context("sending START")?;
    for _ in 0..10 {
        socket
            .send_to(&[0xff; 1500], server)
            .context("sending the payload")?;
    }
    let reply = stop_until_reply(&socket, server)?;
    check_reply(&reply)?;
    if let Some(count) = std::str::from_utf8(&reply)
        .ok()
        .and_then(protocol::parse_received_bytes)
    {
        expect_bytes("bytes counted", b"15000", count.to_string().as_bytes())?;
    }
    Ok(show(&reply))
}

fn repeated_stop(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    send_payload(&socket, server, 20)?;
    let first = stop_until_reply(&socket, server)?;
    check_reply(&first)?;
    socket.send_to(STOP, server).context("sending STOP again")?;
    match recv_within(&socket, Duration::from_secs(2)) {
        Some((again, _)) => {
            check_reply(&again)?;
            Ok("the repeated STOP was answered".into())
        }
        None => Err(Fail::mismatch(
            "reply to a repeated STOP (nothing within 2 s)",
            &first,
            b"",
        )),
    }
}

/// What the checker saw of one client run: payload bytes and when each
/// STOP arrived.
struct Session {
    bytes: u64,
    /// Where in the pattern the next datagram should start (after a gap,
    /// where the last one ended).
    offset: u64,
    stops: Vec<Instant>,
    /// Payload datagrams that followed a gap (whole datagrams missing).
    gaps: u64,
    /// Datagrams the checker's own socket dropped (its buffer was full), as
    /// the kernel counts them.
    dropped: u64,
}

/// How the receive thread ended.
enum Received {
    /// The STOPs it waited for arrived.
    Done(Session),
    /// The client broke the protocol.
    Failed(Fail),
    /// The client exited and nothing more came.
    ClientGone,
    /// The deadline passed.
    TimedOut { start_seen: bool, bytes: u64 },
}

/// Plays the seed server for one client run: START, payload, then STOPs
/// until `stops` of them arrived; the last one is answered if `answer`.
///
/// A thread of its own receives (one reused buffer, no per-datagram system
/// call besides the receive), so an unpaced sender on loopback does not
/// outrun it; this thread watches the client meanwhile. Should the
/// checker's socket still drop datagrams, the kernel's count of them is
/// read, and the gaps they leave are not blamed on the client.
fn serve_client(
    socket: &UdpSocket,
    ctx: &mut Ctx,
    stops: usize,
    answer: bool,
    deadline: Duration,
) -> Result<Session, Fail> {
    let receiver = socket.try_clone().context("cloning the checker's socket")?;
    let gone = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let until = Instant::now() + deadline;
    let received = std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("check-a1-recv".into())
            .spawn_scoped(scope, || {
                let received = receive(&receiver, stops, answer, until, &gone);
                done.store(true, Ordering::Release);
                received
            })
            .context("starting the receive thread")?;
        while !done.load(Ordering::Acquire) && !gone.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            if ctx.target()?.try_exit().is_some() {
                gone.store(true, Ordering::Relaxed);
            }
        }
        worker
            .join()
            .map_err(|_| Fail::problem("the receive thread panicked"))
    })?;
    let port = socket.local_addr().map_or(0, |a| a.port());
    match received {
        Received::Done(mut session) => {
            session.dropped = super::wire::udp_drops(port).unwrap_or(0);
            if session.gaps > 0 && session.dropped == 0 {
                return Err(Fail::problem(format!(
                    "{} payload datagrams followed a gap (whole datagrams missing, none \
                     dropped by the checker's socket): the client skipped part of the pattern",
                    session.gaps
                )));
            }
            Ok(session)
        }
        Received::Failed(fail) => Err(fail),
        Received::ClientGone => {
            let target = ctx.target()?;
            target.expect_alive("sending part of the test")?;
            Err(Fail::problem("the client exited during the test"))
        }
        Received::TimedOut { start_seen, bytes } => Err(Fail::problem(format!(
            "the test did not end within {} s (start seen: {start_seen}, {bytes} bytes)",
            deadline.as_secs()
        ))),
    }
}

/// The receive loop of [`serve_client`]: until `stops` STOPs, the
/// deadline, or the client's exit (`gone`) with nothing left to read.
fn receive(
    socket: &UdpSocket,
    stops: usize,
    answer: bool,
    until: Instant,
    gone: &AtomicBool,
) -> Received {
    if socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .is_err()
    {
        return Received::Failed(Fail::problem("cannot set a read timeout"));
    }
    let pattern = Payload::new(u64::MAX, protocol::MAX_LENGTH);
    let mut session = Session {
        bytes: 0,
        offset: 0,
        stops: Vec::new(),
        gaps: 0,
        dropped: 0,
    };
    let mut seen_start = false;
    let mut buffer = vec![0u8; 65_536];
    while Instant::now() < until {
        let (n, from) = match socket.recv_from(&mut buffer) {
            Ok(got) => got,
            Err(e) if crate::net::is_timeout(&e) && gone.load(Ordering::Relaxed) => {
                return Received::ClientGone;
            }
            Err(_) => continue,
        };
        let datagram = &buffer[..n];
        if !seen_start {
            if let Err(fail) = expect_bytes("first datagram", START, datagram) {
                return Received::Failed(fail);
            }
            seen_start = true;
            continue;
        }
        if datagram == STOP {
            session.stops.push(Instant::now());
            if session.stops.len() == stops {
                if answer {
                    let reply = b"Throughput: 1234.567 Kilobytes per second";
                    if let Err(fail) = socket.send_to(reply, from).context("replying to STOP") {
                        return Received::Failed(fail);
                    }
                }
                return Received::Done(session);
            }
            continue;
        }
        if let Err(fail) = check_datagram(&pattern, &mut session, datagram) {
            return Received::Failed(fail);
        }
    }
    Received::TimedOut {
        start_seen: seen_start,
        bytes: session.bytes,
    }
}

/// Checks one payload datagram against the seed pattern at the bytes
/// counted so far; a datagram that is the pattern at another phase is
/// counted as following a gap (datagrams went missing before it).
fn check_datagram(pattern: &Payload, session: &mut Session, datagram: &[u8]) -> Result<(), Fail> {
    if !session.stops.is_empty() {
        return Err(Fail::mismatch("datagram after STOP", STOP, datagram));
    }
    if datagram.len() > protocol::DEFAULT_LENGTH {
        return Err(Fail::problem(format!(
            "a payload datagram of {} bytes (at most {} expected)",
            datagram.len(),
            protocol::DEFAULT_LENGTH
        )));
    }
    let expected = &pattern.datagram_at(session.offset)[..datagram.len()];
    // A socklab sender's sequence header replaces the pattern's first
    // bytes (the seed server only counts bytes); the rest must match.
    let skip = match protocol::Header::parse(datagram) {
        Some(_) => protocol::HEADER_LEN.min(datagram.len()),
        None => 0,
    };
    if datagram[skip..] != expected[skip..] {
        let phase = (0..26)
            .find(|&phase| datagram[skip..] == pattern.datagram_at(phase)[skip..datagram.len()]);
        let Some(phase) = phase else {
            return Err(Fail::mismatch(
                format!("payload at byte {}", session.bytes),
                expected,
                datagram,
            ));
        };
        session.gaps += 1;
        session.offset = phase;
    }
    session.bytes += datagram.len() as u64;
    session.offset += datagram.len() as u64;
    Ok(())
}

/// Binds the checker's server socket and starts the client.
fn start_client(ctx: &mut Ctx) -> Result<UdpSocket, Fail> {
    let port = ctx.port_for("127.0.0.1")?;
    // A large receive buffer: the seed client does not pace.
    let options = crate::net::SocketOptions {
        recv_buffer: Some(8 << 20),
        ..Default::default()
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let socket = crate::net::bind_udp(addr, &options).context("the checker's server")?;
    ctx.spawn("127.0.0.1", port)?;
    Ok(socket)
}

fn payload(ctx: &mut Ctx) -> Verdict {
    let socket = start_client(ctx)?;
    let session = serve_client(&socket, ctx, 1, true, Duration::from_secs(40))?;
    let mb = protocol::MB;
    // Datagrams the checker's socket dropped are counted at full length.
    let lost = session.dropped * protocol::DEFAULT_LENGTH as u64;
    let total = session.bytes + lost;
    let whole = (total + mb / 2) / mb;
    if total.abs_diff(whole * mb) > lost.min(protocol::DEFAULT_LENGTH as u64)
        || !protocol::SIZE_RANGE_MB.contains(&whole)
    {
        return Err(Fail::problem(format!(
            "the payload was {} bytes, not a whole number of MB in 25..=200 (datagrams lost or cut)",
            session.bytes
        )));
    }
    let note = match session.dropped {
        0 => String::new(),
        n => format!(" ({n} datagrams dropped by the checker's own socket, counted by the kernel)"),
    };
    let target = ctx.target()?;
    let status = target.expect_exit(Duration::from_secs(5), "after the reply")?;
    let stdout = target.stdout();
    if !contains(&stdout, "Throughput: 1234.567 Kilobytes per second") {
        return Err(Fail::problem(format!(
            "the client did not print the reply (stdout {})",
            show(&stdout)
        )));
    }
    if !status.success() {
        return Err(Fail::problem(format!("the client exited with {status}")));
    }
    Ok(format!("{whole} MB of the pattern, reply printed{note}"))
}

fn stop_retry(ctx: &mut Ctx) -> Verdict {
    let socket = start_client(ctx)?;
    let session = serve_client(&socket, ctx, 2, true, Duration::from_secs(40))?;
    let gap = session.stops[1] - session.stops[0];
    if gap < Duration::from_millis(300) || gap > Duration::from_secs(3) {
        return Err(Fail::problem(format!(
            "STOP was repeated after {:.2} s (about 1 s expected)",
            gap.as_secs_f64()
        )));
    }
    ctx.target()?
        .expect_exit(Duration::from_secs(5), "after the reply")?;
    Ok(format!("STOP repeated after {:.2} s", gap.as_secs_f64()))
}

fn ctrl_c_waiting(ctx: &mut Ctx) -> Verdict {
    let socket = start_client(ctx)?;
    serve_client(&socket, ctx, 1, false, Duration::from_secs(40))?;
    let target = ctx.target()?;
    target.signal(SIGINT);
    match target.wait_exit(Duration::from_secs(3)) {
        Some(status) => Ok(format!("exited with {status} on Ctrl-C")),
        None => Err(Fail::problem(
            "still running 3 s after Ctrl-C while waiting for the reply",
        )),
    }
}
