//! The report files of a class run, all in one directory:
//!
//! | file | for |
//! |---|---|
//! | `summary.csv` | a spreadsheet: one row per submission, `passed/total` or `missing` per program, points |
//! | `results.json` | everything, structured, per submission, program and case |
//! | `gradescope/SUBMISSION.json` | Gradescope's autograder results format |
//! | `junit.xml` | CI systems: a testsuite per submission, a testcase per case |
//! | `index.html` | people: one static page (see [`html`](super::html)) |
//! | `class.tsv` | the raw results `merge` reads back |

use super::model::{
    store, CaseReport, ClassReport, MatrixCell, Outcome, ProgramReport, SubmissionReport,
};
use crate::output::{json_array, JsonObject};
use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// Writes every report file of `report` into `out` (created if needed).
pub fn write_all(out: &Path, report: &ClassReport) -> io::Result<()> {
    let context = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    std::fs::create_dir_all(out).map_err(|e| context(&out.display().to_string(), e))?;
    let write = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| context(&path.display().to_string(), e))
    };
    write("class.tsv", store(report))?;
    write("summary.csv", summary_csv(report))?;
    write("results.json", results_json(report) + "\n")?;
    write("junit.xml", junit_xml(report))?;
    write("index.html", super::html::page(report))?;
    let gradescope = out.join("gradescope");
    let _ = std::fs::remove_dir_all(&gradescope);
    std::fs::create_dir_all(&gradescope).map_err(|e| context("gradescope/", e))?;
    for submission in &report.submissions {
        write(
            &format!("gradescope/{}.json", submission.name),
            gradescope_json(submission) + "\n",
        )?;
    }
    Ok(())
}

/// `summary.csv`: `submission`, one column per course program, `points`,
/// `max_points`.
pub fn summary_csv(report: &ClassReport) -> String {
    let mut header = vec!["submission".to_string()];
    header.extend(report.programs.iter().map(|(label, _)| label.clone()));
    header.extend(["points".to_string(), "max_points".to_string()]);
    let mut text = csv_row(&header);
    for submission in &report.submissions {
        let mut row = vec![submission.name.clone()];
        row.extend(submission.programs.iter().map(ProgramReport::cell));
        let (points, max) = submission.points();
        row.extend([points.to_string(), max.to_string()]);
        text.push_str(&csv_row(&row));
    }
    text
}

fn csv_row(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect();
    quoted.join(",") + "\n"
}

/// `results.json`: the whole report as one JSON object.
pub fn results_json(report: &ClassReport) -> String {
    let course = json_array(report.programs.iter().map(|(label, points)| {
        JsonObject::new()
            .str("program", label)
            .uint("points_per_case", *points)
            .finish()
    }));
    let submissions = json_array(report.submissions.iter().map(submission_json));
    JsonObject::new()
        .str("isolation", &report.isolation)
        .raw_field("course", &course)
        .raw_field("submissions", &submissions)
        .raw_field("matrix", &matrix_json(&report.matrix))
        .finish()
}

fn submission_json(submission: &SubmissionReport) -> String {
    let (points, max) = submission.points();
    JsonObject::new()
        .str("submission", &submission.name)
        .uint("points", points)
        .uint("max_points", max)
        .raw_field(
            "programs",
            &json_array(submission.programs.iter().map(program_json)),
        )
        .finish()
}

fn program_json(program: &ProgramReport) -> String {
    let (status, reason) = match &program.outcome {
        Outcome::Graded => ("graded", None),
        Outcome::Missing(path) => ("missing", Some(format!("{path} does not exist"))),
        Outcome::Error(why) => ("error", Some(why.clone())),
    };
    let object = JsonObject::new()
        .str("program", &program.label)
        .str("status", status);
    let object = match &reason {
        Some(reason) => object.str("reason", reason),
        None => object.raw_field("reason", "null"),
    };
    object
        .str("command", &program.command)
        .uint("points_per_case", program.points)
        .uint("passed", program.passed())
        .uint("total", program.total)
        .raw_field("cases", &json_array(program.cases.iter().map(case_json)))
        .finish()
}

fn case_json(case: &CaseReport) -> String {
    let runs = json_array(case.runs.iter().map(|r| {
        JsonObject::new()
            .str("command", &r.command)
            .str("exit", &r.exit)
            .str("stderr_tail", &r.stderr_tail)
            .finish()
    }));
    let optional = |object: JsonObject, key: &str, value: &Option<String>| match value {
        Some(v) => object.str(key, v),
        None => object.raw_field(key, "null"),
    };
    let object = JsonObject::new()
        .str("case", &case.name)
        .str("tier", &case.tier)
        .str("status", &case.status)
        .str("detail", &case.detail)
        .num("seconds", case.seconds);
    let object = optional(object, "expected", &case.expected);
    let object = optional(object, "observed", &case.observed);
    let object = match case.offset {
        Some(at) => object.uint("first_difference", at),
        None => object.raw_field("first_difference", "null"),
    };
    object
        .raw_field("runs", &runs)
        .str("reproduce", &case.reproduce)
        .finish()
}

fn matrix_json(cells: &[MatrixCell]) -> String {
    let mut object = JsonObject::new();
    let mut assignments: Vec<&str> = cells.iter().map(|c| c.assignment.as_str()).collect();
    assignments.dedup();
    for assignment in assignments {
        let list = json_array(
            cells
                .iter()
                .filter(|c| c.assignment == assignment)
                .map(|c| {
                    JsonObject::new()
                        .str("server", &c.server)
                        .str("client", &c.client)
                        .str("status", if c.passed { "PASS" } else { "FAIL" })
                        .str("log", &c.log)
                        .finish()
                }),
        );
        object = object.raw_field(assignment, &list);
    }
    object.finish()
}

/// One submission in Gradescope's results format.
pub fn gradescope_json(submission: &SubmissionReport) -> String {
    let mut tests = Vec::new();
    for program in &submission.programs {
        match &program.outcome {
            Outcome::Graded => tests.extend(program.cases.iter().map(|case| {
                let max = if case.status == "SKIP" {
                    0
                } else {
                    program.points
                };
                let score = if case.status == "PASS" {
                    program.points
                } else {
                    0
                };
                gradescope_test(
                    &format!("{}: {}", program.label, case.name),
                    score,
                    max,
                    &case_output(case),
                )
            })),
            Outcome::Missing(path) => tests.push(gradescope_test(
                &program.label,
                0,
                program.total * program.points,
                &format!("missing: {path} does not exist"),
            )),
            Outcome::Error(why) => tests.push(gradescope_test(
                &program.label,
                0,
                program.total * program.points,
                &format!("could not be graded: {why}"),
            )),
        }
    }
    let (points, _) = submission.points();
    JsonObject::new()
        .uint("score", points)
        .raw_field("tests", &json_array(tests))
        .finish()
}

fn gradescope_test(name: &str, score: u64, max: u64, output: &str) -> String {
    JsonObject::new()
        .str("name", name)
        .uint("score", score)
        .uint("max_score", max)
        .str("status", if score == max { "passed" } else { "failed" })
        .str("output", output)
        .finish()
}

/// What a case's report says in words: status, detail, and for a failure
/// the bytes and how to re-run it.
pub fn case_output(case: &CaseReport) -> String {
    let mut text = format!("{} {}: {}", case.status, case.name, case.detail);
    if case.status == "FAIL" {
        if let (Some(expected), Some(observed)) = (&case.expected, &case.observed) {
            let at = case.offset.unwrap_or(0);
            let _ = write!(
                text,
                "\nexpected: {expected}\nobserved: {observed}\nfirst difference at byte {at}"
            );
        }
        let _ = write!(text, "\nreproduce: {}", case.reproduce);
    }
    text
}

/// `junit.xml`: a testsuite per submission, a testcase per case (a missing
/// or ungradable program is one failed testcase).
pub fn junit_xml(report: &ClassReport) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"socklab-check\">\n",
    );
    for submission in &report.submissions {
        let mut body = String::new();
        let (mut tests, mut failures, mut skipped, mut time) = (0, 0, 0, 0.0);
        for program in &submission.programs {
            let class = escape_markup(&format!("{}.{}", submission.name, program.label));
            let reason = match &program.outcome {
                Outcome::Graded => None,
                Outcome::Missing(path) => Some(format!("missing: {path} does not exist")),
                Outcome::Error(why) => Some(format!("could not be graded: {why}")),
            };
            if let Some(reason) = reason {
                tests += 1;
                failures += 1;
                let _ = writeln!(body, "    <testcase classname=\"{class}\" name=\"{}\" time=\"0\"><failure message=\"{}\"/></testcase>", escape_markup(&program.label), escape_markup(&reason));
                continue;
            }
            for case in &program.cases {
                tests += 1;
                time += case.seconds;
                let inner = match case.status.as_str() {
                    "FAIL" => {
                        failures += 1;
                        format!(
                            "<failure message=\"{}\">{}</failure>",
                            escape_markup(&case.detail),
                            escape_markup(&case_output(case))
                        )
                    }
                    "SKIP" => {
                        skipped += 1;
                        format!("<skipped message=\"{}\"/>", escape_markup(&case.detail))
                    }
                    _ => String::new(),
                };
                let _ = writeln!(body, "    <testcase classname=\"{class}\" name=\"{}\" time=\"{:.3}\">{inner}</testcase>", escape_markup(&case.name), case.seconds);
            }
        }
        let _ = write!(xml, "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">\n{body}  </testsuite>\n", escape_markup(&submission.name));
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// Escapes text for XML and HTML (content and attribute values); control
/// characters XML cannot hold become `\xNN`.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}
