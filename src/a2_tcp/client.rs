//! The client: connect, send the 18-byte request, print the reply the way
//! the seed's `print(reply)` does (`b'GET / HTT'`).

use super::framing::read_message;
use super::protocol::{CLIENT_READ_SIZE, REQUEST};
use crate::error::Context;
use crate::net::{connect_first, resolve_all};
use crate::python;
use crate::shutdown::Shutdown;
use crate::{report, say};
use std::io::{self, Write};
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
    say!("The host's IP address is {}", addrs[0].ip());
    let mut stream = connect_first(&config.host, config.port, config.timeout)?;
    let peer = stream.peer_addr()?;
    say!(
        "Our socket connected to {} on ip {} on port {}",
        config.host,
        peer.ip(),
        peer.port()
    );
    stream.set_write_timeout(Some(config.timeout))?;
    stream.write_all(REQUEST).context(|| "send failed")?;
    say!("Message sent successfully");
    // The client never gets a shutdown signal of its own: Ctrl-C ends it at once.
    let reply = read_message(
        &mut stream,
        CLIENT_READ_SIZE,
        |_| false,
        config.timeout,
        &Shutdown::new(),
    )
    .context(|| format!("no reply from {peer}"))?;
    report!("{}", python::bytes_repr(&reply));
    Ok(reply)
}
