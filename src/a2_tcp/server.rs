//! The half-echo server: accept, read the request, reply with its first
//! half, close. One connection and exit (as the seed), or `forever` with a
//! thread per connection on the kit's [server skeleton](crate::net::serve).

use super::framing::read_message;
use super::protocol::{half_echo, request_complete, SERVER_READ_SIZE};
use crate::net::serve::{accept_one, serve, Connection, Handler};
use crate::net::{bind_tcp, is_timeout, Conn, Limits, SocketOptions};
use crate::output::announce_listening;
use crate::python;
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use crate::{report, say, warn};
use std::io::{self, Read, Write};
use std::net::{Shutdown as Direction, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long writing the (at most 512-byte) reply may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server waits, after replying, for the client to close.
const LINGER_LIMIT: Duration = Duration::from_secs(2);

/// What the server binds and how it serves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The address to listen on (the seed: all IPv4 interfaces, port 2347).
    pub bind: SocketAddr,
    /// Serve every connection on its own thread until shutdown, instead of
    /// one connection and exit.
    pub forever: bool,
    /// With `forever`: the connection cap, per-source share and idle
    /// timeout (how long a connection may stay silent before it is closed
    /// unanswered; it applies to the single connection too).
    pub limits: Limits,
}

/// Runs the server until it has served one connection (or, with
/// `forever`, until shutdown); returns how many connections it accepted.
/// Problems with one connection are reported on stderr and never stop the
/// server.
pub fn run(config: &ServerConfig, shutdown: &Shutdown) -> io::Result<u64> {
    let listener = bind_tcp(config.bind, &SocketOptions::default())?;
    say!("server socket bind successfully");
    announce_listening(listener.local_addr()?, "tcp");
    say!("server socket listening");

    let accepted = if config.forever {
        let mut server = HalfEcho {
            request_timeout: config.limits.idle_timeout,
            shutdown: shutdown.clone(),
            accepted: 0,
        };
        serve(listener, config.limits, "a2", shutdown, &mut server)?;
        server.accepted
    } else if let Some((stream, peer)) = accept_one(&listener, shutdown)? {
        say!("Connected with {peer}");
        let exchange = Exchange {
            stream,
            peer,
            request_timeout: config.limits.idle_timeout,
            shutdown: shutdown.clone(),
        };
        exchange.run(None);
        1
    } else {
        0
    };
    report!("Server stopped after {accepted} connection(s)");
    Ok(accepted)
}

/// The `forever` server's side of the accept loop.
struct HalfEcho {
    request_timeout: Duration,
    shutdown: Shutdown,
    /// Connections accepted, refused ones included.
    accepted: u64,
}

impl Handler for HalfEcho {
    type Connection = Exchange;

    fn arrived(&mut self, peer: SocketAddr) {
        self.accepted += 1;
        say!("Connected with {peer}");
    }

    fn open(&mut self, stream: TcpStream, peer: SocketAddr, _conn: &Conn) -> Option<Exchange> {
        Some(Exchange {
            stream,
            peer,
            request_timeout: self.request_timeout,
            shutdown: self.shutdown.clone(),
        })
    }
}

/// One connection: a request in, half of it back.
struct Exchange {
    stream: TcpStream,
    peer: SocketAddr,
    /// How long the client may take to send its request.
    request_timeout: Duration,
    shutdown: Shutdown,
}

impl Connection for Exchange {
    fn serve(self, conn: Conn) {
        self.run(Some(&conn));
    }
}

impl Exchange {
    /// Serves the connection, reporting any failure on stderr. `conn` is
    /// its place in the lifecycle (none for the single connection without
    /// `forever`).
    fn run(mut self, conn: Option<&Conn>) {
        let peer = self.peer;
        match self.answer(conn) {
            Ok(request) if request.is_empty() => {
                say!("{peer} closed the connection without a request")
            }
            Ok(request) => say!(
                "Replied to {peer} with {} of {} bytes: {}",
                half_echo(&request).len(),
                request.len(),
                python::bytes_repr(half_echo(&request))
            ),
            Err(e) => warn!("{peer}: {e}; connection closed"),
        }
    }

    /// Reads the request and writes its first half back; returns the request.
    /// The stream is closed when the caller drops it.
    fn answer(&mut self, conn: Option<&Conn>) -> io::Result<Vec<u8>> {
        let (stream, shutdown) = (&mut self.stream, &self.shutdown);
        let request = read_message(
            stream,
            SERVER_READ_SIZE,
            request_complete,
            self.request_timeout,
            shutdown,
        )?;
        if let Some(conn) = conn {
            // An end of stream the server caused is no request to answer.
            if let Some(reason) = conn.closed() {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    reason.to_string(),
                ));
            }
            conn.record(request.len());
        }
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        stream.write_all(half_echo(&request))?;
        linger(stream, shutdown);
        Ok(request)
    }
}

/// Closes gracefully after the reply: sends FIN, then reads and discards
/// whatever the client still sends until it closes too (at most
/// [`LINGER_LIMIT`]). Closing a socket with unread input makes the kernel
/// send a reset, which can destroy the reply before the client has read it
/// (a client that sent more than the 1024 bytes the server reads would
/// otherwise see "connection reset" instead of its reply).
fn linger(stream: &mut TcpStream, shutdown: &Shutdown) {
    if stream.shutdown(Direction::Write).is_err()
        || stream.set_read_timeout(Some(POLL_INTERVAL)).is_err()
    {
        return;
    }
    let started = Instant::now();
    let mut discard = [0u8; 4096];
    while started.elapsed() < LINGER_LIMIT && !shutdown.is_triggered() {
        match stream.read(&mut discard) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
