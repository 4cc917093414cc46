//! The chat server: an accept loop, a reader and a writer thread per
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
//! hub. A writer only copies its outbox into its socket; when a write fails
//! (reset, broken pipe) it closes the socket, the reader sees the end of the
//! connection and the hub removes that one client.

use super::hub::{Event, Hub, Message, OUTBOX_CAPACITY};
use super::inbound::{Inbound, Outcome};
use super::protocol;
use crate::cli::Context;
use crate::net::{accept_until_shutdown, bind_tcp, is_timeout, SocketOptions};
use crate::output::announce_listening;
use crate::shutdown::Shutdown;
use crossbeam_channel::{Receiver, Sender};
use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{Shutdown as Direction, SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Stack size of the per-client threads: they need little, and 1000
/// clients mean 2000 threads.
const CLIENT_THREAD_STACK: usize = 128 * 1024;

/// How many events may wait for the hub before readers pause (and TCP
/// slows their senders down).
const EVENT_QUEUE: usize = 4096;

/// How long the server waits for its connection threads after Ctrl-C.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// The silence that counts as a client's pause after an ambiguous upload
/// header (see [`Inbound::settle`]).
const SETTLE_PAUSE: Duration = Duration::from_millis(100);

/// After this many pauses with no size fitting, an ambiguous header's
/// digits are all taken as the size.
const SETTLE_PAUSES: u32 = 5;

/// About how many bytes of piled-up messages a writer sends in one write.
const WRITE_BATCH: usize = 64 * 1024;

/// How long a refusal message may take to send to a client that is turned away.
const REFUSAL_TIMEOUT: Duration = Duration::from_millis(500);

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Where uploads are saved (`./server` in the seed); created if missing.
    pub upload_dir: PathBuf,
    /// Connections beyond this many are turned away with a message.
    pub max_clients: usize,
    /// The largest upload accepted, in bytes.
    pub max_upload: u64,
    /// A client whose outbox makes no progress for this long is disconnected.
    pub stall_timeout: Duration,
}

/// Shared by the accept loop and every connection.
struct Shared {
    config: ServerConfig,
    events: Sender<Event>,
    online: AtomicUsize,
    next_id: AtomicU64,
}

/// Held by a reader thread while its connection lives: counts it as online,
/// and its `alive` sender lets the server wait for every connection to end.
struct ConnectionGuard {
    shared: Arc<Shared>,
    _alive: Sender<()>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.shared.online.fetch_sub(1, Ordering::SeqCst);
    }
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
    let hub_state = Hub::new(config.stall_timeout)?;
    let hub = thread::Builder::new()
        .name("chat-hub".into())
        .spawn(move || hub_state.run(&hub_events, &hub_shutdown))?;

    let shared = Arc::new(Shared {
        config: config.clone(),
        events,
        online: AtomicUsize::new(0),
        next_id: AtomicU64::new(1),
    });
    let (alive, all_closed) = crossbeam_channel::bounded::<()>(0);
    let accepted = accept_until_shutdown(&listener, shutdown, |stream, peer| {
        admit(&shared, &alive, stream, peer);
        ControlFlow::Continue(())
    });
    // Wake the hub even if the accept loop stopped on an error.
    shutdown.trigger();
    if hub.join().is_err() {
        crate::warn!("error: the chat hub stopped unexpectedly");
    }
    drop(alive);
    let summary = ServerSummary {
        clients: shared.next_id.load(Ordering::SeqCst) - 1,
    };
    drop(shared);
    wait_for_connections(&all_closed);
    crate::say!("exit");
    crate::report!("Server stopped: {} client(s) served", summary.clients);
    accepted.map(|()| summary)
}

/// Waits (briefly) until every connection thread has dropped its `alive`
/// sender, so unfinished uploads are cleaned up before the process exits.
fn wait_for_connections(all_closed: &Receiver<()>) {
    let _ = all_closed.recv_timeout(DRAIN_TIME);
}

/// Starts serving a new connection, or turns it away when the server is full.
fn admit(shared: &Arc<Shared>, alive: &Sender<()>, stream: TcpStream, peer: SocketAddr) {
    let peer = protocol::peer_label(peer);
    let max = shared.config.max_clients;
    if shared.online.fetch_add(1, Ordering::SeqCst) >= max {
        shared.online.fetch_sub(1, Ordering::SeqCst);
        crate::warn!("! Refused {peer}: the server is full ({max} clients)");
        refuse(stream, &protocol::server_full(max));
        return;
    }
    let guard = ConnectionGuard {
        shared: Arc::clone(shared),
        _alive: alive.clone(),
    };
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    if let Err(e) = spawn_connection(guard, id, &peer, stream) {
        crate::warn!("! Cannot serve {peer}: {e}");
    }
}

/// Sends `line` to a client the server will not serve, then closes it.
fn refuse(mut stream: TcpStream, line: &str) {
    let _ = stream.set_write_timeout(Some(REFUSAL_TIMEOUT));
    let _ = stream.write_all(line.as_bytes());
    let _ = stream.shutdown(Direction::Both);
}

/// Spawns the writer and reader threads of one connection; they and the
/// hub share the one socket. If anything fails, the connection is dropped
/// (and closed) with the error.
fn spawn_connection(
    guard: ConnectionGuard,
    id: u64,
    peer: &str,
    stream: TcpStream,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let socket = Arc::new(stream);
    let writer_socket = Arc::clone(&socket);
    let (outbox, writer_queue) = crossbeam_channel::bounded(OUTBOX_CAPACITY);
    thread::Builder::new()
        .name(format!("chat-write-{id}"))
        .stack_size(CLIENT_THREAD_STACK)
        .spawn(move || write_to_client(&writer_socket, &writer_queue))?;
    let join = Event::Join {
        id,
        peer: peer.to_string(),
        outbox,
        socket: Arc::clone(&socket),
    };
    let peer = peer.to_string();
    // If this spawn fails, the closure (and with it the outbox) is dropped,
    // which ends the writer thread too.
    thread::Builder::new()
        .name(format!("chat-read-{id}"))
        .stack_size(CLIENT_THREAD_STACK)
        .spawn(move || read_from_client(guard, id, &peer, &socket, join))?;
    Ok(())
}

/// Copies the outbox into the socket. A message that finds the queue
/// otherwise empty — the usual case in a chat — goes out in its own write,
/// so a client that prints each read, like the seed's, shows it on its own
/// line. Messages that have piled up (a burst) go out together, about
/// [`WRITE_BATCH`] bytes per write, as TCP would likely have joined them
/// anyway. Ends when the hub drops the outbox or a write fails.
fn write_to_client(socket: &TcpStream, queue: &Receiver<Message>) {
    let mut writer = socket;
    while let Ok(first) = queue.recv() {
        let written = if queue.is_empty() {
            writer.write_all(&first)
        } else {
            let mut batch = first.to_vec();
            while batch.len() < WRITE_BATCH {
                match queue.try_recv() {
                    Ok(next) => batch.extend_from_slice(&next),
                    Err(_) => break,
                }
            }
            writer.write_all(&batch)
        };
        if written.is_err() {
            // Reset or broken pipe: closing makes the reader report the leave.
            let _ = socket.shutdown(Direction::Both);
            return;
        }
    }
}

/// Reads one client until its connection ends, turning its bytes into events.
fn read_from_client(guard: ConnectionGuard, id: u64, peer: &str, socket: &TcpStream, join: Event) {
    let events = &guard.shared.events;
    if events.send(join).is_err() {
        return;
    }
    let config = &guard.shared.config;
    let mut inbound = Inbound::new(&config.upload_dir, config.max_upload, &id.to_string());
    let prefix = protocol::chat_prefix(peer);
    let hub_alive = Cell::new(true);
    let mut emit = |outcome: Outcome<'_>| {
        let event = match outcome {
            Outcome::Chat(bytes) => Event::Chat {
                id,
                message: [prefix.as_bytes(), bytes].concat().into(),
            },
            Outcome::Uploaded(_) => Event::Uploaded { id },
            Outcome::Refused(line) => Event::Notice { id, line },
        };
        if events.send(event).is_err() {
            hub_alive.set(false);
        }
    };
    let mut reader = socket;
    let mut buffer = [0u8; protocol::READ_SIZE];
    let mut timeout_set = false;
    let mut pauses = 0;
    loop {
        // While an ambiguous upload header waits for the client to pause,
        // reads time out after a short silence.
        let settling = inbound.settling();
        if settling != timeout_set
            && socket
                .set_read_timeout(settling.then_some(SETTLE_PAUSE))
                .is_ok()
        {
            timeout_set = settling;
        }
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => {
                pauses = 0;
                inbound.feed(&buffer[..count], &mut emit);
            }
            Err(e) if is_timeout(&e) => {
                pauses += 1;
                inbound.settle(pauses >= SETTLE_PAUSES, &mut emit);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
        if !hub_alive.get() {
            break;
        }
    }
    // Whatever was held after an ambiguous header is all the client sent.
    inbound.settle(true, &mut emit);
    if let Some(note) = inbound.abandon() {
        crate::warn!("! {peer}: {note}");
    }
    let _ = events.send(Event::Leave { id });
}
