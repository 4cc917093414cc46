//! The hub: one thread that owns the list of clients, prints the server's
//! log and fans every message out.
//!
//! Reader threads send [`Event`]s on one channel; the hub handles them one
//! at a time, so the log, the user counts and the order every client sees
//! are consistent. For each recipient the hub puts the message on that
//! client's own bounded outbox, drained by the client's writer thread.
//!
//! The hub never blocks on a client. When an outbox is full the message
//! waits in an overflow list of that client; the hub moves it on as
//! the writer catches up. A client whose outbox makes no progress for the
//! stall timeout, or whose overflow reaches [`MAX_OVERFLOW`], has stopped
//! reading: it is disconnected with a log line, and everyone else carries
//! on without losing a message.

use super::protocol;
use crate::shutdown::Shutdown;
use crossbeam_channel::{select, Receiver, Sender, TrySendError};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{Shutdown as Direction, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// One message as it goes on the wire, shared by every recipient.
pub(crate) type Message = Arc<[u8]>;

/// How many messages a client's outbox holds before the overflow list is used.
pub(crate) const OUTBOX_CAPACITY: usize = 128;

/// How many messages may wait in a client's overflow list; one more and the
/// client is disconnected. A memory guard against floods: at most about
/// 16 MB, as a chat message is at most one 4096-byte read plus its prefix,
/// and messages are shared by all recipients. Normally the stall timeout
/// acts first.
pub(crate) const MAX_OVERFLOW: usize = 4096;

/// How often the hub retries full outboxes.
const RETRY_INTERVAL: Duration = Duration::from_millis(20);

/// How many log lines may wait for stdout before lines are dropped.
const LOG_QUEUE: usize = 16 * 1024;

/// What reader threads tell the hub. `id` identifies the connection.
pub(crate) enum Event {
    /// A client connected; its writer thread drains `outbox`, and `socket`
    /// lets the hub close the connection.
    Join {
        id: u64,
        peer: String,
        outbox: Sender<Message>,
        socket: Arc<TcpStream>,
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
    socket: Arc<TcpStream>,
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
    log: Log,
}

impl Hub {
    /// An empty hub that disconnects clients stalled for `stall_timeout`.
    pub(crate) fn new(stall_timeout: Duration) -> io::Result<Hub> {
        Ok(Hub {
            members: BTreeMap::new(),
            stall_timeout,
            log: Log::start()?,
        })
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
                self.log.line(&protocol::new_user(&peer, online));
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
                    self.log.line(&String::from_utf8_lossy(&message));
                    self.broadcast(id, message);
                }
            }
            Event::Uploaded { id } => {
                if let Some(member) = self.members.get(&id) {
                    let line = protocol::user_uploaded(&member.peer);
                    self.log.line(&line);
                    self.broadcast(id, text(&line));
                }
            }
            Event::Notice { id, line } => {
                if let Some(member) = self.members.get_mut(&id) {
                    self.log.line(&format!("! To {}: {line}", member.peer));
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
            self.log
                .line(&format!("! Disconnected {}: {reason}", member.peer));
            let _ = member.socket.shutdown(Direction::Both);
            self.announce_leave(id, &member.peer);
        }
    }

    fn announce_leave(&mut self, id: u64, peer: &str) {
        let line = protocol::user_left(peer, self.members.len());
        self.log.line(&line);
        self.broadcast(id, text(&line));
    }
}

/// A line as a message (no terminator, as on the seed's wire).
fn text(line: &str) -> Message {
    Arc::from(line.as_bytes())
}

/// The server's log on stdout, printed by its own thread so that a slow or
/// stuck stdout never holds up the chat: when the queue is full, lines are
/// dropped and counted, and the count is logged once there is room again.
struct Log {
    queue: Option<Sender<String>>,
    printer: Option<thread::JoinHandle<()>>,
    dropped: u64,
}

impl Log {
    fn start() -> io::Result<Log> {
        let (queue, lines) = crossbeam_channel::bounded::<String>(LOG_QUEUE);
        let printer = thread::Builder::new()
            .name("chat-log".into())
            .spawn(move || {
                for line in lines {
                    crate::say!("{line}");
                }
            })?;
        Ok(Log {
            queue: Some(queue),
            printer: Some(printer),
            dropped: 0,
        })
    }

    /// Queues one line, or counts it as dropped if stdout is far behind.
    fn line(&mut self, line: &str) {
        let Some(queue) = &self.queue else {
            return;
        };
        if self.dropped > 0 {
            let note = format!("! {} log lines dropped: stdout is too slow", self.dropped);
            if queue.try_send(note).is_err() {
                self.dropped += 1;
                return;
            }
            self.dropped = 0;
        }
        if queue.try_send(line.to_string()).is_err() {
            self.dropped += 1;
        }
    }
}

impl Drop for Log {
    /// Prints what is queued before the hub (and the server) finishes.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(printer) = self.printer.take() {
            let _ = printer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connected socket for a member (the hub only uses it to close).
    fn socket() -> TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        drop(listener.accept().unwrap());
        client
    }

    fn join(hub: &mut Hub, id: u64) -> Receiver<Message> {
        let (outbox, queue) = crossbeam_channel::bounded(OUTBOX_CAPACITY);
        hub.handle(Event::Join {
            id,
            peer: format!("127.0.0.1:{id}"),
            outbox,
            socket: Arc::new(socket()),
        });
        queue
    }

    fn drain(queue: &Receiver<Message>) -> Vec<String> {
        queue
            .try_iter()
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .collect()
    }

    fn chat(hub: &mut Hub, id: u64, text: &str) {
        hub.handle(Event::Chat {
            id,
            message: Arc::from(format!("[127.0.0.1:{id}] {text}").as_bytes()),
        });
    }

    #[test]
    fn joins_chat_and_leaves_reach_everyone_else() {
        let mut hub = Hub::new(Duration::from_secs(5)).unwrap();
        let first = join(&mut hub, 1);
        assert_eq!(
            drain(&first),
            ["> Connected to the chat server (1 user online)"]
        );
        let second = join(&mut hub, 2);
        assert_eq!(
            drain(&first),
            ["> New user 127.0.0.1:2 entered (2 users online)"]
        );
        assert_eq!(
            drain(&second),
            ["> Connected to the chat server (2 users online)"]
        );
        chat(&mut hub, 1, "Hello");
        assert_eq!(drain(&first), Vec::<String>::new());
        assert_eq!(drain(&second), ["[127.0.0.1:1] Hello"]);
        hub.handle(Event::Uploaded { id: 2 });
        hub.handle(Event::Leave { id: 2 });
        assert_eq!(
            drain(&first),
            [
                "> User 127.0.0.1:2 has uploaded a file",
                "< The user 127.0.0.1:2 left (1 user online)"
            ]
        );
        // Events from a client that already left are ignored.
        chat(&mut hub, 2, "ghost");
        assert!(drain(&first).is_empty());
    }

    #[test]
    fn a_slow_reader_loses_nothing_while_it_catches_up() {
        let mut hub = Hub::new(Duration::from_secs(5)).unwrap();
        let slow = join(&mut hub, 1);
        let _talker = join(&mut hub, 2);
        drain(&slow);
        let total = OUTBOX_CAPACITY + 100;
        for n in 0..total {
            chat(&mut hub, 2, &n.to_string());
        }
        assert!(hub.any_stalled());
        let mut seen = drain(&slow);
        while seen.len() < total {
            hub.retry_stalled();
            seen.extend(drain(&slow));
        }
        assert!(!hub.any_stalled());
        let expected: Vec<String> = (0..total).map(|n| format!("[127.0.0.1:2] {n}")).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_client_that_stops_reading_is_disconnected_after_the_timeout() {
        let mut hub = Hub::new(Duration::from_millis(50)).unwrap();
        let _stuck = join(&mut hub, 1);
        let other = join(&mut hub, 2);
        for n in 0..=OUTBOX_CAPACITY {
            chat(&mut hub, 2, &n.to_string());
        }
        hub.retry_stalled();
        assert!(hub.members.contains_key(&1), "disconnected too early");
        thread::sleep(Duration::from_millis(80));
        hub.retry_stalled();
        assert!(!hub.members.contains_key(&1));
        assert!(drain(&other).contains(&"< The user 127.0.0.1:1 left (1 user online)".to_string()));
    }

    #[test]
    fn a_client_too_far_behind_is_disconnected_at_once() {
        let mut hub = Hub::new(Duration::from_secs(60)).unwrap();
        let _stuck = join(&mut hub, 1);
        let _other = join(&mut hub, 2);
        for n in 0..OUTBOX_CAPACITY + MAX_OVERFLOW + 1 {
            chat(&mut hub, 2, &n.to_string());
        }
        assert!(!hub.members.contains_key(&1));
        assert!(hub.members.contains_key(&2));
    }
}
