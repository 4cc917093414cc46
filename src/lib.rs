//! # socklab
//!
//! Small, fast, multithreaded socket programs that reimplement five classic
//! networking-course assignments, wire-compatible with the original Python
//! programs (see `PROTOCOLS.md` in the shared folder, summarised in each
//! module's documentation).
//!
//! The library does the work; each binary in `bin/` parses its arguments
//! and calls one module here.
//!
//! Shared building blocks:
//! - [`shutdown`] — Ctrl-C / SIGTERM as a signal every blocking loop notices;
//! - [`pacing`] — drift-free schedules for paced senders;
//! - [`net`] — resolving, binding with buffer sizes, shutdown-aware accept/recv,
//!   the TCP connection lifecycle, UDP extras, and every C call ([`net::sys`]);
//! - [`stats`] — min/mean/max/mdev/percentiles;
//! - [`output`] — readiness line, human units, progress, JSON;
//! - [`cli`] — the one argument layer: flags, value parsers, exit statuses;
//! - [`error`] — context for I/O errors (`cannot bind …: …`);
//! - [`sync`] — mutex locks that survive a panicked thread;
//! - [`python`] — values printed the way the Python seeds print them;
//! - [`ratelimit`] — per-source token buckets that keep UDP replies from being a reflector;
//! - [`files`] — exclusive temporary files and publishing that never overwrites.
//!
//! Tools:
//! - [`check`] — `socklab-check`, a protocol conformance checker for any
//!   implementation of the assignments.
//!
//! Assignments:
//! - [`a1_iperf`] — UDP iPerf;
//! - [`a2_tcp`] — TCP basics (half-echo);
//! - [`a3_ping`] — UDP ping with artificial delay and loss, and the ramp;
//! - [`a3_file`] — keyed TCP file transfer;
//! - [`a3_relay`] — UDP relay between clients;
//! - [`a3_dual`] — IPv4/IPv6 TCP echo;
//! - [`a4_chat`] — multi-client TCP chat with file upload;
//! - [`a5_accio`] — threaded file receiver.

// One output path: lines go through `output` (which never panics on a
// closed pipe and honours --quiet/--json). The print macros are refused here
// and in every binary (`#![deny]` at their top), and `clippy.toml` refuses
// `io::stdout()`/`io::stderr()` outside `output`.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod check;
pub mod cli;
pub mod error;
pub mod files;
pub mod net;
pub mod output;
pub mod pacing;
pub mod python;
pub mod ratelimit;
pub mod shutdown;
pub mod stats;
pub mod sync;

pub mod a1_iperf;
pub mod a2_tcp;
pub mod a3_dual;
pub mod a3_file;
pub mod a3_ping;
pub mod a3_relay;
pub mod a4_chat;
pub mod a5_accio;
