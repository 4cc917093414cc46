//! The UDP side: receives that stop on shutdown or after an idle time,
//! *connected* client sockets (an ICMP port-unreachable ends a run at once),
//! the path MTU the kernel knows for a destination, and the kernel's arrival
//! time stamps of datagrams.

use crate::error::Context;
use crate::net::{bind_udp, canonical, is_timeout, sys, SocketOptions};
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

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
/// `getsockopt(IP_MTU)` (`IPV6_MTU` for IPv6), in [`sys`]. A sender warns once when `payload + udp_header_bytes(peer)`
/// exceeds it: such datagrams are fragmented (or dropped where fragments are).
pub fn path_mtu(socket: &UdpSocket) -> Option<usize> {
    sys::path_mtu(socket)
}

/// Asks the kernel to stamp each datagram `socket` receives with its arrival
/// time (`SO_TIMESTAMPNS`), read by [`recv_from_stamped`]. Returns whether
/// the kernel agreed (only on Linux; elsewhere `false`).
///
/// A receiver that stamps arrivals itself measures its own scheduling too: on
/// a busy machine it is preempted for a few milliseconds, then reads the
/// queued datagrams back to back, and their arrival times bunch up. The
/// kernel stamps each datagram when it arrives, whoever reads it when.
pub fn enable_receive_timestamps(socket: &UdpSocket) -> bool {
    sys::enable_receive_timestamps(socket)
}

/// `recv_from` that also returns the kernel's arrival time of the datagram
/// in nanoseconds since the Unix epoch, when [`enable_receive_timestamps`]
/// turned it on (else `None`).
pub fn recv_from_stamped(
    socket: &UdpSocket,
    buffer: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u64>)> {
    sys::recv_from_stamped(socket, buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        if cfg!(target_os = "linux") {
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
