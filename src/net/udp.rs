//! The UDP side: receives that stop on shutdown or after an idle time,
//! *connected* client sockets (an ICMP port-unreachable ends a run at once),
//! the path MTU the kernel knows for a destination, and the kernel's arrival
//! time stamps of datagrams.

use crate::error::Context;
use crate::net::{bind_udp, canonical, is_timeout, SocketOptions};
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
