//! Every example in README.md and docs/**/*.md runs as printed.
//!
//! The test reads each Markdown file, takes every fenced block tagged `sh`,
//! and runs it verbatim with `sh -e -c`, in order, in one fresh temporary
//! directory per file (so a file an example needs is made by an earlier
//! example), with the directory of the binaries built for this test first
//! on `PATH`. It runs inside a private network namespace (`unshare -rn`,
//! loopback only, torn down with the test), so the fixed ports of the
//! examples (5555, 8080, …) never meet another program's.
//!
//! The conventions, which the docs follow:
//!
//! - A block whose first line is `# terminal N (leave it running)` runs in
//!   the background: a server, or a client that waits for a message. The
//!   test goes on once the first line of its expected output (below) has
//!   appeared. It is stopped with SIGTERM to its process group (its PID) at
//!   the next `#` or `##` heading or at the end of the file, unless it has
//!   already exited; it must not have failed.
//! - A block whose first line is `# fails with exit status N` must exit
//!   with status N; every other block must exit 0. Each gets 60 s.
//! - A block whose first line is `# in the socklab checkout` holds `make`
//!   commands (build, install, test): each is checked with `make -n` in the
//!   repository (the target exists and expands), not run, since it would
//!   rebuild or re-test the project.
//! - A ```` ```text ```` block right after a `sh` block (nothing but blank
//!   lines between) is what the block prints: each of its non-empty lines
//!   must appear in a line of the block's stdout and stderr (after a
//!   prompt, say), in order, where `…` stands for any text. Other `text` blocks are illustrations.

mod common;

use common::TempDir;
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a foreground block may run.
const BLOCK_DEADLINE: Duration = Duration::from_secs(60);
/// How long a background block may take to print its first expected line.
const READY_DEADLINE: Duration = Duration::from_secs(15);
/// Set inside the namespace, so the re-run test does the work.
const INSIDE: &str = "SOCKLAB_README_NETNS";

/// How a block is run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Foreground { status: i32 },
    Background,
    Make,
}

/// One `sh` block and the output the text shows for it.
#[derive(Debug)]
struct Block {
    file: String,
    line: usize,
    code: String,
    kind: Kind,
    expected: Vec<String>,
    /// The section it belongs to (blocks of one section share servers).
    section: usize,
}

/// Extracts the `sh` blocks of one Markdown file.
fn blocks(file: &str, text: &str) -> Vec<Block> {
    let mut found: Vec<Block> = Vec::new();
    let mut lines = text.lines().enumerate();
    let mut section = 0;
    let mut last_was_sh = false;
    while let Some((number, line)) = lines.next() {
        if line.starts_with("# ") || line.starts_with("## ") {
            section += 1;
        }
        let Some(tag) = line.strip_prefix("```") else {
            if !line.trim().is_empty() {
                last_was_sh = false;
            }
            continue;
        };
        let body: Vec<&str> = lines
            .by_ref()
            .map(|(_, l)| l)
            .take_while(|l| !l.starts_with("```"))
            .collect();
        match tag.trim() {
            "sh" => {
                let code = body.join("\n") + "\n";
                let first = body.first().copied().unwrap_or("");
                found.push(Block {
                    file: file.to_string(),
                    line: number + 1,
                    kind: kind_of(first),
                    code,
                    expected: Vec::new(),
                    section,
                });
                last_was_sh = true;
                continue;
            }
            "text" if last_was_sh => {
                let block = found.last_mut().unwrap();
                block.expected = body
                    .iter()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect();
            }
            _ => {}
        }
        last_was_sh = false;
    }
    found
}

/// The kind a block's first line asks for.
fn kind_of(first: &str) -> Kind {
    if first.starts_with("# terminal ") && first.ends_with("(leave it running)") {
        Kind::Background
    } else if let Some(status) = first.strip_prefix("# fails with exit status ") {
        Kind::Foreground {
            status: status.trim().parse().expect("a status after the marker"),
        }
    } else if first == "# in the socklab checkout" {
        Kind::Make
    } else {
        Kind::Foreground { status: 0 }
    }
}

/// Whether `line` contains `pattern`, where `…` stands for any text.
fn matches(pattern: &str, line: &str) -> bool {
    let mut rest = line;
    for part in pattern.split('…') {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The expected lines that do not match `output` in order (empty: all do).
fn unmatched(expected: &[String], output: &str) -> Vec<String> {
    let mut lines = output.lines();
    let mut missing = Vec::new();
    for pattern in expected {
        if !lines.by_ref().any(|line| matches(pattern, line)) {
            missing.push(pattern.clone());
            lines = "".lines();
        }
    }
    missing
}

/// A block started with its output going to one file (stdout and stderr
/// in the order written).
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn start(block: &Block, dir: &Path, path: &str, n: usize) -> Running {
        let log = dir.join(format!(".readme-block-{n}.log"));
        let out = File::create(&log).unwrap();
        let child = Command::new("sh")
            .args(["-e", "-c", &block.code])
            .current_dir(dir)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("sh starts");
        Running { child, log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to `deadline` for the block to end.
    fn wait(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` to the block's process group (its PID).
    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([
                &format!("-{signal}"),
                "--",
                &format!("-{}", self.child.id()),
            ])
            .stderr(Stdio::null())
            .status();
    }
}

impl Running {
    /// Whether any process of the block's group is still running.
    fn group_alive(&self) -> bool {
        Command::new("kill")
            .args(["-0", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.group_alive() {
            self.signal("KILL");
        }
        let _ = self.child.wait();
    }
}

/// Where a block failed: its file and line, the problem and its output.
fn failure(block: &Block, problem: &str, output: &str) -> String {
    format!(
        "{}:{}: {problem}\n--- block ---\n{}--- output ---\n{output}",
        block.file, block.line, block.code
    )
}

/// Runs one foreground block to its end and checks it.
fn run_foreground(
    block: &Block,
    status: i32,
    dir: &Path,
    path: &str,
    n: usize,
) -> Result<(), String> {
    let mut running = Running::start(block, dir, path, n);
    let Some(exit) = running.wait(BLOCK_DEADLINE) else {
        return Err(failure(block, "did not end within 60 s", &running.output()));
    };
    let output = running.output();
    if exit.code() != Some(status) {
        return Err(failure(
            block,
            &format!("{exit}, expected status {status}"),
            &output,
        ));
    }
    let missing = unmatched(&block.expected, &output);
    if !missing.is_empty() {
        return Err(failure(
            block,
            &format!("expected lines missing: {missing:?}"),
            &output,
        ));
    }
    Ok(())
}

/// Starts a background block and waits for its first expected line.
fn start_background(block: &Block, dir: &Path, path: &str, n: usize) -> Result<Running, String> {
    let running = Running::start(block, dir, path, n);
    let Some(first) = block.expected.first() else {
        return Err(failure(
            block,
            "a background block needs its expected output",
            "",
        ));
    };
    let until = Instant::now() + READY_DEADLINE;
    while !running.output().lines().any(|line| matches(first, line)) {
        if Instant::now() >= until {
            return Err(failure(
                block,
                &format!("never printed {first:?}"),
                &running.output(),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(running)
}

/// Stops a background block (SIGTERM to its group, unless it has ended)
/// and checks its whole output.
fn stop_background(block: &Block, mut running: Running) -> Result<(), String> {
    let status = match running.wait(Duration::ZERO) {
        Some(status) => status,
        None => {
            running.signal("TERM");
            match running.wait(Duration::from_secs(5)) {
                Some(status) => status,
                None => return Err(failure(block, "ignored SIGTERM for 5 s", &running.output())),
            }
        }
    };
    // `sh` may end before the program it started: wait for the whole group.
    let until = Instant::now() + Duration::from_secs(5);
    while running.group_alive() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = running.output();
    // `sh` itself may be the one SIGTERM ended; the program's own summary
    // line, in the expected output, shows that it stopped cleanly.
    if !(status.success() || status.signal() == Some(15)) {
        return Err(failure(block, &format!("ended with {status}"), &output));
    }
    let missing = unmatched(&block.expected, &output);
    if !missing.is_empty() {
        return Err(failure(
            block,
            &format!("expected lines missing: {missing:?}"),
            &output,
        ));
    }
    Ok(())
}

/// Checks a `make` block with `make -n` in the repository: the block runs
/// verbatim with `make` defined as `make -n` (print, do not run).
fn check_make(block: &Block) -> Result<(), String> {
    if commands(&block.code)
        .iter()
        .any(|c| !c.starts_with("make "))
    {
        return Err(failure(block, "only make commands may be marked so", ""));
    }
    let script = format!("make() {{ command make -n \"$@\"; }}\n{}", block.code);
    let output = Command::new("sh")
        .args(["-e", "-c", &script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("sh runs");
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr);
        return Err(failure(block, "`make -n` fails", &text));
    }
    Ok(())
}

/// The commands of a block: its non-comment lines, `\` continuations joined.
fn commands(code: &str) -> Vec<String> {
    code.replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Runs the blocks of one file in order; returns the commands run.
fn run_file(file_blocks: &[Block], path: &str) -> Result<usize, String> {
    let dir = TempDir::new("readme");
    let mut background: Vec<(&Block, Running)> = Vec::new();
    let mut count = 0;
    for (n, block) in file_blocks.iter().enumerate() {
        if background
            .first()
            .is_some_and(|(b, _)| b.section != block.section)
        {
            for (b, running) in background.drain(..) {
                stop_background(b, running)?;
            }
        }
        count += commands(&block.code).len();
        match block.kind {
            Kind::Foreground { status } => run_foreground(block, status, dir.path(), path, n)?,
            Kind::Background => {
                background.push((block, start_background(block, dir.path(), path, n)?))
            }
            Kind::Make => check_make(block)?,
        }
    }
    for (b, running) in background.drain(..) {
        stop_background(b, running)?;
    }
    Ok(count)
}

/// README.md and every Markdown file under docs/, sorted.
fn markdown_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut dirs = vec![root.join("docs")];
    let mut found = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "md") {
                found.push(p);
            }
        }
    }
    found.sort();
    files.extend(found);
    files
}

/// PATH with the binaries built for this test first.
fn search_path() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_a2-tcp-server"))
        .parent()
        .unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The work, inside the namespace.
fn run_all() {
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status();
    assert!(
        up.is_ok_and(|s| s.success()),
        "cannot bring up lo in the namespace"
    );
    let path = search_path();
    let (mut files, mut total_blocks, mut total_commands) = (0, 0, 0);
    let mut failures = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(&file);
        let found = blocks(&name.display().to_string(), &text);
        if found.is_empty() {
            continue;
        }
        files += 1;
        total_blocks += found.len();
        match run_file(&found, &path) {
            Ok(count) => total_commands += count,
            Err(problem) => failures.push(problem),
        }
    }
    eprintln!("readme: {total_blocks} blocks, {total_commands} commands from {files} files");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        total_blocks >= 30,
        "only {total_blocks} sh blocks found: is the extraction broken?"
    );
}

#[test]
fn every_example_in_the_docs_runs_as_printed() {
    if std::env::var_os(INSIDE).is_some() {
        return run_all();
    }
    let me = std::env::current_exe().unwrap();
    let inside = Command::new("unshare")
        .args(["-rn", "--"])
        .arg(&me)
        .args([
            "--exact",
            "every_example_in_the_docs_runs_as_printed",
            "--nocapture",
        ])
        .env(INSIDE, "1")
        .output();
    match inside {
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("unshare: ") => {
            eprintln!("skipped: no private network namespace (unshare -rn failed)");
        }
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            let summary = text
                .lines()
                .find(|l| l.starts_with("readme: "))
                .unwrap_or("");
            eprintln!("{summary}");
            assert!(out.status.success() && text.contains("1 passed"), "{text}");
        }
        Err(e) => eprintln!("skipped: cannot run unshare: {e}"),
    }
}

#[test]
fn the_conventions_are_parsed_as_documented() {
    let text = "## a\n```sh\n# terminal 1 (leave it running)\nserver\n```\n\n```text\nListening on …:80 (tcp)\n```\n\
                ```sh\n# fails with exit status 2\nclient 10\n```\n## b\n```sh\n# in the socklab checkout\nmake test\n```\n\
                text\n```text\nnot expected\n```\n";
    let found = blocks("x.md", text);
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].kind, Kind::Background);
    assert_eq!(found[0].expected, ["Listening on …:80 (tcp)"]);
    assert_eq!(found[1].kind, Kind::Foreground { status: 2 });
    assert_eq!(found[2].kind, Kind::Make);
    assert!(found[2].expected.is_empty());
    assert_ne!(found[1].section, found[2].section);
    assert!(matches(
        "Listening on …:80 (tcp)",
        "Listening on [::]:80 (tcp)"
    ));
    assert!(matches("RTT for packet 1: …", "RTT for packet 1: 0.1"));
    assert!(!matches("Loss Percentage: 0.0%", "Loss Percentage: 10.0%"));
    assert!(matches("Message Sent", "Enter your message: Message Sent"));
    assert!(!matches("a … c", "c a"));
    assert!(matches("a … c … e", "a b c d e"));
    assert_eq!(unmatched(&["b".into(), "a".into()], "a\nb\n"), ["a"]);
    assert_eq!(
        commands("# c\nfoo \\\n  bar\n\nbaz\n"),
        ["foo    bar", "baz"]
    );
}
