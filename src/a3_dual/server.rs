//! The dual-stack acknowledgement server, on the kit's
//! [server skeleton](crate::net::serve): one thread per connection, each
//! printing what it receives and answering every message with
//! `Acknowledgement` until `exit` or end of stream.

use super::protocol::{classify, family_name, printable, Incoming, ACKNOWLEDGEMENT, READ_SIZE};
use crate::net::serve::{serve, Connection, Handler};
use crate::net::{bind_tcp, is_timeout, resolve, CloseReason, Conn, Limits, SocketOptions};
use crate::output::announce_listening;
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
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
    /// The connection cap, per-source share and idle timeout.
    pub limits: Limits,
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

    let mut server = Acknowledger {
        shutdown: shutdown.clone(),
        acknowledged: Arc::new(AtomicU64::new(0)),
        accepted: 0,
    };
    serve(listener, config.limits, "a3-dual", shutdown, &mut server)?;
    let summary = ServerSummary {
        connections: server.accepted,
        acknowledged: server.acknowledged.load(Ordering::Relaxed),
    };
    crate::report!(
        "Server stopped: {} connection(s), {} message(s) acknowledged",
        summary.connections,
        summary.acknowledged
    );
    Ok(summary)
}

/// The server's side of the accept loop.
struct Acknowledger {
    shutdown: Shutdown,
    /// Messages acknowledged by all connections together.
    acknowledged: Arc<AtomicU64>,
    /// Connections admitted; each is tagged with its number.
    accepted: u64,
}

impl Handler for Acknowledger {
    type Connection = Conversation;

    fn open(&mut self, stream: TcpStream, peer: SocketAddr, _conn: &Conn) -> Option<Conversation> {
        self.accepted += 1;
        Some(Conversation {
            tag: format!("[#{}]", self.accepted),
            stream,
            peer,
            shutdown: self.shutdown.clone(),
            acknowledged: Arc::clone(&self.acknowledged),
        })
    }
}

/// How a conversation ended without an error.
enum End {
    /// The client sent `exit`.
    Exit,
    /// The client closed its side.
    PeerClosed,
    /// The server is shutting down.
    Shutdown,
    /// The server closed the connection (evicted or idle).
    Closed(CloseReason),
}

/// One accepted connection and what its thread needs.
struct Conversation {
    /// Prefix of every line this connection prints, e.g. `[#3]`.
    tag: String,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: Shutdown,
    /// Messages acknowledged by all connections together.
    acknowledged: Arc<AtomicU64>,
}

impl Connection for Conversation {
    /// Serves the connection to its end, reporting errors on stderr.
    fn serve(mut self, conn: Conn) {
        crate::say!(
            "{} Got a connection from the address :  {}",
            self.tag,
            crate::python::address_tuple(self.peer)
        );
        let end = self.converse(&conn);
        let tag = &self.tag;
        match end {
            Ok(End::Exit | End::PeerClosed) => crate::say!("{tag} Closing Connection"),
            Ok(End::Shutdown | End::Closed(CloseReason::Shutdown)) => {
                crate::say!("{tag} Closing Connection (server shutting down)")
            }
            Ok(End::Closed(reason)) => crate::say!("{tag} Closing Connection ({reason})"),
            Err(e) => crate::warn!("{tag} {}: {e}; connection closed", self.peer),
        }
    }
}

impl Conversation {
    /// Reads messages and acknowledges each one until the conversation ends.
    fn converse(&mut self, conn: &Conn) -> io::Result<End> {
        let stream = &mut self.stream;
        stream.set_read_timeout(Some(POLL_INTERVAL))?;
        stream.set_write_timeout(Some(POLL_INTERVAL))?;
        stream.set_nodelay(true)?;
        let tag = &self.tag;
        let mut buffer = [0u8; READ_SIZE];
        loop {
            let read = match stream.read(&mut buffer) {
                Ok(0) => return Ok(conn.closed().map_or(End::PeerClosed, End::Closed)),
                Ok(n) => {
                    conn.record(n);
                    &buffer[..n]
                }
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
                    conn.write_all(
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
