//! # a3 ping — UDP ping with artificial delay and loss, and the ramp
//!
//! The assignment (seed `002_…`, Part-1 Q1 and Q2): a UDP server that acts
//! like a bad network — it delays every acknowledgement by a random time and
//! drops one in ten — and two clients that measure it. The *ping* client
//! sends a probe every interval and reports each RTT and the loss; the
//! *ramp* client shrinks the interval by 5 % after every probe and reports
//! throughput and delay per second, with a plot.
//!
//! ## Protocol flow (UDP)
//!
//! ```text
//! client                                   server
//!   │ C <size>  ─────────────────────────────▶ │  calibration, answered at once
//!   │ ◀───────── Buffer Size Calibrated at Server.
//!   │ Hello Server 1 ....  ──────────────────▶ │  probe: wait a random delay,
//!   │ ◀──────────────── Packet Acknowledged 1  │  then ack (or drop it: loss)
//!   │ Hello Server 2 ....  ──────────────────▶ │  (every interval, paced)
//!   │          …                               │
//!   │ exit  ─────────────────────────────────▶ │
//!   │ ◀───────────────── Stopping the Server.  │  prints "Exiting" and stops
//! ```
//!
//! The seed's probe is a bare `Hello Server` and its ack a bare `Packet
//! Acknowledged`; socklab adds a sequence number (and pads the probe to the
//! requested size), and the server echoes the number back, so the client
//! can tell which probe an ack answers. Either side still talks to the
//! original Python program: [`protocol`] has the exact bytes.
//!
//! ## Modules
//! - [`protocol`] — the datagrams and their parsers;
//! - [`server`] — the impairing server (receive loop + ack timer thread);
//! - [`session`] — the paced sender / timestamping receiver pair both
//!   clients use, and the matching of acks to probes;
//! - [`client`] — the ping client's output and summary;
//! - [`ramp`] — the ramp client's per-second table, CSV and plot;
//! - [`svg`] — the small SVG chart writer behind the plot.

pub mod client;
pub mod protocol;
pub mod ramp;
pub mod server;
pub mod session;
pub mod svg;

use crate::output::{say, warn};
