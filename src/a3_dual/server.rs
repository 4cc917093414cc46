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
use std::io::{self, Read, Write};
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

/// Runs the server until shutdown. Each connection gets its own thread; a
/// client that resets, stalls or sends junk only ends its own connection.
pub fn run(config: &ServerConfig, shutdown: &Shutdown) -> io::Result<()> {
    let addr = resolve(&config.host, config.port)?;
    say(format!(
        "Address family: {} ({} resolved to {})\n",
        family_name(addr),
        config.host,
        addr.ip()
    ));
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
    say(format!(
        "Server is listening on {}:{}\n",
        local.ip(),
        local.port()
    ));
    if dual_stack {
        say("(the IPv6 wildcard serves IPv4 clients too)\n".into());
    }

    let acknowledged = Arc::new(AtomicU64::new(0));
    let mut accepted = 0u64;
    let mut lifecycle = Lifecycle::new(config.limits, "a3-dual")?;
    accept_until_shutdown(&listener, shutdown, |stream, peer| {
        let admitted = match lifecycle.admit(&stream, peer, shutdown) {
            Ok(admitted) => admitted,
            Err(refused) => {
                warn(format_args!(
                    "{peer}: refused: {refused}; connection closed"
                ));
                return ControlFlow::Continue(());
            }
        };
        if let Some(evicted) = admitted.evicted {
            warn(format_args!(
                "{evicted}: evicted (least progress) to admit {peer}"
            ));
        }
        accepted += 1;
        let connection = Connection {
            tag: format!("[#{accepted}]"),
            peer,
            shutdown: shutdown.clone(),
            acknowledged: Arc::clone(&acknowledged),
        };
        let thread = Builder::new().name(format!("a3-dual-conn-{accepted}"));
        let started = lifecycle.spawn(thread, admitted.conn, move |conn| {
            connection.serve(stream, &conn)
        });
        if let Err(e) = started {
            warn(format_args!(
                "{peer}: cannot start a thread, connection dropped: {e}"
            ));
        }
        ControlFlow::Continue(())
    })?;
    lifecycle.drain(Duration::ZERO);
    say(format!(
        "Server stopped: {accepted} connection(s), {} message(s) acknowledged\n",
        acknowledged.load(Ordering::Relaxed)
    ));
    Ok(())
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
        say(format!(
            "{tag} Got a connection from the address :  {}\n",
            crate::python::address_tuple(self.peer)
        ));
        match self.converse(&mut stream, conn) {
            Ok(End::Exit | End::PeerClosed) => say(format!("{tag} Closing Connection\n")),
            Ok(End::Shutdown | End::Closed(CloseReason::Shutdown)) => {
                say(format!("{tag} Closing Connection (server shutting down)\n"))
            }
            Ok(End::Closed(reason)) => say(format!("{tag} Closing Connection ({reason})\n")),
            Err(e) => eprintln!("{tag} {}: {e}; connection closed", self.peer),
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
                    say(format!("{tag} Received Message: exit\n"));
                    return Ok(End::Exit);
                }
                Incoming::Message(text) => {
                    say(format!(
                        "{tag} Received Message: {}\n{tag} Sending Acknowledgement\n",
                        printable(&text)
                    ));
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

/// Prints whole lines with one write, so lines from concurrent connections
/// never interleave mid-line. Output errors (a closed pipe) are ignored: a
/// server must not stop because nobody reads its log.
fn say(lines: String) {
    let _ = io::stdout().lock().write_all(lines.as_bytes());
}
