//! # a3 dual — one TCP program for IPv4 and IPv6
//!
//! Part 3 of the third assignment: a client and a server that work over
//! IPv4 or IPv6, whichever the given host resolves to (`127.0.0.1`, `::1`,
//! `localhost`, a name). Both print the family chosen.
//!
//! ## Protocol flow
//!
//! ```text
//! client                                  server (HOST PORT)
//!   | -- connect --------------------------> |  "Got a connection from the address : ..."
//!   | -- "Hii Server" ---------------------> |  "Received Message: Hii Server"
//!   | <------------------ "Acknowledgement" |  "Sending Acknowledgement"
//!   |        ... five rounds in all ...      |
//!   | -- "exit" ---------------------------> |  "Closing Connection"
//!   | -- close                               |  back to accepting
//! ```
//!
//! There is no framing: no length and no terminator. The server reads up
//! to 1024 bytes and treats each read as one message; the client waits for
//! each acknowledgement before it sends again, which keeps its messages in
//! separate reads.
//!
//! ## What differs from the seed
//!
//! - The seed serves one client at a time; here every connection has its
//!   own thread (lines are tagged `[#N]` so concurrent clients stay
//!   readable), and Ctrl-C stops the server within a fraction of a second
//!   (a blocked `accept()` is woken), with exit status 0.
//! - The seed client trusts one `recv` to hold one acknowledgement; this
//!   one reads exactly 15 bytes, so a reply split in pieces still counts as
//!   one, and a server that closes early or answers something else is a
//!   clear error.
//! - Bytes that are not UTF-8 (a `UnicodeDecodeError` in the seed) and
//!   clients that reset are handled per connection; the server keeps
//!   serving. `exit` may end with a newline, so `nc` works as a client.
//! - An IPv6 wildcard host (`::`) accepts IPv4 clients as well.
//! - `--count` and `--message` run more rounds or another message.

pub mod client;
pub mod protocol;
pub mod server;
