//! # a2 — TCP basics: the half-echo server and its client
//!
//! The course's first socket lab (the "Lab1" notebook): create a TCP
//! socket, connect, send, receive, close — and the server side: bind,
//! listen, accept.
//!
//! ## Protocol flow
//!
//! ```text
//! client                                server (port 2347, all interfaces)
//!   | -- connect ------------------------> |  prints "Connected with IP:PORT"
//!   | -- "GET / HTTP/1.1\r\n\r\n" (18 B) -> |  reads the request (up to 1024 B)
//!   | <----------- "GET / HTT" (9 B) ----- |  replies with its first half
//!   | <----------------------------- close |
//!   prints b'GET / HTT'
//! ```
//!
//! The seed server serves one connection and exits; `forever` serves each
//! connection on its own thread until Ctrl-C. The client works against any
//! TCP server (a web server answers the request with its own reply).
//!
//! ## What differs from the seed
//!
//! - The seed's `data_str[BUFFER_SIZE / 2]` is a `TypeError` in Python 3;
//!   the intended half-echo ([`protocol::half_echo`]) is what is sent.
//! - TCP has no message boundaries, so one read may see only part of the
//!   request. The server keeps reading while the request is evidently
//!   unfinished — until the HTTP header's blank line, 1024 bytes, end of
//!   stream, or a short quiet gap ([`framing`]). A request that arrives in
//!   one read is answered with exactly the seed's bytes; one that arrives in
//!   pieces is answered as if it had not been split. The client reads its
//!   reply the same way, up to 2000 bytes.
//! - Unknown hosts, refused connections and silent peers are clear errors,
//!   not tracebacks or hangs; a misbehaving client never stops the server.

pub mod client;
pub mod framing;
pub mod protocol;
pub mod server;
