//! `socklab-check ASSIGNMENT ROLE (--cmd "COMMAND" | --addr HOST:PORT)`: the
//! protocol conformance checker (see `socklab::check`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::{Parser, ValueEnum};
use socklab::check::runner::{self, Options, RunError, Source};
use socklab::check::{Assignment, Role, Tier};
use socklab::output::warn;
use std::net::ToSocketAddrs;
use std::process::ExitCode;

/// Checks any implementation of an assignment program against the wire
/// protocol: PASS/FAIL/SKIP per case, the expected and observed bytes for
/// each failure, exit 0 iff every selected case passed.
#[derive(Parser)]
#[command(name = env!("CARGO_BIN_NAME"), version)]
struct Args {
    /// a1, a2, ping, ramp, file, relay, dual, chat or accio.
    #[arg(value_parser = parse_assignment)]
    assignment: Assignment,
    /// Which side the program under test plays.
    #[arg(value_enum)]
    role: RoleArg,
    /// Shell command that starts the program; {host}, {port}, {dir} (a fresh
    /// temporary directory, also its working directory) and {file} (a test
    /// file) are filled in.
    #[arg(long, conflicts_with = "addr", required_unless_present_any = ["addr", "list"])]
    cmd: Option<String>,
    /// Test a server that is already running (cases that need a fresh
    /// process are skipped).
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<String>,
    /// The fixed port the program uses (for example 5555 for the original
    /// a1 server, 5555 also for the original a1 client's server).
    #[arg(long)]
    port: Option<u16>,
    /// Which tier of cases to run.
    #[arg(long, value_enum, default_value = "all")]
    tier: TierArg,
    /// Run only this case (repeatable; see --list).
    #[arg(long = "case", value_name = "NAME")]
    cases: Vec<String>,
    /// List the cases and what each checks.
    #[arg(long)]
    list: bool,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    json: bool,
    /// Print only failures and the summary.
    #[arg(short, long)]
    quiet: bool,
    /// After a failure, also print the end of the program's output.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Server,
    Client,
}

#[derive(Clone, Copy, ValueEnum)]
enum TierArg {
    Wire,
    Robust,
    All,
}

fn parse_assignment(text: &str) -> Result<Assignment, String> {
    Assignment::from_name(text).ok_or_else(|| {
        "expected one of a1, a2, ping, ramp, file, relay, dual, chat, accio".to_string()
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Ctrl-C or SIGTERM: the programs under test run in their own process
    // groups, so they are killed here before the checker exits.
    if ctrlc::set_handler(|| {
        socklab::check::target::kill_everything();
        std::process::exit(130);
    })
    .is_err()
    {
        warn(format_args!("warning: cannot install the Ctrl-C handler"));
    }
    let role = match args.role {
        RoleArg::Server => Role::Server,
        RoleArg::Client => Role::Client,
    };
    let result = if args.list {
        runner::list(args.assignment, role).map(|()| true)
    } else {
        options(&args, role).and_then(|options| runner::run(&options))
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(RunError::Usage(text)) => {
            warn(format_args!("error: {text}"));
            ExitCode::from(2)
        }
        Err(error) => {
            warn(format_args!("error: {error}"));
            ExitCode::FAILURE
        }
    }
}

fn options(args: &Args, role: Role) -> Result<Options, RunError> {
    let source = match (&args.cmd, &args.addr) {
        (Some(cmd), _) => Source::Command(cmd.clone()),
        (None, Some(addr)) => Source::Address(
            addr.to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| RunError::Usage(format!("cannot resolve --addr {addr:?}")))?,
        ),
        (None, None) => return Err(RunError::Usage("give --cmd or --addr".into())),
    };
    Ok(Options {
        assignment: args.assignment,
        role,
        source,
        port: args.port,
        tier: match args.tier {
            TierArg::Wire => Some(Tier::Wire),
            TierArg::Robust => Some(Tier::Robust),
            TierArg::All => None,
        },
        cases: args.cases.clone(),
        json: args.json,
        quiet: args.quiet,
        verbose: args.verbose,
    })
}
