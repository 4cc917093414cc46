//! Selecting, running and reporting cases.
//!
//! Cases run one after another (a fixed `--port` can serve only one at a
//! time), each on its own thread with its own [`Ctx`]; a case that gives no
//! verdict within its timeout is failed and its processes are killed. Each
//! case prints one line, `PASS|FAIL|SKIP <tier> <case>: <detail>`, then a
//! summary line follows; `--json` prints one object instead. Failures that
//! share a reason (the same crash at start, the same malformed line) are
//! headed once by it, `ROOT CAUSE of N failures: …` with the cases as its
//! consequences (`root_causes` in JSON).

pub use super::process::Limits;
pub use super::target::Source;
use super::target::{kill_groups, skip_reason, Groups, Record};
use super::wire::Fail;
use super::{cases, Assignment, Case, Ctx, Role, Tier};
use crate::output::{say, JsonObject, JsonValue};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything a run needs (the binary's flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// Which assignment.
    pub assignment: Assignment,
    /// Which role the program under test plays.
    pub role: Role,
    /// The command to start, or the address of a running server.
    pub source: Source,
    /// A fixed port the program uses (`--port`).
    pub port: Option<u16>,
    /// Only this tier (`None`: both).
    pub tier: Option<Tier>,
    /// Only these cases (empty: all).
    pub cases: Vec<String>,
    /// Print one JSON object instead of lines.
    pub json: bool,
    /// Print only failures and the summary.
    pub quiet: bool,
    /// After a failure, also print the end of the program's output.
    pub verbose: bool,
    /// Resource limits of the programs under test.
    pub limits: Limits,
    /// Run each case in a network namespace of its own (see
    /// [`process::prepare_isolation`](super::process::prepare_isolation)).
    pub isolate: bool,
}

/// Why a run could not start.
#[derive(Debug)]
pub enum RunError {
    /// A bad combination of arguments (exit status 2).
    Usage(String),
    /// Anything else (exit status 1).
    Io(std::io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Usage(text) => f.write_str(text),
            RunError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// The outcome of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It passed.
    Pass,
    /// It failed.
    Fail,
    /// It could not run here.
    Skip,
}

impl Status {
    /// `PASS`, `FAIL` or `SKIP`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case's name.
    pub case: &'static str,
    /// Its tier.
    pub tier: Tier,
    /// PASS, FAIL or SKIP.
    pub status: Status,
    /// The one-line detail.
    pub detail: String,
    /// How long it took.
    pub elapsed: Duration,
    /// The end of the program's output (for `-v`).
    pub output: String,
    /// Why it failed or was skipped, as the case said it.
    pub failure: Option<Fail>,
    /// How each program the case started ended.
    pub records: Vec<Record>,
    /// Whether the checker itself failed (not the program under test).
    pub grader_error: bool,
}

/// How a detail starts when the checker, not the program, failed a case.
pub const GRADER_TROUBLE: &str = "grader: ";

/// The target's cases, or a usage error for a target that does not exist.
pub fn target_cases(assignment: Assignment, role: Role) -> Result<Vec<Case>, RunError> {
    cases(assignment, role).ok_or_else(|| {
        RunError::Usage(format!(
            "{assignment} has no {role} of its own (the ramp's server is the ping server: \
             use `ping server`)"
        ))
    })
}

/// Prints one line per case of a target: tier, name, what it checks, and
/// what the program's parameters must give it (`[needs …]`; a run below
/// that is skipped with the reason).
pub fn list(assignment: Assignment, role: Role) -> Result<(), RunError> {
    for case in target_cases(assignment, role)? {
        let minimum = case
            .minimum
            .map(|m| format!(" [needs {m}]"))
            .unwrap_or_default();
        say(format_args!(
            "{:<6} {:<22} {}{minimum}",
            case.tier.name(),
            case.name,
            case.about
        ));
    }
    Ok(())
}

/// Runs the selected cases and prints the report; `Ok(true)` iff every
/// selected case passed (skips do not count against).
pub fn run(options: &Options) -> Result<bool, RunError> {
    let selected = select(options)?;
    if options.role == Role::Server {
        super::wire::set_fixed_port(options.port.unwrap_or(0));
    }
    let started = Instant::now();
    let results = run_selected(&selected, options, |result| {
        if !options.json {
            print_result(result, options);
        }
    });
    let failed = count(&results, Status::Fail);
    let causes = root_causes(&results);
    if options.json {
        say(format_args!(
            "{}",
            json_report(options, &results, &causes, started.elapsed())
        ));
    } else {
        for cause in &causes {
            say(format_args!(
                "ROOT CAUSE of {} failures: {}\n    consequences: {}",
                cause.cases.len(),
                cause.headline,
                cause.cases.join(", ")
            ));
        }
        say(format_args!(
            "{} {}: {} passed, {} failed, {} skipped ({:.1} s)",
            options.assignment,
            options.role,
            count(&results, Status::Pass),
            failed,
            count(&results, Status::Skip),
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(failed == 0)
}

/// Runs the selected cases without printing; `each` sees every result as
/// it comes.
pub fn grade(
    options: &Options,
    each: impl FnMut(&CaseResult),
) -> Result<Vec<CaseResult>, RunError> {
    Ok(run_selected(&select(options)?, options, each))
}

fn run_selected(
    selected: &[Case],
    options: &Options,
    mut each: impl FnMut(&CaseResult),
) -> Vec<CaseResult> {
    selected
        .iter()
        .map(|case| {
            let result = run_case(case, options);
            each(&result);
            result
        })
        .collect()
}

fn select(options: &Options) -> Result<Vec<Case>, RunError> {
    let all = target_cases(options.assignment, options.role)?;
    if options.role == Role::Client && matches!(options.source, Source::Address(_)) {
        return Err(RunError::Usage(
            "--addr tests a running server; a client needs --cmd".into(),
        ));
    }
    for name in &options.cases {
        if !all.iter().any(|c| c.name == name) {
            return Err(RunError::Usage(format!(
                "{} {} has no case {name:?} (see --list)",
                options.assignment, options.role
            )));
        }
    }
    Ok(all
        .into_iter()
        .filter(|c| options.tier.is_none_or(|t| t == c.tier))
        .filter(|c| options.cases.is_empty() || options.cases.iter().any(|n| n == c.name))
        .collect())
}

fn count(results: &[CaseResult], status: Status) -> usize {
    results.iter().filter(|r| r.status == status).count()
}

fn run_case(case: &Case, options: &Options) -> CaseResult {
    let started = Instant::now();
    let finish = |status, detail: String, output: String| CaseResult {
        case: case.name,
        tier: case.tier,
        status,
        elapsed: started.elapsed(),
        output,
        grader_error: status == Status::Fail && detail.starts_with(GRADER_TROUBLE),
        failure: None,
        records: Vec::new(),
        detail,
    };
    if let Some(reason) = skip_reason(case.needs, &options.source) {
        return finish(Status::Skip, reason.into(), String::new());
    }
    let groups: Groups = Arc::new(Mutex::new(Vec::new()));
    let ctx = match Ctx::new(
        options.source.clone(),
        options.port,
        options.assignment.transport(),
        groups.clone(),
        options.limits,
    ) {
        Ok(ctx) => ctx,
        Err(e) => {
            return finish(
                Status::Fail,
                format!("{GRADER_TROUBLE}cannot prepare the case: {e}"),
                String::new(),
            )
        }
    };
    let (sender, receiver) = crossbeam_channel::bounded(1);
    let spawned = spawn_case(case, ctx, options.isolate, sender);
    if let Err(e) = spawned {
        return finish(
            Status::Fail,
            format!("{GRADER_TROUBLE}cannot start the case thread: {e}"),
            String::new(),
        );
    }
    match receiver.recv_timeout(case.timeout) {
        Ok((verdict, output, records)) => {
            let mut result = match &verdict {
                Ok(detail) => finish(Status::Pass, detail.clone(), String::new()),
                Err(Fail::Skip(reason)) => finish(Status::Skip, reason.clone(), String::new()),
                Err(fail) => finish(Status::Fail, fail.describe(), output),
            };
            result.failure = verdict.err();
            result.records = records;
            result
        }
        Err(_) => hung(case, &groups, &receiver, finish),
    }
}

/// The result of a case that gave no verdict in time: its processes are
/// killed, and what they left is kept if the case thread then finishes.
fn hung(
    case: &Case,
    groups: &Groups,
    receiver: &crossbeam_channel::Receiver<Finished>,
    finish: impl Fn(Status, String, String) -> CaseResult,
) -> CaseResult {
    kill_groups(groups);
    // The case thread wakes up once its processes are gone.
    let late = receiver.recv_timeout(Duration::from_secs(5));
    let mut result = finish(
        Status::Fail,
        format!(
            "no verdict within {} s (something hung)",
            case.timeout.as_secs()
        ),
        String::new(),
    );
    if let Ok((_, _, records)) = late {
        result.records = records;
    }
    result
}

/// What a case thread sends back: the verdict, the end of the programs'
/// output (after a failure), and how each program ended.
type Finished = (super::wire::Verdict, String, Vec<Record>);

/// Runs `case` on a thread of its own (in a network namespace of its own
/// if `isolate`), which sends what it found to `sender`.
fn spawn_case(
    case: &Case,
    mut ctx: Ctx,
    isolate: bool,
    sender: crossbeam_channel::Sender<Finished>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let check = case.run;
    std::thread::Builder::new()
        .name(format!("check-{}", case.name))
        .spawn(move || {
            let verdict = match isolate.then(super::process::isolate_thread) {
                Some(Err(e)) => Err(Fail::problem(format!(
                    "{GRADER_TROUBLE}cannot give the case a network namespace: {e}"
                ))),
                _ => check(&mut ctx),
            };
            let output = if verdict.is_err() {
                ctx.output_tail()
            } else {
                String::new()
            };
            let records = ctx.records();
            drop(ctx);
            let _ = sender.send((verdict, output, records));
        })
}

fn print_result(result: &CaseResult, options: &Options) {
    if options.quiet && result.status != Status::Fail {
        return;
    }
    say(format_args!(
        "{} {} {}: {}",
        result.status.name(),
        result.tier.name(),
        result.case,
        result.detail
    ));
    if options.verbose && !result.output.is_empty() {
        for line in result.output.lines() {
            say(format_args!("    | {line}"));
        }
    }
}

fn json_report(
    options: &Options,
    results: &[CaseResult],
    causes: &[RootCause],
    elapsed: Duration,
) -> String {
    let cases: Vec<String> = results
        .iter()
        .map(|r| {
            JsonObject::new()
                .field("case", JsonValue::Str(r.case))
                .field("tier", JsonValue::Str(r.tier.name()))
                .field("status", JsonValue::Str(r.status.name()))
                .field("detail", JsonValue::Str(&r.detail))
                .field("seconds", JsonValue::Float(r.elapsed.as_secs_f64()))
                .finish()
        })
        .collect();
    let cases = format!("[{}]", cases.join(","));
    JsonObject::new()
        .field("assignment", JsonValue::Str(options.assignment.name()))
        .field("role", JsonValue::Str(options.role.name()))
        .field(
            "passed",
            JsonValue::Uint(count(results, Status::Pass) as u64),
        )
        .field(
            "failed",
            JsonValue::Uint(count(results, Status::Fail) as u64),
        )
        .field(
            "skipped",
            JsonValue::Uint(count(results, Status::Skip) as u64),
        )
        .field("seconds", JsonValue::Float(elapsed.as_secs_f64()))
        .raw_field("root_causes", &json_causes(causes))
        .raw_field("cases", &cases)
        .finish()
}

/// A reason several failed cases share, said once.
#[derive(Debug, Clone, PartialEq)]
pub struct RootCause {
    /// The reason, in one line.
    pub headline: String,
    /// The failed cases it explains, in run order.
    pub cases: Vec<&'static str>,
}

/// Groups the failures that share a reason (two or more cases): the same
/// last line on the program's stderr where the failure quotes it (a crash
/// at start, a missing file), else the same description once numbers are
/// set aside (the same malformed line, the same missing output).
pub fn root_causes(results: &[CaseResult]) -> Vec<RootCause> {
    let mut groups: Vec<(String, RootCause)> = Vec::new();
    for result in results.iter().filter(|r| r.status == Status::Fail) {
        let (key, headline) = cause_of(&result.detail);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, cause)) => cause.cases.push(result.case),
            None => groups.push((
                key,
                RootCause {
                    headline,
                    cases: vec![result.case],
                },
            )),
        }
    }
    groups
        .into_iter()
        .map(|(_, cause)| cause)
        .filter(|cause| cause.cases.len() >= 2)
        .collect()
}

/// The grouping key and the headline of one failure's detail.
fn cause_of(detail: &str) -> (String, String) {
    if let Some(at) = detail.find("; stderr: ") {
        let stderr = &detail[at + "; stderr: ".len()..];
        let headline = format!("the program ends with this on stderr: {stderr}");
        return (format!("stderr {}", without_numbers(stderr)), headline);
    }
    (without_numbers(detail), detail.to_string())
}

/// `text` with every run of digits replaced by `#` (ports, times and
/// counts differ from case to case; the reason does not).
fn without_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out
}

fn json_causes(causes: &[RootCause]) -> String {
    let objects: Vec<String> = causes
        .iter()
        .map(|cause| {
            let cases: Vec<String> = cause
                .cases
                .iter()
                .map(|c| JsonObject::new().field("case", JsonValue::Str(c)).finish())
                .collect();
            JsonObject::new()
                .field("cause", JsonValue::Str(&cause.headline))
                .raw_field("cases", &format!("[{}]", cases.join(",")))
                .finish()
        })
        .collect();
    format!("[{}]", objects.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(case: &'static str, detail: &str) -> CaseResult {
        CaseResult {
            case,
            tier: Tier::Wire,
            status: Status::Fail,
            detail: detail.into(),
            elapsed: Duration::ZERO,
            output: String::new(),
            failure: None,
            records: Vec::new(),
            grader_error: false,
        }
    }

    #[test]
    fn shared_reasons_are_grouped_once() {
        let results = [
            failed(
                "a",
                "the client exited (0 probes seen); stderr: NameError: x",
            ),
            failed("b", "nothing bound port 4000; stderr: NameError: x"),
            failed(
                "c",
                "loss line: expected b'Loss Percentage: 0.0%', observed b'Loss: 0'",
            ),
            failed(
                "d",
                "loss line: expected b'Loss Percentage: 20.0%', observed b'Loss: 20'",
            ),
            failed("e", "something else"),
        ];
        let causes = root_causes(&results);
        assert_eq!(causes.len(), 2, "{causes:?}");
        assert_eq!(causes[0].cases, ["a", "b"]);
        assert!(causes[0].headline.ends_with("NameError: x"));
        assert_eq!(causes[1].cases, ["c", "d"]);
        assert!(json_causes(&causes).starts_with(r#"[{"cause":"#));
    }
}
