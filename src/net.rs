//! Socket plumbing shared by the assignments: resolving `HOST PORT`, binding
//! with explicit buffer sizes (the one thing std cannot do, hence `socket2`),
//! an accept loop that stops on shutdown, and a UDP receive that does too.

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
        .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve host {host:?}: {e}")))?;
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
    }
    Ok(socket)
}

/// Binds a UDP socket to `addr` with the given options.
pub fn bind_udp(addr: SocketAddr, options: &SocketOptions) -> io::Result<UdpSocket> {
    let socket = new_socket(addr, Type::DGRAM, Protocol::UDP, options)?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind UDP {addr}: {e}")))?;
    Ok(socket.into())
}

/// Binds a listening TCP socket to `addr` (with SO_REUSEADDR, so a restarted
/// server does not wait out TIME_WAIT) and the given options.
pub fn bind_tcp(addr: SocketAddr, options: &SocketOptions) -> io::Result<TcpListener> {
    let socket = new_socket(addr, Type::STREAM, Protocol::TCP, options)?;
    socket.set_reuse_address(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind TCP {addr}: {e}")))?;
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
                if on_connection(stream, peer).is_break() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("accept failed: {e}; retrying");
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
            Err(e) => eprintln!("{peer}: cannot start a thread, connection dropped: {e}"),
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
    socket.set_read_timeout(Some(POLL_INTERVAL))?;
    let started = std::time::Instant::now();
    loop {
        if shutdown.is_triggered() {
            return Ok(None);
        }
        match socket.recv_from(buffer) {
            Ok(received) => return Ok(Some(received)),
            Err(e) if is_timeout(&e) => {
                if idle.is_some_and(|idle| started.elapsed() >= idle) {
                    return Ok(None);
                }
            }
            // A previous send's ICMP "port unreachable" surfaces here on
            // Linux; it says nothing about this receive.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
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
