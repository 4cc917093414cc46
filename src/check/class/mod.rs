//! # Grading a whole class
//!
//! `socklab-check class COURSE SUBMISSIONS` grades every program of every
//! submission: the course file ([`course`]) names the programs, each
//! subdirectory of `SUBMISSIONS` is one submission. [`grade`] runs them
//! side by side (`--jobs`), each case of each program isolated and
//! contained by [`process`](super::process); [`matrix`] runs every
//! submission's server against every submission's client (`--matrix`);
//! [`report`] and [`html`] write the report files; [`model`] holds the
//! results and the raw store that `merge` reads, so `--shard I/N` runs on
//! several machines combine into the report one run would have written.

pub mod course;
pub mod grade;
pub mod html;
pub mod matrix;
pub mod model;
pub mod report;

use super::process::{Isolation, Limits};
use super::runner::RunError;
use super::Tier;
use crate::output::{report as line, status_line, warn};
use grade::{Grading, Submission};
use model::{ClassReport, Outcome, SubmissionReport};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Everything a class run needs (the `class` subcommand's flags).
#[derive(Debug, Clone)]
pub struct ClassOptions {
    /// The course file.
    pub course: PathBuf,
    /// The directory of submissions.
    pub submissions: PathBuf,
    /// Where the reports go.
    pub out: PathBuf,
    /// Programs graded at once.
    pub jobs: usize,
    /// Only this tier (`None`: both).
    pub tier: Option<Tier>,
    /// Also run the interop matrix.
    pub matrix: bool,
    /// Grade only shard `I` of `N` (1-based).
    pub shard: Option<(usize, usize)>,
    /// Print only the final table.
    pub quiet: bool,
    /// Print `results.json` instead of the table.
    pub json: bool,
    /// Limits of each program under test.
    pub limits: Limits,
    /// What [`prepare_isolation`](super::process::prepare_isolation) found.
    pub isolation: Isolation,
}

/// Grades the class, writes the reports and prints the table; `Ok(true)`
/// when every present program could be graded.
pub fn run(options: &ClassOptions) -> Result<bool, RunError> {
    let course_text = std::fs::read_to_string(&options.course).map_err(|e| {
        RunError::Usage(format!(
            "cannot read the course file {}: {e}",
            options.course.display()
        ))
    })?;
    let course = course::parse(&course_text).map_err(|e| {
        RunError::Usage(format!(
            "{} line {}: {}",
            options.course.display(),
            e.line,
            e.reason
        ))
    })?;
    let all = list_submissions(&options.submissions)?;
    let mine = shard(&all, options.shard);
    let isolate = options.isolation == Isolation::Namespaces;
    let isolation = match &options.isolation {
        Isolation::Namespaces => "every case in a network namespace of its own".to_string(),
        Isolation::Shared(why) => {
            let text = format!("none ({why}); programs on a fixed port run one at a time");
            if !options.quiet && course.iter().any(|p| p.port.is_some()) {
                warn(format_args!("note: isolation: {text}"));
            }
            text
        }
    };
    let grading = Grading {
        tier: options.tier,
        limits: options.limits,
        isolate,
        jobs: options.jobs.max(1),
    };
    let submissions = grade_with_progress(&course, &mine, &grading, options.quiet);
    let matrix = if options.matrix {
        let reference = options.shard.is_none_or(|(i, _)| i == 1);
        matrix::run(&course, &all, &mine, &grading, reference)
    } else {
        Vec::new()
    };
    let report = ClassReport {
        isolation,
        programs: course.iter().map(|p| (p.label(), p.points)).collect(),
        submissions,
        matrix: matrix::sorted(matrix, &course),
    };
    finish(&report, &options.out, options.json)
}

/// `merge OUT SHARD_DIR...`: combines the stores of shard runs into the
/// reports of one run.
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<bool, RunError> {
    let mut merged: Option<ClassReport> = None;
    for dir in shards {
        let path = dir.join("class.tsv");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| RunError::Usage(format!("cannot read {}: {e}", path.display())))?;
        let part =
            model::load(&text).map_err(|e| RunError::Usage(format!("{}: {e}", path.display())))?;
        let Some(whole) = merged.as_mut() else {
            merged = Some(part);
            continue;
        };
        if whole.programs != part.programs {
            return Err(RunError::Usage(format!(
                "{} was graded with another course",
                dir.display()
            )));
        }
        for submission in part.submissions {
            if whole.submissions.iter().any(|s| s.name == submission.name) {
                return Err(RunError::Usage(format!(
                    "{} is in two shards",
                    submission.name
                )));
            }
            whole.submissions.push(submission);
        }
        whole.matrix.extend(part.matrix);
    }
    let mut report =
        merged.ok_or_else(|| RunError::Usage("give at least one shard directory".into()))?;
    report.submissions.sort_by(|a, b| a.name.cmp(&b.name));
    report.matrix = matrix::sorted_by_labels(std::mem::take(&mut report.matrix), &report.programs);
    finish(&report, out, false)
}

/// Writes the reports and prints the table or the JSON.
fn finish(report: &ClassReport, out: &Path, json: bool) -> Result<bool, RunError> {
    report::write_all(out, report).map_err(RunError::Io)?;
    if json {
        line(format_args!("{}", report::results_json(report)));
    } else {
        print_table(report);
        line(format_args!("reports in {}", out.display()));
    }
    let errors: Vec<String> = report
        .submissions
        .iter()
        .flat_map(|s| {
            s.programs.iter().filter_map(move |p| match &p.outcome {
                Outcome::Error(why) => Some(format!("{} {}: {why}", s.name, p.label)),
                _ => None,
            })
        })
        .collect();
    for error in &errors {
        warn(format_args!("error: could not grade {error}"));
    }
    Ok(errors.is_empty())
}

/// Every subdirectory of `dir`, sorted by name.
fn list_submissions(dir: &Path) -> Result<Vec<Submission>, RunError> {
    let unreadable =
        |e: std::io::Error| RunError::Usage(format!("cannot read {}: {e}", dir.display()));
    let dir = dir.canonicalize().map_err(unreadable)?;
    let mut submissions: Vec<Submission> = std::fs::read_dir(&dir)
        .map_err(unreadable)?
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| {
            Some(Submission {
                name: entry.file_name().to_str()?.to_string(),
                path: entry.path(),
            })
        })
        .collect();
    submissions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(submissions)
}

/// The submissions of shard `i` of `n`: every `n`th, from the `i`th, in
/// name order (deterministic on every machine).
fn shard(all: &[Submission], shard: Option<(usize, usize)>) -> Vec<Submission> {
    let (i, n) = shard.unwrap_or((1, 1));
    all.iter().skip(i - 1).step_by(n).cloned().collect()
}

fn grade_with_progress(
    course: &[course::Program],
    submissions: &[Submission],
    grading: &Grading,
    quiet: bool,
) -> Vec<SubmissionReport> {
    let started = Instant::now();
    let total = submissions.len();
    let mut finished = 0;
    let all_programs = submissions.len() * course.len();
    let reports = grade::grade_all(course, submissions, grading, |report, left| {
        finished += 1;
        if quiet {
            return;
        }
        let elapsed = started.elapsed();
        let done = all_programs - left;
        let estimate = if done == 0 {
            String::new()
        } else {
            let rest = elapsed.mul_f64(left as f64 / done as f64);
            format!(", about {} left", minutes(rest))
        };
        let (points, max) = report.points();
        status_line("");
        warn(format_args!(
            "[{finished}/{total}] {}: {points}/{max} points (elapsed {}{estimate})",
            report.name,
            minutes(elapsed)
        ));
        let width = 30;
        let filled = done * width / all_programs.max(1);
        status_line(&format!(
            "[{}{}] {done}/{all_programs} programs, {}{estimate}",
            "#".repeat(filled),
            ".".repeat(width - filled),
            minutes(elapsed)
        ));
    });
    status_line("");
    reports
}

fn minutes(duration: Duration) -> String {
    let seconds = duration.as_secs();
    format!("{}m{:02}s", seconds / 60, seconds % 60)
}

/// The class table on stdout: a row per submission, a column per program.
fn print_table(report: &ClassReport) {
    let mut header = vec!["submission".to_string()];
    header.extend(report.programs.iter().map(|(label, _)| label.clone()));
    header.push("points".into());
    let rows: Vec<Vec<String>> = report
        .submissions
        .iter()
        .map(|s| {
            let (points, max) = s.points();
            let mut row = vec![s.name.clone()];
            row.extend(s.programs.iter().map(|p| p.cell()));
            row.push(format!("{points}/{max}"));
            row
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        line(format_args!("{}", cells.join("  ").trim_end()));
    }
}
