//! a5 accio cases.
//!
//! Server role: the checker uploads files and compares
//! `{dir}/files/<n>.file` (so the server command must use `{dir}/files` as
//! its file directory); signals, the low-port refusal, the 10 s idle rule,
//! numbering across a restart. Client role: the checker accepts the upload
//! of `{file}` and compares every byte.

use super::target::{SIGQUIT, SIGTERM};
use super::wire::{
    accept_within, clear_error, connect, read_to_close, reset, send, test_bytes, Context, Fail,
    Verdict,
};
use super::{Case, Ctx, Needs, Tier};
use crate::a5_accio::protocol::{file_name, ERROR_CONTENT, ERROR_PREFIX};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The accio server cases.
pub fn server_cases() -> Vec<Case> {
    let case = |name, tier, about, run, timeout| Case {
        name,
        tier,
        about,
        needs: Needs::Process,
        timeout: Duration::from_secs(timeout),
        run,
    };
    vec![
        case("one-file", Tier::Wire, "an upload's bytes land in `{dir}/files/1.file`", one_file, 10),
        case("numbering", Tier::Wire, "three uploads → `1.file`, `2.file`, `3.file` in accept order", numbering, 10),
        case("low-port", Tier::Wire, "port 1023 is refused: a line starting `ERROR:` on stderr, exit status 1", low_port, 10),
        case("sigterm", Tier::Wire, "SIGTERM ends the server with status 0", sigterm, 10),
        case("sigquit", Tier::Wire, "SIGQUIT ends the server with status 0", sigquit, 10),
        case("concurrent", Tier::Robust, "an upload completes while an earlier connection is still open", concurrent, 10),
        case("restart-numbering", Tier::Robust, "on a directory holding `1.file` and `2.file` the next upload is `3.file`, nothing overwritten", restart_numbering, 10),
        case("idle-error", Tier::Robust, "a connection silent for 10 s is aborted and its file holds `ERROR`", idle_error, 20),
        case("reset-upload", Tier::Robust, "an upload cut by a reset does not leave a file that looks complete", reset_upload, 10),
    ]
}

/// The accio client cases.
pub fn client_cases() -> Vec<Case> {
    let case = super::process_cases_within(Duration::from_secs(20));
    vec![
        case(
            "sends-file",
            Tier::Wire,
            "the client sends `{file}`'s raw bytes, closes, exits 0",
            sends_file,
        ),
        case(
            "connect-error",
            Tier::Wire,
            "nothing listening: `ERROR: …` on stderr, exit status 1",
            connect_error,
        ),
        case(
            "slow-server",
            Tier::Robust,
            "a 4 MB file to a server that reads slowly arrives whole",
            slow_server,
        ),
        case(
            "missing-file",
            Tier::Robust,
            "a file that does not exist: a clear error, non-zero exit, nothing uploaded",
            missing_file,
        ),
    ]
}

fn files_dir(ctx: &Ctx) -> PathBuf {
    ctx.dir().join("files")
}

/// Uploads `content` on a new connection and closes it cleanly.
fn upload(server: std::net::SocketAddr, content: &[u8]) -> Result<(), Fail> {
    let mut stream = connect(server)?;
    send(&mut stream, content, "uploading")?;
    stream
        .shutdown(std::net::Shutdown::Write)
        .context("closing the upload")?;
    // The server closes once it has the file (a seed may just keep reading).
    read_to_close(&mut stream, Duration::from_secs(2));
    Ok(())
}

/// Waits up to `wait` for `{dir}/files/<n>.file` to hold `content`.
fn expect_saved(ctx: &Ctx, n: u64, content: &[u8], wait: Duration) -> Result<(), Fail> {
    let path = files_dir(ctx).join(file_name(n));
    let deadline = Instant::now() + wait;
    loop {
        let on_disk = std::fs::read(&path).unwrap_or_default();
        if on_disk == content {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Fail::mismatch(
                format!("files/{}", file_name(n)),
                content,
                &on_disk,
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn one_file(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let content = test_bytes(300_000, 1);
    upload(server, &content)?;
    expect_saved(ctx, 1, &content, Duration::from_secs(3))?;
    Ok("files/1.file intact".into())
}

fn numbering(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let contents: Vec<Vec<u8>> = (1..=3).map(|n| test_bytes(10_000 * n, n as u8)).collect();
    for content in &contents {
        upload(server, content)?;
        std::thread::sleep(Duration::from_millis(50));
    }
    for (n, content) in (1..).zip(&contents) {
        expect_saved(ctx, n, content, Duration::from_secs(3))?;
    }
    Ok("1.file, 2.file, 3.file".into())
}

fn low_port(ctx: &mut Ctx) -> Verdict {
    let target = ctx.spawn("127.0.0.1", 1023)?;
    let status = target.expect_exit(Duration::from_secs(5), "on port 1023")?;
    let stderr = target.stderr();
    let text = String::from_utf8_lossy(&stderr);
    if status.code() != Some(1) || !text.lines().any(|l| l.starts_with(ERROR_PREFIX)) {
        return Err(Fail::mismatch(
            format!("port 1023 (exit {status})"),
            b"ERROR: ... (stderr), exit status 1",
            &stderr,
        ));
    }
    Ok("refused, exit 1".into())
}

fn signal_exit(ctx: &mut Ctx, signal: i32, name: &str) -> Verdict {
    ctx.start_server("127.0.0.1")?;
    std::thread::sleep(Duration::from_millis(200));
    let target = ctx.target()?;
    target.signal(signal);
    let status = target.expect_exit(Duration::from_secs(3), &format!("after {name}"))?;
    if status.code() != Some(0) {
        return Err(Fail::problem(format!(
            "{name} ended it with {status}, not 0"
        )));
    }
    Ok(format!("{name} → exit 0"))
}

fn sigterm(ctx: &mut Ctx) -> Verdict {
    signal_exit(ctx, SIGTERM, "SIGTERM")
}

fn sigquit(ctx: &mut Ctx) -> Verdict {
    signal_exit(ctx, SIGQUIT, "SIGQUIT")
}

fn concurrent(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut first = connect(server)?;
    send(
        &mut first,
        b"first, still open",
        "starting the first upload",
    )?;
    std::thread::sleep(Duration::from_millis(200));
    let content = test_bytes(50_000, 9);
    upload(server, &content)?;
    expect_saved(ctx, 2, &content, Duration::from_secs(2))?;
    drop(first);
    Ok("2.file saved while 1 was still open".into())
}

fn restart_numbering(ctx: &mut Ctx) -> Verdict {
    let dir = files_dir(ctx);
    std::fs::create_dir_all(&dir).context("creating files/")?;
    let old: Vec<Vec<u8>> = (1..=2).map(|n| test_bytes(1000, 100 + n)).collect();
    for (n, content) in (1..).zip(&old) {
        std::fs::write(dir.join(file_name(n)), content).context("writing an old file")?;
    }
    let server = ctx.start_server("127.0.0.1")?;
    let content = test_bytes(20_000, 42);
    upload(server, &content)?;
    expect_saved(ctx, 3, &content, Duration::from_secs(3))?;
    for (n, content) in (1..).zip(&old) {
        expect_saved(ctx, n, content, Duration::ZERO)?;
    }
    Ok("continued at 3.file".into())
}

fn idle_error(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let _silent = connect(server)?;
    expect_saved(ctx, 1, ERROR_CONTENT, Duration::from_secs(14))?;
    Ok("files/1.file holds ERROR after 10 s of silence".into())
}

fn reset_upload(ctx: &mut Ctx) -> Verdict {
    let server = ctx.start_server("127.0.0.1")?;
    let mut stream = connect(server)?;
    let content = test_bytes(100_000, 11);
    send(&mut stream, &content[..50_000], "sending half a file")?;
    std::thread::sleep(Duration::from_millis(200));
    reset(stream);
    std::thread::sleep(Duration::from_millis(800));
    let path = files_dir(ctx).join(file_name(1));
    match std::fs::read(&path) {
        Ok(saved) if saved == ERROR_CONTENT => Ok("the cut upload is marked ERROR".into()),
        Ok(saved) => Err(Fail::mismatch(
            "files/1.file after a reset upload",
            ERROR_CONTENT,
            &saved,
        )),
        Err(_) => Ok("no file for the cut upload".into()),
    }
}

fn sends_file(ctx: &mut Ctx) -> Verdict {
    let content = test_bytes(500_000, 21);
    ctx.set_file("upload.bin", &content)?;
    let listener = ctx.start_tcp_client("127.0.0.1")?;
    let mut stream = accept_within(&listener, Duration::from_secs(8))?;
    let got = read_to_close(&mut stream, Duration::from_secs(8));
    super::wire::expect_bytes("uploaded bytes", &content, &got.bytes)?;
    drop(stream);
    let status = ctx
        .target()?
        .expect_exit(Duration::from_secs(5), "after the upload")?;
    if !status.success() {
        return Err(Fail::problem(format!(
            "exited with {status} after a good upload"
        )));
    }
    Ok(format!("{} bytes intact, exit 0", content.len()))
}

fn connect_error(ctx: &mut Ctx) -> Verdict {
    ctx.set_file("upload.bin", b"data")?;
    let port = ctx.port_for("127.0.0.1")?;
    let target = ctx.spawn("127.0.0.1", port)?;
    let status = target.expect_exit(Duration::from_secs(10), "with nothing listening")?;
    let stderr = target.stderr();
    let text = String::from_utf8_lossy(&stderr);
    if status.code() != Some(1) || !text.lines().any(|l| l.starts_with(ERROR_PREFIX)) {
        return Err(Fail::mismatch(
            format!("nothing listening (exit {status})"),
            b"ERROR: ... (stderr), exit status 1",
            &stderr,
        ));
    }
    Ok("ERROR line, exit 1".into())
}

fn slow_server(ctx: &mut Ctx) -> Verdict {
    let content = test_bytes(4_000_000, 22);
    ctx.set_file("upload.bin", &content)?;
    let listener = ctx.start_tcp_client("127.0.0.1")?;
    let mut stream = accept_within(&listener, Duration::from_secs(8))?;
    let mut got = Vec::new();
    let started = Instant::now();
    loop {
        let part = super::wire::read_upto(&mut stream, 256 * 1024, Duration::from_secs(3));
        got.extend_from_slice(&part.bytes);
        // A client that sends more than the file is failed without
        // keeping what it streams.
        let too_much = got.len() > content.len();
        if part.closed
            || part.bytes.is_empty()
            || too_much
            || started.elapsed() > Duration::from_secs(15)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    super::wire::expect_bytes("uploaded bytes", &content, &got)?;
    Ok("4 MB intact through slow reads".into())
}

fn missing_file(ctx: &mut Ctx) -> Verdict {
    ctx.set_missing_file("missing.bin");
    let listener = ctx.start_tcp_client("127.0.0.1")?;
    let target = ctx.target()?;
    let status = target.expect_exit(Duration::from_secs(5), "with a missing file")?;
    if status.success() {
        return Err(Fail::problem(
            "exit status 0 for a file that does not exist",
        ));
    }
    clear_error(&target.stderr())?;
    if let Ok(mut stream) = accept_within(&listener, Duration::from_millis(100)) {
        let got = read_to_close(&mut stream, Duration::from_secs(1));
        if !got.bytes.is_empty() {
            return Err(Fail::problem("uploaded bytes for a missing file"));
        }
    }
    Ok(format!("clear error, {status}"))
}
