//! # a1 — UDP iPerf
//!
//! The assignment: measure UDP throughput between two programs. The client
//! sends a payload of 25–200 MB over UDP; the server counts what arrives and
//! replies with the throughput it saw.
//!
//! ## Protocol (UDP, `PROTOCOLS.md` § a1)
//!
//! ```text
//! client (127.0.0.1:7777)                     server (127.0.0.1:5555)
//!   START ------------------------------------>  start the clock
//!   payload, 1500-byte datagrams -------------->  count bytes, note the time
//!   ...                                             of the last one
//!   STOP -------------------------------------->  stop
//!   (STOP again every second until a reply)
//!   <----- "Throughput: X Kilobytes per second, received N bytes"
//! ```
//!
//! Byte *i* of the payload is `b'a' + i % 26`. X is the bytes counted
//! divided by the time from `START` to the last payload datagram, in
//! thousands of bytes per second. The `, received N bytes` tail is a socklab
//! extension: seed clients print the reply whole, socklab clients read N to
//! report loss.
//!
//! - [`protocol`]: markers, payload pattern, reply format, argument rules;
//! - [`server`]: the counting server;
//! - [`client`]: the sender thread and the `STOP`/reply exchange.

pub mod client;
pub mod protocol;
pub mod server;
