//! `socklab-check class` and `merge` end to end on the class fixture in
//! `tests/fixtures/class/`: a correct submission, its twin (both servers on
//! the course's fixed port 5555, graded side by side), a broken one, a
//! hostile one (floods its output, leaves 150 setsid/double-fork sleepers,
//! ignores SIGTERM, streams an endless reply) and an empty one. Checked:
//! verdicts, `missing`, containment (no process left, the grader's peak
//! RSS), every report file parsed (by `validate.py`, with Python's csv,
//! json, xml and html parsers), a failure's reproduce command, shard +
//! merge against one run, and a bad course line.

mod common;

use common::{Proc, TempDir};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

const CHECK: &str = env!("CARGO_BIN_EXE_socklab-check");

/// How long one class run of the fixture may take.
const RUN_DEADLINE: Duration = Duration::from_secs(240);

/// The grader's peak RSS may not pass this (KiB).
const MAX_RSS_KIB: u64 = 256 * 1024;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/class")
}

/// One finished checker run.
struct Run {
    status: Option<i32>,
    /// Programs of the fixture still running right after a class run.
    leftover: Vec<String>,
    stdout: Vec<String>,
    stderr: String,
    dump: String,
}

/// Runs the checker with `args` under `/usr/bin/time -f maxrss=%M` (when
/// there is one, for the peak RSS) and collects its output.
fn check(args: &[&str]) -> Run {
    let timed = Path::new("/usr/bin/time").exists();
    let mut all = vec![];
    if timed {
        all.extend(["-f", "maxrss=%M", CHECK]);
    }
    all.extend(args);
    let program = if timed { "/usr/bin/time" } else { CHECK };
    let mut proc = Proc::spawn(program, &all);
    proc.close_stdin();
    let status = proc.wait_exit(RUN_DEADLINE);
    Run {
        status: status.and_then(|s| s.code()),
        leftover: Vec::new(),
        stdout: proc.stdout_lines(),
        stderr: proc.stderr_text(),
        dump: proc.dump(),
    }
}

impl Run {
    fn max_rss_kib(&self) -> Option<u64> {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix("maxrss=")?.trim().parse().ok())
    }
}

/// The single run of the fixture with `--matrix`, shared by the tests.
fn single() -> &'static (TempDir, Run) {
    static SINGLE: OnceLock<(TempDir, Run)> = OnceLock::new();
    SINGLE.get_or_init(|| {
        let out = TempDir::new("class-single");
        let run = class_run(out.path(), &["--matrix"]);
        (out, run)
    })
}

/// Class runs one at a time, so each can be checked for what it left.
static CLASS_RUNS: Mutex<()> = Mutex::new(());

fn class_run(out: &Path, extra: &[&str]) -> Run {
    let _turn = CLASS_RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let course = fixture().join("course.txt");
    let submissions = fixture().join("submissions");
    let mut args = vec![
        "class",
        course.to_str().unwrap(),
        submissions.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--jobs",
        "6",
    ];
    args.extend(extra);
    let mut run = check(&args);
    run.leftover = fixture_processes();
    run
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Processes whose command line names the class fixture's submissions
/// (not a checker given them as an argument).
fn fixture_processes() -> Vec<String> {
    let needle = "fixtures/class/submissions";
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (text.contains(needle) && !text.contains("socklab-check")).then_some(text)
        })
        .collect()
}

/// Runs `validate.py` on a report directory and returns what it printed.
fn validate(out: &Path, mode: Option<&str>) -> String {
    let script = fixture().join("validate.py");
    let mut args = vec![script.to_str().unwrap()];
    args.extend(mode);
    args.push(out.to_str().unwrap());
    let mut proc = Proc::spawn("python3", &args);
    let status = proc.wait_exit(Duration::from_secs(30));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", proc.dump());
    proc.stdout_text()
}

/// `summary.csv` as rows of fields (the fixture has no quoted fields).
fn summary(out: &Path) -> Vec<Vec<String>> {
    read(&out.join("summary.csv"))
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn fraction(cell: &str) -> (u32, u32) {
    let (passed, total) = cell.split_once('/').unwrap_or_else(|| panic!("{cell:?}"));
    (passed.parse().unwrap(), total.parse().unwrap())
}

#[test]
fn the_class_is_graded_contained_and_reported() {
    let (out, run) = single();
    let out = out.path();
    assert_eq!(run.status, Some(0), "{}", run.dump);
    let rows = summary(out);
    assert_eq!(
        rows[0],
        [
            "submission",
            "a2 server",
            "a2 client",
            "points",
            "max_points"
        ]
    );
    let row = |name: &str| {
        rows.iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("{name}: {rows:?}"))
    };
    for name in ["correct", "twin"] {
        for cell in &row(name)[1..3] {
            let (passed, total) = fraction(cell);
            assert_eq!(passed, total, "{name}: {rows:?}\n{}", run.dump);
        }
        assert_eq!(row(name)[3], row(name)[4], "{name}");
    }
    let (passed, total) = fraction(&row("broken")[1]);
    assert!(passed < total, "{rows:?}");
    assert_eq!(fraction(&row("hostile")[1]).0, 0, "{rows:?}");
    assert_eq!(row("hostile")[2], "missing");
    assert_eq!(row("empty")[1..3], ["missing", "missing"]);
    assert_eq!(row("empty")[3], "0");
    // The class table on stdout has a row per submission.
    assert!(
        run.stdout.iter().any(|l| l.starts_with("hostile ")),
        "{}",
        run.dump
    );
    // Containment: the sleepers and servers are gone, the grader stayed small.
    assert_eq!(run.leftover, Vec::<String>::new());
    if let Some(rss) = run.max_rss_kib() {
        assert!(rss <= MAX_RSS_KIB, "peak RSS {rss} KiB");
    }
    let printed = validate(out, None);
    assert!(printed.contains("gradescope files=5"), "{printed}");
    assert!(printed.contains("junit.xml suites=5"), "{printed}");
}

#[test]
fn failures_carry_bytes_offsets_and_a_working_reproduce_command() {
    let (out, run) = single();
    assert_eq!(run.status, Some(0), "{}", run.dump);
    let json = read(&out.path().join("results.json"));
    // The broken server echoes one byte too many: both sides, escaped, and
    // where they part.
    assert!(
        json.contains(
            r#""expected":"b'GET / HTT'","observed":"b'GET / HTTP'","first_difference":9"#
        ),
        "{json}"
    );
    // The hostile server's endless reply was cut off a little past what
    // the case expects.
    assert!(json.contains("the checker stopped reading after"), "{json}");
    let html = read(&out.path().join("index.html"));
    assert!(html.contains("b&#39;GET / HTTP&#39;"), "{html}");
    assert!(html.contains("Interop matrix"), "{html}");
    // The reproduce command re-runs one case with the single-target checker.
    let start = json
        .find(r#""reproduce":"socklab-check a2 server"#)
        .expect("a reproduce field");
    let field = &json[start + r#""reproduce":""#.len()..];
    let command = field[..field.find("\"}").unwrap()].replace("\\\"", "\"");
    let command = command.replacen("socklab-check", CHECK, 1);
    let mut proc = Proc::spawn("sh", &["-c", &command]);
    let status = proc.wait_exit(Duration::from_secs(60));
    let lines = proc.stdout_lines();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "{command}: {}",
        proc.dump()
    );
    assert!(
        lines.iter().any(|l| l.starts_with("FAIL wire half-echo")),
        "{command}: {}",
        proc.dump()
    );
    assert!(
        !lines.iter().any(|l| l.contains("half-of-any-text")),
        "{}",
        proc.dump()
    );
}

#[test]
fn matrix_pairs_every_server_with_every_client_and_the_reference() {
    let (out, run) = single();
    assert_eq!(run.status, Some(0), "{}", run.dump);
    let json = read(&out.path().join("results.json"));
    let cell = |server: &str, client: &str| {
        let needle = format!(r#"{{"server":"{server}","client":"{client}","status":""#);
        let at = json
            .find(&needle)
            .unwrap_or_else(|| panic!("no cell {server} x {client}: {json}"));
        json[at + needle.len()..]
            .split('"')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(cell("socklab", "socklab"), "PASS");
    assert_eq!(cell("correct", "twin"), "PASS");
    assert_eq!(cell("socklab", "correct"), "PASS");
    assert_eq!(cell("broken", "socklab"), "FAIL");
    assert_eq!(cell("hostile", "socklab"), "FAIL");
}

#[test]
fn shards_merge_into_the_single_runs_report() {
    let (single_out, single_run) = single();
    assert_eq!(single_run.status, Some(0), "{}", single_run.dump);
    let first = TempDir::new("class-shard1");
    let second = TempDir::new("class-shard2");
    let merged = TempDir::new("class-merged");
    for (dir, shard) in [(&first, "1/2"), (&second, "2/2")] {
        let run = class_run(dir.path(), &["--matrix", "--shard", shard, "-q"]);
        assert_eq!(run.status, Some(0), "{}", run.dump);
        assert_eq!(run.leftover, Vec::<String>::new());
    }
    // Every other submission in name order: broken, empty, twin; correct, hostile.
    assert_eq!(summary(first.path()).len(), 4);
    assert_eq!(summary(second.path()).len(), 3);
    let run = check(&[
        "merge",
        merged.path().to_str().unwrap(),
        first.path().to_str().unwrap(),
        second.path().to_str().unwrap(),
    ]);
    assert_eq!(run.status, Some(0), "{}", run.dump);
    assert_eq!(
        read(&merged.path().join("summary.csv")),
        read(&single_out.path().join("summary.csv"))
    );
    let (merged_json, single_json) = (
        validate(merged.path(), Some("normalize")),
        validate(single_out.path(), Some("normalize")),
    );
    let differing = merged_json
        .lines()
        .zip(single_json.lines())
        .position(|(a, b)| a != b);
    assert_eq!(
        differing,
        None,
        "results.json differs; merged:\n{}",
        merged_json.chars().take(3000).collect::<String>()
    );
    assert_eq!(merged_json.len(), single_json.len());
    validate(merged.path(), None);
}

#[test]
fn a_bad_course_line_exits_2_with_its_number() {
    let dir = TempDir::new("class-bad-course");
    let course = dir.path().join("course.txt");
    std::fs::write(
        &course,
        "# a course\na2 server python3 {sub}/s.py {port}\n\na2 sever x\n",
    )
    .unwrap();
    let run = check(&[
        "class",
        course.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(run.status, Some(2), "{}", run.dump);
    assert!(run.stderr.contains("line 4"), "{}", run.dump);
    assert!(run.stderr.contains("sever"), "{}", run.dump);
}

#[test]
fn cmd_accepts_a_command_with_variable_assignments() {
    let server = format!(
        "GREETING=1 OTHER=2 python3 '{}/tests/fixtures/a2_server.py' good {{port}}",
        env!("CARGO_MANIFEST_DIR")
    );
    let run = check(&[
        "a2",
        "server",
        "--cmd",
        &server,
        "--case",
        "half-echo",
        "--case",
        "ctrl-c",
    ]);
    assert_eq!(run.status, Some(0), "{}", run.dump);
}
