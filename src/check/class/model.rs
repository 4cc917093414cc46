//! What grading a class found, and its raw store (`class.tsv`): one
//! record per line, tab-separated, escaped; written by every run and read
//! back by `merge`, so reports of merged shards come from exactly the data
//! a single run would have had.

use crate::check::process::Record;

/// Everything a class run found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClassReport {
    /// How programs were isolated (one sentence).
    pub isolation: String,
    /// The course's programs: label and points per case, in course order.
    pub programs: Vec<(String, u64)>,
    /// One per submission, sorted by name.
    pub submissions: Vec<SubmissionReport>,
    /// The interop matrix (empty without `--matrix`).
    pub matrix: Vec<MatrixCell>,
}

/// One submission's programs.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionReport {
    /// The directory name.
    pub name: String,
    /// One per course line, in course order.
    pub programs: Vec<ProgramReport>,
}

impl SubmissionReport {
    /// Points earned and the most there were.
    pub fn points(&self) -> (u64, u64) {
        self.programs.iter().fold((0, 0), |(got, max), p| {
            (got + p.passed() * p.points, max + p.total * p.points)
        })
    }
}

/// What became of one program of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its cases ran.
    Graded,
    /// The submission lacks it (the path that does not exist).
    Missing(String),
    /// The grader could not grade it (why).
    Error(String),
}

/// One program of one submission.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramReport {
    /// `ASSIGNMENT ROLE`.
    pub label: String,
    /// Points per passed case.
    pub points: u64,
    /// Graded, missing, or not gradable.
    pub outcome: Outcome,
    /// The command as run (`{sub}` filled in).
    pub command: String,
    /// Cases that count (not skipped; all selected ones when not graded).
    pub total: u64,
    /// The cases, when graded.
    pub cases: Vec<CaseReport>,
}

impl ProgramReport {
    /// Cases passed.
    pub fn passed(&self) -> u64 {
        self.cases.iter().filter(|c| c.status == "PASS").count() as u64
    }

    /// `passed/total`, `missing` or `error`, as `summary.csv` shows it.
    pub fn cell(&self) -> String {
        match self.outcome {
            Outcome::Graded => format!("{}/{}", self.passed(), self.total),
            Outcome::Missing(_) => "missing".into(),
            Outcome::Error(_) => "error".into(),
        }
    }
}

/// One case of one program.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// `wire` or `robust`.
    pub tier: String,
    /// `PASS`, `FAIL` or `SKIP`.
    pub status: String,
    /// The one-line detail.
    pub detail: String,
    /// How long it took.
    pub seconds: f64,
    /// The expected bytes (escaped) where a comparison failed.
    pub expected: Option<String>,
    /// The observed bytes (escaped) where a comparison failed.
    pub observed: Option<String>,
    /// The offset of the first difference.
    pub offset: Option<u64>,
    /// How each program the case started ended.
    pub runs: Vec<Record>,
    /// A command line that re-runs this one case.
    pub reproduce: String,
}

/// One cell of the interop matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixCell {
    /// The assignment.
    pub assignment: String,
    /// The server's submission (`socklab` for the reference).
    pub server: String,
    /// The client's submission (`socklab` for the reference).
    pub client: String,
    /// Whether the exchange worked.
    pub passed: bool,
    /// What happened.
    pub log: String,
}

/// The store's text for `report`.
pub fn store(report: &ClassReport) -> String {
    let mut out = String::new();
    let mut row = |fields: &[&str]| {
        let escaped: Vec<String> = fields.iter().map(|f| escape(f)).collect();
        out.push_str(&escaped.join("\t"));
        out.push('\n');
    };
    row(&["I", &report.isolation]);
    for (label, points) in &report.programs {
        row(&["G", label, &points.to_string()]);
    }
    for submission in &report.submissions {
        row(&["S", &submission.name]);
        for p in &submission.programs {
            let (kind, why) = match &p.outcome {
                Outcome::Graded => ("graded", ""),
                Outcome::Missing(path) => ("missing", path.as_str()),
                Outcome::Error(why) => ("error", why.as_str()),
            };
            let (points, total) = (p.points.to_string(), p.total.to_string());
            row(&["P", &p.label, &points, kind, why, &p.command, &total]);
            for c in &p.cases {
                let offset = c.offset.map(|o| o.to_string());
                let seconds = c.seconds.to_string();
                row(&[
                    "C",
                    &c.name,
                    &c.tier,
                    &c.status,
                    &c.detail,
                    &seconds,
                    &optional(&c.expected),
                    &optional(&c.observed),
                    &optional(&offset),
                    &c.reproduce,
                ]);
                for r in &c.runs {
                    row(&["R", &r.command, &r.exit, &r.stderr_tail]);
                }
            }
        }
    }
    for m in &report.matrix {
        let passed = if m.passed { "1" } else { "0" };
        row(&["M", &m.assignment, &m.server, &m.client, passed, &m.log]);
    }
    out
}

/// Reads a store back.
pub fn load(text: &str) -> Result<ClassReport, String> {
    let mut report = ClassReport::default();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<String> = line.split('\t').map(unescape).collect();
        let bad = || format!("line {}: malformed record", n + 1);
        let number = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or_else(bad);
        match (f[0].as_str(), f.len()) {
            ("I", 2) => report.isolation = f[1].clone(),
            ("G", 3) => report.programs.push((f[1].clone(), number(2)?)),
            ("S", 2) => report.submissions.push(SubmissionReport {
                name: f[1].clone(),
                programs: Vec::new(),
            }),
            ("P", 7) => {
                let program = program_record(&f).ok_or_else(bad)?;
                let submission = report.submissions.last_mut().ok_or_else(bad)?;
                submission.programs.push(program);
            }
            ("C", 10) => {
                let case = case_record(&f).ok_or_else(bad)?;
                last_program(&mut report).ok_or_else(bad)?.cases.push(case);
            }
            ("R", 4) => {
                let program = last_program(&mut report).ok_or_else(bad)?;
                let case = program.cases.last_mut().ok_or_else(bad)?;
                case.runs.push(Record {
                    command: f[1].clone(),
                    exit: f[2].clone(),
                    stderr_tail: f[3].clone(),
                });
            }
            ("M", 6) => report.matrix.push(MatrixCell {
                assignment: f[1].clone(),
                server: f[2].clone(),
                client: f[3].clone(),
                passed: f[4] == "1",
                log: f[5].clone(),
            }),
            _ => return Err(bad()),
        }
    }
    Ok(report)
}

fn program_record(f: &[String]) -> Option<ProgramReport> {
    let outcome = match f[3].as_str() {
        "graded" => Outcome::Graded,
        "missing" => Outcome::Missing(f[4].clone()),
        _ => Outcome::Error(f[4].clone()),
    };
    Some(ProgramReport {
        label: f[1].clone(),
        points: f[2].parse().ok()?,
        outcome,
        command: f[5].clone(),
        total: f[6].parse().ok()?,
        cases: Vec::new(),
    })
}

fn case_record(f: &[String]) -> Option<CaseReport> {
    Some(CaseReport {
        name: f[1].clone(),
        tier: f[2].clone(),
        status: f[3].clone(),
        detail: f[4].clone(),
        seconds: f[5].parse().ok()?,
        expected: from_optional(&f[6]),
        observed: from_optional(&f[7]),
        offset: from_optional(&f[8]).and_then(|o| o.parse().ok()),
        runs: Vec::new(),
        reproduce: f[9].clone(),
    })
}

fn last_program(report: &mut ClassReport) -> Option<&mut ProgramReport> {
    report.submissions.last_mut()?.programs.last_mut()
}

/// `None` is stored as an empty field, `Some(x)` as `=x`.
fn optional(value: &Option<String>) -> String {
    value.as_ref().map_or(String::new(), |v| format!("={v}"))
}

fn from_optional(field: &str) -> Option<String> {
    field.strip_prefix('=').map(str::to_string)
}

fn escape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_round_trips() {
        let case = CaseReport {
            name: "half-echo".into(),
            tier: "wire".into(),
            status: "FAIL".into(),
            detail: "reply:\texpected\n".into(),
            seconds: 0.123_456_789,
            expected: Some("b'GET / HTT'".into()),
            observed: Some(String::new()),
            offset: Some(0),
            runs: vec![Record {
                command: "exec x \\ y".into(),
                exit: "exit status: 1".into(),
                stderr_tail: "a\r\nb".into(),
            }],
            reproduce: "socklab-check a2 server --cmd 'x'".into(),
        };
        let report = ClassReport {
            isolation: "namespaces".into(),
            programs: vec![("a2 server".into(), 2)],
            submissions: vec![SubmissionReport {
                name: "alice".into(),
                programs: vec![ProgramReport {
                    label: "a2 server".into(),
                    points: 2,
                    outcome: Outcome::Graded,
                    command: "x".into(),
                    total: 1,
                    cases: vec![case],
                }],
            }],
            matrix: vec![MatrixCell {
                assignment: "a2".into(),
                server: "alice".into(),
                client: "socklab".into(),
                passed: true,
                log: "ok".into(),
            }],
        };
        assert_eq!(load(&store(&report)).unwrap(), report);
        assert_eq!(report.submissions[0].points(), (0, 2));
    }
}
