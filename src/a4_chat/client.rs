//! The chat client: one thread reads chat lines from stdin and sends them,
//! another prints what the server sends; the main thread waits for the
//! first of: stdin closed, server gone, Ctrl-C.
//!
//! Output follows the seed: each message from the server is printed as
//! one line. The wire has no terminator, so messages that arrive in one
//! read are told apart by how the server's messages begin
//! ([`split_messages`]). When stdin is a terminal the client also shows the seed's `[You] `
//! prompt, redrawn under incoming messages; in a pipe it prints only the
//! messages, so scripts and tests read clean lines.
//!
//! A line `#upload 'name'` sends the file `name` from the working
//! directory: the header `#upload 'name' <size>`, then exactly `<size>`
//! bytes. A file that cannot be read is reported locally and nothing is
//! sent.

use super::protocol;
use crate::shutdown::Shutdown;
use crossbeam_channel::{select, Sender};
use std::fs::File;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::net::{Shutdown as Direction, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Pause before and after an upload's header, so that a server which reads
/// the header with a single `recv` gets it alone: the seed's crashes when
/// the chat line before it or the file bytes after it come in the same read.
const HEADER_PAUSE: Duration = Duration::from_millis(50);

/// After stdin ends, how long the client waits for the server's close.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Why the client stops.
enum End {
    StdinClosed,
    ServerClosed,
}

/// Connects to the first of `host`'s addresses that answers within
/// `timeout` and chats until stdin ends, the server goes away or
/// `shutdown` (Ctrl-C); prints `exit` or `server closed`.
pub fn run(host: &str, port: u16, timeout: Duration, shutdown: &Shutdown) -> io::Result<Session> {
    let socket = crate::net::connect_first(host, port, timeout)?;
    socket.set_nodelay(true)?;
    let screen = Screen {
        interactive: io::stdin().is_terminal(),
    };
    let (ended, end) = crossbeam_channel::bounded(2);

    let incoming = socket.try_clone()?;
    let server_ended = ended.clone();
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    thread::Builder::new()
        .name("chat-receive".into())
        .spawn(move || print_incoming(incoming, screen, &server_ended, &counter))?;
    let outgoing = socket.try_clone()?;
    thread::Builder::new()
        .name("chat-stdin".into())
        .spawn(move || send_typed_lines(outgoing, screen, &ended))?;

    let server_closed = select! {
        recv(end) -> why => matches!(why, Ok(End::ServerClosed)),
        recv(shutdown.receiver()) -> _ => false,
    };
    if !server_closed && !shutdown.is_triggered() {
        // Stdin ended: say so to the server (half-close) and print what it
        // sent before it saw that, up to its close — so `printf 'hi\n' |
        // a4-chat-client …` shows the greeting, not just `exit`.
        let _ = socket.shutdown(Direction::Write);
        select! {
            recv(end) -> _ => {},
            recv(shutdown.receiver()) -> _ => {},
            default(DRAIN_LIMIT) => {},
        }
    }
    let _ = socket.shutdown(Direction::Both);
    screen.finish(if server_closed {
        "server closed"
    } else {
        "exit"
    });
    Ok(Session {
        messages: received.load(Ordering::SeqCst),
        server_closed,
    })
}

/// What a chat session saw, for `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Messages received from the server.
    pub messages: u64,
    /// Whether the server ended the session (else stdin or Ctrl-C did).
    pub server_closed: bool,
}

/// Prints each read from the server until it closes the connection.
fn print_incoming(
    mut socket: TcpStream,
    screen: Screen,
    ended: &Sender<End>,
    received: &AtomicU64,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut pending = Vec::new();
    loop {
        match socket.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => {
                pending.extend_from_slice(&buffer[..count]);
                let complete = complete_utf8_len(&pending);
                if complete > 0 {
                    let text = String::from_utf8_lossy(&pending[..complete]).into_owned();
                    for message in split_messages(&text) {
                        screen.message(message);
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    pending.drain(..complete);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = ended.send(End::ServerClosed);
}

/// Splits what one read brought into the server's messages: a new message
/// begins where one of the server's own openings (`> New user `, `< The
/// user `, `[IP:PORT] `, …) begins. A chat line that quotes such an opening
/// is split there too; nothing is lost either way.
pub fn split_messages(text: &str) -> Vec<&str> {
    const OPENINGS: [&str; 5] = [
        "> Connected to the chat server",
        "> New user ",
        "> User ",
        "< The user ",
        "> File '",
    ];
    let starts_message = |rest: &str| {
        OPENINGS.iter().any(|opening| rest.starts_with(opening)) || starts_with_peer_tag(rest)
    };
    let mut messages = Vec::new();
    let mut start = 0;
    for (i, _) in text.char_indices().skip(1) {
        if starts_message(&text[i..]) {
            messages.push(&text[start..i]);
            start = i;
        }
    }
    messages.push(&text[start..]);
    messages
}

/// Whether `text` starts with a chat line's tag, `[IP:PORT] `.
fn starts_with_peer_tag(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('[') else {
        return false;
    };
    let Some((inside, _)) = rest.split_once("] ") else {
        return false;
    };
    let Some((ip, port)) = inside.rsplit_once(':') else {
        return false;
    };
    !ip.is_empty()
        && ip
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '.' || c == ':')
        && !port.is_empty()
        && port.chars().all(|c| c.is_ascii_digit())
}

/// How much of `bytes` can be printed now: all of it, except a UTF-8
/// character cut off at the end (its rest comes with the next read).
fn complete_utf8_len(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => bytes.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => bytes.len(),
    }
}

/// Sends each line typed on stdin (without its newline, as the seed does);
/// `#upload 'name'` lines upload a file.
fn send_typed_lines(mut socket: TcpStream, screen: Screen, ended: &Sender<End>) {
    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    let end = loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => break End::StdinClosed,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                crate::warn!("error: cannot read stdin: {e}");
                break End::StdinClosed;
            }
        }
        let text = trim_newline(&line);
        let sent = match std::str::from_utf8(text)
            .ok()
            .and_then(protocol::parse_upload_command)
        {
            Some(name) => upload(&mut socket, name, screen),
            None if text.is_empty() => Ok(()),
            None => socket.write_all(text),
        };
        if sent.is_err() {
            break End::ServerClosed;
        }
        screen.prompt();
    };
    let _ = ended.send(end);
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Uploads `path` from the working directory. A local problem (no such
/// file) is printed and sends nothing; only a failed send is an error.
fn upload(socket: &mut TcpStream, path: &str, screen: Screen) -> io::Result<()> {
    let (file, name, size) = match open_upload(path) {
        Ok(opened) => opened,
        Err(problem) => {
            crate::warn!("error: cannot upload '{path}': {problem}");
            return Ok(());
        }
    };
    thread::sleep(HEADER_PAUSE);
    socket.write_all(protocol::upload_header(&name, size).as_bytes())?;
    thread::sleep(HEADER_PAUSE);
    let sent = io::copy(&mut file.take(size), socket)?;
    if sent < size {
        // The file shrank while being read: keep the promise of `size`
        // bytes so the server does not take later chat as file content.
        io::copy(&mut io::repeat(0).take(size - sent), socket)?;
        crate::warn!("error: '{path}' shrank while being sent; the upload was padded with zeros");
    }
    screen.uploaded(&protocol::file_uploaded(&name));
    Ok(())
}

/// Opens a file to upload; returns it with the name sent to the server
/// (the path's last component) and its size.
fn open_upload(path: &str) -> Result<(File, String, u64), String> {
    if path.is_empty() {
        return Err("usage: #upload 'file name'".into());
    }
    let file = File::open(path).map_err(|e| e.to_string())?;
    let metadata = file.metadata().map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    let name = Path::new(path)
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or("the file has no usable name")?;
    if name.contains('\'') {
        return Err("a file name with a quote cannot be sent".into());
    }
    Ok((file, name.to_string(), metadata.len()))
}

/// How the client writes to stdout: plain lines in a pipe, the seed's
/// `[You] ` prompt when a person types at a terminal.
#[derive(Clone, Copy)]
struct Screen {
    interactive: bool,
}

impl Screen {
    /// Prints one read from the server as a line (over the prompt, then
    /// redraws it).
    fn message(self, text: &str) {
        if self.interactive {
            self.show(&format!("\r\x1b[K{text}\n[You] "));
        } else {
            self.show(&format!("{text}\n"));
        }
    }

    /// Confirms an upload; at a terminal it replaces the typed command line.
    fn uploaded(self, line: &str) {
        if self.interactive {
            self.show(&format!("\x1b[F\r\x1b[K{line}\n"));
        } else {
            self.show(&format!("{line}\n"));
        }
    }

    /// Shows the prompt after a typed line (terminal only).
    fn prompt(self) {
        if self.interactive {
            self.show("[You] ");
        }
    }

    /// The last line: `exit` or `server closed`.
    fn finish(self, line: &str) {
        if self.interactive {
            self.show(&format!("\n{line}\n"));
        } else {
            self.show(&format!("{line}\n"));
        }
    }

    fn show(self, text: &str) {
        // Messages are the client's result (--quiet keeps them); a closed
        // stdout must not end the chat (the output module ignores it).
        crate::output::text(text, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_utf8_character_waits_for_its_rest() {
        let text = "héllo".as_bytes();
        assert_eq!(complete_utf8_len(text), text.len());
        assert_eq!(complete_utf8_len(&text[..2]), 1);
        assert_eq!(complete_utf8_len(b"ab\xff"), 3);
    }

    #[test]
    fn messages_read_together_print_one_per_line() {
        assert_eq!(
            split_messages(
                "[127.0.0.1:5] hi[127.0.0.1:6] yo< The user 127.0.0.1:5 left (1 user online)"
            ),
            [
                "[127.0.0.1:5] hi",
                "[127.0.0.1:6] yo",
                "< The user 127.0.0.1:5 left (1 user online)"
            ]
        );
        assert_eq!(
            split_messages("[x] not a tag [a:b] "),
            ["[x] not a tag [a:b] "]
        );
        assert_eq!(
            split_messages("> Connected to the chat server (1 user online)"),
            ["> Connected to the chat server (1 user online)"]
        );
    }

    #[test]
    fn newlines_are_not_sent() {
        assert_eq!(trim_newline(b"Hello\n"), b"Hello");
        assert_eq!(trim_newline(b"Hello\r\n"), b"Hello");
        assert_eq!(trim_newline(b"Hello"), b"Hello");
    }
}
