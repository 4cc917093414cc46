//! a3 keyed file transfer cases.
//!
//! Server role: the checker writes a binary test file (`{file}`), starts
//! the server on it and asks for it with the key; the bytes after
//! `AUTH_SUCCESS` up to EOF must be the file. Cases with a second client
//! need a server that keeps serving (the seed serves one and exits; socklab
//! does by default). Client role: the checker answers the key with
//! `AUTH_SUCCESS` and the file, and compares `{dir}/RECIEVED_FILE.txt`.

use super::target::contains;
use super::wire::{
    accept_within, connect, expect_bytes, expect_read, read_past, read_to_close, read_upto, reset,
    send, test_bytes, Fail, Verdict,
};
use super::{Case, Ctx, Needs, Tier};
use crate::a3_file::protocol::{
    AUTH_ERROR, AUTH_ERROR_MESSAGE, AUTH_SUCCESS, DEFAULT_KEY, DEFAULT_OUTPUT,
};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Size of the test file the server role serves.
const FILE_SIZE: usize = 200_000;

/// The a3 file server cases.
pub fn server_cases() -> Vec<Case> {
    let case = super::cases_within(Duration::from_secs(15));
    vec![
        case(
            "key-file",
            Tier::Wire,
            "`SECRET_KEY` → `AUTH_SUCCESS` + the file's bytes exactly, then close",
            Needs::Process,
            key_file,
        ),
        case(
            "wrong-key",
            Tier::Wire,
            "a wrong key → exactly `AUTH_ERROR`, then close",
            Needs::Process,
            wrong_key,
        ),
        case(
            "serves-again",
            Tier::Robust,
            "a second client after the first also gets the file",
            Needs::Process,
            serves_again,
        ),
        case(
            "wrong-then-right",
            Tier::Robust,
            "after a wrong key, the next client with the right key gets the file",
            Needs::Process,
            wrong_then_right,
        ),
        case(
            "key-in-pieces",
            Tier::Robust,
            "`SECRET` and `_KEY` in two segments 50 ms apart are one key",
            Needs::Process,
            key_in_pieces,
        ),
        case(
            "silent-client",
            Tier::Robust,
            "a connected client that sends nothing does not hold up the next one",
            Needs::Process,
            silent_client,
        ),
        case(
            "reset-mid-transfer",
            Tier::Robust,
            "a client that resets during a 20 MB transfer does not stop the server",
            Needs::Process,
            reset_mid_transfer,
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

/// The a3 file client cases.
pub fn client_cases() -> Vec<Case> {
    let case = super::process_cases_within(Duration::from_secs(20));
    vec![
        case(
            "file-received",
            Tier::Wire,
            "sends `SECRET_KEY`; `RECIEVED_FILE.txt` holds exactly the bytes after `AUTH_SUCCESS`",
            file_received,
        ),
        case(
            "auth-error",
            Tier::Wire,
            "`AUTH_ERROR` → prints `Authentication Error` and exits",
            auth_error,
        ),
        case(
            "same-segment",
            Tier::Robust,
            "`AUTH_SUCCESS` and the file in one segment: no byte is lost",
            same_segment,
        ),
        case(
            "reset-mid-transfer",
            Tier::Robust,
            "a transfer cut by a reset leaves no complete-looking `RECIEVED_FILE.txt`",
            client_reset,
        ),
    ]
}

/// Starts the server on a fresh test file of `size` bytes.
fn start(ctx: &mut Ctx, size: usize) -> Result<(SocketAddr, Vec<u8>), Fail> {
    let content = test_bytes(size, 7);
    ctx.set_file("offered.bin", &content)?;
    let server = ctx.start_server("127.0.0.1")?;
    Ok((server, content))
}

/// Asks for the file with the key on a new connection; checks the reply.
fn fetch(server: SocketAddr, content: &[u8], what: &str) -> Result<(), Fail> {
    let mut stream = connect(server)?;
    send(&mut stream, DEFAULT_KEY.as_bytes(), "sending the key")?;
    expect_file(&mut stream, content, what)
}

/// Reads `AUTH_SUCCESS`, then the file up to EOF.
fn expect_file(stream: &mut TcpStream, content: &[u8], what: &str) -> Result<(), Fail> {
    let mut expected = AUTH_SUCCESS.to_vec();
    expected.extend_from_slice(content);
    let got = read_past(stream, expected.len(), Duration::from_secs(8));
    expect_bytes(what, &expected, &got.bytes)?;
    if !got.closed {
        return Err(Fail::problem(format!("{what}: no close after the file")));
    }
    Ok(())
}

fn key_file(ctx: &mut Ctx) -> Verdict {
    let (server, content) = start(ctx, FILE_SIZE)?;
    fetch(server, &content, "AUTH_SUCCESS + file")?;
    Ok(format!("{} file bytes intact", content.len()))
}

fn wrong_key(ctx: &mut Ctx) -> Verdict {
    let (server, _) = start(ctx, 1000)?;
    let mut stream = connect(server)?;
    send(&mut stream, b"WRONG_KEY!", "sending a wrong key")?;
    let got = read_to_close(&mut stream, Duration::from_secs(3));
    expect_bytes("reply to a wrong key", AUTH_ERROR, &got.bytes)?;
    Ok("AUTH_ERROR".into())
}

fn serves_again(ctx: &mut Ctx) -> Verdict {
    let (server, content) = start(ctx, 50_000)?;
    fetch(server, &content, "first client")?;
    fetch(server, &content, "second client")?;
    Ok("two clients served".into())
}

fn wrong_then_right(ctx: &mut Ctx) -> Verdict {
    let (server, content) = start(ctx, 50_000)?;
    let mut stream = connect(server)?;
    send(&mut stream, b"WRONG_KEY!", "sending a wrong key")?;
    read_to_close(&mut stream, Duration::from_secs(3));
    fetch(server, &content, "client after a wrong key")?;
    Ok("served after a wrong key".into())
}

fn key_in_pieces(ctx: &mut Ctx) -> Verdict {
    let (server, content) = start(ctx, 50_000)?;
    let mut stream = connect(server)?;
    send(&mut stream, b"SECRET", "sending the key's first half")?;
    std::thread::sleep(Duration::from_millis(50));
    send(&mut stream, b"_KEY", "sending the key's second half")?;
    expect_file(&mut stream, &content, "reply to a key in two pieces")?;
    Ok("key in two pieces accepted".into())
}

fn silent_client(ctx: &mut Ctx) -> Verdict {
    let (server, content) = start(ctx, 50_000)?;
    let _silent = connect(server)?;
    std::thread::sleep(Duration::from_millis(100));
    let mut stream = connect(server)?;
    send(&mut stream, DEFAULT_KEY.as_bytes(), "sending the key")?;
    let got = read_upto(&mut stream, AUTH_SUCCESS.len(), Duration::from_secs(2));
    expect_bytes(
        "reply while another client is silent (within 2 s)",
        AUTH_SUCCESS,
        &got.bytes,
    )?;
    expect_file_rest(&mut stream, &content)?;
    Ok("served while another client was silent".into())
}

fn expect_file_rest(stream: &mut TcpStream, content: &[u8]) -> Result<(), Fail> {
    let got = read_past(stream, content.len(), Duration::from_secs(8));
    expect_bytes("file after AUTH_SUCCESS", content, &got.bytes)
}

fn reset_mid_transfer(ctx: &mut Ctx) -> Verdict {
    let (server, content) = start(ctx, 20_000_000)?;
    let mut stream = connect(server)?;
    send(&mut stream, DEFAULT_KEY.as_bytes(), "sending the key")?;
    expect_read(
        &mut stream,
        AUTH_SUCCESS,
        Duration::from_secs(3),
        "reply to the key",
    )?;
    read_upto(&mut stream, 100_000, Duration::from_secs(3));
    reset(stream);
    std::thread::sleep(Duration::from_millis(300));
    fetch(server, &content, "client after a reset transfer")?;
    Ok("served after a reset transfer".into())
}

/// Accepts the client and reads its key; fails unless it is `SECRET_KEY`.
fn accept_key(ctx: &mut Ctx) -> Result<TcpStream, Fail> {
    let listener = ctx.start_tcp_client("127.0.0.1")?;
    let mut stream = accept_within(&listener, Duration::from_secs(10))?;
    let got = read_upto(&mut stream, DEFAULT_KEY.len(), Duration::from_secs(2));
    expect_bytes("key", DEFAULT_KEY.as_bytes(), &got.bytes)?;
    Ok(stream)
}

/// Waits for the client to exit and returns `{dir}/RECIEVED_FILE.txt`.
fn received_file(ctx: &mut Ctx) -> Result<Option<Vec<u8>>, Fail> {
    ctx.target()?
        .expect_exit(Duration::from_secs(8), "after the transfer")?;
    Ok(std::fs::read(ctx.dir().join(DEFAULT_OUTPUT)).ok())
}

fn file_received(ctx: &mut Ctx) -> Verdict {
    let content = test_bytes(100_000, 3);
    let mut stream = accept_key(ctx)?;
    send(&mut stream, AUTH_SUCCESS, "sending AUTH_SUCCESS")?;
    // The seed client's first read must see AUTH_SUCCESS alone.
    std::thread::sleep(Duration::from_millis(100));
    send(&mut stream, &content, "sending the file")?;
    drop(stream);
    let Some(file) = received_file(ctx)? else {
        return Err(Fail::problem(format!("no {DEFAULT_OUTPUT} was written")));
    };
    expect_bytes(DEFAULT_OUTPUT, &content, &file)?;
    Ok(format!("{} bytes intact", content.len()))
}

fn auth_error(ctx: &mut Ctx) -> Verdict {
    let mut stream = accept_key(ctx)?;
    send(&mut stream, AUTH_ERROR, "sending AUTH_ERROR")?;
    drop(stream);
    let target = ctx.target()?;
    target.expect_exit(Duration::from_secs(5), "after AUTH_ERROR")?;
    if !contains(&target.stdout(), AUTH_ERROR_MESSAGE) {
        return Err(Fail::problem(format!(
            "no `{AUTH_ERROR_MESSAGE}` line after AUTH_ERROR"
        )));
    }
    Ok(format!("printed `{AUTH_ERROR_MESSAGE}`"))
}

fn same_segment(ctx: &mut Ctx) -> Verdict {
    let content = test_bytes(1000, 4);
    let mut stream = accept_key(ctx)?;
    let mut segment = AUTH_SUCCESS.to_vec();
    segment.extend_from_slice(&content);
    send(
        &mut stream,
        &segment,
        "sending AUTH_SUCCESS and the file at once",
    )?;
    drop(stream);
    let file = received_file(ctx)?.unwrap_or_default();
    expect_bytes(DEFAULT_OUTPUT, &content, &file)?;
    Ok("no byte lost".into())
}

fn client_reset(ctx: &mut Ctx) -> Verdict {
    let content = test_bytes(100_000, 5);
    let mut stream = accept_key(ctx)?;
    send(&mut stream, AUTH_SUCCESS, "sending AUTH_SUCCESS")?;
    std::thread::sleep(Duration::from_millis(100));
    send(&mut stream, &content[..50_000], "sending half the file")?;
    std::thread::sleep(Duration::from_millis(200));
    reset(stream);
    match received_file(ctx)? {
        Some(file) if !file.is_empty() => Err(Fail::problem(format!(
            "{DEFAULT_OUTPUT} holds {} bytes of a transfer that was reset (it should not \
             exist, so it cannot pass for the whole file)",
            file.len()
        ))),
        _ => Ok(format!("no {DEFAULT_OUTPUT} after a reset")),
    }
}
