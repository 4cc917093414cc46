//! # a3 file — TCP file transfer with a shared key
//!
//! The assignment (seed `002_…`, Part-2 Feature 1): a server offers one file;
//! a client that knows the shared key downloads it.
//!
//! ```text
//! client                                   server (a3-file-server PORT PATH)
//!   | ---- SECRET_KEY ----------------------> |  key compared in constant time
//!   | <--- AUTH_ERROR, close ---------------- |  wrong key (server keeps serving)
//!   | <--- AUTH_SUCCESS --------------------- |  right key
//!   |        (short pause)                    |
//!   | <--- the file's bytes ----------------- |  streamed from disk
//!   | <--- close (EOF = end of the file) ---- |
//! ```
//!
//! There is no length prefix: the file is everything after the 12 bytes of
//! `AUTH_SUCCESS` up to the server's close. Two consequences shape the code:
//!
//! - The seed client reads the reply with one `recv(1024)` and throws away
//!   file bytes that came in the same read, so the [`server`] sends
//!   `AUTH_SUCCESS` on its own and pauses briefly before the file. The
//!   [`client`] keeps every byte after the 12-byte reply instead.
//! - A clean close is the only "done" signal, so the server makes every
//!   other ending (killed, shut down, stalled client) a connection *reset*,
//!   and the client stores into a temporary file that it renames into place
//!   only after a clean close.
//!
//! Beyond the seed: one thread per connection (the seed served one client
//! and exited; `--once` keeps that), idle clients dropped after a timeout,
//! progress on stderr, an optional send-rate limit, and clear errors.

pub mod client;
pub mod protocol;
pub mod server;

pub use client::{fetch, ClientConfig, Fetched};
pub use server::{serve, ServerConfig};
