//! The one TCP server skeleton every thread-per-connection server of the
//! kit runs on (a2, a3 dual, a3 file, a4 chat, a5 accio): accept until
//! shutdown, admit each newcomer to a [`Lifecycle`], run it on a named
//! thread of its own, warn about refusals and evictions, and drain what is
//! left when the server stops.
//!
//! ```text
//! accept ─► handler.arrived(peer)
//!        ─► admit ──► refused: handler.refused(stream, peer, why)   (warn, or the server's own reply)
//!                 └─► admitted (maybe after evicting: handler.evicted(old, peer))
//!                       ─► handler.open(stream, peer, conn) ─► its Connection state
//!                       ─► thread "<name>-conn-<id>": connection.serve(conn)
//! shutdown ─► the listener closes ─► handler.stopping(open) ─► drain(grace)
//! ```
//!
//! A server says what it does in two parts: a [`Handler`], owned by the
//! accept loop (counters, numbering, whatever must follow the accept
//! order), and its [`Connection`], the per-connection state that moves to
//! the connection's thread.

use super::{accept_until_shutdown, Conn, Lifecycle, Limits, Refused};
use crate::output::warn;
use crate::shutdown::Shutdown;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::thread::Builder;
use std::time::Duration;

/// One admitted connection's state, served on a thread of its own.
pub trait Connection: Send + 'static {
    /// Stack size of the connection's thread (`None`: the system default).
    /// Servers meant for a thousand clients keep it small.
    const STACK_SIZE: Option<usize> = None;

    /// The thread's name; `server` is the name given to [`serve`] and `id`
    /// is [`Conn::id`].
    fn thread_name(&self, server: &str, id: u64) -> String {
        format!("{server}-conn-{id}")
    }

    /// Serves the connection to its end. `conn` is its place in the
    /// lifecycle: record progress in it, ask it why a read ended.
    fn serve(self, conn: Conn);
}

/// What a server does with its connections, called on the accept loop (so
/// in accept order).
pub trait Handler {
    /// The state each admitted connection's thread gets.
    type Connection: Connection;

    /// A connection arrived, before admission (a2 and a3 file say so).
    fn arrived(&mut self, _peer: SocketAddr) {}

    /// Makes the state of an admitted connection, or `None` to drop it
    /// (the handler has said why).
    fn open(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        conn: &Conn,
    ) -> Option<Self::Connection>;

    /// A newcomer was refused. The default warns
    /// `PEER: refused: WHY; connection closed` and drops the stream; a
    /// server with something to tell the client (a4) or a close to make
    /// unmistakable (a5) answers here instead.
    fn refused(&mut self, stream: TcpStream, peer: SocketAddr, why: Refused) {
        warn_refused(peer, why);
        drop(stream);
    }

    /// `evicted` was closed to make room for `peer`. The default warns
    /// `EVICTED: evicted (least progress) to admit PEER`.
    fn evicted(&mut self, evicted: SocketAddr, peer: SocketAddr) {
        warn(format_args!(
            "{evicted}: evicted (least progress) to admit {peer}"
        ));
    }

    /// The system could not start the connection's thread; the connection
    /// is dropped (and closed) after this. The default warns.
    fn not_started(&mut self, connection: Self::Connection, peer: SocketAddr, error: io::Error) {
        drop(connection);
        warn(format_args!(
            "{peer}: cannot start a thread, connection dropped: {error}"
        ));
    }

    /// The accept loop has ended and the listener is closed; `open`
    /// connections are still being served. Returns how long they may go on
    /// by themselves before the drain closes them (default: not at all).
    fn stopping(&mut self, _open: usize) -> Duration {
        Duration::ZERO
    }
}

/// Warns `PEER: refused: WHY; connection closed`, the usual word on a
/// refused newcomer.
pub fn warn_refused(peer: SocketAddr, why: Refused) {
    warn(format_args!("{peer}: refused: {why}; connection closed"));
}

/// Runs a thread-per-connection server on `listener` until `shutdown`:
/// every connection is admitted under `limits` (see [`Lifecycle::admit`])
/// and handed to `handler`; `name` names the lifecycle's threads. Once the
/// accept loop ends, the listener is closed and the connections are
/// drained (see [`Handler::stopping`]). Returns how many connections were
/// started on their own thread.
pub fn serve<H: Handler>(
    listener: TcpListener,
    limits: Limits,
    name: &str,
    shutdown: &Shutdown,
    handler: &mut H,
) -> io::Result<u64> {
    let mut lifecycle = Lifecycle::new(limits, name)?;
    let mut started = 0u64;
    let accepted = accept_until_shutdown(&listener, shutdown, |stream, peer| {
        handler.arrived(peer);
        let admitted = match lifecycle.admit(&stream, peer, shutdown) {
            Ok(admitted) => admitted,
            Err(why) => {
                handler.refused(stream, peer, why);
                return ControlFlow::Continue(());
            }
        };
        if let Some(evicted) = admitted.evicted {
            handler.evicted(evicted, peer);
        }
        let conn = admitted.conn;
        let Some(connection) = handler.open(stream, peer, &conn) else {
            return ControlFlow::Continue(());
        };
        match spawn(&mut lifecycle, name, conn, connection) {
            Ok(()) => started += 1,
            Err((connection, error)) => handler.not_started(connection, peer, error),
        }
        ControlFlow::Continue(())
    });
    drop(listener);
    let grace = handler.stopping(lifecycle.open());
    lifecycle.drain(grace);
    accepted.map(|()| started)
}

/// Starts `connection` on its own thread. A failed spawn would drop
/// whatever its closure holds, so the state is handed over only once the
/// thread runs; on failure it comes back for [`Handler::not_started`].
fn spawn<C: Connection>(
    lifecycle: &mut Lifecycle,
    server: &str,
    conn: Conn,
    connection: C,
) -> Result<(), (C, io::Error)> {
    let mut thread = Builder::new().name(connection.thread_name(server, conn.id()));
    if let Some(size) = C::STACK_SIZE {
        thread = thread.stack_size(size);
    }
    let (hand_over, receive) = crossbeam_channel::bounded::<C>(1);
    let spawned = lifecycle.spawn(thread, conn, move |conn| {
        if let Ok(connection) = receive.recv() {
            connection.serve(conn);
        }
    });
    match spawned {
        Ok(()) => hand_over.send(connection).map_err(|unsent| {
            let error = io::Error::other("its thread ended before it started");
            (unsent.into_inner(), error)
        }),
        Err(error) => Err((connection, error)),
    }
}

/// Accepts one connection on the calling thread (the seeds' servers that
/// serve one client and exit); `None` if shutdown came first.
pub fn accept_one(
    listener: &TcpListener,
    shutdown: &Shutdown,
) -> io::Result<Option<(TcpStream, SocketAddr)>> {
    let mut first = None;
    accept_until_shutdown(listener, shutdown, |stream, peer| {
        first = Some((stream, peer));
        ControlFlow::Break(())
    })?;
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::mpsc;

    /// Echoes one byte back, then ends.
    struct Echo(TcpStream);

    impl Connection for Echo {
        fn serve(mut self, conn: Conn) {
            let mut byte = [0u8; 1];
            if self.0.read_exact(&mut byte).is_ok() {
                conn.record(1);
                let _ = self.0.write_all(&byte);
            }
        }
    }

    /// Counts what the skeleton tells it.
    #[derive(Default)]
    struct Counting {
        arrived: usize,
        refused: Vec<Refused>,
    }

    impl Handler for Counting {
        type Connection = Echo;

        fn arrived(&mut self, _peer: SocketAddr) {
            self.arrived += 1;
        }

        fn open(&mut self, stream: TcpStream, _peer: SocketAddr, _conn: &Conn) -> Option<Echo> {
            Some(Echo(stream))
        }

        fn refused(&mut self, _stream: TcpStream, _peer: SocketAddr, why: Refused) {
            self.refused.push(why);
        }
    }

    #[test]
    fn serves_on_threads_refuses_past_the_cap_and_drains() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let (done_tx, done) = mpsc::channel();
        let server_shutdown = shutdown.clone();
        let server = std::thread::spawn(move || {
            let mut handler = Counting::default();
            let started = serve(
                listener,
                Limits::new(1, Duration::from_secs(10)),
                "test",
                &server_shutdown,
                &mut handler,
            );
            done_tx.send((started.unwrap(), handler)).unwrap();
        });
        let timeout = Some(Duration::from_secs(5));
        // The first client holds the only place (it has sent nothing yet,
        // but is within the eviction grace), so the second is refused.
        let mut first = TcpStream::connect(addr).unwrap();
        first.set_read_timeout(timeout).unwrap();
        let mut second = TcpStream::connect(addr).unwrap();
        second.set_read_timeout(timeout).unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(second.read(&mut byte).unwrap(), 0, "the second got in");
        first.write_all(b"x").unwrap();
        first.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"x");
        shutdown.trigger();
        let (started, handler) = done.recv_timeout(Duration::from_secs(10)).unwrap();
        server.join().unwrap();
        assert_eq!(started, 1);
        assert_eq!(handler.arrived, 2);
        assert_eq!(handler.refused, [Refused::Full { max_clients: 1 }]);
    }
}
