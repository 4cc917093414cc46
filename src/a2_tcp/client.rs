//! The client: connect, send the 18-byte request, print the reply the way
//! the seed's `print(reply)` does (`b'GET / HTT'`).

use super::framing::read_message;
use super::protocol::{CLIENT_READ_SIZE, REQUEST};
use crate::python;
use crate::shutdown::Shutdown;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Where the client connects and how long it waits.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Host name or address literal.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Limit for connecting and for the first byte of the reply.
    pub timeout: Duration,
}

/// Sends the request and prints the reply; returns the reply bytes.
///
/// The seed's progress lines are kept. Errors name the host and the cause
/// (`cannot resolve host`, `connection refused`), for the binary to print.
pub fn run(config: &ClientConfig) -> io::Result<Vec<u8>> {
    let addrs = resolve_all(&config.host, config.port)?;
    println!("The host's IP address is {}", addrs[0].ip());
    let mut stream = connect_any(&config.host, &addrs, config.timeout)?;
    let peer = stream.peer_addr()?;
    println!(
        "Our socket connected to {} on ip {} on port {}",
        config.host,
        peer.ip(),
        peer.port()
    );
    stream.set_write_timeout(Some(config.timeout))?;
    stream
        .write_all(REQUEST)
        .map_err(|e| io::Error::new(e.kind(), format!("send failed: {e}")))?;
    println!("Message sent successfully");
    // The client never gets a shutdown signal of its own: Ctrl-C ends it at once.
    let reply = read_message(
        &mut stream,
        CLIENT_READ_SIZE,
        |_| false,
        config.timeout,
        &Shutdown::new(),
    )
    .map_err(|e| io::Error::new(e.kind(), format!("no reply from {peer}: {e}")))?;
    println!("{}", python::bytes_repr(&reply));
    Ok(reply)
}

/// Every address `host` resolves to, in the resolver's order.
fn resolve_all(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve host {host:?}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("host {host:?} has no address"),
        ));
    }
    Ok(addrs)
}

/// Connects to the first address that accepts (a name such as `localhost`
/// may resolve to `::1` before `127.0.0.1`, and a server may listen on only
/// one of them); the error names the last address tried.
fn connect_any(host: &str, addrs: &[SocketAddr], timeout: Duration) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect_timeout(addr, timeout) {
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
