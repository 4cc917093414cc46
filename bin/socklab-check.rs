//! `socklab-check ASSIGNMENT ROLE (--cmd "COMMAND" | --addr HOST:PORT)`: the
//! protocol conformance checker (see `socklab::check`); `socklab-check
//! class COURSE SUBMISSIONS` grades a whole class and `socklab-check merge
//! OUT SHARD_DIR...` combines shard runs (see `socklab::check::class`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use clap::{Args as ClapArgs, Parser, ValueEnum};
use socklab::check::class::{self, ClassOptions};
use socklab::check::process::{self, Limits};
use socklab::check::runner::{self, Options, RunError, Source};
use socklab::check::{Assignment, Role, Tier};
use socklab::output::warn;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::process::ExitCode;

/// Checks any implementation of an assignment program against the wire
/// protocol: PASS/FAIL/SKIP per case, the expected and observed bytes for
/// each failure, exit 0 iff every selected case passed.
#[derive(Parser)]
#[command(
    name = env!("CARGO_BIN_NAME"),
    version,
    after_help = "Grading a class: socklab-check class COURSE SUBMISSIONS [--out DIR] [--jobs N] \
                  [--tier wire|robust|all] [--matrix] [--shard I/N] [-q] [--json]\n\
                  Combining shards: socklab-check merge OUT SHARD_DIR...\n\
                  (see `socklab-check class --help`)"
)]
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
    #[command(flatten)]
    limits: LimitArgs,
}

/// Grades every program of every submission of a class (each subdirectory
/// of SUBMISSIONS is one) and writes summary.csv, results.json,
/// gradescope/*.json, junit.xml and index.html. Exit 0 when every present
/// program was graded, 1 when some could not be, 2 on a usage error.
#[derive(Parser)]
#[command(name = "socklab-check class")]
struct ClassArgs {
    /// The course file: one program per line, `ASSIGNMENT ROLE [--port N]
    /// [points=N] COMMAND...` ({sub} is a submission's directory).
    course: PathBuf,
    /// The directory of submissions.
    submissions: PathBuf,
    /// Where the reports go.
    #[arg(long, default_value = "socklab-report")]
    out: PathBuf,
    /// Programs graded at once (default: 4 per core; the cases mostly wait).
    #[arg(long)]
    jobs: Option<usize>,
    /// Which tier of cases to run.
    #[arg(long, value_enum, default_value = "all")]
    tier: TierArg,
    /// Also run every submission's server against every submission's client.
    #[arg(long)]
    matrix: bool,
    /// Grade only shard I of N (1-based), for running on several machines.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
    /// Print only the final table.
    #[arg(short, long)]
    quiet: bool,
    /// Print results.json on stdout instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Combines the report directories of `class --shard` runs into one report
/// (identical to a single run's).
#[derive(Parser)]
#[command(name = "socklab-check merge")]
struct MergeArgs {
    /// Where the merged reports go.
    out: PathBuf,
    /// The shard runs' --out directories.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
}

/// Limits of each program under test.
#[derive(ClapArgs)]
struct LimitArgs {
    /// Memory (data and private writable mappings) per program, MiB.
    #[arg(long, default_value_t = Limits::default().memory_mib, value_name = "MIB")]
    max_memory: u64,
    /// Processes of the program's user (counted per user namespace).
    #[arg(long, default_value_t = Limits::default().processes)]
    max_procs: u64,
    /// Open files per process.
    #[arg(long, default_value_t = Limits::default().open_files)]
    max_files: u64,
    /// CPU seconds per process.
    #[arg(long, default_value_t = Limits::default().cpu_seconds)]
    cpu_seconds: u64,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            memory_mib: self.max_memory,
            processes: self.max_procs,
            open_files: self.max_files,
            cpu_seconds: self.cpu_seconds,
        }
    }
}

fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or("expected I/N, for example 2/4")?;
    let (i, n): (usize, usize) = (
        i.parse().map_err(|_| "I must be a number")?,
        n.parse().map_err(|_| "N must be a number")?,
    );
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard {i}/{n}: need 1 <= I <= N"));
    }
    Ok((i, n))
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
    let subcommand = std::env::args().nth(1);
    let result = match subcommand.as_deref() {
        Some("class") => run_class(ClassArgs::parse_from(std::env::args().skip(1))),
        Some("merge") => {
            let args = MergeArgs::parse_from(std::env::args().skip(1));
            class::merge(&args.out, &args.shards)
        }
        _ => run_single(Args::parse()),
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

/// Makes the checker the reaper of its programs' orphans and kills every
/// program it started on Ctrl-C or SIGTERM before it exits.
fn contain_programs() {
    if let Err(e) = process::become_subreaper() {
        warn(format_args!(
            "warning: cannot become the programs' subreaper: {e}"
        ));
    }
    if ctrlc::set_handler(|| {
        socklab::check::target::kill_everything();
        std::process::exit(130);
    })
    .is_err()
    {
        warn(format_args!("warning: cannot install the Ctrl-C handler"));
    }
}

fn run_class(args: ClassArgs) -> Result<bool, RunError> {
    // Namespaces first: a user namespace needs a single-threaded process.
    let isolation = process::prepare_isolation();
    contain_programs();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    class::run(&ClassOptions {
        course: args.course,
        submissions: args.submissions,
        out: args.out,
        jobs: args.jobs.unwrap_or(4 * cores),
        tier: tier(args.tier),
        matrix: args.matrix,
        shard: args.shard,
        quiet: args.quiet,
        json: args.json,
        limits: args.limits.limits(),
        isolation,
    })
}

fn tier(arg: TierArg) -> Option<Tier> {
    match arg {
        TierArg::Wire => Some(Tier::Wire),
        TierArg::Robust => Some(Tier::Robust),
        TierArg::All => None,
    }
}

fn run_single(args: Args) -> Result<bool, RunError> {
    contain_programs();
    let role = match args.role {
        RoleArg::Server => Role::Server,
        RoleArg::Client => Role::Client,
    };
    if args.list {
        runner::list(args.assignment, role).map(|()| true)
    } else {
        options(&args, role).and_then(|options| runner::run(&options))
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
        tier: tier(args.tier),
        cases: args.cases.clone(),
        json: args.json,
        quiet: args.quiet,
        verbose: args.verbose,
        limits: args.limits.limits(),
        isolate: false,
    })
}
