//! The chat server: an accept loop (the kit's
//! [server skeleton](crate::net::serve)), a reader and a writer thread per
//! client, and the hub (`hub.rs`) between them.
//!
//! ```text
//!  client ──► reader thread ──┐ events              ┌─► outbox ──► writer thread ──► client
//!  client ──► reader thread ──┼──────────► hub ─────┼─► outbox ──► writer thread ──► client
//!  client ──► reader thread ──┘ (one channel)       └─► outbox ──► writer thread ──► client
//! ```
//!
//! A reader reads 4096 bytes at a time, saves uploads itself (see
//! `inbound.rs`) and reports joins, chat, finished uploads and leaves to the
//! hub. A writer only copies its outbox into its socket — several waiting
//! messages in one vectored write, without copying them — and takes what it
//! wrote off the client's backlog; when a write fails (reset, broken pipe)
//! it closes the socket, the reader sees the end of the connection and the
//! hub removes that one client.
//!
//! Memory stays bounded whatever clients send: a message is at most one
//! read, the event queue holds `EVENT_QUEUE` of them, each client's
//! backlog is capped in bytes (`--max-backlog`, see `hub.rs`), bytes held
//! after an ambiguous upload header wait on disk, and the log drops lines
//! rather than queue them without limit.

use super::hub::{self, Event, Hub, Message, OUTBOX_CAPACITY};
use super::inbound::{self, Inbound, Outcome};
use super::protocol;
use crate::error::Context;
use crate::net::serve::{serve, Connection, Handler};
use crate::net::{bind_tcp, is_timeout, Conn, Limits, Refused, SocketOptions};
use crate::output::{announce_listening, warn};
use crate::shutdown::Shutdown;
use crossbeam_channel::{Receiver, Sender};
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown as Direction, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Stack size of the per-client threads: they need little, and 1000
/// clients mean 2000 threads.
const CLIENT_THREAD_STACK: usize = 128 * 1024;

/// How many events may wait for the hub before readers pause (and TCP
/// slows their senders down): at most about 1 MiB of chat.
const EVENT_QUEUE: usize = 256;

/// How long the server waits for its connection threads after Ctrl-C
/// before it closes what is left.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// About how many bytes of piled-up messages a writer sends in one write.
const WRITE_BATCH: usize = 64 * 1024;

/// At most this many messages go into one vectored write (Linux takes up
/// to 1024 pieces).
const WRITE_BATCH_MESSAGES: usize = 64;

/// How long a refusal message may take to send to a client that is turned away.
const REFUSAL_TIMEOUT: Duration = Duration::from_millis(500);

pub use super::hub::DEFAULT_MAX_BACKLOG;

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Where uploads are saved (`./server` in the seed); created if missing.
    pub upload_dir: PathBuf,
    /// The connection cap (`--max-clients`), per-source share and idle
    /// timeout. When full, the client that has sent the least recently is
    /// evicted for a newcomer; if every client is active, the newcomer is
    /// turned away with a message.
    pub limits: Limits,
    /// The largest upload accepted, in bytes.
    pub max_upload: u64,
    /// A client whose outbox makes no progress for this long is disconnected.
    pub stall_timeout: Duration,
    /// A client more than this many bytes behind is disconnected.
    pub max_backlog: usize,
}

/// Shared by the accept loop and every connection.
struct Shared {
    config: ServerConfig,
    events: Sender<Event>,
}

/// What the server did, printed after `exit` when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerSummary {
    /// Clients accepted (turned-away ones not counted).
    pub clients: u64,
}

/// Runs the chat server until `shutdown`: prints the seed's start line and
/// the readiness line, serves clients, and on shutdown closes every
/// connection, prints `exit` (as the seed) and then its summary.
pub fn run(config: &ServerConfig, shutdown: &Shutdown) -> io::Result<ServerSummary> {
    std::fs::create_dir_all(&config.upload_dir).context(|| {
        format!(
            "cannot create the upload folder {}",
            config.upload_dir.display()
        )
    })?;
    let listener = bind_tcp(config.addr, &SocketOptions::default())?;
    let local = listener.local_addr()?;
    crate::say!("{}", protocol::server_started(local.port()));
    announce_listening(local, "tcp");

    let (events, hub_events) = crossbeam_channel::bounded(EVENT_QUEUE);
    let hub_shutdown = shutdown.clone();
    let hub_state = Hub::new(config.stall_timeout, config.max_backlog)?;
    let hub = thread::Builder::new()
        .name("chat-hub".into())
        .spawn(move || hub_state.run(&hub_events, &hub_shutdown))?;

    let mut server = ChatServer {
        shared: Arc::new(Shared {
            config: config.clone(),
            events,
        }),
        hub: Some(hub),
        shutdown: shutdown.clone(),
    };
    let served = serve(listener, config.limits, "chat", shutdown, &mut server);
    let summary = ServerSummary {
        clients: served.as_ref().copied().unwrap_or(0),
    };
    crate::say!("exit");
    crate::report!("Server stopped: {} client(s) served", summary.clients);
    served.map(|_| summary)
}

/// The chat server's side of the accept loop: starts each client's writer
/// and hands its reader to the skeleton; turns newcomers away with a
/// message when full.
struct ChatServer {
    shared: Arc<Shared>,
    /// The hub's thread, joined when the server stops.
    hub: Option<JoinHandle<()>>,
    shutdown: Shutdown,
}

impl Handler for ChatServer {
    type Connection = Reader;

    fn open(&mut self, stream: TcpStream, addr: SocketAddr, conn: &Conn) -> Option<Reader> {
        let peer = protocol::peer_label(addr);
        match start_writer(&self.shared, conn.id(), &peer, stream) {
            Ok(reader) => Some(reader),
            Err(e) => {
                warn(format_args!("! Cannot serve {peer}: {e}"));
                None
            }
        }
    }

    fn refused(&mut self, stream: TcpStream, addr: SocketAddr, why: Refused) {
        let peer = protocol::peer_label(addr);
        warn(format_args!("! Refused {peer}: {why}"));
        match why {
            Refused::Full { max_clients } => refuse(stream, &protocol::server_full(max_clients)),
            Refused::SourceShare { max_per_source } => refuse(stream, &source_full(max_per_source)),
            Refused::ShuttingDown | Refused::NoResources => {}
        }
    }

    fn evicted(&mut self, evicted: SocketAddr, peer: SocketAddr) {
        let (evicted, peer) = (protocol::peer_label(evicted), protocol::peer_label(peer));
        warn(format_args!(
            "! Evicted {evicted} (sent the least recently) to admit {peer}"
        ));
    }

    fn not_started(&mut self, reader: Reader, _addr: SocketAddr, error: io::Error) {
        // Dropping the reader drops the outbox, which ends the writer too.
        warn(format_args!("! Cannot serve {}: {error}", reader.peer));
    }

    /// Stops the hub (which closes every socket), then gives the connection
    /// threads [`DRAIN_TIME`] to end, so unfinished uploads are cleaned up
    /// before the process exits.
    fn stopping(&mut self, _open: usize) -> Duration {
        // Wake the hub even if the accept loop stopped on an error.
        self.shutdown.trigger();
        if self.hub.take().is_some_and(|hub| hub.join().is_err()) {
            crate::warn!("error: the chat hub stopped unexpectedly");
        }
        DRAIN_TIME
    }
}

/// S→refused client when its address already has its share of the clients
/// (`--max-per-source`).
fn source_full(max_per_source: usize) -> String {
    format!("> Too many connections from your address ({max_per_source}), try again later")
}

/// Sends `line` to a client the server will not serve, then closes it.
fn refuse(mut stream: TcpStream, line: &str) {
    let _ = stream.set_write_timeout(Some(REFUSAL_TIMEOUT));
    let _ = stream.write_all(line.as_bytes());
    let _ = stream.shutdown(Direction::Both);
}

/// Starts the writer thread of connection `id` and returns its reader,
/// which the skeleton runs on a thread of its own; they and the hub share
/// the one socket.
fn start_writer(
    shared: &Arc<Shared>,
    id: u64,
    peer: &str,
    stream: TcpStream,
) -> io::Result<Reader> {
    stream.set_nodelay(true)?;
    let socket = Arc::new(stream);
    let writer_socket = Arc::clone(&socket);
    let (outbox, writer_queue) = crossbeam_channel::bounded(OUTBOX_CAPACITY);
    let backlog = Arc::new(AtomicUsize::new(0));
    let writer_backlog = Arc::clone(&backlog);
    thread::Builder::new()
        .name(format!("chat-write-{id}"))
        .stack_size(CLIENT_THREAD_STACK)
        .spawn(move || write_to_client(&writer_socket, &writer_queue, &writer_backlog))?;
    let join = Event::Join {
        id,
        peer: peer.to_string(),
        outbox,
        backlog,
        socket: Arc::clone(&socket),
    };
    Ok(Reader {
        shared: Arc::clone(shared),
        peer: peer.to_string(),
        socket,
        join,
    })
}

/// Copies the outbox into the socket. A message that finds the queue
/// otherwise empty — the usual case in a chat — goes out in its own write,
/// so a client that prints each read, like the seed's, shows it on its own
/// line. Messages that have piled up (a burst) go out together, about
/// [`WRITE_BATCH`] bytes per vectored write, as TCP would likely have joined
/// them anyway. What is written is taken off `backlog`. Ends when the hub
/// drops the outbox or a write fails.
fn write_to_client(socket: &TcpStream, queue: &Receiver<Message>, backlog: &AtomicUsize) {
    let mut batch: Vec<Message> = Vec::with_capacity(WRITE_BATCH_MESSAGES);
    while let Ok(first) = queue.recv() {
        let mut bytes = first.len();
        batch.push(first);
        while bytes < WRITE_BATCH && batch.len() < WRITE_BATCH_MESSAGES {
            match queue.try_recv() {
                Ok(next) => {
                    bytes += next.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let written = write_all_vectored(socket, &batch);
        let charged: usize = batch.iter().map(|message| hub::charge(message)).sum();
        backlog.fetch_sub(charged, Ordering::SeqCst);
        batch.clear();
        if written.is_err() {
            // Reset or broken pipe: closing makes the reader report the leave.
            let _ = socket.shutdown(Direction::Both);
            return;
        }
    }
}

/// Writes every message, in order, with as few system calls as the socket allows.
fn write_all_vectored(mut socket: &TcpStream, messages: &[Message]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = messages.iter().map(|m| IoSlice::new(m)).collect();
    let mut pending = &mut slices[..];
    while !pending.is_empty() {
        match socket.write_vectored(pending) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(count) => IoSlice::advance_slices(&mut pending, count),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One client's reader: reads until its connection ends, turning its bytes
/// into events for the hub.
struct Reader {
    shared: Arc<Shared>,
    peer: String,
    socket: Arc<TcpStream>,
    /// The hub's news of this client, sent first.
    join: Event,
}

impl Connection for Reader {
    const STACK_SIZE: Option<usize> = Some(CLIENT_THREAD_STACK);

    fn thread_name(&self, _server: &str, id: u64) -> String {
        format!("chat-read-{id}")
    }

    fn serve(self, conn: Conn) {
        let id = conn.id();
        let Reader {
            shared,
            peer,
            socket,
            join,
        } = self;
        let events = &shared.events;
        if events.send(join).is_err() {
            return;
        }
        let config = &shared.config;
        let mut inbound = Inbound::new(&config.upload_dir, config.max_upload, &id.to_string());
        let mut to_hub = ToHub {
            events,
            id,
            prefix: protocol::chat_prefix(&peer),
            alive: true,
        };
        read_until_end(&socket, &conn, &mut inbound, &mut to_hub);
        inbound.end_of_stream(&mut |outcome| to_hub.emit(outcome));
        if let Some(note) = inbound.abandon() {
            crate::warn!("! {peer}: {note}");
        }
        let _ = events.send(Event::Leave { id });
    }
}

/// A reader's way to the hub.
struct ToHub<'a> {
    events: &'a Sender<Event>,
    id: u64,
    /// What goes before every chat line of this client.
    prefix: String,
    /// Cleared once a send fails: the hub has stopped.
    alive: bool,
}

impl ToHub<'_> {
    fn send(&mut self, event: Event) {
        if self.events.send(event).is_err() {
            self.alive = false;
        }
    }

    /// Turns what the inbound side decided into the hub's events.
    fn emit(&mut self, outcome: Outcome<'_>) {
        let id = self.id;
        let event = match outcome {
            Outcome::Chat(bytes) => Event::Chat {
                id,
                message: [self.prefix.as_bytes(), bytes].concat().into(),
            },
            Outcome::Uploaded { name, saved } => {
                if name != saved {
                    let line = protocol::saved_as(&name, &saved);
                    self.send(Event::Notice { id, line });
                }
                Event::Uploaded { id }
            }
            Outcome::Refused(line) => Event::Notice { id, line },
        };
        self.send(event);
    }
}

/// Reads `socket` until end of stream, an error or the hub's end, feeding
/// every read to `inbound`.
fn read_until_end(socket: &TcpStream, conn: &Conn, inbound: &mut Inbound, to_hub: &mut ToHub) {
    let mut reader = socket;
    let mut buffer = [0u8; protocol::READ_SIZE];
    let mut timeout_set = false;
    let mut last_data = Instant::now();
    loop {
        // While an ambiguous upload header waits for the client to pause, or
        // a refused upload's bytes are dropped until it does, reads time out
        // after a short silence.
        let awaiting = inbound.awaits_pause();
        if awaiting != timeout_set
            && socket
                .set_read_timeout(awaiting.then_some(inbound::PAUSE))
                .is_ok()
        {
            timeout_set = awaiting;
        }
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => {
                last_data = Instant::now();
                conn.record(count);
                inbound.feed(&buffer[..count], &mut |outcome| to_hub.emit(outcome));
            }
            Err(e) if is_timeout(&e) => {
                inbound.paused(last_data.elapsed(), &mut |outcome| to_hub.emit(outcome))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
        if !to_hub.alive {
            break;
        }
    }
}
