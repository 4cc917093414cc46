//! # a3 relay — UDP relay between clients
//!
//! The assignment (seed `002_…`, Part 2, Feature 2, "Inter Process
//! Communication"): clients that know each other's IP and port talk through a
//! central UDP server. Each client first registers; then it can ask the
//! server to forward a message to another client.
//!
//! ## Protocol flow (all UDP, text, one request per datagram)
//!
//! ```text
//! client A                       server                        client B
//!    | "hii" ---------------------> |                               |
//!    | <--- "('127.0.0.1', 5000)"   |   <--------------------- "hii" |
//!    |                              |   "('127.0.0.1', 6000)" -----> |
//!    | "to:127.0.0.1/6000;content:hello" ->                          |
//!    |                              | "127.0.0.1/5000 ; content : hello" -> |
//!    | <- "200, UDP Packet Sent Successfully"                        |
//! ```
//!
//! The server checks a request in this order: `hii` in any case → the
//! sender's address as a Python tuple; exactly `exit server` → stop; no `;`
//! → `400`; header (before the first `;`) without exactly one `:` and one
//! `/`, or data without exactly one `:` → `401`; first word not `to` →
//! `402`; port not an integer → `403`; data word not `content` → `404`;
//! else forward and reply `200, UDP Packet Sent Successfully`, or `405, …`
//! when the message cannot be sent. The exact bytes live in [`protocol`].
//!
//! ## What socklab fixes
//!
//! - The seed is an open relay to any address on the internet; socklab
//!   forwards only to clients that said `hii` (others get `405`) unless
//!   started with `--open-relay`.
//! - `exit server` from anyone stopped the seed; socklab honours it only from
//!   loopback unless `--remote-exit`.
//! - Non-UTF-8 input crashed the seed; socklab answers it, and datagrams
//!   longer than the seed's 1024-byte buffer, with `400`.
//! - The seed client could only receive while sitting in menu 3, and took a
//!   forwarded message arriving while it waited for its `200` for the reply.
//!   socklab's client ([`client`]) receives in the background and tells
//!   replies from messages by their form.

pub mod client;
pub mod protocol;
pub mod server;
