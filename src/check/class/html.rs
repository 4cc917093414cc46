//! `index.html`: one static page, readable without scripts or anything
//! fetched from elsewhere: the class table, the interop matrix (with
//! `--matrix`), and per submission its failing cases with the expected and
//! observed bytes and the command that re-runs each.

use super::model::{CaseReport, ClassReport, MatrixCell, Outcome, ProgramReport, SubmissionReport};
use super::report::escape_markup as e;
use std::fmt::Write as _;

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:center}\
th{background:#eee}td.name{text-align:left;font-weight:bold}\
.full{background:#c8f0c8}.part{background:#fff0b0}.none{background:#f6c0c0}\
.missing{background:#ddd;color:#555}\
pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap;word-break:break-all}\
details{margin:.3em 0}summary{cursor:pointer}";

/// The whole page.
pub fn page(report: &ClassReport) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>socklab-check: class report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>Class report</h1>\n<p>{} submissions, {} programs each. Isolation: {}.</p>\n",
        report.submissions.len(),
        report.programs.len(),
        e(&report.isolation)
    );
    class_table(&mut html, report);
    if !report.matrix.is_empty() {
        html.push_str(
            "<h2>Interop matrix</h2>\n<p>Rows are servers, columns clients; \
                       <code>socklab</code> is the reference implementation.</p>\n",
        );
        let mut assignments: Vec<&str> = report
            .matrix
            .iter()
            .map(|c| c.assignment.as_str())
            .collect();
        assignments.dedup();
        for assignment in assignments {
            matrix_table(&mut html, assignment, &report.matrix);
        }
    }
    html.push_str("<h2>Failing cases</h2>\n");
    for submission in &report.submissions {
        failures(&mut html, submission);
    }
    html.push_str("</body>\n</html>\n");
    html
}

fn class_table(html: &mut String, report: &ClassReport) {
    html.push_str("<h2>Class</h2>\n<table>\n<tr><th>submission</th>");
    for (label, _) in &report.programs {
        let _ = write!(html, "<th>{}</th>", e(label));
    }
    html.push_str("<th>points</th></tr>\n");
    for submission in &report.submissions {
        let _ = write!(
            html,
            "<tr><td class=\"name\"><a href=\"#{0}\">{0}</a></td>",
            e(&submission.name)
        );
        for program in &submission.programs {
            let _ = write!(
                html,
                "<td class=\"{}\">{}</td>",
                class_of(program),
                e(&program.cell())
            );
        }
        let (points, max) = submission.points();
        let _ = writeln!(html, "<td>{points}/{max}</td></tr>");
    }
    html.push_str("</table>\n");
}

fn class_of(program: &ProgramReport) -> &'static str {
    match program.outcome {
        Outcome::Graded if program.passed() == program.total => "full",
        Outcome::Graded if program.passed() > 0 => "part",
        Outcome::Graded | Outcome::Error(_) => "none",
        Outcome::Missing(_) => "missing",
    }
}

fn matrix_table(html: &mut String, assignment: &str, cells: &[MatrixCell]) {
    let cells: Vec<&MatrixCell> = cells
        .iter()
        .filter(|c| c.assignment == assignment)
        .collect();
    let mut servers: Vec<&str> = Vec::new();
    let mut clients: Vec<&str> = Vec::new();
    for cell in &cells {
        if !servers.contains(&cell.server.as_str()) {
            servers.push(&cell.server);
        }
        if !clients.contains(&cell.client.as_str()) {
            clients.push(&cell.client);
        }
    }
    let _ = write!(
        html,
        "<h3>{}</h3>\n<table>\n<tr><th>server \\ client</th>",
        e(assignment)
    );
    for client in &clients {
        let _ = write!(html, "<th>{}</th>", e(client));
    }
    html.push_str("</tr>\n");
    for server in &servers {
        let _ = write!(html, "<tr><td class=\"name\">{}</td>", e(server));
        for client in &clients {
            match cells
                .iter()
                .find(|c| c.server == *server && c.client == *client)
            {
                Some(cell) => {
                    let (class, word) = if cell.passed {
                        ("full", "PASS")
                    } else {
                        ("none", "FAIL")
                    };
                    let _ = write!(
                        html,
                        "<td class=\"{class}\" title=\"{}\">{word}</td>",
                        e(&cell.log)
                    );
                }
                None => html.push_str("<td class=\"missing\">-</td>"),
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    for cell in cells.iter().filter(|c| !c.passed) {
        let _ = writeln!(
            html,
            "<details><summary>{} server {} × client {}: FAIL</summary><pre>{}</pre></details>",
            e(assignment),
            e(&cell.server),
            e(&cell.client),
            e(&cell.log)
        );
    }
}

fn failures(html: &mut String, submission: &SubmissionReport) {
    let (points, max) = submission.points();
    let _ = writeln!(
        html,
        "<h3 id=\"{0}\">{0} ({points}/{max})</h3>",
        e(&submission.name)
    );
    let mut any = false;
    for program in &submission.programs {
        match &program.outcome {
            Outcome::Missing(path) => {
                any = true;
                let _ = writeln!(
                    html,
                    "<p><b>{}</b>: missing ({} does not exist)</p>",
                    e(&program.label),
                    e(path)
                );
            }
            Outcome::Error(why) => {
                any = true;
                let _ = writeln!(
                    html,
                    "<p><b>{}</b>: could not be graded: {}</p>",
                    e(&program.label),
                    e(why)
                );
            }
            Outcome::Graded => {}
        }
        for case in program.cases.iter().filter(|c| c.status == "FAIL") {
            any = true;
            failing_case(html, &program.label, case);
        }
    }
    if !any {
        html.push_str("<p>No failing case.</p>\n");
    }
}

/// One failing case: the detail, the bytes, each program's end, and the
/// reproduce command, folded under its summary line.
fn failing_case(html: &mut String, label: &str, case: &CaseReport) {
    let _ = writeln!(
        html,
        "<details><summary><b>{}</b> {} ({}): {}</summary>",
        e(label),
        e(&case.name),
        e(&case.tier),
        e(&case.detail)
    );
    if let (Some(expected), Some(observed)) = (&case.expected, &case.observed) {
        let _ = writeln!(
                html,
                "<p>expected:</p><pre>{}</pre><p>observed (first difference at byte {}):</p><pre>{}</pre>",
                e(expected),
                case.offset.unwrap_or(0),
                e(observed)
            );
    }
    for run in &case.runs {
        let _ = writeln!(
            html,
            "<p>ran <code>{}</code>: {}</p><pre>{}</pre>",
            e(&run.command),
            e(&run.exit),
            e(&run.stderr_tail)
        );
    }
    let _ = writeln!(
        html,
        "<p>reproduce:</p><pre>{}</pre></details>",
        e(&case.reproduce)
    );
}
