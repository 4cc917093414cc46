//! The a1 client: `START`, the payload, then `STOP` every second until the
//! server replies with its throughput.
//!
//! One sender thread per stream ([`super::sender`]) streams the payload,
//! generated on the fly from a 1.5 kB pattern (the seed builds and prints
//! all 200 MB first), each datagram opened by a sequence header, either as
//! fast as the socket takes it (the seed's behaviour) or paced to a target
//! rate. The main thread prints interval reports and watches for Ctrl-C.
//! After the reply, a socklab server's `STATS` datagrams give the
//! receiver's view, shown side by side with the sender's.
//!
//! `--parallel N` and `--reverse` first send a `HELLO` after `START` and
//! need the server's `ACK` (a seed server never sends one: the client gives
//! up after [`HELLO_TIMEOUT`]); each stream's socket then joins with the
//! server's cookie. In reverse the server sends and one receiver thread per
//! stream counts, until the server's `FIN`.

use super::protocol::{
    parse_received_bytes, parse_sent_bytes, parse_throughput, Control, Fin, Header, Hello,
    ALIVE_EVERY, MAGIC, START, STOP,
};
use super::report;
use super::sender::{self, send_datagram, Senders, Spacing, StreamPlan};
use super::stats::{merge_intervals, Figures, IntervalClock, StreamReceiver, UnixClock, View};
use crate::net::offload::BatchReceiver;
use crate::net::{self, SocketOptions};
use crate::shutdown::Shutdown;
use crate::warn;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the client waits for a reply before sending `STOP` again (seed).
const STOP_RETRY: Duration = Duration::from_secs(1);
/// How long an interrupted client waits for the server's reply.
const INTERRUPTED_REPLY_WAIT: Duration = Duration::from_millis(500);
/// How long the client waits for the server's `ACK` to its `HELLO` (and for
/// each stream's `JOINED`) before it gives up.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(3);
/// How often `HELLO` and `JOIN` are resent while unanswered.
const HELLO_RETRY: Duration = Duration::from_millis(250);
/// How long the client waits for the `STATS` datagrams after the reply.
const STATS_WAIT: Duration = Duration::from_millis(500);
/// `--reverse`: a stream that receives nothing for this long is over even
/// without `FIN`.
const REVERSE_IDLE: Duration = Duration::from_secs(5);
/// Receive buffer of the client's sockets in `--reverse` (as the server's).
const REVERSE_RECV_BUFFER: usize = 4 << 20;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Payload size in bytes (all streams); `None` when `time` is set.
    pub size: Option<u64>,
    /// Send for this long instead of a size (`--time`).
    pub time: Option<Duration>,
    /// The server's address.
    pub server: SocketAddr,
    /// The client's own address (seed: `127.0.0.1:7777`); extra streams
    /// bind the same IP address on free ports.
    pub bind: SocketAddr,
    /// Payload bytes per datagram.
    pub length: usize,
    /// Target rate in bits per second, all streams together; 0 sends
    /// unpaced, as the seed.
    pub rate: u64,
    /// How a paced sender spaces its datagrams (in `--reverse`, the
    /// server's sender).
    pub spacing: Spacing,
    /// Give up when no reply to `STOP` arrives for this long.
    pub stop_timeout: Duration,
    /// Print one JSON object instead of the human report.
    pub json: bool,
    /// Report every this long (`None`: no interval reports).
    pub interval: Option<Duration>,
    /// The server sends, the client receives.
    pub reverse: bool,
    /// Number of streams (one socket and thread each).
    pub parallel: u16,
    /// Batch datagrams with UDP segmentation and receive offload where the
    /// kernel supports it (`false`: `--no-offload`, multi-message calls).
    pub offload: bool,
}

/// What the client measured, and what the server told it.
#[derive(Debug, Clone)]
pub struct ClientReport {
    /// The sender's view: the client's own, or the server's in reverse.
    pub sender: View,
    /// The receiver's view: the server's (from its `STATS`), or the
    /// client's own in reverse; `None` when a seed server only replied.
    pub receiver: Option<View>,
    /// The server's reply, if one came.
    pub reply: Option<String>,
    /// Whether the server sent.
    pub reverse: bool,
    /// Whether Ctrl-C cut the test short.
    pub interrupted: bool,
}

impl ClientReport {
    /// Payload bytes sent.
    pub fn bytes_sent(&self) -> u64 {
        self.sender.total().bytes
    }

    /// Bytes the receiver counted, when known (socklab servers say).
    pub fn bytes_received(&self) -> Option<u64> {
        match (&self.receiver, self.reverse) {
            (Some(view), _) => Some(view.total().bytes),
            (None, false) => self.reply.as_deref().and_then(parse_received_bytes),
            (None, true) => None,
        }
    }

    /// Percentage of payload bytes that did not arrive, when known.
    pub fn loss_percent(&self) -> Option<f64> {
        let received = self.bytes_received()?;
        let sent = self.bytes_sent();
        (sent > 0).then(|| sent.saturating_sub(received) as f64 * 100.0 / sent as f64)
    }

    /// The receiver's rate in bytes per second: the server's reply, or the
    /// client's own count in reverse.
    pub fn receive_rate(&self) -> Option<f64> {
        if self.reverse {
            let total = self.receiver.as_ref()?.total();
            return Some(total.bits_per_second() / 8.0);
        }
        self.reply
            .as_deref()
            .and_then(parse_throughput)
            .map(|kb| kb * 1000.0)
    }
}

/// Resolves `--server`: an IPv4 or IPv6 literal (brackets allowed, as in
/// `[::1]`) or a name; a name with addresses of both families gives its
/// IPv4 one (the server binds 127.0.0.1 unless told otherwise).
pub fn resolve_server(host: &str, port: u16) -> io::Result<SocketAddr> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let first = net::resolve(host, port)?;
    let ipv4 = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .ok()
        .and_then(|mut addrs| addrs.find(SocketAddr::is_ipv4));
    Ok(ipv4.unwrap_or(first))
}

/// The client's own address when `--bind` is not given: the seed's
/// `127.0.0.1:7777` for a loopback IPv4 server, `[::1]:7777` for a loopback
/// IPv6 one, and the wildcard address of the server's family otherwise.
pub fn default_bind(server: SocketAddr) -> SocketAddr {
    let port = super::protocol::DEFAULT_CLIENT.port();
    let ip: std::net::IpAddr = match (server.is_ipv4(), server.ip().is_loopback()) {
        (true, true) => std::net::Ipv4Addr::LOCALHOST.into(),
        (true, false) => std::net::Ipv4Addr::UNSPECIFIED.into(),
        (false, true) => std::net::Ipv6Addr::LOCALHOST.into(),
        (false, false) => std::net::Ipv6Addr::UNSPECIFIED.into(),
    };
    SocketAddr::new(ip, port)
}

/// Binds the client's socket. When the seed's port (7777) is taken, say by
/// another client, it says so and takes a free port: the server replies to
/// the address `STOP` came from. A port the user chose fails with a hint.
fn bind_own_port(config: &ClientConfig, options: &SocketOptions) -> io::Result<UdpSocket> {
    match net::bind_udp(config.bind, options) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            if config.bind != default_bind(config.server) {
                let hint = "another program uses it; --bind ADDR:0 picks a free port";
                return Err(io::Error::new(e.kind(), format!("{e} ({hint})")));
            }
            warn!(
                "port {} is taken (another client?): using a free port",
                config.bind.port()
            );
            net::bind_udp(SocketAddr::new(config.bind.ip(), 0), options)
        }
        result => result,
    }
}

/// Warns (once, before the test) when a datagram of `config.length` bytes
/// will not fit the path's MTU: the kernel then fragments every datagram,
/// and one lost fragment loses the whole datagram.
fn warn_if_fragmented(socket: &UdpSocket, config: &ClientConfig) {
    let on_wire = config.length + net::udp_header_bytes(config.server);
    if let Some(mtu) = net::path_mtu(socket).filter(|&mtu| on_wire > mtu) {
        let fits = mtu.saturating_sub(net::udp_header_bytes(config.server));
        report::warn_fragmented(config.length, on_wire, mtu, fits);
    }
}

/// Runs one test against the server and prints the report.
pub fn run(config: &ClientConfig, shutdown: &Shutdown) -> io::Result<ClientReport> {
    let options = SocketOptions {
        recv_buffer: config.reverse.then_some(REVERSE_RECV_BUFFER),
        ..SocketOptions::default()
    };
    let control = bind_own_port(config, &options)?;
    // Connected: sends skip the per-datagram route lookup, and only the
    // server's datagrams are received.
    control
        .connect(config.server)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot reach {}: {e}", config.server)))?;
    warn_if_fragmented(&control, config);
    report::client_starting(config.json);
    send_datagram(&control, None, START)?;
    report::first_packet_sent(config.json);
    let started = Instant::now();
    let (sockets, cookie) = open_streams(&control, config, &options, shutdown)?;
    // In reverse the client receives: its own view is the receiver's, and
    // the server's FINs stand in for the sender's view if no STATS come.
    let views = match cookie.filter(|_| config.reverse) {
        Some(cookie) => {
            let done = Shutdown::new();
            let alive = keep_alive(&control, cookie, &done)?;
            let received = receive_streams(sockets, config, shutdown);
            done.trigger();
            alive
                .join()
                .map_err(|_| io::Error::other("the ALIVE thread panicked"))?;
            let (view, fins) = received?;
            (view, Some(fins))
        }
        None => (
            send_streams(sockets, config, started, shutdown, !config.json)?,
            None,
        ),
    };
    let report = conclude(&control, config, views, shutdown)?;
    report.print(config);
    Ok(report)
}

/// The sockets of the test's streams, the control socket first; with
/// `--parallel` or `--reverse`, after the `HELLO` handshake and every
/// stream's join (then the server's cookie too).
fn open_streams(
    control: &UdpSocket,
    config: &ClientConfig,
    options: &SocketOptions,
    shutdown: &Shutdown,
) -> io::Result<(Vec<UdpSocket>, Option<u64>)> {
    let mut sockets = vec![control.try_clone()?];
    if config.parallel == 1 && !config.reverse {
        return Ok((sockets, None));
    }
    let cookie = match handshake(control, config, shutdown) {
        Ok(cookie) => cookie,
        Err(error) => {
            // No answer: a seed server may be counting; end its test
            // cleanly. (A refusal ended the test already.)
            if error.kind() == io::ErrorKind::TimedOut {
                let _ = send_datagram(control, None, STOP);
            }
            return Err(error);
        }
    };
    for _ in 1..config.parallel {
        let bind = SocketAddr::new(config.bind.ip(), 0);
        let socket = net::bind_udp(bind, options)?;
        socket.connect(config.server)?;
        sockets.push(socket);
    }
    for (stream, socket) in sockets.iter().enumerate() {
        join(socket, cookie, stream as u16, config.server)?;
    }
    Ok((sockets, Some(cookie)))
}

/// After the streams: `STOP` until the reply, the server's `STATS`, and
/// the client's report from its own view and the server's (`views`: the
/// client's own, and in reverse the server's `FIN` totals).
fn conclude(
    control: &UdpSocket,
    config: &ClientConfig,
    views: (View, Option<View>),
    shutdown: &Shutdown,
) -> io::Result<ClientReport> {
    let (own_view, fins_view) = views;
    let interrupted = shutdown.is_triggered();
    report::waiting_for_reply(config);
    let (reply, stats) = stop_and_collect(control, config, interrupted, shutdown)?;
    let (mut sender_view, mut receiver_view) = match fins_view {
        Some(fins) => (stats.unwrap_or(fins), Some(own_view)),
        None => (own_view, stats),
    };
    if let Some(receiver) = receiver_view.as_mut() {
        account_tail_loss(&sender_view, receiver);
    }
    if sender_view.streams.is_empty() {
        sender_view.streams.push(Figures::default());
    }
    Ok(ClientReport {
        sender: sender_view,
        receiver: receiver_view,
        reply,
        reverse: config.reverse,
        interrupted: interrupted || shutdown.is_triggered(),
    })
}

/// The receiver counts what arrived; the sender knows what it sent. A loss
/// at the very end of a stream (after the last datagram that arrived) is
/// invisible to the receiver's sequence count, so the totals take the
/// sender's datagram count: lost = sent − distinct received.
fn account_tail_loss(sender: &View, receiver: &mut View) {
    if sender.streams.len() != receiver.streams.len() {
        return;
    }
    for (sent, received) in sender.streams.iter().zip(&mut receiver.streams) {
        if let Some(lost) = received.lost.as_mut() {
            let unique = received.packets - received.duplicates.unwrap_or(0).min(received.packets);
            if sent.packets > 0 {
                *lost = sent.packets.saturating_sub(unique);
            }
        }
    }
}

/// `--reverse`: receives every stream on its own thread until the server
/// is done; returns the client's receiver view and the sender's totals as
/// the server's `FIN`s told them.
fn receive_streams(
    sockets: Vec<UdpSocket>,
    config: &ClientConfig,
    shutdown: &Shutdown,
) -> io::Result<(View, View)> {
    let receive_start = Instant::now();
    let threads: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(stream, socket)| {
            let clock = IntervalClock::new(receive_start, config.interval);
            let shutdown = shutdown.clone();
            let offload = config.offload;
            std::thread::Builder::new()
                .name(format!("iperf-recv-{stream}"))
                .spawn(move || receive_stream(&socket, stream as u16, clock, &shutdown, offload))
        })
        .collect::<io::Result<_>>()?;
    let mut received = Vec::new();
    for thread in threads {
        received.push(
            thread
                .join()
                .map_err(|_| io::Error::other("a receiver thread panicked"))??,
        );
    }
    let view = View {
        streams: received
            .iter()
            .map(|(r, _)| {
                let seconds = r.last_arrival().map_or(0.0, |at| {
                    at.saturating_duration_since(receive_start).as_secs_f64()
                });
                r.totals(seconds)
            })
            .collect(),
        intervals: merge_intervals(received.iter().map(|(r, _)| r.intervals())),
    };
    let fins = View {
        streams: received
            .iter()
            .map(|(_, fin)| Figures {
                bytes: fin.map_or(0, |f| f.bytes),
                packets: fin.map_or(0, |f| f.packets),
                ..Figures::default()
            })
            .collect(),
        intervals: Vec::new(),
    };
    Ok((view, fins))
}

/// Sends every stream on its own thread, printing the sender's interval
/// rows when `human`; returns the sender's view.
fn send_streams(
    sockets: Vec<UdpSocket>,
    config: &ClientConfig,
    started: Instant,
    shutdown: &Shutdown,
    human: bool,
) -> io::Result<View> {
    let plans = sockets
        .into_iter()
        .enumerate()
        .map(|(stream, socket)| {
            let stream = stream as u16;
            let plan = StreamPlan {
                stream,
                bytes: config
                    .size
                    .map(|size| sender::share(size, config.parallel, stream)),
                deadline: config.time.map(|t| started + t),
                length: config.length,
                rate: config.rate / u64::from(config.parallel),
                spacing: config.spacing,
                target: None,
                offload: config.offload,
            };
            (socket, plan)
        })
        .collect();
    let senders = Senders::start(plans, shutdown)?;
    let mut clock = IntervalClock::new(started, config.interval);
    let mut printed_heading = false;
    let (sent, intervals) = senders.wait(&mut clock, |closed| {
        if human {
            report::print_interval_rows(closed, false, &mut printed_heading);
        }
    })?;
    Ok(sender::sender_view(started, &sent, intervals))
}

/// Sends `HELLO` (padded) until the server's `ACK`; returns the server's
/// cookie. A `REFUSED` answer is an error that quotes the server.
fn handshake(control: &UdpSocket, config: &ClientConfig, shutdown: &Shutdown) -> io::Result<u64> {
    let hello = Hello {
        token: rand::random(),
        streams: config.parallel,
        reverse: config.reverse,
        length: config.length,
        rate: config.rate,
        bytes: config.size.unwrap_or(0),
        time_ms: config.time.map_or(0, |t| t.as_millis().max(1) as u64),
        pacing_us: config.spacing.micros(),
    };
    let request = Control::Hello(hello).encode_padded();
    let answer = exchange(control, &request, shutdown, |control| match control {
        Control::Ack(token, cookie) if token == hello.token => Some(Ok(cookie)),
        Control::Refused(reason) => Some(Err(reason)),
        _ => None,
    })?;
    match answer {
        Some(Ok(cookie)) => Ok(cookie),
        Some(Err(reason)) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("the server at {} refused the test: {reason}", config.server),
        )),
        None => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "no answer to the socklab HELLO from {} within {} s: --reverse and --parallel \
                 need a socklab a1-iperf-server (a seed server only counts bytes)",
                config.server,
                HELLO_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// Joins stream `stream` from `socket` with the server's `cookie`: `JOIN`
/// (padded) until the server's `PROBE`, then `ECHO` of its nonce until
/// `JOINED` — the server sends only to an address that echoed.
fn join(socket: &UdpSocket, cookie: u64, stream: u16, server: SocketAddr) -> io::Result<()> {
    let request = Control::Join(cookie, stream).encode_padded();
    let never = Shutdown::new();
    let probe = exchange(socket, &request, &never, |control| match control {
        Control::Probe(nonce, s) if s == stream => Some(nonce),
        _ => None,
    })?;
    let joined = match probe {
        Some(nonce) => {
            let echo = Control::Echo(nonce, stream).encode();
            exchange(socket, echo.as_bytes(), &never, |control| {
                (control == Control::Joined(cookie, stream)).then_some(())
            })?
        }
        None => None,
    };
    joined.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("stream {stream} could not join the test at {server}"),
        )
    })
}

/// `--reverse`: sends `ALIVE` with the test's cookie every [`ALIVE_EVERY`]
/// from its own thread, until `done`, so that the server stops sending
/// soon after this client is gone.
fn keep_alive(control: &UdpSocket, cookie: u64, done: &Shutdown) -> io::Result<JoinHandle<()>> {
    let socket = control.try_clone()?;
    let done = done.clone();
    let alive = Control::Alive(cookie).encode();
    std::thread::Builder::new()
        .name("iperf-alive".into())
        .spawn(move || {
            while !done.is_triggered() {
                // A lost ALIVE is made up by the next; an error ends the
                // test on the receivers' side anyway.
                if send_datagram(&socket, None, alive.as_bytes()).is_err() {
                    break;
                }
                done.sleep(ALIVE_EVERY);
            }
        })
}

/// Sends `request` every [`HELLO_RETRY`] until `accept` takes an answer,
/// for at most [`HELLO_TIMEOUT`].
fn exchange<T>(
    socket: &UdpSocket,
    request: &[u8],
    shutdown: &Shutdown,
    accept: impl Fn(Control) -> Option<T>,
) -> io::Result<Option<T>> {
    let started = Instant::now();
    let mut buffer = [0u8; 2048];
    while started.elapsed() < HELLO_TIMEOUT && !shutdown.is_triggered() {
        send_datagram(socket, None, request)?;
        let sent_at = Instant::now();
        while sent_at.elapsed() < HELLO_RETRY {
            let wait = HELLO_RETRY.saturating_sub(sent_at.elapsed());
            socket.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
            match socket.recv(&mut buffer) {
                Ok(len) => {
                    if let Some(answer) = Control::parse(&buffer[..len]).and_then(&accept) {
                        return Ok(Some(answer));
                    }
                }
                Err(e) if net::is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(receive_error(socket, e)),
            }
        }
    }
    Ok(None)
}

/// `--reverse`: counts one stream's datagrams until the server's `FIN`
/// (or [`REVERSE_IDLE`] of silence, or shutdown).
fn receive_stream(
    socket: &UdpSocket,
    stream: u16,
    mut clock: IntervalClock,
    shutdown: &Shutdown,
    offload: bool,
) -> io::Result<(StreamReceiver, Option<Fin>)> {
    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
    // Kernel arrival times where available, as the server takes them, and
    // datagrams read in batches as the server reads them.
    let mut inbox = BatchReceiver::new(socket, offload);
    let mut receiver = StreamReceiver::default();
    let unix = UnixClock::now();
    let mut last = Instant::now();
    let mut fin = None;
    while !shutdown.is_triggered() {
        match inbox.recv(socket) {
            Ok((len, _, kernel_ns)) => {
                let datagram = inbox.last();
                if datagram.starts_with(b"SLB1:") {
                    if let Some(Control::Fin(f)) = Control::parse(datagram) {
                        if f.stream == stream {
                            fin = Some(f);
                            break;
                        }
                    }
                    continue;
                }
                let now = Instant::now();
                last = now;
                while let Some((start, end)) = clock.advance(now) {
                    receiver.close_interval(stream, start, end);
                }
                let header = Header::parse(datagram);
                let arrival_ns = if kernel_ns.is_none() && inbox.coalescing() {
                    0
                } else {
                    unix.arrival_ns(header.is_some(), kernel_ns, now)
                };
                receiver.record(len, header, now, arrival_ns);
            }
            Err(e) if net::is_timeout(&e) => {
                if last.elapsed() >= REVERSE_IDLE {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("receive failed: {e}"))),
        }
    }
    inbox.finish(socket);
    if let Some(last) = receiver.last_arrival() {
        let end = clock.seconds_at(last);
        if clock.next_boundary().is_some()
            && receiver.has_unreported()
            && end > clock.current_start()
        {
            receiver.close_interval(stream, clock.current_start(), end);
        }
    }
    Ok((receiver, fin))
}

/// Sends `STOP` until the reply, then collects the server's `STATS`
/// datagrams (a short wait; a seed server sends none). Returns the reply
/// and the server's view.
fn stop_and_collect(
    control: &UdpSocket,
    config: &ClientConfig,
    interrupted: bool,
    shutdown: &Shutdown,
) -> io::Result<(Option<String>, Option<View>)> {
    let reply = if interrupted {
        // One STOP so the server ends its test now rather than at its idle
        // timeout, and a short wait for its figures.
        request_reply(
            control,
            INTERRUPTED_REPLY_WAIT,
            INTERRUPTED_REPLY_WAIT,
            &Shutdown::new(),
        )?
    } else {
        let reply = request_reply(control, STOP_RETRY, config.stop_timeout, shutdown)?;
        if reply.is_none() && !shutdown.is_triggered() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no reply from {} to STOP within {:.0} s",
                    config.server,
                    config.stop_timeout.as_secs_f64()
                ),
            ));
        }
        reply
    };
    let socklab_reply = reply
        .as_deref()
        .is_some_and(|r| parse_received_bytes(r).is_some() || parse_sent_bytes(r).is_some());
    let stats = if socklab_reply {
        collect_stats(control)?
    } else {
        None
    };
    Ok((reply, stats))
}

/// Reads `STATS` parts until all have arrived or [`STATS_WAIT`] passes.
fn collect_stats(control: &UdpSocket) -> io::Result<Option<View>> {
    let started = Instant::now();
    let mut parts: Vec<Option<String>> = Vec::new();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < STATS_WAIT {
        let wait = STATS_WAIT.saturating_sub(started.elapsed());
        control.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match control.recv(&mut buffer) {
            Ok(len) => {
                if let Some(Control::Stats {
                    part,
                    parts: n,
                    body,
                }) = Control::parse(&buffer[..len])
                {
                    if parts.is_empty() {
                        parts = vec![None; n as usize];
                    }
                    if let Some(slot) = parts.get_mut(part as usize) {
                        *slot = Some(body);
                    }
                    if parts.iter().all(Option::is_some) {
                        let text: String = parts.into_iter().flatten().collect();
                        return Ok(View::from_lines(text.lines()));
                    }
                }
            }
            Err(e) if net::is_timeout(&e) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("receive failed: {e}"))),
        }
    }
    Ok(None)
}

/// Sends `STOP` every `retry` until a reply arrives, `limit` passes, or
/// shutdown. Returns the reply text (control datagrams are skipped).
fn request_reply(
    socket: &UdpSocket,
    retry: Duration,
    limit: Duration,
    shutdown: &Shutdown,
) -> io::Result<Option<String>> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < limit && !shutdown.is_triggered() {
        send_datagram(socket, None, STOP)?;
        let sent_at = Instant::now();
        // Read in short slices so Ctrl-C is noticed while waiting.
        while sent_at.elapsed() < retry && !shutdown.is_triggered() {
            let wait = retry
                .saturating_sub(sent_at.elapsed())
                .min(crate::shutdown::POLL_INTERVAL);
            socket.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
            match socket.recv(&mut buffer) {
                // Data still in flight (reverse), FINs, JOINED or stray
                // STATS from the test: not the reply.
                Ok(len) if buffer[..len].starts_with(MAGIC) => {}
                Ok(len) => return Ok(Some(String::from_utf8_lossy(&buffer[..len]).into_owned())),
                Err(e) if net::is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(receive_error(socket, e)),
            }
        }
    }
    Ok(None)
}

/// The error of a receive on a connected client socket: the system's
/// "nothing listens there" (an ICMP port unreachable) is
/// [`net::no_server`], so a client without a server fails at once.
fn receive_error(socket: &UdpSocket, error: io::Error) -> io::Error {
    match (error.kind(), socket.peer_addr()) {
        (io::ErrorKind::ConnectionRefused, Ok(server)) => net::no_server(server),
        _ => io::Error::new(error.kind(), format!("receive failed: {error}")),
    }
}
