//! The relay client: the seed's five-item menu on stdin, plus a background
//! receiver so messages from other clients are printed the moment they
//! arrive, whatever the menu is doing.
//!
//! Three threads share the work:
//! - `relay-stdin` reads lines from stdin into a channel (so the menu can
//!   also wait for Ctrl-C while nobody types);
//! - `relay-receiver` reads every datagram and tells them apart by form
//!   ([`protocol::classify`]): forwarded messages are printed at once, replies
//!   to `hii` and to menu 2 go to the menu through a channel;
//! - the caller's thread runs the menu.

use super::protocol::{self, ErrorCode, Incoming, MAX_REQUEST};
use crate::net;
use crate::output;
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use crossbeam_channel::{after, bounded, select, Receiver, Sender};
use std::io::{self, BufRead};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The menu the seed client prints before every choice.
pub const MENU: &str =
    "1. Initialize\n2. Send Message\n3. Receive Message\n4. Exit\n5. Close Server";

/// How many times `hii` is sent before giving up (UDP may lose it; saying
/// `hii` twice is harmless).
const HELLO_ATTEMPTS: u32 = 3;

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The relay server.
    pub server: SocketAddr,
    /// The local IP to bind (default: any address of the server's family).
    pub bind: Option<IpAddr>,
    /// The local port to bind (0: any free port); a fixed port lets another
    /// client address this one before it has said `hii`.
    pub local_port: u16,
    /// How long to wait for the server's reply to a request.
    pub reply_timeout: Duration,
    /// How long menu 3 waits for a message.
    pub receive_wait: Duration,
}

/// A reply from the server that the menu waits for.
#[derive(Debug)]
enum Reply {
    /// The answer to `hii`: our address as the server sees it.
    Address { ip: String, port: u16, raw: String },
    /// The answer to a forward request (`200, …` or an error code).
    Status(String),
}

/// How waiting for something ended.
enum Wait<T> {
    Got(T),
    TimedOut,
    /// Shutdown, or the end of stdin: the client stops.
    Stop,
}

/// The terminal, shared by the menu and the receiver: it remembers a prompt
/// waiting for input, so a message printed meanwhile goes on its own lines
/// and the prompt is shown again below it.
#[derive(Default)]
struct Console {
    open_prompt: Mutex<Option<String>>,
    /// Messages from other clients shown so far.
    messages: AtomicU64,
}

impl Console {
    /// Prints lines from the menu.
    fn say(&self, text: &str) {
        let _prompt = self.lock();
        crate::say!("{text}");
    }

    /// Prints a prompt without a newline, as Python's `input()` does.
    fn prompt(&self, text: &str) {
        let mut prompt = self.lock();
        output::text(text, false);
        *prompt = Some(text.to_string());
    }

    /// The prompt was answered.
    fn answered(&self) {
        *self.lock() = None;
    }

    /// Ends a prompt left open (stdin ended) with a newline.
    fn close(&self) {
        if self.lock().take().is_some() {
            output::text("\n", false);
        }
    }

    /// Prints lines from the receiver, around an open prompt if there is one.
    fn announce(&self, text: &str) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        let prompt = self.lock();
        let before = if prompt.is_some() { "\n" } else { "" };
        let after = prompt.as_deref().unwrap_or("");
        // A message is the client's result: --quiet keeps it.
        output::text(&format!("{before}{text}\n{after}"), true);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        crate::sync::lock(&self.open_prompt)
    }
}

/// Resolves the server's host, preferring IPv4 as the seed client does (it
/// makes an `AF_INET` socket), so `localhost` reaches a server on `0.0.0.0`.
pub fn resolve_server(host: &str, port: u16) -> io::Result<SocketAddr> {
    let first = net::resolve(host, port)?;
    if first.is_ipv4() {
        return Ok(first);
    }
    Ok((host, port)
        .to_socket_addrs()?
        .find(SocketAddr::is_ipv4)
        .unwrap_or(first))
}

/// Runs the menu on `input` until Exit, Close Server, the end of the input
/// or shutdown.
pub fn run(
    config: ClientConfig,
    input: impl BufRead + Send + 'static,
    shutdown: &Shutdown,
) -> io::Result<Session> {
    let socket = connect(&config)?;
    let server = config.server;
    let console = Arc::new(Console::default());
    let (replies_tx, replies) = bounded(16);
    let (arrivals_tx, arrivals) = bounded(16);

    // The receiver stops when the menu ends or on shutdown, whichever first.
    let receiver_stop = Shutdown::new();
    let stop = receiver_stop.clone();
    shutdown.on_trigger(move || stop.trigger());
    // The menu stops on shutdown, or when the receiver learns that no
    // server listens (`no_server` is set then).
    let menu_stop = Shutdown::new();
    let stop = menu_stop.clone();
    shutdown.on_trigger(move || stop.trigger());
    let no_server = Arc::new(AtomicBool::new(false));
    let receiver = ReceiverThread {
        socket: socket.try_clone()?,
        console: console.clone(),
        replies: replies_tx,
        arrivals: arrivals_tx,
        stop: receiver_stop.clone(),
        no_server: NoServer {
            flag: no_server.clone(),
            stop_menu: menu_stop.clone(),
        },
    }
    .spawn()?;
    let lines = spawn_stdin_reader(input)?;

    let mut menu = Menu {
        config,
        socket,
        console,
        lines,
        replies,
        arrivals,
        shutdown: menu_stop,
        me: None,
        sent: 0,
    };
    menu.run();
    menu.console.close();
    receiver_stop.trigger();
    let _ = receiver.join();
    if no_server.load(Ordering::SeqCst) {
        return Err(net::no_server(server));
    }
    Ok(Session {
        sent: menu.sent,
        received: menu.console.messages.load(Ordering::Relaxed),
    })
}

/// The client's socket: bound to `--bind` (or the wildcard of the
/// server's family) and `--local-port`, and connected to the server, so it
/// hears only the server and learns at once (ICMP port unreachable) when
/// nothing listens there.
fn connect(config: &ClientConfig) -> io::Result<UdpSocket> {
    let local_ip = config.bind.unwrap_or(match config.server {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    });
    if local_ip.is_ipv4() != config.server.is_ipv4() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot reach server {} from local address {local_ip}: different address families",
                config.server
            ),
        ));
    }
    net::connect_udp(
        config.server,
        Some(SocketAddr::new(local_ip, config.local_port)),
    )
}

/// What a menu session did, for `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Messages the server confirmed forwarding (`200`).
    pub sent: u64,
    /// Messages received from other clients.
    pub received: u64,
}

/// How the receiver reports that nothing listens at the server's address:
/// it sets the flag and stops the menu.
struct NoServer {
    flag: Arc<AtomicBool>,
    stop_menu: Shutdown,
}

/// Reads stdin lines into a channel; the channel disconnects at the end of
/// the input. The thread is left blocked in `read_line` when the menu ends
/// first; it ends with the process.
fn spawn_stdin_reader(input: impl BufRead + Send + 'static) -> io::Result<Receiver<String>> {
    let (tx, rx) = bounded(16);
    std::thread::Builder::new()
        .name("relay-stdin".into())
        .spawn(move || {
            let mut input = input;
            let mut raw = Vec::new();
            loop {
                raw.clear();
                // Bytes, not `lines()`: a line that is not UTF-8 is not the end.
                match input.read_until(b'\n', &mut raw) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let line = String::from_utf8_lossy(&raw);
                let line = line.trim_end_matches(['\n', '\r']).to_string();
                if tx.send(line).is_err() {
                    break;
                }
            }
        })?;
    Ok(rx)
}

/// The receiver thread: prints forwarded messages (around the prompt) and
/// hands the server's replies to the menu.
struct ReceiverThread {
    socket: UdpSocket,
    console: Arc<Console>,
    /// The server's answers to the menu's requests.
    replies: Sender<Reply>,
    /// A tick for every message printed.
    arrivals: Sender<()>,
    stop: Shutdown,
    no_server: NoServer,
}

impl ReceiverThread {
    fn spawn(self) -> io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("relay-receiver".into())
            .spawn(move || self.run())
    }

    /// Receives until stopped, or until it learns that no server listens.
    fn run(self) {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            // The socket is connected: everything comes from the server.
            let from = match self.socket.peer_addr() {
                Ok(server) => server,
                Err(_) => return,
            };
            let len = match net::recv_connected(&self.socket, &mut buffer, &self.stop, None) {
                Ok(Some(len)) => len,
                Ok(None) => return,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    self.no_server.flag.store(true, Ordering::SeqCst);
                    self.no_server.stop_menu.trigger();
                    return;
                }
                Err(e) => {
                    crate::warn!("receive failed: {e}");
                    self.stop.sleep(POLL_INTERVAL);
                    continue;
                }
            };
            self.dispatch(&String::from_utf8_lossy(&buffer[..len]), from);
        }
    }

    /// Prints a message, or passes a reply on to the menu.
    fn dispatch(&self, text: &str, from: SocketAddr) {
        // A full channel means nobody is waiting: dropping is fine.
        match protocol::classify(text) {
            Incoming::Forwarded { ip, port, text } => {
                self.console
                    .announce(&message_lines(&format!("{ip}/{port}"), &text));
                let _ = self.arrivals.try_send(());
            }
            Incoming::Status(status) => {
                let _ = self.replies.try_send(Reply::Status(status));
            }
            Incoming::Address { ip, port, raw } => {
                let _ = self.replies.try_send(Reply::Address { ip, port, raw });
            }
            Incoming::Other(text) => {
                let sender = format!("{}/{}", from.ip(), from.port());
                self.console.announce(&message_lines(&sender, &text));
                let _ = self.arrivals.try_send(());
            }
        }
    }
}

/// The seed's two lines for a received message.
fn message_lines(sender: &str, text: &str) -> String {
    format!(
        "Message received from {sender}\nMessage:  {}",
        printable(text)
    )
}

/// Text from the network with control characters escaped, so a message
/// cannot drive the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The menu's state.
struct Menu {
    config: ClientConfig,
    socket: UdpSocket,
    console: Arc<Console>,
    lines: Receiver<String>,
    replies: Receiver<Reply>,
    arrivals: Receiver<()>,
    shutdown: Shutdown,
    /// Our address as the server reported it, once initialized.
    me: Option<(String, u16)>,
    /// Messages the server confirmed forwarding.
    sent: u64,
}

impl Menu {
    fn run(&mut self) {
        loop {
            self.console.say(MENU);
            let Some(choice) = self.ask("Enter your choice (1/2/3/4/5): ") else {
                return;
            };
            let keep_going = match choice.trim().parse::<i64>() {
                Ok(1) => self.initialize(),
                Ok(2) => self.send_message(),
                Ok(3) => self.receive_message(),
                Ok(4) => return,
                Ok(5) => {
                    if self.send(protocol::EXIT_SERVER) {
                        self.console.say("Asked the server to close.");
                    }
                    return;
                }
                _ => {
                    self.console
                        .say("Invalid choice: enter a number from 1 to 5.");
                    true
                }
            };
            if !keep_going {
                return;
            }
        }
    }

    /// Menu 1: say `hii` and learn our address. Returns `false` to stop.
    fn initialize(&mut self) -> bool {
        if self.me.is_some() {
            self.console.say("Already initialized.");
            return true;
        }
        drain(&self.replies);
        for _ in 0..HELLO_ATTEMPTS {
            if !self.send(protocol::HELLO) {
                return true;
            }
            match self.wait_reply(|reply| match reply {
                Reply::Address { ip, port, raw } => Some((ip, port, raw)),
                Reply::Status(_) => None,
            }) {
                Wait::Got((ip, port, raw)) => {
                    self.console.say(&printable(&raw));
                    self.console
                        .say(&format!("My IP is {ip} and my port is {port}"));
                    self.me = Some((ip, port));
                    return true;
                }
                Wait::TimedOut => {}
                Wait::Stop => return false,
            }
        }
        self.console.say(&format!(
            "No answer from the server at {} ({HELLO_ATTEMPTS} tries)",
            self.config.server
        ));
        true
    }

    /// Menu 2: ask for the recipient and the message, send, show the reply.
    /// Returns `false` to stop.
    fn send_message(&mut self) -> bool {
        if self.me.is_none() {
            self.console.say("Initialize first.");
            return true;
        }
        let Some(ip) = self.ask("Enter the recipient's IP address: ") else {
            return false;
        };
        let Some(port_text) = self.ask("Enter the recipient's port number: ") else {
            return false;
        };
        let port = match port_text.trim().parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => {
                self.console.say(&format!(
                    "Invalid port {:?}: enter a number from 1 to 65535.",
                    port_text.trim()
                ));
                return true;
            }
        };
        let Some(message) = self.ask("Enter your message: ") else {
            return false;
        };
        let request = protocol::forward_request(ip.trim(), port, &message);
        if request.len() > MAX_REQUEST {
            self.console.say(&format!(
                "Message too long: the request would be {} bytes, the relay takes at most {MAX_REQUEST}.",
                request.len()
            ));
            return true;
        }
        drain(&self.replies);
        if !self.send(&request) {
            return true;
        }
        match self.wait_reply(|reply| match reply {
            Reply::Status(status) => Some(status),
            Reply::Address { .. } => None,
        }) {
            Wait::Got(status) if protocol::is_success(&status) => {
                self.console.say("Message Sent");
                self.sent += 1;
            }
            Wait::Got(status) => {
                self.console.say("Message not sent");
                self.console.say(&format!("Error : {status}"));
                if let Some(code) = status.get(..3).and_then(ErrorCode::from_code) {
                    self.console.say(&format!("({})", code.explanation()));
                }
            }
            Wait::TimedOut => self.console.say(&format!(
                "No reply from the server within {:?}; the message may not have been sent.",
                self.config.reply_timeout
            )),
            Wait::Stop => return false,
        }
        true
    }

    /// Menu 3: wait for the next message (the receiver prints it). Returns
    /// `false` on shutdown.
    fn receive_message(&mut self) -> bool {
        let Some((ip, port)) = &self.me else {
            self.console.say("Initialize first.");
            return true;
        };
        self.console
            .say(&format!("Waiting for the message at {ip}/{port}...\n"));
        drain(&self.arrivals);
        select! {
            recv(self.arrivals) -> _ => true,
            recv(self.shutdown.receiver()) -> _ => false,
            default(self.config.receive_wait) => {
                self.console.say(&format!(
                    "No message arrived within {:?}.",
                    self.config.receive_wait
                ));
                true
            }
        }
    }

    /// Shows a prompt and waits for a line; `None` at the end of the input
    /// or on shutdown.
    fn ask(&self, prompt: &str) -> Option<String> {
        self.console.prompt(prompt);
        select! {
            recv(self.lines) -> line => {
                let line = line.ok()?;
                self.console.answered();
                Some(line)
            }
            recv(self.shutdown.receiver()) -> _ => None,
        }
    }

    /// Waits for the first reply `wanted` accepts, skipping others.
    fn wait_reply<T>(&self, wanted: impl Fn(Reply) -> Option<T>) -> Wait<T> {
        let deadline = Instant::now() + self.config.reply_timeout;
        loop {
            let timeout = after(deadline.saturating_duration_since(Instant::now()));
            select! {
                recv(self.replies) -> reply => match reply {
                    Ok(reply) => if let Some(value) = wanted(reply) {
                        return Wait::Got(value);
                    },
                    // The receiver is gone: no reply can come.
                    Err(_) => return Wait::TimedOut,
                },
                recv(self.shutdown.receiver()) -> _ => return Wait::Stop,
                recv(timeout) -> _ => return Wait::TimedOut,
            }
        }
    }

    /// Sends a request to the server; a failure is shown and the menu goes on.
    fn send(&self, text: &str) -> bool {
        match self.socket.send(text.as_bytes()) {
            Ok(_) => true,
            Err(e) => {
                self.console
                    .say(&format!("Cannot send to {}: {e}", self.config.server));
                false
            }
        }
    }
}

/// Throws away what is queued (stale replies from an earlier request).
fn drain<T>(channel: &Receiver<T>) {
    while channel.try_recv().is_ok() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_messages_escape_control_characters() {
        assert_eq!(
            message_lines("127.0.0.1/5000", "hi\x1b[2J\n"),
            "Message received from 127.0.0.1/5000\nMessage:  hi\\u{1b}[2J\\n"
        );
    }
}
