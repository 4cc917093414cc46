//! The connection lifecycle shared by every TCP server: admission under a
//! cap and a per-source share, eviction of the connection that has made the
//! least progress, an idle timeout, named threads and a bounded drain on
//! shutdown (see [`Lifecycle`]).

use crate::net::accept::write_all_checked;
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use crate::sync::{lock, wait_timeout};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The usual [`Limits::eviction_grace`].
pub const EVICTION_GRACE: Duration = Duration::from_secs(5);

/// How often the idle timeout is checked.
const REAPER_INTERVAL: Duration = Duration::from_millis(100);

/// How long [`Lifecycle::drain`] waits for threads once it has closed
/// their connections.
const DRAIN_JOIN_LIMIT: Duration = Duration::from_secs(2);

/// What a server does with a newcomer when it is full and no connection has
/// fallen behind far enough to be evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Close the newcomer at once.
    Refuse,
    /// Hold the newcomer (and the accept loop, so later ones wait in the
    /// listen backlog) until a connection ends or can be evicted.
    Wait,
}

/// The limits of a server's [`Lifecycle`]; every TCP server sets them from
/// `--max-clients`, `--max-per-source` and `--idle-timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_clients: usize,
    /// Connections served at once from one source address (IPv6: one /64).
    pub max_per_source: usize,
    /// A connection that moves no byte for this long is closed.
    pub idle_timeout: Duration,
    /// Bytes per second a connection must keep up to stay safe from
    /// eviction; slower ones fall behind.
    pub min_rate: u64,
    /// How far behind `min_rate` a connection must fall before it can be
    /// evicted for a newcomer. New connections start level, so a client
    /// gets this long to show progress; active ones never fall behind.
    pub eviction_grace: Duration,
    /// What to do with a newcomer when full and nobody can be evicted.
    pub when_full: WhenFull,
}

impl Limits {
    /// The usual limits: `max_clients` (at least 1), the per-source share of
    /// [`default_share`], `idle_timeout`, a minimum rate of 64 bytes per
    /// second, [`EVICTION_GRACE`], and refusing newcomers when nobody can be
    /// evicted.
    pub fn new(max_clients: usize, idle_timeout: Duration) -> Limits {
        let max_clients = max_clients.max(1);
        Limits {
            max_clients,
            max_per_source: default_share(max_clients),
            idle_timeout,
            min_rate: 64,
            eviction_grace: EVICTION_GRACE,
            when_full: WhenFull::Refuse,
        }
    }

    /// These limits with `--max-per-source` applied, if given (0 or `None`
    /// keeps the default share; more than the cap is the cap).
    pub fn with_share(mut self, max_per_source: Option<usize>) -> Limits {
        if let Some(share) = max_per_source.filter(|&share| share > 0) {
            self.max_per_source = share.min(self.max_clients);
        }
        self
    }
}

/// The default per-source share of a cap of `max_clients`: a quarter,
/// rounded up, but at least 8 (or the whole cap when it is smaller), so a
/// few tabs or a small lab behind one address still fit.
pub fn default_share(max_clients: usize) -> usize {
    max_clients.div_ceil(4).max(max_clients.min(8)).max(1)
}

/// Why the server closed a connection (rather than the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// It had made the least progress and a newcomer needed its place.
    Evicted,
    /// It moved no byte for the idle timeout.
    Idle(Duration),
    /// The server is stopping.
    Shutdown,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::Evicted => write!(f, "evicted (least progress) to admit a new client"),
            CloseReason::Idle(timeout) => write!(f, "idle for {} s", timeout.as_secs_f64()),
            CloseReason::Shutdown => write!(f, "the server is shutting down"),
        }
    }
}

/// Why a newcomer was not admitted (it has been closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Full, and no connection had fallen behind far enough to evict.
    Full {
        /// The cap.
        max_clients: usize,
    },
    /// Its source address already has its share of the connections.
    SourceShare {
        /// The per-source share.
        max_per_source: usize,
    },
    /// The server is stopping.
    ShuttingDown,
    /// The server cannot keep track of it (out of file descriptors).
    NoResources,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Full { max_clients } => {
                write!(f, "already serving {max_clients} clients, none evictable")
            }
            Refused::SourceShare { max_per_source } => write!(
                f,
                "its address already has {max_per_source} connections (--max-per-source)"
            ),
            Refused::ShuttingDown => write!(f, "the server is shutting down"),
            Refused::NoResources => write!(f, "no file descriptor left to track it"),
        }
    }
}

/// A newcomer's place in the [`Lifecycle`].
pub struct Admitted {
    /// The handle its thread reports progress through.
    pub conn: Conn,
    /// The connection evicted to make room, if one was.
    pub evicted: Option<SocketAddr>,
}

/// Milliseconds since the lifecycle started (monotonic).
type Millis = u64;

/// What a connection's thread and the lifecycle share: plain atomics, so
/// reporting progress costs a few uncontended atomic operations.
#[derive(Debug)]
struct Progress {
    /// Up to when the connection has "paid" at [`Limits::min_rate`]: each
    /// byte moves it on by `1/min_rate` s, never past now and never from
    /// further back than twice the eviction grace. `now - paid_until` is
    /// how far behind it is: an idle connection falls further behind every
    /// second, one trickling under the minimum rate settles about twice the
    /// grace behind, one keeping up stays level.
    paid_until: AtomicU64,
    /// When it last moved a byte.
    last_byte: AtomicU64,
    /// `0` while open, else the [`CloseReason`] code.
    closed: AtomicU8,
}

impl Progress {
    fn new(now: Millis) -> Progress {
        Progress {
            paid_until: AtomicU64::new(now),
            last_byte: AtomicU64::new(now),
            closed: AtomicU8::new(0),
        }
    }

    /// Records `bytes` moved at `now`, paid for at `limits.min_rate`.
    fn record(&self, bytes: u64, now: Millis, limits: &Limits) {
        if bytes == 0 {
            return;
        }
        self.last_byte.fetch_max(now, Ordering::Relaxed);
        let earned = bytes.saturating_mul(1000) / limits.min_rate.max(1);
        let floor = now.saturating_sub(2 * limits.eviction_grace.as_millis() as u64);
        let _ = self
            .paid_until
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |paid| {
                Some(paid.max(floor).saturating_add(earned).min(now))
            });
    }

    /// How far behind the minimum rate the connection is at `now`.
    fn behind(&self, now: Millis) -> Millis {
        now.saturating_sub(self.paid_until.load(Ordering::Relaxed))
    }

    /// How long it has moved nothing, at `now`.
    fn idle(&self, now: Millis) -> Millis {
        now.saturating_sub(self.last_byte.load(Ordering::Relaxed))
    }
}

/// Encodes a [`CloseReason`] for [`Progress::closed`] (the idle timeout is
/// in the limits, so only the kind is stored).
fn reason_code(reason: CloseReason) -> u8 {
    match reason {
        CloseReason::Evicted => 1,
        CloseReason::Idle(_) => 2,
        CloseReason::Shutdown => 3,
    }
}

/// A registered connection as the lifecycle sees it.
struct Entry {
    source: IpAddr,
    peer: SocketAddr,
    progress: Arc<Progress>,
    /// A clone of the socket, to wake the connection's thread when closing.
    socket: TcpStream,
}

/// One candidate for eviction: its id, its source, how far behind it is.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    id: u64,
    source: IpAddr,
    behind: Millis,
}

/// Chooses the connection to evict: among those at least `grace` behind
/// the minimum rate, the one furthest behind (counted in whole seconds),
/// then the one whose source holds the most connections, then the one
/// furthest behind exactly. `None` when every connection is keeping up.
fn choose_victim(candidates: &[Candidate], grace: Duration) -> Option<u64> {
    let grace = grace.as_millis() as u64;
    let mut per_source: HashMap<IpAddr, usize> = HashMap::new();
    for candidate in candidates {
        *per_source.entry(candidate.source).or_default() += 1;
    }
    candidates
        .iter()
        .filter(|c| c.behind >= grace)
        .max_by_key(|c| (c.behind / 1000, per_source[&c.source], c.behind))
        .map(|c| c.id)
}

/// The address a per-source share is counted for: IPv4 addresses as they
/// are (also when mapped into IPv6), IPv6 addresses by their /64 prefix,
/// which one host or site usually holds whole.
fn source_of(peer: SocketAddr) -> IpAddr {
    match peer.ip().to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

struct Registry {
    entries: HashMap<u64, Entry>,
    next_id: u64,
    /// Set by [`Lifecycle::drain`]: the reaper stops.
    stopping: bool,
}

impl Registry {
    /// Registers `entry` under a new id.
    fn insert(&mut self, entry: Entry) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.entries.insert(id, entry);
        id
    }
}

/// What admitting a newcomer takes at the moment.
enum Room {
    /// There is a place for it.
    Free,
    /// Evicting this connection makes one.
    Evict(u64),
    /// Full, and nobody can be evicted: wait ([`WhenFull::Wait`]).
    Wait,
}

struct LifecycleShared {
    limits: Limits,
    epoch: Instant,
    registry: Mutex<Registry>,
    /// Notified whenever a connection leaves the registry.
    changed: Condvar,
}

impl LifecycleShared {
    fn now(&self) -> Millis {
        self.epoch.elapsed().as_millis() as Millis
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        lock(&self.registry)
    }

    /// Whether a newcomer from `source` fits, whom to evict for it, or
    /// whether to wait; or why it is refused.
    fn room_for(&self, registry: &Registry, source: IpAddr) -> Result<Room, Refused> {
        let limits = self.limits;
        let same_source = registry
            .entries
            .values()
            .filter(|entry| entry.source == source)
            .count();
        let at_share = same_source >= limits.max_per_source;
        let full = registry.entries.len() >= limits.max_clients;
        if !at_share && !full {
            return Ok(Room::Free);
        }
        // A source at its share may only displace its own connections.
        let now = self.now();
        let candidates: Vec<Candidate> = registry
            .entries
            .iter()
            .filter(|(_, entry)| !at_share || entry.source == source)
            .map(|(&id, entry)| Candidate {
                id,
                source: entry.source,
                behind: entry.progress.behind(now),
            })
            .collect();
        if let Some(victim) = choose_victim(&candidates, limits.eviction_grace) {
            return Ok(Room::Evict(victim));
        }
        if !full {
            return Err(Refused::SourceShare {
                max_per_source: limits.max_per_source,
            });
        }
        match limits.when_full {
            WhenFull::Refuse => Err(Refused::Full {
                max_clients: limits.max_clients,
            }),
            WhenFull::Wait => Ok(Room::Wait),
        }
    }

    /// Closes and forgets connection `id` (see [`close_entry`]).
    fn close(&self, registry: &mut Registry, id: u64, reason: CloseReason) -> Option<SocketAddr> {
        let entry = registry.entries.remove(&id)?;
        close_entry(&entry, reason);
        self.changed.notify_all();
        Some(entry.peer)
    }

    /// Closes every connection idle for the idle timeout.
    fn reap_idle(&self) {
        let timeout = self.limits.idle_timeout;
        let limit = timeout.as_millis() as Millis;
        let now = self.now();
        let mut registry = self.registry();
        let idle: Vec<u64> = registry
            .entries
            .iter()
            .filter(|(_, entry)| entry.progress.idle(now) >= limit)
            .map(|(&id, _)| id)
            .collect();
        for id in idle {
            self.close(&mut registry, id, CloseReason::Idle(timeout));
        }
    }
}

/// Marks the connection closed, then wakes its thread by shutting down the
/// read side of the socket, which makes a blocked read return end of
/// stream. Nothing is sent to the peer until the thread drops its socket
/// (a server whose protocol must not let that close look like a clean end,
/// as a file transfer, arms [`reset_on_close`] itself).
fn close_entry(entry: &Entry, reason: CloseReason) {
    let _ = entry.progress.closed.compare_exchange(
        0,
        reason_code(reason),
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let _ = entry.socket.shutdown(std::net::Shutdown::Read);
}

/// One connection lifecycle for a thread-per-connection TCP server:
/// admission under a cap and a per-source share, eviction of the connection
/// that has made the least progress when full, an idle timeout, named
/// threads, and a bounded drain on shutdown.
///
/// ```text
/// accept ─► admit ──► source at its share? ─► evict its own connection furthest
///                 │                           behind min_rate (≥ grace), else refuse
///                 └─► full? ─► evict the one furthest behind min_rate (≥ grace)
///                          └─► nobody behind: refuse (or wait, WhenFull::Wait)
///           spawn ─► thread: serve(conn) ── conn.record(bytes) after each read/write
/// reaper thread: closes connections idle for the idle timeout
/// drain: wait out the grace, close the rest, join within a bounded time
/// ```
///
/// Closing a connection (eviction, idle timeout, drain) marks its [`Conn`]
/// closed and shuts down the read side of its socket, so its thread wakes
/// from a blocked read with end of stream; [`Conn::closed`] tells it that
/// the end was the server's doing, not the client's.
pub struct Lifecycle {
    shared: Arc<LifecycleShared>,
    threads: Vec<JoinHandle<()>>,
    reaper: Option<JoinHandle<()>>,
}

impl Lifecycle {
    /// A lifecycle with `limits`; starts its reaper thread, named after
    /// `server` (for example `a3-dual-reaper`).
    pub fn new(limits: Limits, server: &str) -> io::Result<Lifecycle> {
        let shared = Arc::new(LifecycleShared {
            limits,
            epoch: Instant::now(),
            registry: Mutex::new(Registry {
                entries: HashMap::new(),
                next_id: 1,
                stopping: false,
            }),
            changed: Condvar::new(),
        });
        let for_reaper = Arc::clone(&shared);
        let interval = (limits.idle_timeout / 4).clamp(Duration::from_millis(10), REAPER_INTERVAL);
        let reaper = std::thread::Builder::new()
            .name(format!("{server}-reaper"))
            .spawn(move || loop {
                {
                    let registry = for_reaper.registry();
                    if registry.stopping {
                        return;
                    }
                    drop(wait_timeout(&for_reaper.changed, registry, interval));
                }
                for_reaper.reap_idle();
            })?;
        Ok(Lifecycle {
            shared,
            threads: Vec::new(),
            reaper: Some(reaper),
        })
    }

    /// How many connections are registered.
    pub fn open(&self) -> usize {
        self.shared.registry().entries.len()
    }

    /// Admits `stream` from `peer`, or says why not (the caller then closes
    /// it, perhaps after a message). When full, evicts the connection that
    /// has made the least progress; if none has fallen [`Limits::eviction_grace`]
    /// behind, refuses, or with [`WhenFull::Wait`] waits (until shutdown).
    pub fn admit(
        &self,
        stream: &TcpStream,
        peer: SocketAddr,
        shutdown: &Shutdown,
    ) -> Result<Admitted, Refused> {
        let source = source_of(peer);
        let socket = stream.try_clone().map_err(|_| Refused::NoResources)?;
        let mut registry = self.shared.registry();
        let mut evicted = None;
        loop {
            if shutdown.is_triggered() || registry.stopping {
                return Err(Refused::ShuttingDown);
            }
            match self.shared.room_for(&registry, source)? {
                Room::Free => break,
                Room::Evict(victim) => {
                    evicted = self
                        .shared
                        .close(&mut registry, victim, CloseReason::Evicted);
                }
                Room::Wait => {
                    registry = wait_timeout(&self.shared.changed, registry, POLL_INTERVAL);
                }
            }
        }
        let progress = Arc::new(Progress::new(self.shared.now()));
        let id = registry.insert(Entry {
            source,
            peer,
            progress: Arc::clone(&progress),
            socket,
        });
        Ok(Admitted {
            conn: Conn {
                shared: Arc::clone(&self.shared),
                id,
                progress,
            },
            evicted,
        })
    }

    /// Runs `serve(conn)` on a new thread made by `thread` (give it a name,
    /// and a stack size if the default is too big). If the system cannot
    /// start a thread, the error comes back and the connection is dropped
    /// (with `serve`), so the server can say so and keep accepting.
    pub fn spawn(
        &mut self,
        thread: std::thread::Builder,
        conn: Conn,
        serve: impl FnOnce(Conn) + Send + 'static,
    ) -> io::Result<()> {
        self.threads.retain(|thread| !thread.is_finished());
        self.threads.push(thread.spawn(move || serve(conn))?);
        Ok(())
    }

    /// Ends the lifecycle once the server has stopped accepting: lets the
    /// connections finish on their own for up to `grace`, closes the rest
    /// ([`CloseReason::Shutdown`]), and joins their threads within a bounded
    /// time. Returns how many threads were still running when it gave up.
    pub fn drain(mut self, grace: Duration) -> usize {
        let shared = Arc::clone(&self.shared);
        let wait_until_empty = |limit: Duration| {
            let until = Instant::now() + limit;
            let mut registry = shared.registry();
            while !registry.entries.is_empty() {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                registry = wait_timeout(&shared.changed, registry, left);
            }
        };
        wait_until_empty(grace);
        {
            let mut registry = shared.registry();
            registry.stopping = true;
            let ids: Vec<u64> = registry.entries.keys().copied().collect();
            for id in ids {
                shared.close(&mut registry, id, CloseReason::Shutdown);
            }
            shared.changed.notify_all();
        }
        if let Some(reaper) = self.reaper.take() {
            let _ = reaper.join();
        }
        let until = Instant::now() + DRAIN_JOIN_LIMIT;
        while Instant::now() < until && self.threads.iter().any(|t| !t.is_finished()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let (finished, running): (Vec<_>, Vec<_>) =
            self.threads.drain(..).partition(|t| t.is_finished());
        for thread in finished {
            // A panicking connection thread has already reported itself.
            let _ = thread.join();
        }
        running.len()
    }
}

impl Drop for Lifecycle {
    fn drop(&mut self) {
        self.shared.registry().stopping = true;
        self.shared.changed.notify_all();
    }
}

/// A connection's handle on the [`Lifecycle`], owned by its thread: report
/// progress with [`Conn::record`], ask [`Conn::closed`] when the stream
/// ends. Dropping it gives the connection's place back.
pub struct Conn {
    shared: Arc<LifecycleShared>,
    id: u64,
    progress: Arc<Progress>,
}

impl Conn {
    /// A number for the connection, unique within the lifecycle (1, 2, …).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Records that `bytes` were read from or written to the connection.
    pub fn record(&self, bytes: usize) {
        self.progress
            .record(bytes as u64, self.shared.now(), &self.shared.limits);
    }

    /// Why the server closed the connection, if it did (evicted, idle,
    /// shutting down). A read that returns end of stream while this is
    /// `Some` was woken by the server, not ended by the client.
    pub fn closed(&self) -> Option<CloseReason> {
        match self.progress.closed.load(Ordering::SeqCst) {
            0 => None,
            1 => Some(CloseReason::Evicted),
            2 => Some(CloseReason::Idle(self.shared.limits.idle_timeout)),
            _ => Some(CloseReason::Shutdown),
        }
    }

    /// `write_all` for a connection: like
    /// [`write_all_until_shutdown`](crate::net::write_all_until_shutdown), it
    /// needs the stream's write timeout set (to [`POLL_INTERVAL`]); it also
    /// records progress and gives up (`ConnectionAborted`) once the server
    /// has closed the connection.
    pub fn write_all(
        &self,
        stream: &mut TcpStream,
        bytes: &[u8],
        stall_limit: Duration,
        shutdown: &Shutdown,
    ) -> io::Result<()> {
        write_all_checked(stream, bytes, stall_limit, shutdown, |written| {
            self.record(written);
            match self.closed() {
                Some(reason) => Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    reason.to_string(),
                )),
                None => Ok(()),
            }
        })
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let mut registry = self.shared.registry();
        if registry.entries.remove(&self.id).is_some() {
            self.shared.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{bind_tcp, SocketOptions};
    use socket2::{Domain, Socket, Type};
    use std::io::Read;
    use std::net::TcpListener;

    fn candidate(id: u64, source: [u8; 4], behind: Millis) -> Candidate {
        Candidate {
            id,
            source: IpAddr::from(source),
            behind,
        }
    }

    #[test]
    fn the_connection_furthest_behind_is_evicted() {
        let grace = Duration::from_secs(5);
        let candidates = [
            candidate(1, [127, 0, 0, 2], 0),      // keeping up
            candidate(2, [127, 0, 0, 3], 10_500), // trickling
            candidate(3, [127, 0, 0, 4], 42_000), // idle for long
            candidate(4, [127, 0, 0, 5], 4_999),  // not yet behind enough
        ];
        assert_eq!(choose_victim(&candidates, grace), Some(3));
        assert_eq!(choose_victim(&candidates[..2], grace), Some(2));
        // Nobody is behind by the grace: nobody may be evicted.
        assert_eq!(choose_victim(&[candidates[0], candidates[3]], grace), None);
        assert_eq!(choose_victim(&[], grace), None);
    }

    #[test]
    fn among_equally_idle_the_busiest_source_loses_one() {
        let grace = Duration::from_secs(5);
        // Within the same second behind, the source holding more
        // connections gives one up, even if slightly less behind.
        let candidates = [
            candidate(1, [127, 0, 0, 1], 9_900),
            candidate(2, [127, 0, 0, 2], 9_100),
            candidate(3, [127, 0, 0, 2], 9_200),
        ];
        assert_eq!(choose_victim(&candidates, grace), Some(3));
    }

    #[test]
    fn progress_tells_idle_trickling_and_active_apart() {
        let limits = Limits::new(4, Duration::from_secs(60));
        let grace = limits.eviction_grace.as_millis() as Millis;
        let (idle, trickle, active) = (Progress::new(0), Progress::new(0), Progress::new(0));
        // One minute: the trickler sends 1 byte every 2 s, the active one
        // 1000 bytes every 100 ms, the idle one nothing.
        for now in (100..=60_000).step_by(100) {
            if now % 2000 == 0 {
                trickle.record(1, now, &limits);
            }
            active.record(1000, now, &limits);
        }
        let now = 60_000;
        assert_eq!(idle.behind(now), 60_000);
        assert_eq!(active.behind(now), 0);
        // Trickling settles about twice the grace behind: evictable, but
        // always before the idle one.
        let behind = trickle.behind(now);
        assert!(behind >= grace && behind <= 2 * grace, "{behind}");
        assert_eq!(trickle.idle(now), 0);
        assert_eq!(idle.idle(now), 60_000);
        // A burst catches up at once.
        trickle.record(1 << 20, now, &limits);
        assert_eq!(trickle.behind(now), 0);
    }

    #[test]
    fn shares_and_seconds() {
        assert_eq!(default_share(1), 1);
        assert_eq!(default_share(2), 2);
        assert_eq!(default_share(16), 8);
        assert_eq!(default_share(64), 16);
        assert_eq!(default_share(1024), 256);
        assert_eq!(
            Limits::new(64, Duration::ZERO)
                .with_share(Some(100))
                .max_per_source,
            64
        );
        assert_eq!(
            Limits::new(64, Duration::ZERO)
                .with_share(Some(0))
                .max_per_source,
            16
        );
        let v6 = |text: &str| source_of(SocketAddr::new(text.parse().unwrap(), 1));
        assert_eq!(v6("2001:db8::1"), v6("2001:db8::ffff:2"));
        assert_ne!(v6("2001:db8::1"), v6("2001:db8:0:1::1"));
        assert_eq!(v6("::ffff:127.0.0.2"), v6("127.0.0.2"));
    }

    /// A listener, and a connection to it from `source`, accepted.
    fn connect_from(listener: &TcpListener, source: [u8; 4]) -> (TcpStream, TcpStream, SocketAddr) {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket.bind(&SocketAddr::from((source, 0)).into()).unwrap();
        socket
            .connect(&listener.local_addr().unwrap().into())
            .unwrap();
        let (accepted, peer) = listener.accept().unwrap();
        (socket.into(), accepted, peer)
    }

    #[test]
    fn lifecycle_evicts_refuses_and_drains() {
        let listener = bind_tcp("127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
        let shutdown = Shutdown::new();
        let limits = Limits {
            max_per_source: 2,
            eviction_grace: Duration::from_millis(200),
            ..Limits::new(4, Duration::from_secs(30))
        };
        let lifecycle = Lifecycle::new(limits, "test").unwrap();
        let (_c1, s1, p1) = connect_from(&listener, [127, 0, 0, 1]);
        let first = lifecycle.admit(&s1, p1, &shutdown).unwrap();
        let (_c2, s2, p2) = connect_from(&listener, [127, 0, 0, 2]);
        let second = lifecycle.admit(&s2, p2, &shutdown).unwrap();
        let (_c3, s3, p3) = connect_from(&listener, [127, 0, 0, 2]);
        let third = lifecycle.admit(&s3, p3, &shutdown).unwrap();
        assert_eq!(lifecycle.open(), 3);

        // At its source's share, and its connections are fresh: refused,
        // though there is room.
        let (_c4, s4, p4) = connect_from(&listener, [127, 0, 0, 2]);
        assert_eq!(
            lifecycle.admit(&s4, p4, &shutdown).err(),
            Some(Refused::SourceShare { max_per_source: 2 })
        );
        let (_c6, s6, p6) = connect_from(&listener, [127, 0, 0, 4]);
        let sixth = lifecycle.admit(&s6, p6, &shutdown).unwrap();
        // Full, and everybody is fresh: refused.
        let (_c5, s5, p5) = connect_from(&listener, [127, 0, 0, 3]);
        assert_eq!(
            lifecycle.admit(&s5, p5, &shutdown).err(),
            Some(Refused::Full { max_clients: 4 })
        );
        // Once the grace has passed, the one that kept quiet is evicted;
        // the others kept sending.
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(60));
            second.conn.record(100);
            third.conn.record(100);
            sixth.conn.record(100);
        }
        let fourth = lifecycle.admit(&s5, p5, &shutdown).unwrap();
        assert_eq!(fourth.evicted, Some(p1));
        assert_eq!(first.conn.closed(), Some(CloseReason::Evicted));
        assert_eq!(second.conn.closed(), None);
        // The evicted connection's blocked read wakes with end of stream.
        let mut buffer = [0u8; 8];
        assert_eq!((&s1).read(&mut buffer).unwrap(), 0);
        assert_eq!(lifecycle.open(), 4);
        // A source at its share may displace its own idle connection.
        std::thread::sleep(Duration::from_millis(450));
        second.conn.record(100);
        let replaced = lifecycle.admit(&s4, p4, &shutdown).unwrap();
        assert_eq!(replaced.evicted, Some(p3));
        assert_eq!(third.conn.closed(), Some(CloseReason::Evicted));
        assert_eq!(second.conn.closed(), None);
        // A connection that ends gives its place back.
        drop(replaced);
        assert_eq!(lifecycle.open(), 3);

        // Shutdown closes the rest and joins their threads.
        let mut lifecycle = lifecycle;
        let waiter = second.conn;
        let thread = std::thread::Builder::new().name("test-conn".into());
        lifecycle
            .spawn(thread, fourth.conn, move |conn| {
                let mut buffer = [0u8; 8];
                while (&s5).read(&mut buffer).unwrap_or(0) > 0 {}
                assert_eq!(conn.closed(), Some(CloseReason::Shutdown));
            })
            .unwrap();
        let started = Instant::now();
        assert_eq!(lifecycle.drain(Duration::ZERO), 0);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(waiter.closed(), Some(CloseReason::Shutdown));
    }

    #[test]
    fn lifecycle_closes_idle_connections() {
        let listener = bind_tcp("127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
        let shutdown = Shutdown::new();
        let lifecycle = Lifecycle::new(Limits::new(4, Duration::from_millis(300)), "test").unwrap();
        let (_client, stream, peer) = connect_from(&listener, [127, 0, 0, 1]);
        let admitted = lifecycle.admit(&stream, peer, &shutdown).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let started = Instant::now();
        let mut buffer = [0u8; 8];
        assert_eq!((&stream).read(&mut buffer).unwrap(), 0);
        assert!(started.elapsed() >= Duration::from_millis(250));
        assert_eq!(
            admitted.conn.closed(),
            Some(CloseReason::Idle(Duration::from_millis(300)))
        );
        assert_eq!(lifecycle.open(), 0);
    }

    #[test]
    fn a_waiting_lifecycle_admits_once_a_place_frees() {
        let listener = bind_tcp("127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
        let shutdown = Shutdown::new();
        let limits = Limits {
            when_full: WhenFull::Wait,
            ..Limits::new(1, Duration::from_secs(30))
        };
        let lifecycle = Lifecycle::new(limits, "test").unwrap();
        let (_c1, s1, p1) = connect_from(&listener, [127, 0, 0, 1]);
        let first = lifecycle.admit(&s1, p1, &shutdown).unwrap();
        let ender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            first.conn.record(10);
            drop(first);
        });
        let (_c2, s2, p2) = connect_from(&listener, [127, 0, 0, 2]);
        let started = Instant::now();
        let second = lifecycle.admit(&s2, p2, &shutdown).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert_eq!(second.evicted, None);
        ender.join().unwrap();
        // Shutdown ends a wait.
        let (_c3, s3, p3) = connect_from(&listener, [127, 0, 0, 3]);
        shutdown.trigger();
        assert_eq!(
            lifecycle.admit(&s3, p3, &shutdown).err(),
            Some(Refused::ShuttingDown)
        );
    }
}
