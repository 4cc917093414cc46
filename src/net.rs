//! Socket plumbing shared by the assignments: resolving `HOST PORT`, binding
//! with explicit buffer sizes (the one thing std cannot do, hence `socket2`),
//! an accept loop that stops on shutdown, and a UDP receive that does too.
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

use crate::cli::Context;
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::ops::ControlFlow;
use std::thread::JoinHandle;
use std::time::Duration;

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
/// (which usually spawns a thread and returns `Continue`; `Break` stops).
///
/// A blocked `accept()` is not interrupted by signals, so on shutdown a
/// waker connects to the listener once; that connection is recognised by
/// the shutdown flag and dropped. Transient accept errors (for example too
/// many open files) are reported on stderr and retried after a short pause.
pub fn accept_until_shutdown(
    listener: &TcpListener,
    shutdown: &Shutdown,
    mut on_connection: impl FnMut(TcpStream, SocketAddr) -> ControlFlow<()>,
) -> io::Result<()> {
    let wake_addr = reachable(listener.local_addr()?);
    shutdown.on_trigger(move || {
        let _ = TcpStream::connect_timeout(&wake_addr, Duration::from_secs(1));
    });
    while !shutdown.is_triggered() {
        match listener.accept() {
            Ok((stream, peer)) => {
                if shutdown.is_triggered() {
                    break;
                }
                if on_connection(stream, canonical(peer)).is_break() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                crate::warn!("accept failed: {e}; retrying");
                shutdown.sleep(POLL_INTERVAL);
            }
        }
    }
    Ok(())
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
    mut bytes: &[u8],
    stall_limit: Duration,
    shutdown: &Shutdown,
) -> io::Result<()> {
    let mut last_progress = std::time::Instant::now();
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => {
                bytes = &bytes[written..];
                last_progress = std::time::Instant::now();
            }
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if shutdown.is_triggered() {
                    return Err(io::Error::new(io::ErrorKind::Interrupted, "shutting down"));
                }
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

/// The threads of a thread-per-connection server: one named thread per
/// accepted connection; finished ones are forgotten as new ones start, and
/// the rest are joined when the server stops.
#[derive(Default)]
pub struct ConnectionThreads {
    running: Vec<JoinHandle<()>>,
}

impl ConnectionThreads {
    /// No threads yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `serve` on a new thread called `name`. If the system cannot
    /// start a thread, says so on stderr and drops the connection (with
    /// `serve`), so the server keeps accepting.
    pub fn spawn(&mut self, name: String, peer: SocketAddr, serve: impl FnOnce() + Send + 'static) {
        self.running.retain(|thread| !thread.is_finished());
        match std::thread::Builder::new().name(name).spawn(serve) {
            Ok(thread) => self.running.push(thread),
            Err(e) => crate::warn!("{peer}: cannot start a thread, connection dropped: {e}"),
        }
    }

    /// How many connection threads are still running.
    pub fn running(&mut self) -> usize {
        self.running.retain(|thread| !thread.is_finished());
        self.running.len()
    }

    /// Waits for every connection thread to finish.
    pub fn join_all(self) {
        for thread in self.running {
            // A panicking connection thread has already reported itself.
            let _ = thread.join();
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
    let started = std::time::Instant::now();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

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
