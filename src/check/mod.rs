//! # socklab-check — a protocol conformance checker
//!
//! Tests anyone's implementation (any language) of any of the nine
//! assignment programs against the wire contract in `PROTOCOLS.md`, in the
//! spirit of h2spec and the Autobahn testsuite, and says which byte was
//! wrong.
//!
//! How it works:
//! - Each target (assignment + role) has a list of [`Case`]s in its own
//!   file ([`a1`], [`a2`], [`ping`], [`file`](mod@file), [`relay`], [`dual`],
//!   [`chat`], [`accio`]). A case is a function that drives the program
//!   under test through a [`Ctx`] and returns a [`Verdict`].
//! - In the server role the checker starts the server command (once per
//!   case, so every case sees a fresh process), waits until its port is
//!   bound, and plays the client. In the client role it binds the server's
//!   port itself, starts the client command, plays the server, and types
//!   into the client's standard input as a user would.
//! - Cases are grouped in two [`Tier`]s: `wire` (what the course protocol
//!   requires; the original programs pass) and `robust` (the seeds' faults a
//!   good implementation must not have).
//!
//! The pieces: [`target`] fills `{host}`/`{port}`/`{dir}`/`{file}` into
//! the command and knows when a server is ready; [`process`] starts,
//! limits, isolates and contains the programs under test (its raw C calls
//! are in the private `sys` module); [`class`] grades a whole class; [`wire`] holds
//! socket helpers with deadlines and the verdict types; [`runner`] selects,
//! times and reports cases (text or JSON).

pub mod a1;
pub mod a2;
pub mod accio;
pub mod chat;
pub mod class;
pub mod dual;
pub mod file;
pub mod ping;
pub mod process;
pub mod ramp;
pub mod relay;
pub mod runner;
mod sys;
pub mod target;
pub mod wire;

pub use runner::{run, Options, Source};
pub use target::Ctx;
pub use wire::{Fail, Verdict};

use std::fmt;
use std::time::Duration;

/// The nine assignment programs the checker knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// a1 UDP iPerf.
    A1,
    /// a2 TCP half-echo.
    A2,
    /// a3 UDP ping with delay and loss.
    Ping,
    /// a3 decreasing-interval ramp (client only; its server is the ping server).
    Ramp,
    /// a3 keyed TCP file transfer.
    File,
    /// a3 UDP relay between clients.
    Relay,
    /// a3 IPv4/IPv6 TCP.
    Dual,
    /// a4 multi-client chat with upload.
    Chat,
    /// a5 threaded file receiver.
    Accio,
}

impl Assignment {
    /// Every assignment, in command-line order.
    pub const ALL: [Assignment; 9] = [
        Assignment::A1,
        Assignment::A2,
        Assignment::Ping,
        Assignment::Ramp,
        Assignment::File,
        Assignment::Relay,
        Assignment::Dual,
        Assignment::Chat,
        Assignment::Accio,
    ];

    /// The name used on the command line (`a1`, `ping`, …).
    pub fn name(self) -> &'static str {
        match self {
            Assignment::A1 => "a1",
            Assignment::A2 => "a2",
            Assignment::Ping => "ping",
            Assignment::Ramp => "ramp",
            Assignment::File => "file",
            Assignment::Relay => "relay",
            Assignment::Dual => "dual",
            Assignment::Chat => "chat",
            Assignment::Accio => "accio",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Assignment> {
        Assignment::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The transport a server of this assignment listens on.
    pub fn transport(self) -> Transport {
        match self {
            Assignment::A1 | Assignment::Ping | Assignment::Ramp | Assignment::Relay => {
                Transport::Udp
            }
            _ => Transport::Tcp,
        }
    }
}

impl fmt::Display for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which side the program under test plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The checker plays the client.
    Server,
    /// The checker plays the server.
    Client,
}

impl Role {
    /// `server` or `client`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The two tiers of cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// What the course protocol requires, byte for byte.
    Wire,
    /// What the original programs get wrong and a good one must not.
    Robust,
}

impl Tier {
    /// `wire` or `robust`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Wire => "wire",
            Tier::Robust => "robust",
        }
    }
}

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A stream socket.
    Tcp,
    /// A datagram socket.
    Udp,
}

/// Whether a case can run against a server that is already running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Only talks to the server over the network (runs with `--addr`).
    Network,
    /// Needs its own process: looks at its exit, output, signals or files
    /// (skipped with `--addr`).
    Process,
}

/// One check: a name, what it checks, and the function that checks it.
pub struct Case {
    /// Short kebab-case name (for `--case`).
    pub name: &'static str,
    /// The tier it belongs to.
    pub tier: Tier,
    /// One line on what it checks (for `--list`).
    pub about: &'static str,
    /// Whether it needs its own process.
    pub needs: Needs,
    /// How long it may take before it is failed as hung.
    pub timeout: Duration,
    /// The check itself.
    pub run: Check,
    /// What the program's parameters must give the case (for example `7
    /// probes`), stated by `--list`; a run that falls short is skipped with
    /// the reason, not failed.
    pub minimum: Option<&'static str>,
}

impl Case {
    /// The case with `minimum` stated (see [`Case::minimum`]).
    pub fn needing(self, minimum: &'static str) -> Case {
        Case {
            minimum: Some(minimum),
            ..self
        }
    }
}

/// The function that runs a case.
pub type Check = fn(&mut Ctx) -> Verdict;

/// A maker of cases that share one `timeout`: `case(name, tier, about,
/// needs, run)`.
pub fn cases_within(
    timeout: Duration,
) -> impl Fn(&'static str, Tier, &'static str, Needs, Check) -> Case {
    move |name, tier, about, needs, run| Case {
        name,
        tier,
        about,
        needs,
        timeout,
        run,
        minimum: None,
    }
}

/// A maker of cases that need their own process (every client case) and
/// share one `timeout`: `case(name, tier, about, run)`.
pub fn process_cases_within(
    timeout: Duration,
) -> impl Fn(&'static str, Tier, &'static str, Check) -> Case {
    let case = cases_within(timeout);
    move |name, tier, about, run| case(name, tier, about, Needs::Process, run)
}

/// The cases for one target, or `None` for a target that does not exist
/// (the ramp has no server of its own).
pub fn cases(assignment: Assignment, role: Role) -> Option<Vec<Case>> {
    Some(match (assignment, role) {
        (Assignment::A1, Role::Server) => a1::server_cases(),
        (Assignment::A1, Role::Client) => a1::client_cases(),
        (Assignment::A2, Role::Server) => a2::server_cases(),
        (Assignment::A2, Role::Client) => a2::client_cases(),
        (Assignment::Ping, Role::Server) => ping::server_cases(),
        (Assignment::Ping, Role::Client) => ping::client_cases(),
        (Assignment::Ramp, Role::Server) => return None,
        (Assignment::Ramp, Role::Client) => ramp::client_cases(),
        (Assignment::File, Role::Server) => file::server_cases(),
        (Assignment::File, Role::Client) => file::client_cases(),
        (Assignment::Relay, Role::Server) => relay::server_cases(),
        (Assignment::Relay, Role::Client) => relay::client_cases(),
        (Assignment::Dual, Role::Server) => dual::server_cases(),
        (Assignment::Dual, Role::Client) => dual::client_cases(),
        (Assignment::Chat, Role::Server) => chat::server_cases(),
        (Assignment::Chat, Role::Client) => chat::client_cases(),
        (Assignment::Accio, Role::Server) => accio::server_cases(),
        (Assignment::Accio, Role::Client) => accio::client_cases(),
    })
}

/// The Ctrl-C case every server role has: SIGINT to an idle server's
/// process group (as a terminal sends it) ends it within 2 s without a
/// traceback.
fn ctrl_c_server(ctx: &mut Ctx) -> Verdict {
    ctx.start_server("127.0.0.1")?;
    std::thread::sleep(Duration::from_millis(200));
    let target = ctx.target()?;
    target.signal(target::SIGINT);
    let status = target.expect_exit(Duration::from_secs(2), "after Ctrl-C")?;
    let stderr = target.stderr();
    if target::contains(&stderr, "Traceback (most recent call last)") {
        return Err(Fail::problem(format!(
            "Ctrl-C ended it with a traceback ({status}){}",
            target.stderr_tail()
        )));
    }
    Ok(format!("stopped on Ctrl-C ({status})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_enough_uniquely_named_cases() {
        let mut targets = 0;
        for assignment in Assignment::ALL {
            for role in [Role::Server, Role::Client] {
                let Some(cases) = cases(assignment, role) else {
                    continue;
                };
                targets += 1;
                let minimum = if role == Role::Server { 6 } else { 3 };
                assert!(cases.len() >= minimum, "{assignment} {role}");
                assert!(cases.iter().any(|c| c.tier == Tier::Wire));
                assert!(cases.iter().any(|c| c.tier == Tier::Robust));
                let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
                names.sort_unstable();
                names.dedup();
                assert_eq!(names.len(), cases.len(), "{assignment} {role}");
                assert!(cases.iter().all(|c| c.timeout.as_secs() <= 45));
            }
        }
        assert_eq!(targets, 17);
    }

    #[test]
    fn assignment_names_round_trip() {
        for assignment in Assignment::ALL {
            assert_eq!(Assignment::from_name(assignment.name()), Some(assignment));
        }
        assert_eq!(Assignment::from_name("a6"), None);
    }
}
