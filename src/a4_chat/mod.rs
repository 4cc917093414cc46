//! # a4 — multi-client TCP chat with file upload
//!
//! The assignment (seed `003_…`): a chat server that any number of clients
//! join over TCP, where every line a user types is shown to everyone else,
//! and a user can upload a file into the server's `./server/` folder.
//!
//! ## Protocol flow
//!
//! Messages have no terminator and no length: the server reads up to 4096
//! bytes and treats each read as one message. *n* is the number of users
//! online (`user` when n ≤ 1, `users` otherwise).
//!
//! 1. **Join.** The new client gets `> Connected to the chat server (n users
//!    online)`; everyone else, and the server's log, get `> New user
//!    ip:port entered (n users online)`.
//! 2. **Chat.** The client sends the typed line without a newline; the
//!    others get `[ip:port] text`. The sender is not echoed (its terminal
//!    shows `[You] text`).
//! 3. **Upload.** The user types `I will upload a file` (plain chat) and
//!    then `#upload 'name.ext'`; the client sends `#upload 'name.ext' <size>`
//!    followed by the file's bytes. The server writes exactly `<size>` bytes
//!    to `./server/name.ext` and tells the others `> User ip:port has
//!    uploaded a file`; the uploader prints `> File 'name.ext' has uploaded!`.
//! 4. **Leave.** When a client closes, the others get `< The user ip:port
//!    left (n users online)`.
//! 5. **Server stop.** Ctrl-C prints `exit` and closes every connection;
//!    clients print `server closed`.
//!
//! ## What socklab fixes and adds
//!
//! The seed's server is one `select()` loop that crashes when an upload
//! header and file bytes arrive in one read, writes wherever `../` or `/`
//! in a file name point, dies when a send hits a reset peer, stalls
//! everybody behind one client that stops reading, and never closes
//! sockets. Here:
//!
//! - every client has a reader and a writer thread ([`server`]); a single
//!   hub thread (`hub.rs`) owns the client list and fans messages out through
//!   per-client queues bounded in bytes, so a reset or a client that stops
//!   reading (disconnected after `--stall-timeout`, or once more than
//!   `--max-backlog` bytes wait for it) affects nobody else, and memory stays
//!   bounded under a flood; the log drops lines rather than queue them;
//! - an upload header counts only where a message starts, alone or joined
//!   with the announcement, its file and what follows (`inbound.rs`); names
//!   must be plain file names without control or bidirectional formatting
//!   characters ([`protocol::plain_file_name`]), sizes are capped by
//!   `--max-upload`, a file appears under its name only when complete, and
//!   never over another: a taken name is saved as `name (1).ext`;
//! - a refused upload drops its bytes only until the client pauses, so a
//!   huge announced size cannot swallow the chat that follows;
//! - our client ends the upload header with a newline, which the seed's
//!   server ignores and which makes the size unambiguous; for the seed's
//!   client, whose header has none, the server tells the size's digits
//!   from a file's leading digits by waiting for the client's pause
//!   ([`protocol::split_size_digits`]);
//! - `--max-clients` turns extra connections away with a message.

mod hub;
mod inbound;
pub mod protocol;

pub mod client;
pub mod server;

pub use server::ServerConfig;
