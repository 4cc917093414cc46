//! The dual-stack acknowledgement server: one thread per connection, each
//! printing what it receives and answering every message with
//! `Acknowledgement` until `exit` or end of stream.

use super::protocol::{classify, family_name, printable, Incoming, ACKNOWLEDGEMENT, READ_SIZE};
use crate::net::{
    accept_until_shutdown, bind_tcp, is_timeout, resolve, write_all_until_shutdown,
    ConnectionThreads, SocketOptions,
};
use crate::output::announce_listening;
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a write may make no progress (the client stopped reading its
/// acknowledgements) before the connection is dropped.
const STALL_LIMIT: Duration = Duration::from_secs(10);

/// Where the server listens.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Host name or address; resolving it chooses the address family.
    pub host: String,
    /// TCP port (0 picks a free one).
    pub port: u16,
}

/// What the server did, for its summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerSummary {
    /// Connections accepted.
    pub connections: u64,
    /// Messages acknowledged, all connections together.
    pub acknowledged: u64,
}

/// Runs the server until shutdown and returns its summary. Each connection
/// gets its own thread; a client that resets, stalls or sends junk only
/// ends its own connection.
pub fn run(config: &ServerConfig, shutdown: &Shutdown) -> io::Result<ServerSummary> {
    let addr = resolve(&config.host, config.port)?;
    crate::say!(
        "Address family: {} ({} resolved to {})",
        family_name(addr),
        config.host,
        addr.ip()
    );
    // An IPv6 wildcard (`::`) also takes IPv4 clients; a specific IPv6
    // address is IPv6 only.
    let dual_stack = addr.is_ipv6() && addr.ip().is_unspecified();
    let options = SocketOptions {
        ipv6_only: addr.is_ipv6().then_some(!dual_stack),
        ..SocketOptions::default()
    };
    let listener = bind_tcp(addr, &options)?;
    let local = listener.local_addr()?;
    announce_listening(local, "tcp");
    crate::say!("Server is listening on {}:{}", local.ip(), local.port());
    if dual_stack {
        crate::say!("(the IPv6 wildcard serves IPv4 clients too)");
    }

    let acknowledged = Arc::new(AtomicU64::new(0));
    let mut accepted = 0u64;
    let mut threads = ConnectionThreads::new();
    accept_until_shutdown(&listener, shutdown, |stream, peer| {
        accepted += 1;
        let connection = Connection {
            tag: format!("[#{accepted}]"),
            peer,
            shutdown: shutdown.clone(),
            acknowledged: Arc::clone(&acknowledged),
        };
        threads.spawn(format!("a3-dual-conn-{accepted}"), peer, move || {
            connection.serve(stream)
        });
        ControlFlow::Continue(())
    })?;
    threads.join_all();
    let summary = ServerSummary {
        connections: accepted,
        acknowledged: acknowledged.load(Ordering::Relaxed),
    };
    crate::report!(
        "Server stopped: {} connection(s), {} message(s) acknowledged",
        summary.connections,
        summary.acknowledged
    );
    Ok(summary)
}

/// How a conversation ended without an error.
enum End {
    /// The client sent `exit`.
    Exit,
    /// The client closed its side.
    PeerClosed,
    /// The server is shutting down.
    Shutdown,
}

/// One accepted connection and what its thread needs.
struct Connection {
    /// Prefix of every line this connection prints, e.g. `[#3]`.
    tag: String,
    peer: SocketAddr,
    shutdown: Shutdown,
    /// Messages acknowledged by all connections together.
    acknowledged: Arc<AtomicU64>,
}

impl Connection {
    /// Serves the connection to its end, reporting errors on stderr.
    fn serve(self, mut stream: TcpStream) {
        let tag = &self.tag;
        crate::say!(
            "{tag} Got a connection from the address :  {}",
            crate::python::address_tuple(self.peer)
        );
        match self.converse(&mut stream) {
            Ok(End::Exit | End::PeerClosed) => crate::say!("{tag} Closing Connection"),
            Ok(End::Shutdown) => crate::say!("{tag} Closing Connection (server shutting down)"),
            Err(e) => crate::warn!("{tag} {}: {e}; connection closed", self.peer),
        }
    }

    /// Reads messages and acknowledges each one until the conversation ends.
    fn converse(&self, stream: &mut TcpStream) -> io::Result<End> {
        stream.set_read_timeout(Some(POLL_INTERVAL))?;
        stream.set_write_timeout(Some(POLL_INTERVAL))?;
        stream.set_nodelay(true)?;
        let tag = &self.tag;
        let mut buffer = [0u8; READ_SIZE];
        loop {
            let read = match stream.read(&mut buffer) {
                Ok(0) => return Ok(End::PeerClosed),
                Ok(n) => &buffer[..n],
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                    if self.shutdown.is_triggered() {
                        return Ok(End::Shutdown);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            match classify(read) {
                Incoming::Exit => {
                    crate::say!("{tag} Received Message: exit");
                    return Ok(End::Exit);
                }
                Incoming::Message(text) => {
                    crate::say!(
                        "{tag} Received Message: {}\n{tag} Sending Acknowledgement",
                        printable(&text)
                    );
                    write_all_until_shutdown(
                        stream,
                        ACKNOWLEDGEMENT.as_bytes(),
                        STALL_LIMIT,
                        &self.shutdown,
                    )?;
                    self.acknowledged.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
