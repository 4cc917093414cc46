//! a3 relay cases.
//!
//! Server role: `hii` and the address tuple, the error codes 400–404 in
//! the seed's order, forwarding between two registered clients, `exit
//! server`, and the seed's faults (crash on non-UTF-8, open relay). Client
//! role: the checker plays the relay server and drives the menu through the
//! client's standard input (`1` Initialize, `2` Send, `3` Receive, `4` Exit).

use super::target::{contains, Target};
use super::wire::{expect_bytes, recv_within, show, udp_exchange, udp_for, Context, Fail, Verdict};
use super::{Case, Ctx, Needs, Tier};
use crate::a3_relay::protocol::{forward_request, forwarded_message, ErrorCode, HELLO, SUCCESS};
use crate::python::address_tuple;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// The relay server cases.
pub fn server_cases() -> Vec<Case> {
    let case = super::cases_within(Duration::from_secs(12));
    vec![
        case("hello", Tier::Wire, "`hii` (any case) → the sender's address as a Python tuple, `('127.0.0.1', PORT)`", Needs::Network, hello),
        case("error-codes", Tier::Wire, "malformed requests → `400` … `404` in the seed's order of checks", Needs::Network, error_codes),
        case("forward", Tier::Wire, "`to:IP/PORT;content:MSG` between two registered clients → `200, …` and `IP/PORT ; content : MSG`", Needs::Network, forward),
        case("exit-server", Tier::Wire, "`exit server` from loopback stops the server", Needs::Process, exit_server),
        case("non-utf8", Tier::Robust, "a datagram that is not UTF-8 does not crash the server", Needs::Network, non_utf8),
        case("open-relay", Tier::Robust, "a message to an address that never said `hii` is refused (not `200`) and not delivered", Needs::Network, open_relay),
        case("ctrl-c", Tier::Robust, "Ctrl-C (SIGINT) ends an idle server within 2 s, no traceback", Needs::Process, super::ctrl_c_server),
    ]
}

/// The relay client cases.
pub fn client_cases() -> Vec<Case> {
    let case = super::process_cases_within(Duration::from_secs(20));
    vec![
        case(
            "initialize",
            Tier::Wire,
            "menu 1 sends `hii` and reads the address tuple; menu 4 exits",
            initialize,
        ),
        case(
            "send",
            Tier::Wire,
            "menu 2 sends `to:127.0.0.1/40000;content:hello` and prints `Message Sent` on `200`",
            send_message,
        ),
        case(
            "send-error",
            Tier::Wire,
            "a `402` reply → `Message not sent` and `Error : 402`",
            send_error,
        ),
        case(
            "receive",
            Tier::Wire,
            "menu 3 prints a forwarded message (`Message received from …`, `Message:  …`)",
            receive,
        ),
        case(
            "forward-during-send",
            Tier::Robust,
            "a forwarded message arriving before the `200` is not taken for the reply",
            forward_during_send,
        ),
        case(
            "no-reply",
            Tier::Robust,
            "a request the server never answers does not hang the client: menu 4 still exits",
            no_reply,
        ),
    ]
}

fn hello(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    let me = socket.local_addr().context("local address")?;
    let tuple = address_tuple(me);
    udp_exchange(
        &socket,
        server,
        HELLO.as_bytes(),
        tuple.as_bytes(),
        Duration::from_secs(1),
    )?;
    udp_exchange(
        &socket,
        server,
        b"HiI",
        tuple.as_bytes(),
        Duration::from_secs(1),
    )?;
    Ok(tuple)
}

fn error_codes(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    let requests: [(&[u8], ErrorCode); 5] = [
        (b"hello", ErrorCode::NoSeparator),
        (b"to:127.0.0.1;content:x", ErrorCode::BadFormat),
        (b"from:127.0.0.1/5000;content:x", ErrorCode::NotTo),
        (b"to:127.0.0.1/abc;content:x", ErrorCode::BadPort),
        (b"to:127.0.0.1/5000;text:x", ErrorCode::NotContent),
    ];
    for (request, code) in requests {
        udp_exchange(
            &socket,
            server,
            request,
            code.reply().as_bytes(),
            Duration::from_secs(1),
        )?;
    }
    Ok("400, 401, 402, 403, 404 as the seed".into())
}

/// A socket that said `hii` (the tuple reply is not judged here).
fn registered(server: SocketAddr) -> Result<UdpSocket, Fail> {
    let socket = udp_for(server)?;
    socket
        .send_to(HELLO.as_bytes(), server)
        .context("sending hii")?;
    recv_within(&socket, Duration::from_secs(1))
        .ok_or_else(|| Fail::problem("no reply to `hii` within 1 s"))?;
    Ok(socket)
}

fn forward(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let a = registered(server)?;
    let b = registered(server)?;
    let (a_addr, b_addr) = (
        a.local_addr().context("local address")?,
        b.local_addr().context("local address")?,
    );
    let request = forward_request("127.0.0.1", b_addr.port(), " hello there ");
    udp_exchange(
        &a,
        server,
        request.as_bytes(),
        SUCCESS.as_bytes(),
        Duration::from_secs(1),
    )?;
    let expected = forwarded_message(a_addr, "hello there");
    match recv_within(&b, Duration::from_secs(1)) {
        Some((got, _)) => expect_bytes("forwarded message", expected.as_bytes(), &got)?,
        None => {
            return Err(Fail::mismatch(
                "forwarded message (nothing within 1 s)",
                expected.as_bytes(),
                b"",
            ))
        }
    }
    Ok(format!("delivered {}", show(expected.as_bytes())))
}

fn exit_server(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    socket
        .send_to(b"exit server", server)
        .context("sending exit server")?;
    let status = ctx
        .target()?
        .expect_exit(Duration::from_secs(3), "after `exit server`")?;
    Ok(format!("stopped ({status})"))
}

fn non_utf8(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let socket = udp_for(server)?;
    socket
        .send_to(b"\xff\xfe;:/", server)
        .context("sending junk")?;
    // A reply to the junk (socklab: 400) is not judged.
    recv_within(&socket, Duration::from_millis(300));
    let tuple = address_tuple(socket.local_addr().context("local address")?);
    udp_exchange(
        &socket,
        server,
        HELLO.as_bytes(),
        tuple.as_bytes(),
        Duration::from_secs(1),
    )
    .map_err(|_| Fail::problem("no reply to `hii` after a datagram that is not UTF-8"))?;
    Ok("still answering after non-UTF-8".into())
}

fn open_relay(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let a = registered(server)?;
    let stranger = udp_for(server)?;
    let port = stranger.local_addr().context("local address")?.port();
    let request = forward_request("127.0.0.1", port, "spam");
    a.send_to(request.as_bytes(), server)
        .context("sending the request")?;
    let reply = recv_within(&a, Duration::from_secs(1)).map(|(r, _)| r);
    if let Some(got) = recv_within(&stranger, Duration::from_millis(500)) {
        return Err(Fail::problem(format!(
            "forwarded {} to an address that never said `hii` (open relay)",
            show(&got.0)
        )));
    }
    match reply {
        Some(reply) if reply.starts_with(b"200") => Err(Fail::problem(
            "answered `200` for an address that never said `hii`",
        )),
        Some(reply) => Ok(format!("refused with {}", show(&reply))),
        None => Ok("refused without a reply".into()),
    }
}

/// Client role: starts the client, selects menu 1 and answers `hii`.
fn initialized(ctx: &mut Ctx) -> Result<(UdpSocket, SocketAddr), Fail> {
    let socket = ctx.start_udp_client("127.0.0.1")?;
    ctx.target()?.type_text("1\n")?;
    let (hello, client) = recv_within(&socket, Duration::from_secs(8))
        .ok_or_else(|| Fail::problem("no `hii` within 8 s of menu 1"))?;
    if !hello.eq_ignore_ascii_case(HELLO.as_bytes()) {
        return Err(Fail::mismatch("menu 1 request", HELLO.as_bytes(), &hello));
    }
    socket
        .send_to(address_tuple(client).as_bytes(), client)
        .context("answering hii")?;
    std::thread::sleep(Duration::from_millis(200));
    ctx.target()?.expect_alive("the reply to `hii`")?;
    Ok((socket, client))
}

/// Selects menu 4 and expects the client to exit.
fn exit_menu(target: &mut Target) -> Result<(), Fail> {
    target.type_text("4\n")?;
    target.expect_exit(Duration::from_secs(5), "after menu 4")?;
    Ok(())
}

/// Menu 2 to 127.0.0.1/40000 with `hello`; returns the request seen.
fn menu_send(ctx: &mut Ctx, socket: &UdpSocket) -> Result<Vec<u8>, Fail> {
    ctx.target()?.type_text("2\n127.0.0.1\n40000\nhello\n")?;
    let (request, _) = recv_within(socket, Duration::from_secs(5))
        .ok_or_else(|| Fail::problem("no request within 5 s of menu 2"))?;
    expect_bytes(
        "menu 2 request",
        forward_request("127.0.0.1", 40000, "hello").as_bytes(),
        &request,
    )?;
    Ok(request)
}

/// Waits for `needle` on the client's stdout.
fn expect_output(target: &mut Target, needle: &str, after: &str) -> Result<(), Fail> {
    if target.wait_stdout(needle, Duration::from_secs(3)) {
        Ok(())
    } else {
        Err(Fail::problem(format!(
            "no `{needle}` after {after}{}",
            target.stderr_tail()
        )))
    }
}

fn initialize(ctx: &mut Ctx) -> Verdict {
    initialized(ctx)?;
    exit_menu(ctx.target()?)?;
    Ok("hii answered, menu 4 exits".into())
}

fn send_message(ctx: &mut Ctx) -> Verdict {
    let (socket, client) = initialized(ctx)?;
    menu_send(ctx, &socket)?;
    socket
        .send_to(SUCCESS.as_bytes(), client)
        .context("replying")?;
    let target = ctx.target()?;
    expect_output(target, "Message Sent", "a `200` reply")?;
    exit_menu(target)?;
    Ok("request exact, `Message Sent` printed".into())
}

fn send_error(ctx: &mut Ctx) -> Verdict {
    let (socket, client) = initialized(ctx)?;
    menu_send(ctx, &socket)?;
    socket.send_to(b"402", client).context("replying")?;
    let target = ctx.target()?;
    expect_output(target, "Error : 402", "a `402` reply")?;
    if !contains(&target.stdout(), "Message not sent") {
        return Err(Fail::problem("no `Message not sent` after a `402` reply"));
    }
    exit_menu(target)?;
    Ok("`Message not sent`, `Error : 402`".into())
}

fn receive(ctx: &mut Ctx) -> Verdict {
    let (socket, client) = initialized(ctx)?;
    ctx.target()?.type_text("3\n")?;
    std::thread::sleep(Duration::from_millis(300));
    socket
        .send_to(b"127.0.0.1/5000 ; content : hi there", client)
        .context("forwarding a message")?;
    let target = ctx.target()?;
    expect_output(target, "Message received from ", "a forwarded message")?;
    expect_output(target, "hi there", "a forwarded message")?;
    exit_menu(target)?;
    Ok("forwarded message printed".into())
}

fn forward_during_send(ctx: &mut Ctx) -> Verdict {
    let (socket, client) = initialized(ctx)?;
    menu_send(ctx, &socket)?;
    socket
        .send_to(b"127.0.0.1/5000 ; content : 200 not the reply", client)
        .context("forwarding a message")?;
    std::thread::sleep(Duration::from_millis(100));
    socket.send_to(b"402", client).context("replying")?;
    let target = ctx.target()?;
    expect_output(
        target,
        "Error : 402",
        "a forwarded message and then a `402` reply",
    )?;
    if contains(&target.stdout(), "Message Sent") {
        return Err(Fail::problem(
            "the forwarded message was taken for the reply (`Message Sent`)",
        ));
    }
    exit_menu(target)?;
    Ok("the reply was told from the forwarded message".into())
}

fn no_reply(ctx: &mut Ctx) -> Verdict {
    let (socket, _) = initialized(ctx)?;
    menu_send(ctx, &socket)?;
    let target = ctx.target()?;
    target.type_text("4\n")?;
    target.expect_exit(
        Duration::from_secs(10),
        "menu 4 after an unanswered request",
    )?;
    Ok("gave up on the reply and exited".into())
}
