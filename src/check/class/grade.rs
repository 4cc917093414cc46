//! Grading every program of every submission: a pool of `--jobs` worker
//! threads takes (submission, program) pairs in order; each pair runs the
//! program's cases one after another through the single-target runner,
//! every case in a network namespace of its own when the machine allows
//! it. Without namespaces, programs on the same fixed port take turns.

use super::course::Program;
use super::model::{CaseReport, Outcome, ProgramReport, SubmissionReport};
use crate::check::process::Limits;
use crate::check::runner::{self, CaseResult, Options, Source, Status};
use crate::check::wire::Fail;
use crate::check::{cases, Tier};
use crate::python::bytes_repr;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What every program of the class is graded with.
#[derive(Debug, Clone)]
pub struct Grading {
    /// Only this tier (`None`: both).
    pub tier: Option<Tier>,
    /// Limits of each program under test.
    pub limits: Limits,
    /// Whether each case gets a network namespace.
    pub isolate: bool,
    /// Worker threads.
    pub jobs: usize,
}

/// One submission: its name and the absolute path of its directory.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The directory name.
    pub name: String,
    /// Its absolute path (`{sub}`).
    pub path: PathBuf,
}

/// Grades `submissions` against `course`; `done` is told each finished
/// submission (in any order) with how many programs are still to grade.
pub fn grade_all(
    course: &[Program],
    submissions: &[Submission],
    grading: &Grading,
    mut done: impl FnMut(&SubmissionReport, usize),
) -> Vec<SubmissionReport> {
    let (mut reports, jobs) = plan(course, submissions, grading.tier);
    let mut pending: Vec<usize> = reports
        .iter()
        .map(|r| r.programs.iter().filter(|p| is_pending(p)).count())
        .collect();
    let mut left = jobs.len();
    for (index, report) in reports.iter().enumerate() {
        if pending[index] == 0 {
            done(report, left);
        }
    }
    let queue = Mutex::new(jobs);
    let (sender, receiver) = crossbeam_channel::bounded(grading.jobs.max(1));
    std::thread::scope(|scope| {
        for n in 0..grading.jobs.max(1) {
            let sender = sender.clone();
            let queue = &queue;
            let spawned = std::thread::Builder::new()
                .name(format!("grade-{n}"))
                .spawn_scoped(scope, move || loop {
                    let Some((s, p)) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
                    else {
                        break;
                    };
                    let report = grade_program(&course[p], &submissions[s], grading);
                    if sender.send((s, p, report)).is_err() {
                        break;
                    }
                });
            if let Err(e) = spawned {
                crate::output::warn(format_args!("warning: cannot start a grader thread: {e}"));
            }
        }
        drop(sender);
        for (s, p, report) in receiver {
            reports[s].programs[p] = report;
            pending[s] -= 1;
            left -= 1;
            if pending[s] == 0 {
                done(&reports[s], left);
            }
        }
    });
    reports
}

/// The reports to fill in (missing programs already final) and the
/// (submission, program) pairs to grade, in order.
fn plan(
    course: &[Program],
    submissions: &[Submission],
    tier: Option<Tier>,
) -> (Vec<SubmissionReport>, VecDeque<(usize, usize)>) {
    let reports: Vec<SubmissionReport> = submissions
        .iter()
        .map(|s| SubmissionReport {
            name: s.name.clone(),
            programs: course
                .iter()
                .map(|p| missing_or_pending(p, &s.path, tier))
                .collect(),
        })
        .collect();
    let jobs = reports
        .iter()
        .enumerate()
        .flat_map(|(s, r)| {
            r.programs
                .iter()
                .enumerate()
                .filter(|(_, p)| is_pending(p))
                .map(move |(p, _)| (s, p))
        })
        .collect();
    (reports, jobs)
}

/// A placeholder still to grade (`Graded` with no cases), or the missing
/// program's final report.
fn missing_or_pending(program: &Program, sub: &Path, tier: Option<Tier>) -> ProgramReport {
    let total = selected_cases(program, tier);
    let outcome = match program.missing_path(sub) {
        Some(path) => Outcome::Missing(path),
        None => Outcome::Graded,
    };
    ProgramReport {
        label: program.label(),
        points: program.points,
        outcome,
        command: program.command_for(sub),
        total,
        cases: Vec::new(),
    }
}

fn is_pending(report: &ProgramReport) -> bool {
    report.outcome == Outcome::Graded && report.cases.is_empty()
}

/// How many cases of `program` the tier selects.
fn selected_cases(program: &Program, tier: Option<Tier>) -> u64 {
    cases(program.assignment, program.role).map_or(0, |all| {
        all.iter()
            .filter(|c| tier.is_none_or(|t| t == c.tier))
            .count() as u64
    })
}

/// Turns on each fixed port, when programs share one network.
static PORT_TURNS: Mutex<Option<HashMap<u16, Arc<Mutex<()>>>>> = Mutex::new(None);

pub(super) fn port_turn(port: u16) -> Arc<Mutex<()>> {
    let mut turns = PORT_TURNS.lock().unwrap_or_else(|e| e.into_inner());
    turns
        .get_or_insert_with(HashMap::new)
        .entry(port)
        .or_default()
        .clone()
}

/// Runs one program's cases.
fn grade_program(program: &Program, sub: &Submission, grading: &Grading) -> ProgramReport {
    let mut report = missing_or_pending(program, &sub.path, grading.tier);
    let options = Options {
        assignment: program.assignment,
        role: program.role,
        source: Source::Command(report.command.clone()),
        port: program.port,
        tier: grading.tier,
        cases: Vec::new(),
        json: false,
        quiet: true,
        verbose: false,
        limits: grading.limits,
        isolate: grading.isolate,
    };
    let turn = (!grading.isolate)
        .then_some(program.port)
        .flatten()
        .map(port_turn);
    let _turn = turn
        .as_ref()
        .map(|t| t.lock().unwrap_or_else(|e| e.into_inner()));
    match runner::grade(&options, |_| {}) {
        Ok(results) if results.iter().any(|r| r.grader_error) => {
            let trouble = results
                .iter()
                .find(|r| r.grader_error)
                .map(|r| r.detail.clone());
            report.outcome = Outcome::Error(trouble.unwrap_or_default());
        }
        Ok(results) => {
            report.total = results.iter().filter(|r| r.status != Status::Skip).count() as u64;
            report.cases = results
                .iter()
                .map(|r| case_report(r, program, &report.command))
                .collect();
        }
        Err(e) => report.outcome = Outcome::Error(e.to_string()),
    }
    report
}

/// Bytes of a compared side kept in a report, around the first difference.
const SHOWN: usize = 1024;

fn case_report(result: &CaseResult, program: &Program, command: &str) -> CaseReport {
    let (expected, observed, offset) = match &result.failure {
        Some(Fail::Mismatch {
            expected, observed, ..
        }) => {
            let at = expected
                .iter()
                .zip(observed)
                .position(|(a, b)| a != b)
                .unwrap_or(expected.len().min(observed.len()));
            (
                Some(shown(expected, at)),
                Some(shown(observed, at)),
                Some(at as u64),
            )
        }
        _ => (None, None, None),
    };
    let port = program
        .port
        .map_or(String::new(), |p| format!(" --port {p}"));
    CaseReport {
        name: result.case.to_string(),
        tier: result.tier.name().to_string(),
        status: result.status.name().to_string(),
        detail: result.detail.clone(),
        seconds: (result.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        expected,
        observed,
        offset,
        runs: result.records.clone(),
        reproduce: format!(
            "socklab-check {} {} --cmd {}{port} --case {}",
            program.assignment,
            program.role,
            shell_quote(command),
            result.case
        ),
    }
}

/// Up to [`SHOWN`] bytes from a little before `at`, escaped as a Python
/// bytes literal, `…` marking what was left out.
fn shown(bytes: &[u8], at: usize) -> String {
    let start = at.saturating_sub(SHOWN / 8).min(bytes.len());
    let end = (start + SHOWN).min(bytes.len());
    let before = if start > 0 { "…" } else { "" };
    let after = if end < bytes.len() { "…" } else { "" };
    format!("{before}{}{after}", bytes_repr(&bytes[start..end]))
}

/// `text` in single quotes for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_excerpts() {
        assert_eq!(shell_quote("a 'b'"), r"'a '\''b'\'''");
        assert_eq!(shown(b"abc", 1), "b'abc'");
        let long = vec![b'x'; 5000];
        let text = shown(&long, 3000);
        assert!(text.starts_with('…') && text.ends_with('…'), "{text}");
    }
}
