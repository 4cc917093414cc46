//! The hub: one thread that owns the list of clients, prints the server's
//! log and fans every message out.
//!
//! Reader threads send [`Event`]s on one channel; the hub handles them one
//! at a time, so the log, the user counts and the order every client sees
//! are consistent. For each recipient the hub puts the message on that
//! client's own bounded outbox, drained by the client's writer thread.
//!
//! The hub never blocks on a client. When an outbox is full the message
//! waits in a short overflow list of that client; the hub moves it on as
//! the writer catches up. A client whose outbox makes no progress for the
//! stall timeout, or whose overflow reaches [`MAX_OVERFLOW`], has stopped
//! reading: it is disconnected with a log line, and everyone else carries
//! on without losing a message.

use super::protocol;
use crate::shutdown::Shutdown;
use crossbeam_channel::{select, Receiver, Sender, TrySendError};
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::net::{Shutdown as Direction, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One message as it goes on the wire, shared by every recipient.
pub(crate) type Message = Arc<[u8]>;

/// How many messages a client's outbox holds before the overflow list is used.
pub(crate) const OUTBOX_CAPACITY: usize = 128;

/// How many messages may wait in a client's overflow list; one more and the
/// client is disconnected (at most about 4 MB, as a chat message is at most
/// one 4096-byte read plus its prefix).
pub(crate) const MAX_OVERFLOW: usize = 1024;

/// How often the hub retries full outboxes.
const RETRY_INTERVAL: Duration = Duration::from_millis(20);

/// What reader threads tell the hub. `id` identifies the connection.
pub(crate) enum Event {
    /// A client connected; its writer thread drains `outbox`, and `socket`
    /// lets the hub close the connection.
    Join {
        id: u64,
        peer: String,
        outbox: Sender<Message>,
        socket: TcpStream,
    },
    /// A chat message, already prefixed with `[ip:port] `.
    Chat { id: u64, message: Message },
    /// The client finished an upload.
    Uploaded { id: u64 },
    /// A line for this client only (an upload refused), also logged.
    Notice { id: u64, line: String },
    /// The client's connection ended.
    Leave { id: u64 },
}

/// A connected client as the hub sees it.
struct Member {
    peer: String,
    outbox: Sender<Message>,
    overflow: VecDeque<Message>,
    /// When the outbox last accepted a message while the overflow was in use.
    stalled_since: Option<Instant>,
    socket: TcpStream,
}

impl Member {
    /// Queues `message`; `false` if the client is too far behind.
    fn deliver(&mut self, message: Message) -> bool {
        if self.overflow.is_empty() {
            match self.outbox.try_send(message) {
                Ok(()) => return true,
                // The writer ended (its socket failed); the reader reports the leave.
                Err(TrySendError::Disconnected(_)) => return true,
                Err(TrySendError::Full(message)) => {
                    self.stalled_since = Some(Instant::now());
                    self.overflow.push_back(message);
                    return true;
                }
            }
        }
        self.overflow.push_back(message);
        self.overflow.len() <= MAX_OVERFLOW
    }

    /// Moves waiting messages into the outbox while it has room.
    fn retry(&mut self) {
        let mut moved = false;
        while let Some(message) = self.overflow.pop_front() {
            match self.outbox.try_send(message) {
                Ok(()) => moved = true,
                Err(TrySendError::Disconnected(_)) => {
                    self.overflow.clear();
                    break;
                }
                Err(TrySendError::Full(message)) => {
                    self.overflow.push_front(message);
                    break;
                }
            }
        }
        if self.overflow.is_empty() {
            self.stalled_since = None;
        } else if moved {
            self.stalled_since = Some(Instant::now());
        }
    }
}

/// The hub's state: the clients in the order they joined.
pub(crate) struct Hub {
    members: BTreeMap<u64, Member>,
    stall_timeout: Duration,
}

impl Hub {
    /// An empty hub that disconnects clients stalled for `stall_timeout`.
    pub(crate) fn new(stall_timeout: Duration) -> Hub {
        Hub {
            members: BTreeMap::new(),
            stall_timeout,
        }
    }

    /// Handles events until shutdown (or until every sender is gone), then
    /// closes every client's connection so they see EOF.
    pub(crate) fn run(mut self, events: &Receiver<Event>, shutdown: &Shutdown) {
        loop {
            let wait = if self.any_stalled() {
                RETRY_INTERVAL
            } else {
                Duration::from_secs(1)
            };
            select! {
                recv(events) -> event => match event {
                    Ok(event) => self.handle(event),
                    Err(_) => break,
                },
                recv(shutdown.receiver()) -> _ => break,
                default(wait) => {}
            }
            if self.any_stalled() {
                self.retry_stalled();
            }
        }
        for member in self.members.values() {
            let _ = member.socket.shutdown(Direction::Both);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Join {
                id,
                peer,
                outbox,
                socket,
            } => {
                let online = self.members.len() + 1;
                log(&protocol::new_user(&peer, online));
                let _ = outbox.try_send(text(&protocol::connected(online)));
                self.broadcast(id, text(&protocol::new_user(&peer, online)));
                self.members.insert(
                    id,
                    Member {
                        peer,
                        outbox,
                        overflow: VecDeque::new(),
                        stalled_since: None,
                        socket,
                    },
                );
            }
            Event::Chat { id, message } => {
                if self.members.contains_key(&id) {
                    log(&String::from_utf8_lossy(&message));
                    self.broadcast(id, message);
                }
            }
            Event::Uploaded { id } => {
                if let Some(member) = self.members.get(&id) {
                    let line = protocol::user_uploaded(&member.peer);
                    log(&line);
                    self.broadcast(id, text(&line));
                }
            }
            Event::Notice { id, line } => {
                if let Some(member) = self.members.get_mut(&id) {
                    log(&format!("! To {}: {line}", member.peer));
                    if !member.deliver(text(&line)) {
                        self.disconnect(id, "it stopped reading");
                    }
                }
            }
            Event::Leave { id } => {
                if let Some(member) = self.members.remove(&id) {
                    self.announce_leave(id, &member.peer);
                }
            }
        }
    }

    /// Sends `message` to every client but `from`.
    fn broadcast(&mut self, from: u64, message: Message) {
        let mut behind = Vec::new();
        for (&id, member) in self.members.iter_mut() {
            if id != from && !member.deliver(message.clone()) {
                behind.push(id);
            }
        }
        for id in behind {
            self.disconnect(id, "it fell too far behind");
        }
    }

    fn any_stalled(&self) -> bool {
        self.members.values().any(|m| m.stalled_since.is_some())
    }

    fn retry_stalled(&mut self) {
        let now = Instant::now();
        let mut stuck = Vec::new();
        for (&id, member) in self.members.iter_mut() {
            if member.stalled_since.is_none() {
                continue;
            }
            member.retry();
            if member
                .stalled_since
                .is_some_and(|since| now.duration_since(since) > self.stall_timeout)
            {
                stuck.push(id);
            }
        }
        let reason = format!(
            "it stopped reading for {:.1} s",
            self.stall_timeout.as_secs_f64()
        );
        for id in stuck {
            self.disconnect(id, &reason);
        }
    }

    /// Drops a client that does not keep up, logging why, and tells the others.
    fn disconnect(&mut self, id: u64, reason: &str) {
        if let Some(member) = self.members.remove(&id) {
            log(&format!("! Disconnected {}: {reason}", member.peer));
            let _ = member.socket.shutdown(Direction::Both);
            self.announce_leave(id, &member.peer);
        }
    }

    fn announce_leave(&mut self, id: u64, peer: &str) {
        let line = protocol::user_left(peer, self.members.len());
        log(&line);
        self.broadcast(id, text(&line));
    }
}

/// A line as a message (no terminator, as on the seed's wire).
fn text(line: &str) -> Message {
    Arc::from(line.as_bytes())
}

/// Prints one line of the server's log; a closed stdout must not stop the server.
fn log(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
