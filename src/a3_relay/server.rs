//! The relay server: one UDP socket, one loop. Each datagram is decided by
//! [`Relay::handle`] (pure apart from the registry it keeps), then the loop
//! sends what was decided.
//!
//! It answers only whom it should: a datagram that is itself relay output
//! (a status, an address tuple, a forwarded message) is never answered, so
//! a forged source address cannot start two relays replying to each other
//! forever; `exit server` is honoured only from this host's loopback address
//! ([`crate::net::is_local_operator`]) unless `--remote-exit`; and every
//! datagram it sends — replies to the sender, forwards to the target —
//! passes a per-destination [`PerSourceLimiter`] (`--reply-burst`,
//! `--reply-rate`), so no address can be flooded through the relay.
//!
//! What it cannot stop: a forged `hii` registers the forged address, which
//! registered clients may then send messages to (within the limits). The
//! seed's clients prove nothing about their address, so no check at the
//! relay can tell a forged `hii` from a real one without breaking them.

use super::protocol::{self, ErrorCode, Request, TargetPort, MAX_REQUEST};
use crate::net::{self, SocketOptions};
use crate::ratelimit::{PerSourceLimiter, ReplyLimits};
use crate::shutdown::Shutdown;
use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};

/// How many registered clients the server remembers; the oldest is
/// forgotten first, so a flood of `hii` cannot grow memory without bound.
pub const DEFAULT_MAX_CLIENTS: usize = 65_536;

/// The receive buffer: large enough to see that a datagram is too long.
const RECEIVE_BUFFER: usize = 64 * 1024;

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The address to bind (the seed binds `0.0.0.0`).
    pub bind: SocketAddr,
    /// Forward to any address, as the seed does, not only to clients that
    /// said `hii`.
    pub open_relay: bool,
    /// Honour `exit server` from any address, not only from loopback.
    pub remote_exit: bool,
    /// Do not print a line per datagram.
    pub quiet: bool,
    /// How many registered clients to remember.
    pub max_clients: usize,
    /// Limits on the bytes the relay sends to any one address.
    pub reply_limits: ReplyLimits,
}

/// What the server does with one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this reply to the sender.
    Reply(String),
    /// Send `text` to `target`, then reply `200` (or `405` if sending fails).
    Forward {
        /// Where the message goes.
        target: SocketAddr,
        /// The forwarded message, `<srcIP>/<srcPort> ; content : <message>`.
        text: String,
    },
    /// Stop the server (an honoured `exit server`).
    Stop,
    /// Do nothing: a datagram from the server's own address, or relay
    /// output (a reply or a forwarded message) that must not be answered.
    Ignore,
}

/// The clients that said `hii`, oldest first.
#[derive(Debug, Default)]
struct Registry {
    members: HashSet<SocketAddr>,
    order: VecDeque<SocketAddr>,
    capacity: usize,
}

impl Registry {
    fn new(capacity: usize) -> Self {
        Registry {
            capacity: capacity.max(1),
            ..Registry::default()
        }
    }

    fn register(&mut self, addr: SocketAddr) {
        if !self.members.insert(addr) {
            return;
        }
        self.order.push_back(addr);
        if self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.members.remove(&oldest);
            }
        }
    }

    fn contains(&self, addr: &SocketAddr) -> bool {
        self.members.contains(addr)
    }
}

/// The relay's state and decisions, separate from the socket so the rules
/// can be tested without a network.
pub struct Relay {
    config: ServerConfig,
    local: SocketAddr,
    registry: Registry,
}

impl Relay {
    /// A relay whose socket is bound to `local`.
    pub fn new(config: ServerConfig, local: SocketAddr) -> Self {
        let registry = Registry::new(config.max_clients);
        Relay {
            config,
            local,
            registry,
        }
    }

    /// Decides what to do with `datagram` from `from`, with the seed's
    /// checks in the seed's order and socklab's fixes on top.
    pub fn handle(&mut self, datagram: &[u8], from: SocketAddr) -> Action {
        if self.is_self(from) {
            // A (spoofed) datagram from ourselves would start a reply loop.
            return Action::Ignore;
        }
        if datagram.len() > MAX_REQUEST {
            return reply_error(ErrorCode::NoSeparator);
        }
        let Ok(text) = std::str::from_utf8(datagram) else {
            return reply_error(ErrorCode::NoSeparator);
        };
        if protocol::is_relay_output(text) {
            // Another relay's reply (perhaps to a request forged in our
            // name): answering would start a loop.
            return Action::Ignore;
        }
        match protocol::parse_request(text) {
            Ok(Request::Hello) => {
                self.registry.register(from);
                Action::Reply(crate::python::address_tuple(from))
            }
            Ok(Request::ExitServer)
                if self.config.remote_exit || net::is_local_operator(from.ip()) =>
            {
                Action::Stop
            }
            // Not honoured: it is then a request without ';'.
            Ok(Request::ExitServer) => reply_error(ErrorCode::NoSeparator),
            Ok(Request::Forward {
                host,
                port,
                message,
            }) => match self.target(&host, port) {
                Some(target) => Action::Forward {
                    target,
                    text: protocol::forwarded_message(from, &message),
                },
                None => reply_error(ErrorCode::Unreachable),
            },
            Err(code) => reply_error(code),
        }
    }

    /// Where a forward goes, or `None` (→ `405`): a port out of range, a
    /// host that does not resolve, the relay itself, or — unless the relay is
    /// open — an address that never said `hii`.
    fn target(&self, host: &str, port: TargetPort) -> Option<SocketAddr> {
        let TargetPort::Port(port) = port else {
            return None;
        };
        let target = if self.config.open_relay {
            self.resolve(host, port)?
        } else {
            // Registered clients are addresses, so only IP literals can
            // match; no name lookups on a stranger's behalf.
            self.in_socket_family(SocketAddr::new(host.parse().ok()?, port))?
        };
        if self.is_self(target) || (!self.config.open_relay && !self.registry.contains(&target)) {
            return None;
        }
        Some(target)
    }

    /// Resolves a host as Python's `sendto` on an IPv4 socket would: IP
    /// literals, names, and the empty string for "any" (which is this host).
    fn resolve(&self, host: &str, port: u16) -> Option<SocketAddr> {
        if host.is_empty() {
            let any = match self.local {
                SocketAddr::V4(_) => IpAddr::from([0, 0, 0, 0]),
                SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
            };
            return Some(SocketAddr::new(any, port));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.in_socket_family(SocketAddr::new(ip, port));
        }
        (host, port)
            .to_socket_addrs()
            .ok()?
            .find_map(|addr| self.in_socket_family(addr))
    }

    /// `addr` as the relay's socket can reach it: IPv4 on an IPv6 socket
    /// becomes IPv4-mapped; IPv6 on an IPv4 socket is unreachable.
    fn in_socket_family(&self, addr: SocketAddr) -> Option<SocketAddr> {
        match (self.local, addr.ip()) {
            (SocketAddr::V4(_), IpAddr::V6(_)) => None,
            (SocketAddr::V6(_), IpAddr::V4(v4)) => {
                Some(SocketAddr::new(v4.to_ipv6_mapped().into(), addr.port()))
            }
            _ => Some(addr),
        }
    }

    /// Whether `addr` is the relay's own socket.
    fn is_self(&self, addr: SocketAddr) -> bool {
        addr.port() == self.local.port()
            && (is_loopback(addr.ip())
                || addr.ip().is_unspecified()
                || addr.ip() == self.local.ip())
    }
}

fn reply_error(code: ErrorCode) -> Action {
    Action::Reply(code.reply().to_string())
}

/// Loopback, including IPv4-mapped `::ffff:127.0.0.1`.
fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// What the server did, printed when it stops.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServerSummary {
    /// Datagrams received.
    pub datagrams: u64,
    /// Messages forwarded (replied `200`).
    pub forwarded: u64,
    /// Requests refused with `400`…`405`.
    pub refused: u64,
    /// Datagrams not answered: relay output, or from the relay itself.
    pub ignored: u64,
    /// Replies and forwards not sent because their destination had used up
    /// its bytes (`--reply-burst`, `--reply-rate`).
    pub limited: u64,
}

impl std::fmt::Display for ServerSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Relay stopped: {} datagrams, {} forwarded, {} refused, {} ignored, {} rate-limited",
            self.datagrams, self.forwarded, self.refused, self.ignored, self.limited
        )
    }
}

/// Binds, prints the readiness line and relays until `exit server` or
/// shutdown; returns what it did.
pub fn run(config: ServerConfig, shutdown: &Shutdown) -> io::Result<ServerSummary> {
    let socket = net::bind_udp(config.bind, &SocketOptions::default())?;
    let local = socket.local_addr()?;
    crate::output::announce_listening(local, "udp");
    let quiet = config.quiet;
    let mut limiter = config.reply_limits.limiter();
    let mut relay = Relay::new(config, local);
    let mut summary = ServerSummary::default();
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    while let Some((len, from)) = net::recv_from_until_shutdown(&socket, &mut buffer, shutdown)? {
        summary.datagrams += 1;
        let datagram = &buffer[..len];
        let action = relay.handle(datagram, from);
        let outcome = match &action {
            Action::Reply(reply) => {
                if reply.starts_with('4') {
                    summary.refused += 1;
                }
                send_limited(&socket, &mut limiter, reply, from)
            }
            Action::Forward { target, text } => {
                let sent = limiter.allow(target.ip(), text.len())
                    && socket.send_to(text.as_bytes(), target).is_ok();
                let reply = if sent {
                    summary.forwarded += 1;
                    protocol::SUCCESS
                } else {
                    summary.refused += 1;
                    ErrorCode::Unreachable.reply()
                };
                format!(
                    "{} (to {target})",
                    send_limited(&socket, &mut limiter, reply, from)
                )
            }
            Action::Stop => "exit".to_string(),
            Action::Ignore => {
                summary.ignored += 1;
                "ignored".to_string()
            }
        };
        if !quiet {
            log(from, datagram, &outcome);
        }
        if action == Action::Stop {
            break;
        }
    }
    summary.limited = limiter.dropped();
    Ok(summary)
}

/// Sends `reply` to `to` if the limiter allows it; returns what to log.
fn send_limited(
    socket: &UdpSocket,
    limiter: &mut PerSourceLimiter,
    reply: &str,
    to: SocketAddr,
) -> String {
    if limiter.allow(to.ip(), reply.len()) {
        send(socket, reply, to);
        reply.to_string()
    } else {
        format!("{reply} (not sent: rate limit)")
    }
}

/// Sends a reply; a failure concerns only that client, so it is logged.
fn send(socket: &UdpSocket, reply: &str, to: SocketAddr) {
    if let Err(e) = socket.send_to(reply.as_bytes(), to) {
        crate::warn!("cannot reply to {to}: {e}");
    }
}

/// One line per datagram: sender, the request (escaped, shortened) and
/// the outcome.
fn log(from: SocketAddr, datagram: &[u8], outcome: &str) {
    const SHOWN: usize = 80;
    let text = String::from_utf8_lossy(&datagram[..datagram.len().min(SHOWN)]);
    let more = if datagram.len() > SHOWN { "…" } else { "" };
    crate::say!("{from} {text:?}{more} -> {outcome}");
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: &str = "0.0.0.0:9000";

    fn relay(open_relay: bool, remote_exit: bool) -> Relay {
        let config = ServerConfig {
            bind: LOCAL.parse().unwrap(),
            open_relay,
            remote_exit,
            quiet: true,
            max_clients: 2,
            reply_limits: ReplyLimits::default(),
        };
        Relay::new(config, LOCAL.parse().unwrap())
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn reply(text: &str) -> Action {
        Action::Reply(text.to_string())
    }

    #[test]
    fn hello_registers_and_answers_the_tuple() {
        let mut relay = relay(false, false);
        let alice = addr("192.0.2.1:5000");
        let bob = addr("127.0.0.1:6000");
        assert_eq!(
            relay.handle(b"to:127.0.0.1/6000;content:hi", alice),
            reply(ErrorCode::Unreachable.reply())
        );
        assert_eq!(relay.handle(b"HII", bob), reply("('127.0.0.1', 6000)"));
        assert_eq!(
            relay.handle(b"to: 127.0.0.1 /6000;content: hi ", alice),
            Action::Forward {
                target: bob,
                text: "192.0.2.1/5000 ; content : hi".into()
            }
        );
    }

    #[test]
    fn closed_relay_refuses_names_ranges_and_itself() {
        let mut relay = relay(false, false);
        let alice = addr("127.0.0.1:5000");
        relay.handle(b"hii", alice);
        let unreachable = reply(ErrorCode::Unreachable.reply());
        for request in [
            "to:localhost/5000;content:x",
            "to:127.0.0.1/70000;content:x",
            "to:127.0.0.1/-1;content:x",
            "to:127.0.0.1/9000;content:x",
            "to:127.0.0.1/5001;content:x",
        ] {
            assert_eq!(
                relay.handle(request.as_bytes(), alice),
                unreachable,
                "{request}"
            );
        }
    }

    #[test]
    fn registry_forgets_the_oldest_beyond_capacity() {
        let mut relay = relay(false, false);
        let sender = addr("127.0.0.1:1");
        for port in [2, 3, 2, 4] {
            relay.handle(b"hii", addr(&format!("127.0.0.1:{port}")));
        }
        let to = |port: u16| format!("to:127.0.0.1/{port};content:x");
        assert_eq!(
            relay.handle(to(2).as_bytes(), sender),
            reply(ErrorCode::Unreachable.reply())
        );
        assert!(matches!(
            relay.handle(to(3).as_bytes(), sender),
            Action::Forward { .. }
        ));
        assert!(matches!(
            relay.handle(to(4).as_bytes(), sender),
            Action::Forward { .. }
        ));
    }

    #[test]
    fn open_relay_forwards_anywhere_but_itself() {
        let mut relay = relay(true, false);
        let sender = addr("192.0.2.1:5000");
        assert_eq!(
            relay.handle(b"to:192.0.2.7/53;content:x", sender),
            Action::Forward {
                target: addr("192.0.2.7:53"),
                text: "192.0.2.1/5000 ; content : x".into()
            }
        );
        assert_eq!(
            relay.handle(b"to:/53;content:x", sender),
            Action::Forward {
                target: addr("0.0.0.0:53"),
                text: "192.0.2.1/5000 ; content : x".into()
            }
        );
        assert_eq!(
            relay.handle(b"to:127.0.0.1/9000;content:x", sender),
            reply(ErrorCode::Unreachable.reply())
        );
    }

    #[test]
    fn exit_only_from_loopback_unless_allowed() {
        let mut closed = relay(false, false);
        assert_eq!(
            closed.handle(b"exit server", addr("192.0.2.1:1")),
            reply("400")
        );
        assert_eq!(
            closed.handle(b"exit server", addr("127.0.0.1:1")),
            Action::Stop
        );
        assert_eq!(closed.handle(b"exit server", addr("[::1]:1")), Action::Stop);
        assert_eq!(
            closed.handle(b"exit server", addr("[::ffff:127.0.0.1]:1")),
            Action::Stop
        );
        // Other 127/8 addresses are not this host's operator.
        assert_eq!(
            closed.handle(b"exit server", addr("127.0.0.2:1")),
            reply("400")
        );
        let mut remote = relay(false, true);
        assert_eq!(
            remote.handle(b"exit server", addr("192.0.2.1:1")),
            Action::Stop
        );
    }

    #[test]
    fn junk_is_answered_400_and_self_is_ignored() {
        let mut relay = relay(false, false);
        let sender = addr("127.0.0.1:5000");
        assert_eq!(relay.handle(&[0xff, 0xfe, b';'], sender), reply("400"));
        assert_eq!(relay.handle(&[b';'; MAX_REQUEST + 1], sender), reply("400"));
        assert_eq!(relay.handle(&[b';'; MAX_REQUEST], sender), reply("401"));
        assert_eq!(relay.handle(b"", sender), reply("400"));
        assert_eq!(relay.handle(b"400", addr("127.0.0.1:9000")), Action::Ignore);
    }

    #[test]
    fn relay_output_is_never_answered() {
        let mut relay = relay(false, false);
        let other_relay = addr("127.0.0.3:9001");
        for output in [
            "400",
            "401",
            "405, Could not send the message to the requested address",
            protocol::SUCCESS,
            "('127.0.0.3', 9001)",
            "127.0.0.2/5000 ; content : hi",
        ] {
            assert_eq!(
                relay.handle(output.as_bytes(), other_relay),
                Action::Ignore,
                "{output}"
            );
        }
        // Requests are still answered.
        assert_eq!(relay.handle(b"hello", other_relay), reply("400"));
    }
}
