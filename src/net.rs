//! Socket plumbing shared by the assignments: resolving `HOST PORT`, binding
//! with explicit buffer sizes (the one thing std cannot do, hence `socket2`),
//! an accept loop that stops on shutdown and backs off when `accept` fails,
//! a UDP receive that stops on shutdown too, and [`Lifecycle`]: the one
//! connection lifecycle of every TCP server (a cap, a per-source share,
//! eviction of the connection that has made the least progress, an idle
//! timeout, named threads and a bounded drain on shutdown).
//!
//! Listeners bound to the IPv6 wildcard `::` are dual-stack (`IPV6_V6ONLY`
//! off unless asked otherwise), so a server started without `--bind` takes
//! IPv4 and IPv6 clients; the IPv4 peers it sees (`::ffff:127.0.0.1`) are
//! reported as plain IPv4 ([`canonical`]), as the seeds print them.
//!
//! Clients: [`connect_first`] connects to the first address a name resolves
//! to that answers; [`connect_udp`] gives a *connected* UDP socket, so an
//! ICMP port-unreachable ends a run at once ([`recv_connected`] reports it
//! as [`no_server`]).

pub mod offload;

use crate::cli::Context;
use crate::output::warn;
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket,
};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Resolves `host` and `port` to the first address the system returns; the
/// error names what failed (`cannot resolve host "x": ...`).
pub fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    let mut addrs = (host, port)
        .to_socket_addrs()
        .context(|| format!("cannot resolve host {host:?}"))?;
    addrs.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("host {host:?} has no address"),
        )
    })
}

/// Socket options for [`bind_udp`] and [`bind_tcp`]; `None` keeps the
/// system default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SocketOptions {
    /// SO_RCVBUF in bytes (the kernel may double or cap it).
    pub recv_buffer: Option<usize>,
    /// SO_SNDBUF in bytes.
    pub send_buffer: Option<usize>,
    /// IPV6_V6ONLY for IPv6 sockets (`None` keeps the system default).
    pub ipv6_only: Option<bool>,
}

fn new_socket(
    addr: SocketAddr,
    ty: Type,
    protocol: Protocol,
    options: &SocketOptions,
) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if let Some(size) = options.recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    if let Some(size) = options.send_buffer {
        socket.set_send_buffer_size(size)?;
    }
    if let (Some(only), true) = (options.ipv6_only, addr.is_ipv6()) {
        socket.set_only_v6(only)?;
    } else if addr.is_ipv6() && addr.ip().is_unspecified() {
        // `::` takes IPv4 clients too where the system allows it.
        let _ = socket.set_only_v6(false);
    }
    Ok(socket)
}

/// Binds a UDP socket to `addr` with the given options.
pub fn bind_udp(addr: SocketAddr, options: &SocketOptions) -> io::Result<UdpSocket> {
    let socket = new_socket(addr, Type::DGRAM, Protocol::UDP, options)?;
    socket
        .bind(&addr.into())
        .context(|| format!("cannot bind UDP {addr}"))?;
    Ok(socket.into())
}

/// Binds a listening TCP socket to `addr` (with SO_REUSEADDR, so a restarted
/// server does not wait out TIME_WAIT) and the given options.
pub fn bind_tcp(addr: SocketAddr, options: &SocketOptions) -> io::Result<TcpListener> {
    let socket = new_socket(addr, Type::STREAM, Protocol::TCP, options)?;
    socket.set_reuse_address(true)?;
    socket
        .bind(&addr.into())
        .context(|| format!("cannot bind TCP {addr}"))?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// The address to connect to in order to reach a socket bound to `bound`:
/// the unspecified address (`0.0.0.0`, `::`) becomes loopback.
pub fn reachable(bound: SocketAddr) -> SocketAddr {
    let mut addr = bound;
    if addr.ip().is_unspecified() {
        addr.set_ip(match bound {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// Accepts connections until shutdown, handing each to `on_connection`
/// (which usually admits it to a [`Lifecycle`] and returns `Continue`;
/// `Break` stops).
///
/// A blocked `accept()` is not interrupted by signals, so on shutdown a
/// waker connects to the listener once; that connection is recognised by
/// the shutdown flag and dropped. A failed accept (for example too many
/// open files) is reported on stderr and retried after a pause that doubles
/// with every failure in a row, from [`ACCEPT_BACKOFF_MIN`] up to
/// [`ACCEPT_BACKOFF_MAX`], so a persistent error never spins the loop.
pub fn accept_until_shutdown(
    listener: &TcpListener,
    shutdown: &Shutdown,
    mut on_connection: impl FnMut(TcpStream, SocketAddr) -> ControlFlow<()>,
) -> io::Result<()> {
    let wake_addr = reachable(listener.local_addr()?);
    shutdown.on_trigger(move || {
        let _ = TcpStream::connect_timeout(&wake_addr, Duration::from_secs(1));
    });
    let mut backoff = AcceptBackoff::default();
    while !shutdown.is_triggered() {
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff.succeeded();
                if shutdown.is_triggered() {
                    break;
                }
                if on_connection(stream, canonical(peer)).is_break() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let pause = backoff.failed();
                warn(format_args!(
                    "accept failed: {e}; retrying in {} ms",
                    pause.as_millis()
                ));
                shutdown.sleep(pause);
            }
        }
    }
    Ok(())
}

/// The first pause after a failed `accept()`.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);

/// The longest pause between failed `accept()`s.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Exponential backoff for failed `accept()`s: the pause doubles with every
/// failure in a row, up to [`ACCEPT_BACKOFF_MAX`], and starts over after a
/// success.
#[derive(Debug, Default)]
struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    /// Records a failure; returns how long to pause before the next try.
    fn failed(&mut self) -> Duration {
        let pause = ACCEPT_BACKOFF_MIN
            .saturating_mul(1 << self.failures.min(16))
            .min(ACCEPT_BACKOFF_MAX);
        self.failures = self.failures.saturating_add(1);
        pause
    }

    fn succeeded(&mut self) {
        self.failures = 0;
    }
}

/// With `reset` set, closing `stream` resets the connection (SO_LINGER with
/// a zero timeout) instead of ending it with a clean FIN. The file protocols
/// have no length prefix, so a clean close means "complete": a sender holds
/// this on while a file is in flight, so that dying mid-transfer can never
/// look like success. std cannot set this option, hence `socket2`.
pub fn reset_on_close(stream: &TcpStream, reset: bool) -> io::Result<()> {
    socket2::SockRef::from(stream).set_linger(reset.then_some(Duration::ZERO))
}

/// `write_all` that notices shutdown: the stream's write timeout (set it to
/// [`POLL_INTERVAL`]) wakes it to look at the flag, and a peer that accepts
/// nothing for `stall_limit` is given up on. Every byte is written, or it
/// fails with `Interrupted` (shutdown) or `TimedOut` (stalled peer).
pub fn write_all_until_shutdown(
    stream: &mut TcpStream,
    bytes: &[u8],
    stall_limit: Duration,
    shutdown: &Shutdown,
) -> io::Result<()> {
    write_all_checked(stream, bytes, stall_limit, shutdown, |_| Ok(()))
}

/// The loop of [`write_all_until_shutdown`]; `check` hears of every write
/// (with the byte count, 0 after a timeout) and may end it with an error.
fn write_all_checked(
    stream: &mut TcpStream,
    mut bytes: &[u8],
    stall_limit: Duration,
    shutdown: &Shutdown,
    mut check: impl FnMut(usize) -> io::Result<()>,
) -> io::Result<()> {
    let mut last_progress = Instant::now();
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => {
                bytes = &bytes[written..];
                last_progress = Instant::now();
                check(written)?;
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if shutdown.is_triggered() {
                    return Err(io::Error::new(io::ErrorKind::Interrupted, "shutting down"));
                }
                check(0)?;
                if last_progress.elapsed() >= stall_limit {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the peer read nothing for {} s", stall_limit.as_secs_f64()),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The connection lifecycle shared by every TCP server.
// ---------------------------------------------------------------------------

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
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
                    let _ = for_reaper.changed.wait_timeout(registry, interval);
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

    /// [`Lifecycle::admit`] for a server with nothing to tell a refused
    /// client: warns `PEER: refused: WHY; connection closed` (then `None`:
    /// the caller drops the stream) or `EVICTED: evicted (least progress)
    /// to admit PEER`.
    pub fn admit_or_warn(
        &self,
        stream: &TcpStream,
        peer: SocketAddr,
        shutdown: &Shutdown,
    ) -> Option<Conn> {
        match self.admit(stream, peer, shutdown) {
            Ok(admitted) => {
                if let Some(evicted) = admitted.evicted {
                    warn(format_args!(
                        "{evicted}: evicted (least progress) to admit {peer}"
                    ));
                }
                Some(admitted.conn)
            }
            Err(refused) => {
                warn(format_args!(
                    "{peer}: refused: {refused}; connection closed"
                ));
                None
            }
        }
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
        let limits = self.shared.limits;
        let source = source_of(peer);
        let socket = stream.try_clone().map_err(|_| Refused::NoResources)?;
        let mut registry = self.shared.registry();
        let mut evicted = None;
        loop {
            if shutdown.is_triggered() || registry.stopping {
                return Err(Refused::ShuttingDown);
            }
            let same_source = registry
                .entries
                .values()
                .filter(|entry| entry.source == source)
                .count();
            let at_share = same_source >= limits.max_per_source;
            let full = registry.entries.len() >= limits.max_clients;
            if !at_share && !full {
                break;
            }
            // A source at its share may only displace its own connections.
            let now = self.shared.now();
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
                evicted = self
                    .shared
                    .close(&mut registry, victim, CloseReason::Evicted);
                continue;
            }
            if !full {
                return Err(Refused::SourceShare {
                    max_per_source: limits.max_per_source,
                });
            }
            if limits.when_full == WhenFull::Refuse {
                return Err(Refused::Full {
                    max_clients: limits.max_clients,
                });
            }
            registry = self
                .shared
                .changed
                .wait_timeout(registry, POLL_INTERVAL)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        let id = registry.next_id;
        registry.next_id += 1;
        let progress = Arc::new(Progress::new(self.shared.now()));
        registry.entries.insert(
            id,
            Entry {
                source,
                peer,
                progress: Arc::clone(&progress),
                socket,
            },
        );
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
                registry = shared
                    .changed
                    .wait_timeout(registry, left)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
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

    /// `write_all` for a connection: like [`write_all_until_shutdown`], it
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

/// Receives one datagram, waking every [`POLL_INTERVAL`] to look at the
/// shutdown flag; `Ok(None)` once shutdown is triggered. Sets the socket's
/// read timeout.
pub fn recv_from_until_shutdown(
    socket: &UdpSocket,
    buffer: &mut [u8],
    shutdown: &Shutdown,
) -> io::Result<Option<(usize, SocketAddr)>> {
    recv_from_with_deadline(socket, buffer, shutdown, None)
}

/// Like [`recv_from_until_shutdown`], but also gives up (`Ok(None)`) once
/// `idle` has passed without a datagram.
pub fn recv_from_with_deadline(
    socket: &UdpSocket,
    buffer: &mut [u8],
    shutdown: &Shutdown,
    idle: Option<Duration>,
) -> io::Result<Option<(usize, SocketAddr)>> {
    receive_until(socket, shutdown, idle, false, |socket| {
        socket
            .recv_from(buffer)
            .map(|(len, from)| (len, canonical(from)))
    })
}

/// An IPv4 peer seen through a dual-stack socket (`[::ffff:127.0.0.1]:5`)
/// as the plain IPv4 address it is (`127.0.0.1:5`); others unchanged.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// Every address `host` resolves to, in the resolver's order; the error
/// names the host.
pub fn resolve_all(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .context(|| format!("cannot resolve host {host:?}"))?
        .collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("host {host:?} has no address"),
        ));
    }
    Ok(addrs)
}

/// Connects to the first of `host`'s addresses that accepts, each within
/// `timeout` (a name such as `localhost` may resolve to `::1` before
/// `127.0.0.1`, and a server may listen on only one of them). The error
/// names the host and the last address tried, and asks "is the server
/// running?" when the connection was refused — the one case that says so.
pub fn connect_first(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in resolve_all(host, port)? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some((addr, e)),
        }
    }
    let Some((addr, e)) = last_error else {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no address to try"));
    };
    let hint = if e.kind() == io::ErrorKind::ConnectionRefused {
        " (is the server running?)"
    } else {
        ""
    };
    Err(io::Error::new(
        e.kind(),
        format!("cannot connect to {host} ({addr}): {e}{hint}"),
    ))
}

/// A UDP socket of `server`'s address family on an ephemeral port (or on
/// `local`, when given), *connected* to `server`: it receives only from the
/// server, and an ICMP port-unreachable for its datagrams surfaces as
/// `ConnectionRefused` on the next receive.
pub fn connect_udp(server: SocketAddr, local: Option<SocketAddr>) -> io::Result<UdpSocket> {
    let local = local.unwrap_or(match server {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    });
    let socket = bind_udp(local, &SocketOptions::default())?;
    socket
        .connect(server)
        .context(|| format!("cannot connect a UDP socket to {server}"))?;
    Ok(socket)
}

/// The error a UDP client reports when the system said nothing listens at
/// `server` (an ICMP port-unreachable): `no server at 127.0.0.1:8080`.
pub fn no_server(server: SocketAddr) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionRefused,
        format!("no server at {server} (nothing listens on that port)"),
    )
}

/// Receives one datagram on a socket connected with [`connect_udp`],
/// waking every [`POLL_INTERVAL`] to look at the shutdown flag: `Ok(None)`
/// on shutdown or once `idle` has passed without a datagram, and the
/// [`no_server`] error when the system reported that nothing listens there.
pub fn recv_connected(
    socket: &UdpSocket,
    buffer: &mut [u8],
    shutdown: &Shutdown,
    idle: Option<Duration>,
) -> io::Result<Option<usize>> {
    receive_until(socket, shutdown, idle, true, |socket| socket.recv(buffer))
}

/// The receive loop behind [`recv_from_with_deadline`] and
/// [`recv_connected`]: `receive` once per [`POLL_INTERVAL`] until it
/// yields, shutdown or `idle` (`Ok(None)`). An ICMP port unreachable
/// (`ConnectionRefused`) is the [`no_server`] error when `refused_is_error`
/// (a connected client); on a server's socket it concerns an earlier send
/// to some peer and says nothing about this receive, so it is skipped.
fn receive_until<T>(
    socket: &UdpSocket,
    shutdown: &Shutdown,
    idle: Option<Duration>,
    refused_is_error: bool,
    mut receive: impl FnMut(&UdpSocket) -> io::Result<T>,
) -> io::Result<Option<T>> {
    socket.set_read_timeout(Some(POLL_INTERVAL))?;
    let started = Instant::now();
    loop {
        if shutdown.is_triggered() {
            return Ok(None);
        }
        match receive(socket) {
            Ok(received) => return Ok(Some(received)),
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if idle.is_some_and(|idle| started.elapsed() >= idle) {
                    return Ok(None);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                if refused_is_error {
                    return Err(no_server(socket.peer_addr()?));
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether an I/O error is a read/write timeout (`WouldBlock` or `TimedOut`,
/// depending on the platform).
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Whether `ip` is the address a client on this very host sends from when it
/// talks to the server over loopback: `127.0.0.1` or `::1` (also as
/// `::ffff:127.0.0.1`). UDP servers honour their remote-control requests
/// (a3 ping `exit`, a3 relay `exit server`) only from these unless told
/// otherwise. The rest of 127/8 does not count: nothing sends from there
/// unless asked to, and the attack tests play remote hosts from it.
pub fn is_local_operator(ip: std::net::IpAddr) -> bool {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => v4 == Ipv4Addr::LOCALHOST,
        std::net::IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::atomic::AtomicUsize;

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
    fn accept_backoff_doubles_up_to_its_cap_and_resets() {
        let mut backoff = AcceptBackoff::default();
        assert_eq!(backoff.failed(), ACCEPT_BACKOFF_MIN);
        assert_eq!(backoff.failed(), ACCEPT_BACKOFF_MIN * 2);
        assert_eq!(backoff.failed(), ACCEPT_BACKOFF_MIN * 4);
        for _ in 0..40 {
            assert!(backoff.failed() <= ACCEPT_BACKOFF_MAX);
        }
        assert_eq!(backoff.failed(), ACCEPT_BACKOFF_MAX);
        backoff.succeeded();
        assert_eq!(backoff.failed(), ACCEPT_BACKOFF_MIN);
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

    #[test]
    fn local_operator_is_only_the_hosts_own_loopback_address() {
        for local in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(is_local_operator(local.parse().unwrap()), "{local}");
        }
        for remote in [
            "127.0.0.2",
            "127.1.2.3",
            "0.0.0.0",
            "192.0.2.1",
            "::ffff:127.0.0.2",
            "::",
        ] {
            assert!(!is_local_operator(remote.parse().unwrap()), "{remote}");
        }
    }

    #[test]
    fn accept_loop_stops_on_shutdown() {
        let listener = bind_tcp("127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let loop_shutdown = shutdown.clone();
        let handle = std::thread::spawn(move || {
            accept_until_shutdown(&listener, &loop_shutdown, |_, _| {
                counter.fetch_add(1, Ordering::SeqCst);
                ControlFlow::Continue(())
            })
        });
        let _client = TcpStream::connect(addr).unwrap();
        while accepted.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        shutdown.trigger();
        handle.join().unwrap().unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn udp_receive_returns_none_on_shutdown_or_idle() {
        let socket = bind_udp("127.0.0.1:0".parse().unwrap(), &SocketOptions::default()).unwrap();
        let mut buffer = [0u8; 16];
        let shutdown = Shutdown::new();
        let idle = Some(Duration::from_millis(150));
        assert!(
            recv_from_with_deadline(&socket, &mut buffer, &shutdown, idle)
                .unwrap()
                .is_none()
        );
        shutdown.trigger();
        assert!(recv_from_until_shutdown(&socket, &mut buffer, &shutdown)
            .unwrap()
            .is_none());
    }

    #[test]
    fn wildcard_listener_is_dual_stack_and_peers_are_canonical() {
        let Ok(listener) = bind_tcp("[::]:0".parse().unwrap(), &SocketOptions::default()) else {
            return; // no IPv6 on this system: nothing to check
        };
        let port = listener.local_addr().unwrap().port();
        let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_, peer) = listener.accept().unwrap();
        assert!(canonical(peer).is_ipv4(), "{peer}");
        assert_eq!(
            canonical("[::ffff:10.0.0.1]:5".parse().unwrap()),
            "10.0.0.1:5".parse().unwrap()
        );
        assert_eq!(
            canonical("[::1]:5".parse().unwrap()),
            "[::1]:5".parse().unwrap()
        );
    }

    #[test]
    fn connected_udp_socket_learns_there_is_no_server() {
        // A port that was just free: nothing listens there.
        let free = bind_udp("127.0.0.1:0".parse().unwrap(), &SocketOptions::default())
            .unwrap()
            .local_addr()
            .unwrap();
        let socket = connect_udp(free, None).unwrap();
        socket.send(b"ping").unwrap();
        let started = std::time::Instant::now();
        let mut buffer = [0u8; 16];
        let error = recv_connected(
            &socket,
            &mut buffer,
            &Shutdown::new(),
            Some(Duration::from_secs(5)),
        )
        .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
        assert!(error.to_string().contains("no server at"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn connect_first_names_the_host_when_refused() {
        let free = bind_tcp("127.0.0.1:0".parse().unwrap(), &SocketOptions::default())
            .unwrap()
            .local_addr()
            .unwrap();
        // The listener is dropped: nothing accepts on that port any more.
        let error = connect_first("127.0.0.1", free.port(), Duration::from_secs(2)).unwrap_err();
        assert!(
            error.to_string().contains("is the server running?"),
            "{error}"
        );
    }

    #[test]
    fn unspecified_addresses_become_loopback() {
        assert_eq!(
            reachable("0.0.0.0:80".parse().unwrap()),
            "127.0.0.1:80".parse().unwrap()
        );
        assert_eq!(
            reachable("[::]:80".parse().unwrap()),
            "[::1]:80".parse().unwrap()
        );
        assert_eq!(
            reachable("127.0.0.2:80".parse().unwrap()),
            "127.0.0.2:80".parse().unwrap()
        );
    }
}

/// Bytes of IP and UDP header in front of a UDP payload sent to `peer`
/// (IPv4 without options: 20 + 8; IPv6 without extension headers: 40 + 8).
pub fn udp_header_bytes(peer: SocketAddr) -> usize {
    if peer.is_ipv4() {
        28
    } else {
        48
    }
}

/// The path MTU the kernel knows for a *connected* UDP socket: the route's
/// (first hop's) MTU, lowered by any ICMP "fragmentation needed" / "packet
/// too big" message it has received for that destination. `None` where it
/// cannot tell (not connected, not Linux).
///
/// std and `socket2` have no call for this, so it is Linux's
/// `getsockopt(IP_MTU)` (`IPV6_MTU` for IPv6) through the C library std
/// already links. A sender warns once when `payload + udp_header_bytes(peer)`
/// exceeds it: such datagrams are fragmented (or dropped where fragments are).
pub fn path_mtu(socket: &UdpSocket) -> Option<usize> {
    path_mtu_impl(socket)
}

#[cfg(target_os = "linux")]
fn path_mtu_impl(socket: &UdpSocket) -> Option<usize> {
    use std::os::fd::AsRawFd;
    use std::os::raw::{c_int, c_void};
    const IPPROTO_IP: c_int = 0;
    const IP_MTU: c_int = 14;
    const IPPROTO_IPV6: c_int = 41;
    const IPV6_MTU: c_int = 24;
    extern "C" {
        fn getsockopt(
            fd: c_int,
            level: c_int,
            name: c_int,
            value: *mut c_void,
            len: *mut u32,
        ) -> c_int;
    }
    let (level, name) = if socket.peer_addr().ok()?.is_ipv4() {
        (IPPROTO_IP, IP_MTU)
    } else {
        (IPPROTO_IPV6, IPV6_MTU)
    };
    let mut mtu: c_int = 0;
    let mut len = std::mem::size_of::<c_int>() as u32;
    // SAFETY: a valid descriptor, and `mtu`/`len` describe a writable c_int.
    let status = unsafe {
        getsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&mut mtu as *mut c_int).cast(),
            &mut len,
        )
    };
    (status == 0 && mtu > 0).then_some(mtu as usize)
}

#[cfg(not(target_os = "linux"))]
fn path_mtu_impl(_socket: &UdpSocket) -> Option<usize> {
    None
}

#[cfg(test)]
mod path_mtu_tests {
    use super::*;

    #[test]
    fn loopback_path_mtu_is_the_loopback_mtu() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Not connected: nobody can tell.
        assert_eq!(path_mtu(&socket), None);
        // Connecting sends nothing; it only picks the route.
        socket.connect("127.0.0.1:9").unwrap();
        let mtu = path_mtu(&socket);
        if cfg!(target_os = "linux") {
            let expected: Option<usize> = std::fs::read_to_string("/sys/class/net/lo/mtu")
                .ok()
                .and_then(|text| text.trim().parse().ok());
            assert!(mtu.is_some());
            if let Some(expected) = expected {
                // An IPv4 packet is at most 65,535 bytes, whatever lo says.
                assert_eq!(mtu, Some(expected.min(65_535)));
            }
        }
    }

    #[test]
    fn header_bytes_per_family() {
        assert_eq!(udp_header_bytes("127.0.0.1:1".parse().unwrap()), 28);
        assert_eq!(udp_header_bytes("[::1]:1".parse().unwrap()), 48);
    }
}

/// Asks the kernel to stamp each datagram `socket` receives with its arrival
/// time (`SO_TIMESTAMPNS`), read by [`recv_from_stamped`]. Returns whether
/// the kernel agreed (only on 64-bit Linux; elsewhere `false`).
///
/// A receiver that stamps arrivals itself measures its own scheduling too: on
/// a busy machine it is preempted for a few milliseconds, then reads the
/// queued datagrams back to back, and their arrival times bunch up. The
/// kernel stamps each datagram when it arrives, whoever reads it when.
pub fn enable_receive_timestamps(socket: &UdpSocket) -> bool {
    stamps::enable(socket)
}

/// `recv_from` that also returns the kernel's arrival time of the datagram
/// in nanoseconds since the Unix epoch, when [`enable_receive_timestamps`]
/// turned it on (else `None`).
pub fn recv_from_stamped(
    socket: &UdpSocket,
    buffer: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u64>)> {
    stamps::recv(socket, buffer)
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod stamps {
    use socket2::{MaybeUninitSlice, MsgHdrMut, SockAddr, SockRef};
    use std::io;
    use std::mem::MaybeUninit;
    use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
    use std::os::fd::AsRawFd;
    use std::os::raw::{c_int, c_void};

    const SOL_SOCKET: c_int = 1;
    /// `SO_TIMESTAMPNS` (the option) and `SCM_TIMESTAMPNS` (its message).
    const SO_TIMESTAMPNS: c_int = 35;
    /// `struct cmsghdr` on 64-bit Linux: `size_t len; int level; int type;`.
    const CMSG_HEADER: usize = 16;
    /// `struct timespec` on 64-bit Linux: two `i64`.
    const TIMESPEC: usize = 16;

    pub fn enable(socket: &UdpSocket) -> bool {
        extern "C" {
            fn setsockopt(
                fd: c_int,
                level: c_int,
                name: c_int,
                value: *const c_void,
                len: u32,
            ) -> c_int;
        }
        let on: c_int = 1;
        // SAFETY: a valid descriptor, and `on` is a readable c_int.
        let status = unsafe {
            setsockopt(
                socket.as_raw_fd(),
                SOL_SOCKET,
                SO_TIMESTAMPNS,
                (&on as *const c_int).cast(),
                std::mem::size_of::<c_int>() as u32,
            )
        };
        status == 0
    }

    pub fn recv(
        socket: &UdpSocket,
        buffer: &mut [u8],
    ) -> io::Result<(usize, SocketAddr, Option<u64>)> {
        // Large enough for either family; the kernel writes the sender's.
        let mut from = SockAddr::from(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)));
        let mut control = [MaybeUninit::<u8>::uninit(); 64];
        // SAFETY: `u8` and `MaybeUninit<u8>` have the same layout, and the
        // kernel only writes initialised bytes into the buffer.
        let data = unsafe {
            std::slice::from_raw_parts_mut(
                buffer.as_mut_ptr().cast::<MaybeUninit<u8>>(),
                buffer.len(),
            )
        };
        let mut buffers = [MaybeUninitSlice::new(data)];
        let (len, control_len) = {
            let mut message = MsgHdrMut::new()
                .with_addr(&mut from)
                .with_buffers(&mut buffers)
                .with_control(&mut control);
            let len = SockRef::from(socket).recvmsg(&mut message, 0)?;
            (len, message.control_len())
        };
        let from = from.as_socket().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "datagram from a non-IP address")
        })?;
        // SAFETY: the kernel initialised the first `control_len` bytes.
        let control = unsafe {
            std::slice::from_raw_parts(control.as_ptr().cast::<u8>(), control_len.min(64))
        };
        Ok((len, from, timestamp(control)))
    }

    /// The `SCM_TIMESTAMPNS` of a control buffer, in ns since the epoch.
    pub fn timestamp(control: &[u8]) -> Option<u64> {
        let word = |at: usize, n: usize| -> Option<u64> {
            let bytes = control.get(at..at + n)?;
            let mut value = [0u8; 8];
            value[..n].copy_from_slice(bytes);
            Some(u64::from_ne_bytes(value))
        };
        let mut at = 0;
        while at + CMSG_HEADER <= control.len() {
            let len = usize::try_from(word(at, 8)?).ok()?;
            let level = word(at + 8, 4)? as u32 as c_int;
            let kind = word(at + 12, 4)? as u32 as c_int;
            if len < CMSG_HEADER {
                return None;
            }
            if level == SOL_SOCKET && kind == SO_TIMESTAMPNS && len >= CMSG_HEADER + TIMESPEC {
                let seconds = word(at + CMSG_HEADER, 8)?;
                let nanos = word(at + CMSG_HEADER + 8, 8)?;
                return seconds.checked_mul(1_000_000_000)?.checked_add(nanos);
            }
            at += (len + 7) & !7;
        }
        None
    }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
mod stamps {
    use std::io;
    use std::net::{SocketAddr, UdpSocket};

    pub fn enable(_socket: &UdpSocket) -> bool {
        false
    }

    pub fn recv(
        socket: &UdpSocket,
        buffer: &mut [u8],
    ) -> io::Result<(usize, SocketAddr, Option<u64>)> {
        let (len, from) = socket.recv_from(buffer)?;
        Ok((len, from, None))
    }
}

#[cfg(test)]
mod stamp_tests {
    use super::*;

    #[test]
    fn kernel_stamps_arrivals_on_the_unix_clock() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let enabled = enable_receive_timestamps(&receiver);
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        sender
            .send_to(b"stamp me", receiver.local_addr().unwrap())
            .unwrap();
        let mut buffer = [0u8; 64];
        let (len, from, stamp) = recv_from_stamped(&receiver, &mut buffer).unwrap();
        assert_eq!(&buffer[..len], b"stamp me");
        assert_eq!(from, sender.local_addr().unwrap());
        if cfg!(all(target_os = "linux", target_pointer_width = "64")) {
            assert!(enabled);
            let stamp = stamp.expect("a kernel timestamp");
            assert!(
                stamp >= before && stamp - before < 10_000_000_000,
                "stamp {stamp}, before {before}"
            );
        } else {
            assert_eq!(stamp, None);
        }
    }

    #[test]
    fn no_stamp_unless_enabled() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender
            .send_to(b"x", receiver.local_addr().unwrap())
            .unwrap();
        let mut buffer = [0u8; 8];
        let (len, _, stamp) = recv_from_stamped(&receiver, &mut buffer).unwrap();
        assert_eq!((len, stamp), (1, None));
    }
}
