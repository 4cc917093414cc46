//! Socket plumbing shared by the assignments: resolving `HOST PORT`, binding
//! with explicit buffer sizes (the one thing std cannot do, hence `socket2`),
//! an accept loop that stops on shutdown and backs off when `accept` fails,
//! a UDP receive that stops on shutdown too, and [`Lifecycle`]: the one
//! connection lifecycle of every TCP server (a cap, a per-source share,
//! eviction of the connection that has made the least progress, an idle
//! timeout, named threads and a bounded drain on shutdown).
//!
//! Listeners bound to the IPv6 wildcard `::` are dual-stack (`IPV6_V6ONLY`
//! off unless asked otherwise), so a server started without `--bind` takes
//! IPv4 and IPv6 clients; the IPv4 peers it sees (`::ffff:127.0.0.1`) are
//! reported as plain IPv4 ([`canonical`]), as the seeds print them.
//!
//! Clients: [`connect_first`] connects to the first address a name resolves
//! to that answers; [`connect_udp`] gives a *connected* UDP socket, so an
//! ICMP port-unreachable ends a run at once ([`recv_connected`] reports it
//! as [`no_server`]).

//! The parts, each in a module of its own and re-exported here, so every
//! item is `crate::net::…`:
//! - [`bind`] — resolving, binding, the wildcard address, connecting a client;
//! - [`accept`] — the accept loop and stall-aware writes;
//! - [`lifecycle`] — admission, eviction, idle timeout and drain of TCP
//!   connections;
//! - [`udp`] — shutdown-aware receives, connected UDP, path MTU, receive
//!   time stamps;
//! - [`sys`] — every C call of the kit, on `libc`'s constants and types.

pub mod accept;
pub mod bind;
pub mod lifecycle;
pub mod offload;
pub mod serve;
pub mod sys;
pub mod udp;

pub use accept::{
    accept_until_shutdown, is_timeout, reset_on_close, write_all_until_shutdown,
    ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN,
};
pub use bind::{
    any_address, bind_tcp, bind_udp, canonical, connect_first, is_local_operator, reachable,
    resolve, resolve_all, SocketOptions,
};
pub use lifecycle::{
    default_share, Admitted, CloseReason, Conn, Lifecycle, Limits, Refused, WhenFull,
    EVICTION_GRACE,
};
pub use udp::{
    connect_udp, enable_receive_timestamps, no_server, path_mtu, recv_connected, recv_from_stamped,
    recv_from_until_shutdown, recv_from_with_deadline, udp_header_bytes,
};
