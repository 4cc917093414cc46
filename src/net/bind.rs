//! Names and addresses: resolving `HOST PORT`, binding with explicit buffer
//! sizes (the one thing std cannot do, hence `socket2`), the wildcard address
//! a server listens on by default, and connecting a TCP client to the first
//! of a name's addresses that answers.

use crate::error::Context;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket,
};
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

/// The wildcard address for `port`: `[::]` where the system supports IPv6
/// (the kit's listeners make it dual-stack), else `0.0.0.0`.
pub fn any_address(port: u16) -> SocketAddr {
    let ipv6 = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).is_ok();
    if ipv6 {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))
    } else {
        SocketAddr::from(([0, 0, 0, 0], port))
    }
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

/// Whether `ip` is the address a client on this very host sends from when it
/// talks to the server over loopback: `127.0.0.1` or `::1` (also as
/// `::ffff:127.0.0.1`). UDP servers honour their remote-control requests
/// (a3 ping `exit`, a3 relay `exit server`) only from these unless told
/// otherwise. The rest of 127/8 does not count: nothing sends from there
/// unless asked to, and the attack tests play remote hosts from it.
pub fn is_local_operator(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4 == Ipv4Addr::LOCALHOST,
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
