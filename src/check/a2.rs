//! a2 TCP half-echo cases.
//!
//! Server role: the checker sends a request and expects its first half
//! back, then the close. Cases with more than one connection need a server
//! that keeps serving (socklab: `--forever`; the seed serves one and exits).
//! Client role: the checker accepts on `{port}`, expects the 18-byte
//! request and replies `GET / HTT`.

use super::target::contains;
use super::wire::{
    accept_within, clear_error, connect, expect_bytes, read_to_close, read_upto, reset, send, show,
    Fail, Verdict,
};
use super::{Case, Ctx, Needs, Tier};
use crate::a2_tcp::protocol::{half_echo, REQUEST};
use crate::python::bytes_repr;
use std::net::SocketAddr;
use std::time::Duration;

/// The a2 server cases.
pub fn server_cases() -> Vec<Case> {
    let case = super::cases_within(Duration::from_secs(10));
    vec![
        case(
            "half-echo",
            Tier::Wire,
            "`GET / HTTP/1.1\\r\\n\\r\\n` → exactly `GET / HTT`, then the connection closes",
            Needs::Network,
            half_echo_request,
        ),
        case(
            "half-of-any-text",
            Tier::Wire,
            "any text → its first half (`hello world!` → `hello `), then close",
            Needs::Network,
            half_of_any_text,
        ),
        case(
            "odd-length",
            Tier::Wire,
            "an odd-length request (19 bytes) → its first 9 bytes: half rounds down",
            Needs::Network,
            odd_length,
        ),
        case(
            "request-in-pieces",
            Tier::Robust,
            "a request sent in two segments 50 ms apart is answered as one",
            Needs::Network,
            request_in_pieces,
        ),
        case(
            "non-utf8",
            Tier::Robust,
            "a request that is not UTF-8 gets the first half of its bytes",
            Needs::Network,
            non_utf8,
        ),
        case(
            "empty-connection",
            Tier::Robust,
            "a client that connects and closes without a word does not stop the server",
            Needs::Network,
            empty_connection,
        ),
        case(
            "silent-client",
            Tier::Robust,
            "a connected client that sends nothing does not hold up the next one",
            Needs::Network,
            silent_client,
        ),
        case(
            "reset-client",
            Tier::Robust,
            "a client that resets mid-request does not stop the server",
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

/// The a2 client cases.
pub fn client_cases() -> Vec<Case> {
    let case = super::process_cases_within(Duration::from_secs(20));
    vec![
        case(
            "request",
            Tier::Wire,
            "the client sends exactly `GET / HTTP/1.1\\r\\n\\r\\n` (18 bytes)",
            request,
        ),
        case(
            "prints-reply",
            Tier::Wire,
            "the reply is printed as Python prints bytes (`b'GET / HTT'`), exit 0",
            prints_reply,
        ),
        case(
            "refused",
            Tier::Robust,
            "nothing listening: a clear error on stderr (no traceback), non-zero exit",
            refused,
        ),
        case(
            "silent-server",
            Tier::Robust,
            "a server that accepts and never replies: the client gives up within 12 s",
            silent_server,
        ),
    ]
}

/// Sends `request` on a new connection and expects `expected` and a close.
fn exchange(server: SocketAddr, request: &[u8], expected: &[u8]) -> Verdict {
    let mut stream = connect(server)?;
    send(&mut stream, request, "sending the request")?;
    let got = read_to_close(&mut stream, expected.len(), Duration::from_secs(3));
    let what = format!(
        "reply to {}{}",
        show(request),
        got.overrun_note(expected.len())
    );
    expect_bytes(&what, expected, &got.bytes)?;
    if !got.closed {
        return Err(Fail::problem(format!(
            "replied {} but did not close the connection within 3 s",
            show(&got.bytes)
        )));
    }
    Ok(format!("replied {} and closed", bytes_repr(&got.bytes)))
}

fn half_echo_request(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    exchange(server, REQUEST, half_echo(REQUEST))
}

fn half_of_any_text(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    exchange(server, b"hello world!", b"hello ")
}

/// A request of odd length (19 bytes, ending like any HTTP request).
const ODD_REQUEST: &[u8] = b"GET /a HTTP/1.1\r\n\r\n";

fn odd_length(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let half = half_echo(ODD_REQUEST);
    exchange(server, ODD_REQUEST, half).map_err(|fail| match fail {
        Fail::Mismatch {
            what,
            expected,
            observed,
        } if observed.len() == expected.len() + 1 && observed.starts_with(&expected) => {
            Fail::Mismatch {
                what: format!(
                    "{what} (half of {} bytes rounded up; `len/2` rounds down)",
                    ODD_REQUEST.len()
                ),
                expected,
                observed,
            }
        }
        other => other,
    })
}

fn request_in_pieces(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut stream = connect(server)?;
    send(&mut stream, &REQUEST[..6], "sending the first piece")?;
    std::thread::sleep(Duration::from_millis(50));
    send(&mut stream, &REQUEST[6..], "sending the second piece")?;
    let got = read_to_close(&mut stream, REQUEST.len() / 2, Duration::from_secs(3));
    expect_bytes(
        "reply to a request in two pieces",
        half_echo(REQUEST),
        &got.bytes,
    )?;
    Ok("answered the whole request".into())
}

fn non_utf8(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    exchange(server, b"\xff\xfe\xfd\xfc\r\n\r\n", b"\xff\xfe\xfd\xfc")
}

fn empty_connection(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    drop(connect(server)?);
    std::thread::sleep(Duration::from_millis(300));
    exchange(server, REQUEST, half_echo(REQUEST))
        .map(|detail| format!("after an empty connection: {detail}"))
}

fn silent_client(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let _silent = connect(server)?;
    std::thread::sleep(Duration::from_millis(100));
    let mut stream = connect(server)?;
    send(&mut stream, REQUEST, "sending the request")?;
    let got = read_upto(&mut stream, 9, Duration::from_secs(2));
    expect_bytes(
        "reply while another client is silent (within 2 s)",
        half_echo(REQUEST),
        &got.bytes,
    )?;
    Ok("served while another client was silent".into())
}

fn reset_client(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut stream = connect(server)?;
    send(&mut stream, b"GET / ", "sending half a request")?;
    reset(stream);
    std::thread::sleep(Duration::from_millis(300));
    exchange(server, REQUEST, half_echo(REQUEST)).map(|detail| format!("after a reset: {detail}"))
}

fn request(ctx: &mut Ctx) -> Verdict {
    let listener = ctx.start_tcp_client("127.0.0.1")?;
    let mut stream = accept_within(&listener, Duration::from_secs(10))?;
    let got = read_upto(&mut stream, REQUEST.len() + 1, Duration::from_secs(2));
    expect_bytes("request", REQUEST, &got.bytes)?;
    send(&mut stream, half_echo(REQUEST), "replying")?;
    Ok("sent the 18-byte request".into())
}

fn prints_reply(ctx: &mut Ctx) -> Verdict {
    let listener = ctx.start_tcp_client("127.0.0.1")?;
    let mut stream = accept_within(&listener, Duration::from_secs(10))?;
    read_upto(&mut stream, REQUEST.len(), Duration::from_secs(2));
    send(&mut stream, half_echo(REQUEST), "replying")?;
    drop(stream);
    let target = ctx.target()?;
    let status = target.expect_exit(Duration::from_secs(5), "after the reply")?;
    let stdout = target.stdout();
    if !contains(&stdout, "b'GET / HTT'") {
        return Err(Fail::mismatch(
            "printed reply",
            b"b'GET / HTT'",
            &stdout[stdout.len().saturating_sub(200)..],
        ));
    }
    if !status.success() {
        return Err(Fail::problem(format!("exited with {status}")));
    }
    Ok("printed b'GET / HTT', exit 0".into())
}

fn refused(ctx: &mut Ctx) -> Verdict {
    let port = ctx.port_for("127.0.0.1")?;
    let target = ctx.spawn("127.0.0.1", port)?;
    let status = target.expect_exit(Duration::from_secs(10), "with nothing listening")?;
    if status.success() {
        return Err(Fail::problem(
            "exit status 0 although nothing was listening",
        ));
    }
    clear_error(&target.stderr())?;
    Ok(format!("clear error, {status}"))
}

fn silent_server(ctx: &mut Ctx) -> Verdict {
    let listener = ctx.start_tcp_client("127.0.0.1")?;
    let _stream = accept_within(&listener, Duration::from_secs(10))?;
    let target = ctx.target()?;
    let status = target.expect_exit(Duration::from_secs(12), "with a server that never replies")?;
    Ok(format!("gave up ({status})"))
}
