//! a4 chat cases.
//!
//! Server role: the checker connects several clients and checks the
//! greeting, join, chat, upload and leave lines byte for byte (messages
//! have no terminator, so it reads exactly the expected length), the upload
//! in `{dir}/server/`, and the seed's faults: path traversal, header and
//! data in one segment, a reset peer, a peer that stops reading, a second
//! upload of the same name. Client role: the checker plays the server and
//! types chat lines and upload commands into the client's standard input.

use super::target::{contains, SIGINT};
use super::wire::{
    accept_within, connect, expect_read, expect_silence, read_upto, reset, send, show, test_text,
    Context, Fail, Verdict,
};
use super::{Case, Ctx, Needs, Tier};
use crate::a4_chat::protocol::{
    chat_prefix, connected, file_uploaded, find_upload_header, new_user, peer_label, user_left,
    user_uploaded, ANNOUNCE_UPLOAD,
};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// The chat server cases.
pub fn server_cases() -> Vec<Case> {
    let case = |name, tier, about, needs, run| Case {
        name,
        tier,
        about,
        needs,
        timeout: Duration::from_secs(if name == "stalled-reader" { 30 } else { 15 }),
        run,
        minimum: None,
    };
    vec![
        case("join", Tier::Wire, "`> Connected to the chat server (n user(s) online)` to the newcomer, `> New user IP:PORT entered (…)` to the others", Needs::Network, join),
        case("broadcast", Tier::Wire, "a chat message reaches the others as `[IP:PORT] text`, not the sender", Needs::Network, broadcast),
        case("upload", Tier::Wire, "`#upload 'name' SIZE`, a pause, then the bytes → `server/name`, and `> User IP:PORT has uploaded a file` to the others", Needs::Process, upload),
        case("leave", Tier::Wire, "a client's EOF → `< The user IP:PORT left (1 user online)` to the others", Needs::Network, leave),
        case("traversal", Tier::Robust, "upload names `../x` and `/abs/x` write nothing outside `server/`", Needs::Process, traversal),
        case("one-segment", Tier::Robust, "upload header and file bytes in one segment are saved whole", Needs::Process, one_segment),
        case("reset-peer", Tier::Robust, "a client that resets does not stop broadcasts to the others", Needs::Network, reset_peer),
        case("stalled-reader", Tier::Robust, "a client that stops reading does not stall the others (12 MB of chat)", Needs::Network, stalled_reader),
        case("duplicate-name", Tier::Robust, "a second upload with the same name does not silently replace the first", Needs::Process, duplicate_name),
        case("ctrl-c", Tier::Robust, "Ctrl-C (SIGINT) ends the server within 2 s and its clients see EOF", Needs::Process, ctrl_c),
    ]
}

/// The chat client cases.
pub fn client_cases() -> Vec<Case> {
    let case = super::process_cases_within(Duration::from_secs(15));
    vec![
        case("chat-line", Tier::Wire, "a typed line is sent without its newline; a message from the server is printed", chat_line),
        case("upload", Tier::Wire, "`I will upload a file`, `#upload 'up.txt'` → the announcement, `#upload 'up.txt' SIZE` and the file's bytes", client_upload),
        case("server-closed", Tier::Wire, "the server's close → `server closed` and exit", server_closed),
        case("missing-file", Tier::Robust, "`#upload` of a file that does not exist does not crash the client", missing_file),
        case("ctrl-c", Tier::Robust, "Ctrl-C (SIGINT) ends the client within 2 s, no traceback", client_ctrl_c),
    ]
}

/// A checker client connected to the chat server.
struct Peer {
    stream: TcpStream,
    label: String,
}

/// Connects and reads the greeting for `online` users.
fn join_as(server: SocketAddr, online: usize) -> Result<Peer, Fail> {
    let mut stream = connect(server)?;
    let label = peer_label(stream.local_addr().context("local address")?);
    expect_read(
        &mut stream,
        connected(online).as_bytes(),
        Duration::from_secs(2),
        "greeting",
    )?;
    Ok(Peer { stream, label })
}

/// Connects `count` clients one after another, draining the join lines.
fn room(server: SocketAddr, count: usize) -> Result<Vec<Peer>, Fail> {
    let mut peers: Vec<Peer> = Vec::new();
    for n in 1..=count {
        let peer = join_as(server, n)?;
        let line = new_user(&peer.label, n);
        for other in &mut peers {
            expect_read(
                &mut other.stream,
                line.as_bytes(),
                Duration::from_secs(2),
                "join line",
            )?;
        }
        peers.push(peer);
    }
    Ok(peers)
}

/// Reads until `needle` has arrived; fails after `wait`, or once more
/// than `budget` bytes came without it (so a flood cannot keep the checker
/// reading).
fn read_until(
    stream: &mut TcpStream,
    needle: &[u8],
    budget: usize,
    wait: Duration,
    what: &str,
) -> Result<(), Fail> {
    let deadline = Instant::now() + wait;
    let mut seen: Vec<u8> = Vec::new();
    let mut total = 0usize;
    loop {
        if seen.windows(needle.len()).any(|w| w == needle) {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let room = budget.saturating_sub(total).clamp(1, 1 << 16);
        let got = read_upto(stream, room, left.min(Duration::from_millis(200)));
        total += got.bytes.len();
        seen.extend_from_slice(&got.bytes);
        // Keep only a tail long enough to hold the needle.
        if seen.len() > 1 << 16 {
            seen.drain(..seen.len() - needle.len());
        }
        let over = total > budget;
        if got.closed || over || (left.is_zero() && got.bytes.is_empty()) {
            if seen.windows(needle.len()).any(|w| w == needle) {
                return Ok(());
            }
            let why = if got.closed {
                "connection closed".to_string()
            } else if over {
                format!("not within {total} bytes; the checker stopped reading")
            } else {
                "not within the time".to_string()
            };
            let tail = &seen[seen.len().saturating_sub(80)..];
            return Err(Fail::mismatch(format!("{what} ({why})"), needle, tail));
        }
    }
}

fn join(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    room(server, 3)?;
    Ok("greetings and join lines for 3 clients".into())
}

fn broadcast(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut peers = room(server, 2)?;
    send(
        &mut peers[0].stream,
        b"hello there",
        "sending a chat message",
    )?;
    let line = format!("{}hello there", chat_prefix(&peers[0].label));
    expect_read(
        &mut peers[1].stream,
        line.as_bytes(),
        Duration::from_secs(2),
        "broadcast",
    )?;
    expect_silence(
        &mut peers[0].stream,
        Duration::from_millis(300),
        "echo to the sender",
    )?;
    Ok(show(line.as_bytes()))
}

/// Waits up to 3 s for `path` to hold `content`.
fn expect_file(path: &Path, content: &[u8]) -> Result<(), Fail> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let on_disk = std::fs::read(path).unwrap_or_default();
        if on_disk == content {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Fail::mismatch(
                format!("{} after the upload", path.display()),
                content,
                &on_disk,
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends an upload the way the seed client does: the header, a pause, the
/// bytes.
fn upload_from(peer: &mut Peer, name: &str, content: &[u8]) -> Result<(), Fail> {
    let header = format!("#upload '{name}' {}", content.len());
    send(
        &mut peer.stream,
        header.as_bytes(),
        "sending the upload header",
    )?;
    std::thread::sleep(Duration::from_millis(300));
    send(&mut peer.stream, content, "sending the file")
}

fn upload(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut peers = room(server, 2)?;
    let content = test_text(5000, 1);
    upload_from(&mut peers[0], "f.txt", &content)?;
    expect_file(&ctx.dir().join("server").join("f.txt"), &content)?;
    let line = user_uploaded(&peers[0].label);
    expect_read(
        &mut peers[1].stream,
        line.as_bytes(),
        Duration::from_secs(2),
        "upload line",
    )?;
    Ok("server/f.txt intact, upload announced".into())
}

fn leave(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut peers = room(server, 2)?;
    let gone = peers.remove(0);
    let line = user_left(&gone.label, 1);
    drop(gone);
    expect_read(
        &mut peers[0].stream,
        line.as_bytes(),
        Duration::from_secs(2),
        "leave line",
    )?;
    Ok(show(line.as_bytes()))
}

fn traversal(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let absolute = ctx.dir().join("absolute.txt");
    let mut peers = room(server, 1)?;
    for name in ["../escape.txt".to_string(), absolute.display().to_string()] {
        upload_from(&mut peers[0], &name, b"gotcha")?;
        std::thread::sleep(Duration::from_millis(300));
    }
    for path in [ctx.dir().join("escape.txt"), absolute] {
        if path.exists() {
            return Err(Fail::problem(format!(
                "an upload wrote {} outside server/",
                path.display()
            )));
        }
    }
    let mut newcomer = connect(server)?;
    if read_upto(&mut newcomer, 1, Duration::from_secs(2))
        .bytes
        .is_empty()
    {
        return Err(Fail::problem(
            "no greeting after the uploads (server stopped?)",
        ));
    }
    Ok("nothing written outside server/".into())
}

fn one_segment(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut peers = room(server, 1)?;
    send(
        &mut peers[0].stream,
        b"#upload 'one.txt' 11hello world",
        "sending header and file at once",
    )?;
    expect_file(&ctx.dir().join("server").join("one.txt"), b"hello world")?;
    Ok("saved whole".into())
}

fn reset_peer(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut peers = room(server, 3)?;
    let doomed = peers.remove(2);
    reset(doomed.stream);
    std::thread::sleep(Duration::from_millis(100));
    for text in ["one", "two"] {
        send(
            &mut peers[0].stream,
            text.as_bytes(),
            "sending a chat message",
        )?;
        let line = format!("{}{text}", chat_prefix(&peers[0].label));
        read_until(
            &mut peers[1].stream,
            line.as_bytes(),
            64 * 1024,
            Duration::from_secs(3),
            "broadcast after a reset peer",
        )?;
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok("broadcasts go on after a reset".into())
}

fn stalled_reader(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut peers = room(server, 2)?;
    // The staller: a tiny receive buffer so the server's sends back up soon.
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(server),
        socket2::Type::STREAM,
        None,
    )
    .context("creating a socket")?;
    socket.set_recv_buffer_size(4096).context("SO_RCVBUF")?;
    socket
        .connect_timeout(&server.into(), Duration::from_secs(3))
        .context("connecting the stalled client")?;
    let _staller: TcpStream = socket.into();
    for peer in &mut peers {
        read_upto(&mut peer.stream, 200, Duration::from_millis(500));
    }
    let mut reader = peers.pop().expect("two peers");
    let mut writer = peers.pop().expect("two peers");
    let marker = b"the-end-marker";
    let drain = std::thread::Builder::new()
        .name("check-drain".into())
        .spawn(move || {
            read_until(
                &mut reader.stream,
                marker,
                // 12 MB of chat and a prefix for each piece the server read.
                32_000_000,
                Duration::from_secs(20),
                "the last message while a client stalls",
            )
        })
        .context("starting a reader thread")?;
    let chunk = vec![b'x'; 4000];
    let started = Instant::now();
    let mut sent = 0usize;
    while sent < 12_000_000 && started.elapsed() < Duration::from_secs(10) {
        if send(&mut writer.stream, &chunk, "flooding").is_err() {
            break;
        }
        sent += chunk.len();
    }
    std::thread::sleep(Duration::from_millis(50));
    send(&mut writer.stream, marker, "sending the marker").map_err(|_| {
        Fail::problem(format!(
            "the server stopped reading the sender after {sent} bytes (stalled by a client that does not read)"
        ))
    })?;
    drain
        .join()
        .map_err(|_| Fail::problem("the reader thread panicked"))??;
    Ok(format!(
        "{sent} bytes of chat went through a stalled client"
    ))
}

fn duplicate_name(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut peers = room(server, 1)?;
    let first = test_text(500, 2);
    upload_from(&mut peers[0], "dup.txt", &first)?;
    let folder = ctx.dir().join("server");
    expect_file(&folder.join("dup.txt"), &first)?;
    upload_from(&mut peers[0], "dup.txt", &test_text(400, 3))?;
    std::thread::sleep(Duration::from_millis(800));
    let kept = std::fs::read_dir(&folder)
        .context("listing server/")?
        .filter_map(Result::ok)
        .any(|entry| std::fs::read(entry.path()).is_ok_and(|c| c == first));
    if !kept {
        return Err(Fail::problem(
            "the second upload of dup.txt replaced the first (no file in server/ holds it any more)",
        ));
    }
    Ok("the first dup.txt is kept".into())
}

fn ctrl_c(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut peers = room(server, 1)?;
    let target = ctx.target()?;
    target.signal(SIGINT);
    target.expect_exit(Duration::from_secs(2), "after Ctrl-C")?;
    let mut rest = Vec::new();
    peers[0]
        .stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .context("read timeout")?;
    match peers[0].stream.read_to_end(&mut rest) {
        Ok(_) => Ok("stopped on Ctrl-C, clients saw EOF".into()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            Ok("stopped on Ctrl-C, clients saw a reset".into())
        }
        Err(e) => Err(Fail::problem(format!(
            "a client saw no EOF within 2 s of Ctrl-C: {e}"
        ))),
    }
}

/// Client role: accepts the client and greets it as the only user.
fn greeted(ctx: &mut Ctx) -> Result<TcpStream, Fail> {
    let listener = ctx.start_tcp_client("127.0.0.1")?;
    let mut stream = accept_within(&listener, Duration::from_secs(8))?;
    send(&mut stream, connected(1).as_bytes(), "greeting")?;
    std::thread::sleep(Duration::from_millis(200));
    Ok(stream)
}

fn chat_line(ctx: &mut Ctx) -> Verdict {
    let mut stream = greeted(ctx)?;
    ctx.target()?.type_text("hello\n")?;
    expect_read(&mut stream, b"hello", Duration::from_secs(3), "typed line")?;
    expect_silence(
        &mut stream,
        Duration::from_millis(200),
        "after the typed line",
    )?;
    send(
        &mut stream,
        b"[127.0.0.1:5000] hi there",
        "sending a message",
    )?;
    let target = ctx.target()?;
    if !target.wait_stdout("[127.0.0.1:5000] hi there", Duration::from_secs(3)) {
        return Err(Fail::problem("a message from the server was not printed"));
    }
    Ok("line sent, message printed".into())
}

fn client_upload(ctx: &mut Ctx) -> Verdict {
    let content = test_text(2000, 6);
    ctx.set_file("up.txt", &content)?;
    let mut stream = greeted(ctx)?;
    ctx.target()?
        .type_text("I will upload a file\n#upload 'up.txt'\n")?;
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(4);
    // The announcement, a header of a few dozen bytes, and the file.
    let most = ANNOUNCE_UPLOAD.len() + 100 + content.len() + super::wire::PAST;
    while Instant::now() < deadline && got.len() < most {
        let more = read_upto(&mut stream, most - got.len(), Duration::from_millis(300));
        got.extend_from_slice(&more.bytes);
        let too_much = got.len() > content.len() + ANNOUNCE_UPLOAD.len() + (1 << 16);
        if more.closed || too_much || (more.bytes.is_empty() && got.len() >= content.len()) {
            break;
        }
    }
    let Some(rest) = got.strip_prefix(ANNOUNCE_UPLOAD.as_bytes()) else {
        return Err(Fail::mismatch(
            "announcement",
            ANNOUNCE_UPLOAD.as_bytes(),
            &got,
        ));
    };
    let Some(header) = find_upload_header(rest).filter(|h| h.start == 0) else {
        return Err(Fail::mismatch(
            "upload header",
            b"#upload 'up.txt' 2000",
            rest,
        ));
    };
    if header.name != b"up.txt" || header.size() != content.len() as u64 {
        return Err(Fail::mismatch(
            "upload header",
            b"#upload 'up.txt' 2000",
            &rest[..header.end],
        ));
    }
    super::wire::expect_bytes("uploaded bytes", &content, &rest[header.end..])?;
    let target = ctx.target()?;
    let line = file_uploaded("up.txt");
    if !target.wait_stdout(&line, Duration::from_secs(2)) {
        return Err(Fail::problem(format!("no `{line}` line")));
    }
    Ok("announcement, header and 2000 bytes exact".into())
}

fn server_closed(ctx: &mut Ctx) -> Verdict {
    let stream = greeted(ctx)?;
    drop(stream);
    let target = ctx.target()?;
    target.expect_exit(Duration::from_secs(3), "after the server closed")?;
    if !contains(&target.stdout(), "server closed") {
        return Err(Fail::problem("no `server closed` line"));
    }
    Ok("`server closed`, exit".into())
}

fn missing_file(ctx: &mut Ctx) -> Verdict {
    let mut stream = greeted(ctx)?;
    ctx.target()?
        .type_text("I will upload a file\n#upload 'nope.txt'\n")?;
    std::thread::sleep(Duration::from_millis(500));
    ctx.target()?.expect_alive("an upload of a missing file")?;
    ctx.target()?.type_text("still here\n")?;
    read_until(
        &mut stream,
        b"still here",
        64 * 1024,
        Duration::from_secs(3),
        "a line typed after the failed upload",
    )?;
    Ok("still chatting after a missing file".into())
}

fn client_ctrl_c(ctx: &mut Ctx) -> Verdict {
    let _stream = greeted(ctx)?;
    let target = ctx.target()?;
    target.signal(SIGINT);
    let status = target.expect_exit(Duration::from_secs(2), "after Ctrl-C")?;
    if contains(&target.stderr(), "Traceback (most recent call last)") {
        return Err(Fail::problem(format!(
            "Ctrl-C ended it with a traceback{}",
            target.stderr_tail()
        )));
    }
    Ok(format!("stopped on Ctrl-C ({status})"))
}
