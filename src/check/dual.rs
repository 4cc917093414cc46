//! a3 dual-stack cases.
//!
//! Server role: five rounds of `Hii Server` → `Acknowledgement`, then
//! `exit`, over IPv4 (`{host}` = `127.0.0.1`) and IPv6 (`{host}` = `::1`),
//! and the seed's one-client-at-a-time and crash faults. Client role: the
//! checker answers the rounds and watches how the client waits for them.

use super::wire::{
    accept_within, connect, expect_read, read_to_close, read_upto, reset, send, Fail, Verdict,
};
use super::{Case, Ctx, Needs, Tier};
use crate::a3_dual::protocol::{ACKNOWLEDGEMENT, DEFAULT_ROUNDS, EXIT, GREETING};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The dual server cases.
pub fn server_cases() -> Vec<Case> {
    let case = super::cases_within(Duration::from_secs(12));
    vec![
        case(
            "rounds-ipv4",
            Tier::Wire,
            "on 127.0.0.1: 5 × `Hii Server` → `Acknowledgement`, then `exit` → close",
            Needs::Network,
            rounds_v4,
        ),
        case(
            "rounds-ipv6",
            Tier::Wire,
            "the same with `{host}` = `::1`",
            Needs::Process,
            rounds_v6,
        ),
        case(
            "serves-again",
            Tier::Wire,
            "after one client's `exit` the server accepts the next",
            Needs::Network,
            serves_again,
        ),
        case(
            "concurrent",
            Tier::Robust,
            "a second client is served while the first stays connected",
            Needs::Network,
            concurrent,
        ),
        case(
            "non-utf8",
            Tier::Robust,
            "a client sending bytes that are not UTF-8 does not stop the server",
            Needs::Network,
            non_utf8,
        ),
        case(
            "reset-client",
            Tier::Robust,
            "a client that resets mid-session does not stop the server",
            Needs::Network,
            reset_client,
        ),
        case(
            "ctrl-c",
            Tier::Robust,
            "Ctrl-C (SIGINT) ends an idle server within 2 s, no traceback",
            Needs::Process,
            super::ctrl_c_server,
        ),
    ]
}

/// The dual client cases.
pub fn client_cases() -> Vec<Case> {
    let case = super::process_cases_within(Duration::from_secs(15));
    vec![
        case("rounds-ipv4", Tier::Wire, "on 127.0.0.1: 5 × `Hii Server` (each after its acknowledgement), then `exit`, then close", client_v4),
        case("rounds-ipv6", Tier::Wire, "the same with `{host}` = `::1`", client_v6),
        case("split-ack", Tier::Robust, "an acknowledgement arriving in two pieces is awaited whole before the next message", split_ack),
        case("server-closes", Tier::Robust, "a server that closes after 2 rounds: the client ends within 3 s, non-zero, no traceback", server_closes),
    ]
}

/// Plays `rounds` rounds as a client on `stream`.
fn play_rounds(stream: &mut TcpStream, rounds: u64) -> Result<(), Fail> {
    for round in 1..=rounds {
        send(stream, GREETING.as_bytes(), "sending Hii Server")?;
        expect_read(
            stream,
            ACKNOWLEDGEMENT.as_bytes(),
            Duration::from_secs(2),
            &format!("acknowledgement {round}"),
        )?;
    }
    Ok(())
}

/// A full session: the rounds, `exit`, and the server's close.
fn session(server: SocketAddr) -> Result<(), Fail> {
    let mut stream = connect(server)?;
    play_rounds(&mut stream, DEFAULT_ROUNDS)?;
    // A pause, so `exit` is read on its own.
    std::thread::sleep(Duration::from_millis(50));
    send(&mut stream, EXIT.as_bytes(), "sending exit")?;
    let got = read_to_close(&mut stream, 0, Duration::from_secs(2));
    if !got.closed || !got.bytes.is_empty() {
        return Err(Fail::mismatch(
            "after `exit` (the connection should close)",
            b"",
            &got.bytes,
        ));
    }
    Ok(())
}

fn rounds_v4(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    session(server)?;
    Ok("5 rounds and exit over IPv4".into())
}

fn rounds_v6(ctx: &mut Ctx) -> Verdict {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        return Err(Fail::Skip("no IPv6 loopback on this machine".into()));
    }
    let server = ctx.start_server("::1")?;
    session(server)?;
    Ok("5 rounds and exit over IPv6".into())
}

fn serves_again(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    session(server)?;
    session(server)?;
    Ok("two clients one after the other".into())
}

fn concurrent(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut first = connect(server)?;
    play_rounds(&mut first, 1)?;
    let mut second = connect(server)?;
    play_rounds(&mut second, 1).map_err(|fail| match fail {
        Fail::Mismatch {
            what,
            expected,
            observed,
        } => Fail::Mismatch {
            what: format!("second client while the first is connected: {what}"),
            expected,
            observed,
        },
        other => other,
    })?;
    Ok("two clients at once".into())
}

fn non_utf8(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut stream = connect(server)?;
    send(&mut stream, b"\xff\xfe\xfd", "sending junk")?;
    read_upto(&mut stream, 100, Duration::from_millis(300));
    drop(stream);
    std::thread::sleep(Duration::from_millis(200));
    session(server)?;
    Ok("served after non-UTF-8".into())
}

fn reset_client(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut stream = connect(server)?;
    play_rounds(&mut stream, 1)?;
    reset(stream);
    std::thread::sleep(Duration::from_millis(200));
    session(server)?;
    Ok("served after a reset".into())
}

/// Client role: reads `Hii Server` messages and answers them, `rounds`
/// times; then expects `exit` (a trailing newline allowed) and a close.
fn serve_rounds(ctx: &mut Ctx, host: &str) -> Verdict {
    let listener = ctx.start_tcp_client(host)?;
    let mut stream = accept_within(&listener, Duration::from_secs(8))?;
    for round in 1..=DEFAULT_ROUNDS {
        expect_read(
            &mut stream,
            GREETING.as_bytes(),
            Duration::from_secs(3),
            &format!("message {round}"),
        )?;
        send(&mut stream, ACKNOWLEDGEMENT.as_bytes(), "acknowledging")?;
    }
    let got = read_to_close(&mut stream, b"exit\n".len(), Duration::from_secs(3));
    if got.bytes != EXIT.as_bytes() && got.bytes != b"exit\n" {
        return Err(Fail::mismatch(
            "after 5 rounds",
            EXIT.as_bytes(),
            &got.bytes,
        ));
    }
    if !got.closed {
        return Err(Fail::problem("no close after `exit`"));
    }
    ctx.target()?
        .expect_exit(Duration::from_secs(3), "after exit")?;
    Ok(format!("5 rounds and exit over {host}"))
}

fn client_v4(ctx: &mut Ctx) -> Verdict {
    serve_rounds(ctx, "127.0.0.1")
}

fn client_v6(ctx: &mut Ctx) -> Verdict {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        return Err(Fail::Skip("no IPv6 loopback on this machine".into()));
    }
    serve_rounds(ctx, "::1")
}

fn split_ack(ctx: &mut Ctx) -> Verdict {
    let listener = ctx.start_tcp_client("127.0.0.1")?;
    let mut stream = accept_within(&listener, Duration::from_secs(8))?;
    expect_read(
        &mut stream,
        GREETING.as_bytes(),
        Duration::from_secs(3),
        "message 1",
    )?;
    let (head, tail) = ACKNOWLEDGEMENT.as_bytes().split_at(10);
    send(&mut stream, head, "sending half an acknowledgement")?;
    let early = read_upto(&mut stream, 1, Duration::from_millis(300));
    if !early.bytes.is_empty() {
        return Err(Fail::problem(format!(
            "sent {} before the acknowledgement was complete",
            super::wire::show(&early.bytes)
        )));
    }
    send(&mut stream, tail, "sending the rest")?;
    expect_read(
        &mut stream,
        GREETING.as_bytes(),
        Duration::from_secs(3),
        "message 2",
    )?;
    Ok("waited for the whole acknowledgement".into())
}

fn server_closes(ctx: &mut Ctx) -> Verdict {
    let listener = ctx.start_tcp_client("127.0.0.1")?;
    let mut stream = accept_within(&listener, Duration::from_secs(8))?;
    for round in 1..=2 {
        expect_read(
            &mut stream,
            GREETING.as_bytes(),
            Duration::from_secs(3),
            &format!("message {round}"),
        )?;
        send(&mut stream, ACKNOWLEDGEMENT.as_bytes(), "acknowledging")?;
    }
    read_upto(&mut stream, GREETING.len(), Duration::from_secs(2));
    drop(stream);
    drop(listener);
    let target = ctx.target()?;
    let status = target.expect_exit(Duration::from_secs(3), "after the server closed")?;
    super::wire::clear_error(&target.stderr())?;
    if status.success() {
        return Err(Fail::problem(
            "exit status 0 although the server closed after 2 of 5 rounds",
        ));
    }
    Ok(format!("clear error, {status}"))
}
