//! `socklab-check` against socklab's own 17 programs (every case must pass)
//! and against small deliberately broken Python programs in
//! `tests/fixtures/` (the case each one breaks must fail), plus its command
//! line: usage errors, `--list`, `--json`, `--addr`.

mod common;

use common::Proc;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CHECK: &str = env!("CARGO_BIN_EXE_socklab-check");

/// How long one checker run may take (a target takes at most about 60 s).
const RUN_DEADLINE: Duration = Duration::from_secs(150);

/// Checker runs at once: the machine is small and shared.
const WORKERS: usize = 4;

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
            format!("{a1c} 25 --port {{port}} --bind 127.0.0.1:0 --rate 200M"),
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
            match outcome.status_of(name) {
                Some("PASS") => {}
                // IPv6 loopback may be missing on a CI machine.
                Some("SKIP") if name.contains("ipv6") => {}
                other => problems.push(format!(
                    "{assignment} {role} {name}: {other:?}\n{}",
                    outcome.dump
                )),
            }
        }
        if outcome.status != Some(0) {
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
    assert_eq!(names.len(), 9, "{names:?}");
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

/// A broken Python program in `tests/fixtures/`: `python3 SCRIPT MODE
/// ARGS`, where mode `good` passes the target's cases and every other mode
/// breaks exactly what one case checks.
struct Fixture {
    assignment: &'static str,
    role: &'static str,
    script: &'static str,
    args: &'static str,
    /// (mode, the case that mode must fail).
    faults: &'static [(&'static str, &'static str)],
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        assignment: "a1",
        role: "server",
        script: "a1_server.py",
        args: "{port}",
        faults: &[
            ("wrong-decimals", "throughput-reply"),
            ("count-datagrams", "report"),
            ("assert-start", "stray-before-start"),
            ("negative", "empty-test"),
            ("decode", "non-utf8"),
            ("one-shot", "repeated-stop"),
            ("traceback", "ctrl-c"),
        ],
    },
    Fixture {
        assignment: "a1",
        role: "client",
        script: "a1_client.py",
        args: "25 {port}",
        faults: &[
            ("no-start", "payload"),
            ("no-retry", "stop-retry"),
            ("swallow-int", "ctrl-c-while-waiting"),
        ],
    },
    Fixture {
        assignment: "a2",
        role: "server",
        script: "a2_server.py",
        args: "{port}",
        faults: &[
            ("wrong-half", "half-echo"),
            ("no-close", "half-of-any-text"),
            ("round-up", "odd-length"),
            ("read-once", "request-in-pieces"),
            ("decode", "non-utf8"),
            ("one-shot", "empty-connection"),
            ("serial", "silent-client"),
            ("crash-on-reset", "reset-client"),
            ("traceback", "ctrl-c"),
        ],
    },
    Fixture {
        assignment: "a2",
        role: "client",
        script: "a2_client.py",
        args: "{host} {port}",
        faults: &[
            ("wrong-request", "request"),
            ("print-str", "prints-reply"),
            ("traceback", "refused"),
            ("no-timeout", "silent-server"),
        ],
    },
    Fixture {
        assignment: "ping",
        role: "server",
        script: "ping_server.py",
        args: "-p {port}",
        faults: &[
            ("wrong-calibration", "calibration"),
            ("wrong-ack", "probe-ack"),
            ("plain-only", "ramp-probe"),
            ("no-exit", "exit"),
            ("crash-empty", "empty-datagram"),
            ("decode", "non-utf8"),
            ("c-any", "c-not-calibration"),
            ("small-buffer", "small-calibration"),
            ("serial", "delays-independent"),
            ("traceback", "ctrl-c"),
        ],
    },
    Fixture {
        assignment: "ping",
        role: "client",
        script: "ping_client.py",
        args: "ping -ip {host} -port {port} -n 5 -i 0.3 -s 64",
        faults: &[
            ("no-calibration", "all-acked"),
            ("loss-off-by-one", "loss-reported"),
            ("late-credit", "late-ack"),
            ("credit-stale", "stale-ack"),
            ("zero-div", "all-lost"),
            ("crash-no-exit", "no-exit-reply"),
        ],
    },
    Fixture {
        assignment: "ramp",
        role: "client",
        script: "ping_client.py",
        args: "ramp -ip {host} -p {port} -n 10 -i 0.3 -s 64",
        faults: &[
            ("no-calibration", "probes"),
            ("fixed-interval", "interval-decreases"),
            ("lost-wrong", "lost-probe"),
            ("wrong-formula", "report-formula"),
            ("late-credit", "late-ack"),
            ("credit-stale", "stale-ack"),
            ("crash-no-exit", "no-exit-reply"),
        ],
    },
    Fixture {
        assignment: "file",
        role: "server",
        script: "file_server.py",
        args: "{port} {file}",
        faults: &[
            ("byte-changed", "key-file"),
            ("wrong-reply", "wrong-key"),
            ("one-shot", "serves-again"),
            ("exit-on-wrong-key", "wrong-then-right"),
            ("read-once", "key-in-pieces"),
            ("serial", "silent-client"),
            ("crash-on-reset", "reset-mid-transfer"),
            ("traceback", "ctrl-c"),
        ],
    },
    Fixture {
        assignment: "file",
        role: "client",
        script: "file_client.py",
        args: "{host} {port}",
        faults: &[
            ("wrong-key", "file-received"),
            ("silent-error", "auth-error"),
            ("seed-drop", "same-segment"),
            ("keep-partial", "reset-mid-transfer"),
        ],
    },
    Fixture {
        assignment: "relay",
        role: "server",
        script: "relay_server.py",
        args: "{port}",
        faults: &[
            ("wrong-tuple", "hello"),
            ("swap-codes", "error-codes"),
            ("no-trim", "forward"),
            ("ignore-exit", "exit-server"),
            ("decode", "non-utf8"),
            ("open-relay", "open-relay"),
            ("traceback", "ctrl-c"),
        ],
    },
    Fixture {
        assignment: "relay",
        role: "client",
        script: "relay_client.py",
        args: "{host} {port}",
        faults: &[
            ("wrong-hello", "initialize"),
            ("spaces", "send"),
            ("no-error-line", "send-error"),
            ("no-message-line", "receive"),
            ("take-first", "forward-during-send"),
            ("no-timeout", "no-reply"),
        ],
    },
    Fixture {
        assignment: "dual",
        role: "server",
        script: "dual_server.py",
        args: "{host} {port}",
        faults: &[
            ("wrong-ack", "rounds-ipv4"),
            ("ipv4-only", "rounds-ipv6"),
            ("one-shot", "serves-again"),
            ("serial", "concurrent"),
            ("decode", "non-utf8"),
            ("crash-on-reset", "reset-client"),
            ("traceback", "ctrl-c"),
        ],
    },
    Fixture {
        assignment: "dual",
        role: "client",
        script: "dual_client.py",
        args: "{host} {port}",
        faults: &[
            ("bad-exit", "rounds-ipv4"),
            ("ipv4-only", "rounds-ipv6"),
            ("recv-once", "split-ack"),
            ("ignore-close", "server-closes"),
        ],
    },
    Fixture {
        assignment: "chat",
        role: "server",
        script: "chat_server.py",
        args: "{host} {port}",
        faults: &[
            ("wrong-count", "join"),
            ("wrong-prefix", "broadcast"),
            ("no-announce", "upload"),
            ("no-leave", "leave"),
            ("traversal", "traversal"),
            ("one-read", "one-segment"),
            ("crash-on-reset", "reset-peer"),
            ("blocking-send", "stalled-reader"),
            ("replace", "duplicate-name"),
            ("ignore-int", "ctrl-c"),
        ],
    },
    Fixture {
        assignment: "chat",
        role: "client",
        script: "chat_client.py",
        args: "{host} {port}",
        faults: &[
            ("newline", "chat-line"),
            ("short-upload", "upload"),
            ("silent-close", "server-closed"),
            ("crash-missing", "missing-file"),
            ("ignore-int", "ctrl-c"),
        ],
    },
    Fixture {
        assignment: "accio",
        role: "server",
        script: "accio_server.py",
        args: "{port} {dir}/files",
        faults: &[
            ("drop-last", "one-file"),
            ("zero-based", "numbering"),
            ("any-port", "low-port"),
            ("die-on-term", "sigterm"),
            ("no-quit", "sigquit"),
            ("serial", "concurrent"),
            ("restart-at-1", "restart-numbering"),
            ("no-idle", "idle-error"),
            ("keep-partial", "reset-upload"),
        ],
    },
    Fixture {
        assignment: "accio",
        role: "client",
        script: "accio_client.py",
        args: "{host} {port} {file}",
        faults: &[
            ("drop-last", "sends-file"),
            ("lowercase-error", "connect-error"),
            ("one-send", "slow-server"),
            ("traceback", "missing-file"),
        ],
    },
];

/// The command that runs `fixture` in `mode`.
fn fixture_command(fixture: &Fixture, mode: &str) -> String {
    format!(
        "python3 '{}/tests/fixtures/{}' {mode} {}",
        env!("CARGO_MANIFEST_DIR"),
        fixture.script,
        fixture.args
    )
}

#[test]
fn every_case_fails_for_its_broken_fixture_and_passes_for_the_good_one() {
    // One job per (fixture, mode): mode `good` runs every case that has a
    // fault, each fault mode runs just its case.
    let mut jobs = Vec::new();
    for fixture in FIXTURES {
        jobs.push((fixture, "good", None));
        for (mode, case) in fixture.faults {
            jobs.push((fixture, *mode, Some(*case)));
        }
    }
    let outcomes = in_parallel(jobs.clone(), |(fixture, mode, case)| {
        let command = fixture_command(fixture, mode);
        let mut args = vec![fixture.assignment, fixture.role, "--cmd", &command];
        let cases: Vec<&str> = match case {
            Some(case) => vec![case],
            None => fixture.faults.iter().map(|(_, c)| *c).collect(),
        };
        for case in &cases {
            args.extend(["--case", case]);
        }
        check(&args)
    });
    let mut problems = Vec::new();
    for ((fixture, mode, case), outcome) in jobs.iter().zip(&outcomes) {
        let target = format!(
            "{} {} ({} {mode})",
            fixture.assignment, fixture.role, fixture.script
        );
        match case {
            None => {
                for (_, case) in fixture.faults {
                    if outcome.status_of(case) != Some("PASS") {
                        problems.push(format!("{target}: {case} did not pass\n{}", outcome.dump));
                    }
                }
            }
            Some(case) => {
                if outcome.status_of(case) != Some("FAIL") || outcome.status != Some(1) {
                    problems.push(format!("{target}: {case} did not fail\n{}", outcome.dump));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn fixtures_cover_every_case_of_every_target() {
    for (assignment, role, _) in own_targets() {
        let covered: Vec<&str> = FIXTURES
            .iter()
            .filter(|f| f.assignment == assignment && f.role == role)
            .flat_map(|f| f.faults.iter().map(|(_, case)| *case))
            .collect();
        for name in case_names(assignment, role) {
            assert!(
                covered.contains(&name.as_str()),
                "{assignment} {role} {name} has no failing fixture"
            );
        }
    }
}

/// The checker's peak resident memory so far (`VmHWM`, KiB), while it runs.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_server_that_streams_without_end_fails_and_the_checker_stays_small() {
    let fixture = FIXTURES
        .iter()
        .find(|f| f.script == "a2_server.py")
        .expect("the a2 server fixture");
    let command = fixture_command(fixture, "stream");
    let cases = ["half-echo", "odd-length", "request-in-pieces"];
    let mut args = vec!["a2", "server", "--cmd", &command];
    for case in cases {
        args.extend(["--case", case]);
    }
    let mut proc = Proc::spawn(CHECK, &args);
    proc.close_stdin();
    let started = Instant::now();
    let mut peak = 0;
    let status = loop {
        // VmHWM only grows: the last reading before exit is the peak (up to
        // the last 20 ms).
        peak = peak_rss_kib(proc.pid()).unwrap_or(0).max(peak);
        if let Some(status) = proc.wait_exit(Duration::from_millis(20)) {
            break status;
        }
        assert!(started.elapsed() < RUN_DEADLINE, "{}", proc.dump());
    };
    let outcome = Outcome {
        status: status.code(),
        lines: proc.stdout_lines(),
        dump: proc.dump(),
    };
    assert_eq!(outcome.status, Some(1), "{}", outcome.dump);
    for case in cases {
        assert_eq!(outcome.status_of(case), Some("FAIL"), "{}", outcome.dump);
    }
    assert!(
        outcome.dump.contains("the checker stopped reading"),
        "{}",
        outcome.dump
    );
    assert!(peak > 0, "no VmHWM read from /proc");
    assert!(
        peak < 48 * 1024,
        "the checker peaked at {peak} KiB against a streaming server"
    );
}

#[test]
fn unpaced_a1_clients_pass_the_payload_case() {
    // Both send 200 MB as fast as they can: the checker's receiver must
    // keep up (or count what its own socket dropped), not fail them.
    let fixture = FIXTURES
        .iter()
        .find(|f| f.script == "a1_client.py")
        .expect("the a1 client fixture");
    let python = fixture_command(fixture, "unpaced").replace(" 25 ", " 200 ");
    let own = format!(
        "{} 200 --port {{port}} --bind 127.0.0.1:0",
        env!("CARGO_BIN_EXE_a1-iperf-client")
    );
    for command in [python, own] {
        let outcome = check(&["a1", "client", "--cmd", &command, "--case", "payload"]);
        assert_eq!(
            outcome.status_of("payload"),
            Some("PASS"),
            "{command}: {}",
            outcome.dump
        );
        assert!(outcome.dump.contains("200 MB"), "{}", outcome.dump);
    }
}

#[test]
fn a_run_too_short_for_a_case_is_skipped_with_the_reason_and_list_says_why() {
    let listed = check(&["ramp", "client", "--list"]);
    let line = listed
        .lines
        .iter()
        .find(|l| l.contains("interval-decreases"))
        .expect("interval-decreases listed");
    assert!(line.ends_with("[needs 7 probes]"), "{line}");
    let fixture = FIXTURES
        .iter()
        .find(|f| f.assignment == "ramp")
        .expect("the ramp fixture");
    let command = fixture_command(fixture, "good").replace("-n 10", "-n 3");
    let outcome = check(&[
        "ramp",
        "client",
        "--cmd",
        &command,
        "--case",
        "interval-decreases",
        "--case",
        "stale-ack",
        "--case",
        "report-formula",
    ]);
    assert_eq!(outcome.status, Some(0), "{}", outcome.dump);
    for case in ["interval-decreases", "stale-ack"] {
        assert_eq!(outcome.status_of(case), Some("SKIP"), "{}", outcome.dump);
    }
    assert!(
        outcome
            .dump
            .contains("the client sent 3 probes; this case needs 7 probes"),
        "{}",
        outcome.dump
    );
    assert_eq!(
        outcome.status_of("report-formula"),
        Some("PASS"),
        "{}",
        outcome.dump
    );
}

#[test]
fn failures_with_one_reason_are_headed_by_it_once() {
    let command = "python3 no-such-dir/ping_client.py ping -ip {host} -port {port}";
    let outcome = check(&["ping", "client", "--cmd", command]);
    assert_eq!(outcome.status, Some(1), "{}", outcome.dump);
    let headlines: Vec<&String> = outcome
        .lines
        .iter()
        .filter(|l| l.starts_with("ROOT CAUSE of "))
        .collect();
    assert_eq!(headlines.len(), 1, "{}", outcome.dump);
    assert!(headlines[0].contains("No such file"), "{}", outcome.dump);
    assert!(
        outcome
            .lines
            .iter()
            .any(|l| l.contains("consequences: all-acked, loss-reported")),
        "{}",
        outcome.dump
    );
    let json = check(&["ping", "client", "--cmd", command, "--json"]);
    assert!(
        json.lines[0].contains(r#""root_causes":[{"cause":"the program ends with this on stderr"#),
        "{}",
        json.dump
    );
}
