//! `socklab-check` against socklab's own 17 programs (every case must pass)
//! and against small deliberately broken Python programs in
//! `tests/fixtures/` (the case each one breaks must fail), plus its command
//! line: usage errors, `--list`, `--json`, `--addr`.

mod common;

use common::Proc;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

const CHECK: &str = env!("CARGO_BIN_EXE_socklab-check");

/// How long one checker run may take (a target takes at most about 60 s).
const RUN_DEADLINE: Duration = Duration::from_secs(150);

/// Checker runs at once: the machine is small and shared.
const WORKERS: usize = 4;

/// Cases socklab itself does not pass yet (gaps the checker found in
/// socklab; see the report of issue 13). They may fail; nothing else may.
const KNOWN_GAPS: &[(&str, &str, &str)] = &[
    ("chat", "server", "duplicate-name"),
    ("accio", "server", "restart-numbering"),
];

/// Every target with the socklab command that implements it.
fn own_targets() -> Vec<(&'static str, &'static str, String)> {
    let a1s = env!("CARGO_BIN_EXE_a1-iperf-server");
    let a1c = env!("CARGO_BIN_EXE_a1-iperf-client");
    let a2s = env!("CARGO_BIN_EXE_a2-tcp-server");
    let a2c = env!("CARGO_BIN_EXE_a2-tcp-client");
    let ps = env!("CARGO_BIN_EXE_a3-ping-server");
    let pc = env!("CARGO_BIN_EXE_a3-ping-client");
    let rc = env!("CARGO_BIN_EXE_a3-ramp-client");
    let fs = env!("CARGO_BIN_EXE_a3-file-server");
    let fc = env!("CARGO_BIN_EXE_a3-file-client");
    let rls = env!("CARGO_BIN_EXE_a3-relay-server");
    let rlc = env!("CARGO_BIN_EXE_a3-relay-client");
    let ds = env!("CARGO_BIN_EXE_a3-dual-server");
    let dc = env!("CARGO_BIN_EXE_a3-dual-client");
    let cs = env!("CARGO_BIN_EXE_a4-chat-server");
    let cc = env!("CARGO_BIN_EXE_a4-chat-client");
    let xs = env!("CARGO_BIN_EXE_a5-accio-server");
    let xc = env!("CARGO_BIN_EXE_a5-accio-client");
    vec![
        ("a1", "server", format!("{a1s} --forever --port {{port}}")),
        (
            "a1",
            "client",
            format!("{a1c} 25 --port {{port}} --bind 127.0.0.1:0 --rate 400M"),
        ),
        ("a2", "server", format!("{a2s} --forever {{port}}")),
        (
            "a2",
            "client",
            format!("{a2c} {{host}} {{port}} --timeout 3"),
        ),
        ("ping", "server", format!("{ps} -p {{port}}")),
        (
            "ping",
            "client",
            format!("{pc} -ip {{host}} -port {{port}} -n 5 -i 0.3 -s 64"),
        ),
        (
            "ramp",
            "client",
            format!("{rc} -ip {{host}} -p {{port}} -n 10 -i 0.3 -s 64 --no-plot"),
        ),
        ("file", "server", format!("{fs} {{port}} {{file}}")),
        ("file", "client", format!("{fc} {{host}} {{port}}")),
        ("relay", "server", format!("{rls} {{port}}")),
        (
            "relay",
            "client",
            format!("{rlc} {{host}} {{port}} --timeout 2"),
        ),
        ("dual", "server", format!("{ds} {{host}} {{port}}")),
        ("dual", "client", format!("{dc} {{host}} {{port}}")),
        ("chat", "server", format!("{cs} {{host}} {{port}}")),
        ("chat", "client", format!("{cc} {{host}} {{port}}")),
        ("accio", "server", format!("{xs} {{port}} {{dir}}/files")),
        (
            "accio",
            "client",
            format!("{xc} {{host}} {{port}} {{file}}"),
        ),
    ]
}

/// One finished checker run.
struct Outcome {
    status: Option<i32>,
    lines: Vec<String>,
    dump: String,
}

impl Outcome {
    /// The status word (`PASS`, `FAIL`, `SKIP`) the run printed for `case`.
    fn status_of(&self, case: &str) -> Option<&str> {
        self.lines.iter().find_map(|line| {
            let mut words = line.split_whitespace();
            let status = words.next()?;
            let _tier = words.next()?;
            let name = words.next()?.strip_suffix(':')?;
            (name == case && ["PASS", "FAIL", "SKIP"].contains(&status)).then_some(status)
        })
    }
}

/// Runs the checker with `args` and collects its output.
fn check(args: &[&str]) -> Outcome {
    let mut proc = Proc::spawn(CHECK, args);
    proc.close_stdin();
    let status = proc.wait_exit(RUN_DEADLINE);
    Outcome {
        status: status.and_then(|s| s.code()),
        lines: proc.stdout_lines(),
        dump: proc.dump(),
    }
}

/// The case names of a target, from `--list`.
fn case_names(assignment: &str, role: &str) -> Vec<String> {
    let listed = check(&[assignment, role, "--list"]);
    assert_eq!(listed.status, Some(0), "{}", listed.dump);
    listed
        .lines
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

/// Runs `jobs` on a few worker threads and returns their results in order.
fn in_parallel<J: Sync, R: Send>(jobs: Vec<J>, run: impl Fn(&J) -> R + Sync) -> Vec<R> {
    let queue = Mutex::new(jobs.iter().enumerate().collect::<VecDeque<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let Some((index, job)) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let result = run(job);
                results.lock().unwrap().push((index, result));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, r)| r).collect()
}

#[test]
fn socklab_passes_every_case_of_every_target() {
    let targets = own_targets();
    let outcomes = in_parallel(targets.clone(), |(assignment, role, command)| {
        check(&[assignment, role, "--cmd", command, "-v"])
    });
    let mut problems = Vec::new();
    for ((assignment, role, _), outcome) in targets.iter().zip(&outcomes) {
        let names = case_names(assignment, role);
        assert!(!names.is_empty());
        for name in &names {
            let gap = KNOWN_GAPS.contains(&(assignment, role, name.as_str()));
            match outcome.status_of(name) {
                Some("PASS") => {}
                // IPv6 loopback may be missing on a CI machine.
                Some("SKIP") if name.contains("ipv6") => {}
                Some("FAIL") if gap => {}
                other => problems.push(format!(
                    "{assignment} {role} {name}: {other:?}\n{}",
                    outcome.dump
                )),
            }
        }
        let gaps = KNOWN_GAPS
            .iter()
            .any(|(a, r, _)| a == assignment && r == role);
        if !gaps && outcome.status != Some(0) {
            problems.push(format!(
                "{assignment} {role}: exit status {:?}\n{}",
                outcome.status, outcome.dump
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["ramp", "server", "--cmd", "true"][..],
        &["a2", "client", "--addr", "127.0.0.1:9"],
        &["a2", "server", "--cmd", "true", "--case", "no-such-case"],
        &["a9", "server", "--cmd", "true"],
        &["a2", "server"],
    ] {
        let outcome = check(args);
        assert_eq!(outcome.status, Some(2), "{args:?}: {}", outcome.dump);
    }
}

#[test]
fn list_prints_one_line_per_case() {
    let names = case_names("a2", "server");
    assert_eq!(names.len(), 8, "{names:?}");
    assert!(names.contains(&"half-echo".to_string()));
}

#[test]
fn json_reports_every_selected_case() {
    let server = format!("{} --forever {{port}}", env!("CARGO_BIN_EXE_a2-tcp-server"));
    let outcome = check(&[
        "a2",
        "server",
        "--cmd",
        &server,
        "--case",
        "half-echo",
        "--case",
        "non-utf8",
        "--json",
    ]);
    assert_eq!(outcome.status, Some(0), "{}", outcome.dump);
    assert_eq!(outcome.lines.len(), 1, "{}", outcome.dump);
    let json = &outcome.lines[0];
    assert!(
        json.starts_with(r#"{"assignment":"a2","role":"server","passed":2,"failed":0"#),
        "{json}"
    );
    assert!(
        json.contains(r#"{"case":"half-echo","tier":"wire","status":"PASS""#),
        "{json}"
    );
    assert!(json.ends_with("]}"), "{json}");
}

#[test]
fn addr_tests_a_running_server_and_skips_process_cases() {
    let mut server = Proc::spawn(
        env!("CARGO_BIN_EXE_a2-tcp-server"),
        &["--forever", "--bind", "127.0.0.1", "0"],
    );
    let addr = server.wait_listening().to_string();
    let outcome = check(&["a2", "server", "--addr", &addr]);
    assert_eq!(outcome.status, Some(0), "{}", outcome.dump);
    assert_eq!(
        outcome.status_of("half-echo"),
        Some("PASS"),
        "{}",
        outcome.dump
    );
    assert_eq!(
        outcome.status_of("silent-client"),
        Some("PASS"),
        "{}",
        outcome.dump
    );
    assert_eq!(
        outcome.status_of("ctrl-c"),
        Some("SKIP"),
        "{}",
        outcome.dump
    );
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(5)).is_some());
}
