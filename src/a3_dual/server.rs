//! The dual-stack acknowledgement server: one thread per connection, each
//! printing what it receives and answering every message with
//! `Acknowledgement` until `exit` or end of stream.

use super::protocol::{classify, family_name, printable, Incoming, ACKNOWLEDGEMENT, READ_SIZE};
use crate::net::{
    accept_until_shutdown, bind_tcp, is_timeout, resolve, CloseReason, Conn, Lifecycle, Limits,
    SocketOptions,
};
use crate::output::{announce_listening, warn};
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::Builder;
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

    let acknowledged = Arc::new(AtomicU64::new(0));
    let mut accepted = 0u64;
    let mut lifecycle = Lifecycle::new(config.limits, "a3-dual")?;
    accept_until_shutdown(&listener, shutdown, |stream, peer| {
        let Some(conn) = lifecycle.admit_or_warn(&stream, peer, shutdown) else {
            return ControlFlow::Continue(());
        };
        accepted += 1;
        let connection = Connection {
            tag: format!("[#{accepted}]"),
            peer,
            shutdown: shutdown.clone(),
            acknowledged: Arc::clone(&acknowledged),
        };
        let thread = Builder::new().name(format!("a3-dual-conn-{accepted}"));
        let started = lifecycle.spawn(thread, conn, move |conn| connection.serve(stream, &conn));
        if let Err(e) = started {
            warn(format_args!(
                "{peer}: cannot start a thread, connection dropped: {e}"
            ));
        }
        ControlFlow::Continue(())
    })?;
    lifecycle.drain(Duration::ZERO);
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
    /// The server closed the connection (evicted or idle).
    Closed(CloseReason),
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
    fn serve(self, mut stream: TcpStream, conn: &Conn) {
        let tag = &self.tag;
        crate::say!(
            "{tag} Got a connection from the address :  {}",
            crate::python::address_tuple(self.peer)
        );
        match self.converse(&mut stream, conn) {
            Ok(End::Exit | End::PeerClosed) => crate::say!("{tag} Closing Connection"),
            Ok(End::Shutdown | End::Closed(CloseReason::Shutdown)) => {
                crate::say!("{tag} Closing Connection (server shutting down)")
            }
            Ok(End::Closed(reason)) => crate::say!("{tag} Closing Connection ({reason})"),
            Err(e) => crate::warn!("{tag} {}: {e}; connection closed", self.peer),
        }
    }

    /// Reads messages and acknowledges each one until the conversation ends.
    fn converse(&self, stream: &mut TcpStream, conn: &Conn) -> io::Result<End> {
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
