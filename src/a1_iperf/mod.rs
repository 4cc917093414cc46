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
//! Socklab to socklab it measures like iperf3: every datagram opens with a
//! small ASCII header (stream, sequence number, send time), so the receiver
//! counts loss by sequence, duplicates, reordering and RFC 3550 jitter;
//! interval reports appear on both sides and the server's travel back to
//! the client after its reply; `--time`, `--reverse` and `--parallel`.
//!
//! - [`protocol`]: markers, payload pattern, header, control messages,
//!   reply format, argument rules;
//! - [`stats`]: sequence statistics, jitter, intervals, the figures a side
//!   reports;
//! - [`sender`]: the sender threads (client, or server in reverse);
//! - [`report`]: human rows and JSON objects;
//! - [`guard`]: what the server may send and to whom: return
//!   routability, no amplification, the operator's caps;
//! - [`server`]: the counting server (its `--reverse` sender in
//!   `server/reverse.rs`);
//! - [`client`]: the client and its `STOP`/reply exchange.
//!
//! Every line goes through [`crate::output`] (`say!`, `report!`, `warn!`):
//! progress and interval rows are dropped with `--quiet`, the test reports
//! are kept, and `--json` prints one object instead.

pub mod client;
pub mod guard;
pub mod protocol;
pub mod report;
pub mod sender;
pub mod server;
pub mod stats;
