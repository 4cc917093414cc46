//! The a1 client: `START`, the payload, then `STOP` every second until the
//! server replies with its throughput.
//!
//! A dedicated sender thread streams the payload, generated on the fly from
//! a 1.5 kB pattern (the seed builds and prints all 200 MB first), either as
//! fast as the socket takes it (the seed's behaviour) or paced to a target
//! rate by [`crate::pacing::Pacer`]. The main thread draws progress and
//! watches for Ctrl-C.

use super::protocol::{parse_received_bytes, parse_throughput, Payload, START, STOP};
use crate::net::{self, SocketOptions};
use crate::output::{self, JsonObject, JsonValue, Progress};
use crate::pacing::{self, Pacer};
use crate::shutdown::Shutdown;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the client waits for a reply before sending `STOP` again (seed).
const STOP_RETRY: Duration = Duration::from_secs(1);
/// How long an interrupted client waits for the server's reply.
const INTERRUPTED_REPLY_WAIT: Duration = Duration::from_millis(500);
/// Linux's "no buffer space available", which a fast sender can hit.
const ENOBUFS: i32 = 105;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Payload size in bytes.
    pub size: u64,
    /// The server's address.
    pub server: SocketAddr,
    /// The client's own address (seed: `127.0.0.1:7777`).
    pub bind: SocketAddr,
    /// Payload bytes per datagram.
    pub length: usize,
    /// Target rate in bits per second; 0 sends unpaced, as the seed.
    pub rate: u64,
    /// Give up when no reply to `STOP` arrives for this long.
    pub stop_timeout: Duration,
    /// Print one JSON object instead of the human report.
    pub json: bool,
}

/// What the client measured.
#[derive(Debug, Clone)]
pub struct ClientReport {
    /// Payload bytes handed to the socket.
    pub bytes_sent: u64,
    /// Payload datagrams sent.
    pub datagrams_sent: u64,
    /// Time from `START` to the last payload datagram.
    pub send_time: Duration,
    /// The server's reply, if one came.
    pub reply: Option<String>,
    /// Whether Ctrl-C cut the test short.
    pub interrupted: bool,
}

impl ClientReport {
    /// Bytes the server counted, when its reply says (socklab servers do).
    pub fn bytes_received(&self) -> Option<u64> {
        self.reply.as_deref().and_then(parse_received_bytes)
    }

    /// Percentage of payload bytes that did not reach the server, when known.
    pub fn loss_percent(&self) -> Option<f64> {
        let received = self.bytes_received()?;
        (self.bytes_sent > 0).then(|| {
            self.bytes_sent.saturating_sub(received) as f64 * 100.0 / self.bytes_sent as f64
        })
    }

    /// The sender's rate in bytes per second.
    pub fn send_rate(&self) -> f64 {
        output::rate(self.bytes_sent, self.send_time)
    }

    /// The server's delivered rate in bytes per second, from its reply.
    pub fn receive_rate(&self) -> Option<f64> {
        self.reply
            .as_deref()
            .and_then(parse_throughput)
            .map(|kb| kb * 1000.0)
    }

    fn print_summary(&self) {
        println!(
            "Sent {} bytes in {} datagrams in {:.3} s ({})",
            self.bytes_sent,
            self.datagrams_sent,
            self.send_time.as_secs_f64(),
            output::human_rate(self.send_rate())
        );
        if let (Some(received), Some(loss)) = (self.bytes_received(), self.loss_percent()) {
            println!("Server received {received} bytes: loss {loss:.3}%");
        }
        if let Some(rate) = self.receive_rate() {
            println!("Receiver throughput: {}", output::human_rate(rate));
        }
        if self.interrupted {
            println!("Test interrupted");
        }
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        let mut json = JsonObject::new()
            .field("bytes_sent", JsonValue::Uint(self.bytes_sent))
            .field("datagrams_sent", JsonValue::Uint(self.datagrams_sent))
            .field(
                "send_seconds",
                JsonValue::Float(self.send_time.as_secs_f64()),
            )
            .field("send_bytes_per_second", JsonValue::Float(self.send_rate()));
        if let Some(reply) = &self.reply {
            json = json.field("reply", JsonValue::Str(reply));
        }
        if let Some(received) = self.bytes_received() {
            json = json.field("bytes_received", JsonValue::Uint(received));
        }
        if let Some(loss) = self.loss_percent() {
            json = json.field("loss_percent", JsonValue::Float(loss));
        }
        if let Some(rate) = self.receive_rate() {
            json = json.field("receive_bytes_per_second", JsonValue::Float(rate));
        }
        json.field("interrupted", JsonValue::Bool(self.interrupted))
            .finish()
    }
}

/// Runs one test against the server and prints the report.
pub fn run(config: &ClientConfig, shutdown: &Shutdown) -> io::Result<ClientReport> {
    let socket = net::bind_udp(config.bind, &SocketOptions::default())?;
    // Connected: sends skip the per-datagram route lookup, and only the
    // server's datagrams are received.
    socket
        .connect(config.server)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot reach {}: {e}", config.server)))?;
    let human = !config.json;
    if human {
        println!("Client is sending data now...");
    }
    send_datagram(&socket, START)?;
    if human {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        println!("Time of first packet sent: {now}");
    }
    let started = Instant::now();
    let sent = send_payload(&socket, config, shutdown)?;
    let send_time = sent.finished.duration_since(started);
    let interrupted = shutdown.is_triggered();

    if human {
        println!("Server IP address:  {}", config.server.ip());
        println!("Client is listening for a response...");
    }
    let reply = if interrupted {
        // One STOP so the server ends its test now rather than at its idle
        // timeout, and a short wait for its figures.
        request_reply(
            &socket,
            INTERRUPTED_REPLY_WAIT,
            INTERRUPTED_REPLY_WAIT,
            &Shutdown::new(),
        )?
    } else {
        let reply = request_reply(&socket, STOP_RETRY, config.stop_timeout, shutdown)?;
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
    let report = ClientReport {
        bytes_sent: sent.bytes,
        datagrams_sent: sent.datagrams,
        send_time,
        reply,
        interrupted: interrupted || shutdown.is_triggered(),
    };
    if human {
        if let Some(reply) = &report.reply {
            println!("{reply}");
        }
        report.print_summary();
        println!("Client process completed iPerfectly!");
    } else {
        println!("{}", report.to_json());
    }
    Ok(report)
}

/// What the sender thread sent.
struct Sent {
    bytes: u64,
    datagrams: u64,
    /// When the last datagram left.
    finished: Instant,
}

/// Streams the payload from a dedicated sender thread; the calling thread
/// draws progress until it is done.
fn send_payload(
    socket: &UdpSocket,
    config: &ClientConfig,
    shutdown: &Shutdown,
) -> io::Result<Sent> {
    let sent = Arc::new(AtomicU64::new(0));
    let sender = {
        let socket = socket.try_clone()?;
        let sent = sent.clone();
        let shutdown = shutdown.clone();
        let payload = Payload::new(config.size, config.length);
        let period = pacing::period_for_rate(config.length, config.rate);
        std::thread::Builder::new()
            .name("iperf-sender".into())
            .spawn(move || sender_loop(&socket, &payload, period, &sent, &shutdown))?
    };
    let mut progress = Progress::new("sending", Some(config.size));
    while !sender.is_finished() {
        progress.update(sent.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(50));
    }
    progress.finish();
    sender
        .join()
        .map_err(|_| io::Error::other("the sender thread panicked"))?
}

/// The sender thread's loop: one datagram per tick (or back to back when
/// unpaced), stopping early on shutdown.
fn sender_loop(
    socket: &UdpSocket,
    payload: &Payload,
    period: Option<Duration>,
    sent: &AtomicU64,
    shutdown: &Shutdown,
) -> io::Result<Sent> {
    let mut pacer = period.map(Pacer::new);
    let mut offset = 0u64;
    let mut datagrams = 0u64;
    while offset < payload.total() {
        if let Some(pacer) = pacer.as_mut() {
            if pacer.wait(shutdown).is_none() {
                break;
            }
        } else if shutdown.is_triggered() {
            break;
        }
        let datagram = payload.datagram_at(offset);
        send_datagram(socket, datagram)?;
        offset += datagram.len() as u64;
        datagrams += 1;
        sent.store(offset, Ordering::Relaxed);
    }
    Ok(Sent {
        bytes: offset,
        datagrams,
        finished: Instant::now(),
    })
}

/// Sends one datagram, retrying the transient errors a fast UDP sender
/// meets: a full device queue (ENOBUFS) and a port-unreachable notice from
/// an earlier datagram (reported on a later send of a connected socket).
fn send_datagram(socket: &UdpSocket, datagram: &[u8]) -> io::Result<()> {
    loop {
        match socket.send(datagram) {
            Ok(_) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(ENOBUFS) => std::thread::yield_now(),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("send failed: {e}"))),
        }
    }
}

/// Sends `STOP` every `retry` until a reply arrives, `limit` passes, or
/// shutdown. Returns the reply text.
fn request_reply(
    socket: &UdpSocket,
    retry: Duration,
    limit: Duration,
    shutdown: &Shutdown,
) -> io::Result<Option<String>> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    while started.elapsed() < limit && !shutdown.is_triggered() {
        send_datagram(socket, STOP)?;
        let sent_at = Instant::now();
        // Read in short slices so Ctrl-C is noticed while waiting.
        while sent_at.elapsed() < retry && !shutdown.is_triggered() {
            let wait = retry
                .saturating_sub(sent_at.elapsed())
                .min(crate::shutdown::POLL_INTERVAL);
            socket.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
            match socket.recv(&mut buffer) {
                Ok(len) => return Ok(Some(String::from_utf8_lossy(&buffer[..len]).into_owned())),
                Err(e) if net::is_timeout(&e) => {}
                // Nobody listening (yet): the next STOP may find the server.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    shutdown.sleep(retry.saturating_sub(sent_at.elapsed()));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("receive failed: {e}"))),
            }
        }
    }
    Ok(None)
}
