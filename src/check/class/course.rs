//! The course file: one program per line, `ASSIGNMENT ROLE [--port N]
//! [points=N] COMMAND...`, `#` starting a comment. `COMMAND` holds the
//! single-target holes (`{host}`, `{port}`, `{dir}`, `{file}`) and `{sub}`,
//! the absolute path of one submission's directory.

use crate::check::{cases, Assignment, Role};
use std::path::Path;

/// One line of the course file: a program every submission should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Which assignment.
    pub assignment: Assignment,
    /// Which role.
    pub role: Role,
    /// The fixed port the program uses, if any.
    pub port: Option<u16>,
    /// Points per case.
    pub points: u64,
    /// The command template (with `{sub}`).
    pub command: String,
}

impl Program {
    /// `ASSIGNMENT ROLE`, the program's name in every report.
    pub fn label(&self) -> String {
        format!("{} {}", self.assignment, self.role)
    }

    /// The command for the submission in `sub` (an absolute path).
    pub fn command_for(&self, sub: &Path) -> String {
        self.command.replace("{sub}", &sub.display().to_string())
    }

    /// The first path the command names under `{sub}` that does not exist
    /// in the submission `sub`, if any (the program is then missing).
    pub fn missing_path(&self, sub: &Path) -> Option<String> {
        self.command
            .split_whitespace()
            .filter(|word| word.contains("{sub}"))
            .map(|word| {
                let path = word.trim_matches(['\'', '"']);
                path.replace("{sub}", &sub.display().to_string())
            })
            .find(|path| !Path::new(path).exists())
    }
}

/// A bad line: its number (from 1) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseError {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a course file's text.
pub fn parse(text: &str) -> Result<Vec<Program>, CourseError> {
    let mut programs: Vec<Program> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let fail = |reason: String| CourseError {
            line: index + 1,
            reason,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let program = parse_line(line).map_err(fail)?;
        if programs.iter().any(|p| p.label() == program.label()) {
            return Err(fail(format!(
                "{} is already on an earlier line",
                program.label()
            )));
        }
        programs.push(program);
    }
    if programs.is_empty() {
        return Err(CourseError {
            line: text.lines().count().max(1),
            reason: "the course names no program".into(),
        });
    }
    Ok(programs)
}

/// The first word of `text` and what follows it.
fn next_word(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    (!text.is_empty()).then(|| (&text[..end], &text[end..]))
}

fn parse_line(line: &str) -> Result<Program, String> {
    let (assignment, rest) = next_word(line).ok_or("no assignment")?;
    let assignment = Assignment::from_name(assignment).ok_or_else(|| {
        format!(
            "unknown assignment {assignment:?} (a1, a2, ping, ramp, file, relay, dual, chat, accio)"
        )
    })?;
    let (role, mut rest) = next_word(rest).ok_or("no role")?;
    let role = match role {
        "server" => Role::Server,
        "client" => Role::Client,
        other => return Err(format!("role must be server or client, not {other:?}")),
    };
    if cases(assignment, role).is_none() {
        return Err(format!(
            "{assignment} has no {role} (the ramp's server is `ping server`)"
        ));
    }
    let mut program = Program {
        assignment,
        role,
        port: None,
        points: 1,
        command: String::new(),
    };
    loop {
        let (word, after) = next_word(rest).ok_or("no command")?;
        if word == "--port" {
            let (value, after) = next_word(after).ok_or("--port needs a number")?;
            program.port = Some(value.parse().map_err(|_| format!("bad port {value:?}"))?);
            rest = after;
        } else if let Some(value) = word.strip_prefix("points=") {
            program.points = value
                .parse()
                .map_err(|_| format!("bad points {value:?} (a whole number)"))?;
            rest = after;
        } else {
            program.command = rest.trim().to_string();
            return Ok(program);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_parsed_with_options_and_comments() {
        let course = parse(
            "# course\n\na2 server --port 5555 points=2 python3 {sub}/a2/s.py {port}\n\
             ping client  VAR=1 prog {host}\n",
        )
        .unwrap();
        assert_eq!(course.len(), 2);
        assert_eq!(course[0].label(), "a2 server");
        assert_eq!(course[0].port, Some(5555));
        assert_eq!(course[0].points, 2);
        assert_eq!(course[0].command, "python3 {sub}/a2/s.py {port}");
        assert_eq!(course[1].command, "VAR=1 prog {host}");
    }

    #[test]
    fn bad_lines_say_their_number() {
        for (text, line) in [
            ("a2 server x\na9 server y\n", 2),
            ("a2 server x\n# c\nramp server y\n", 3),
            ("a2 sever x\n", 1),
            ("a2 server --port x y\n", 1),
            ("a2 server\n", 1),
            ("a2 server x\na2 server y\n", 2),
            ("a2 client points=z x\n", 1),
        ] {
            assert_eq!(parse(text).unwrap_err().line, line, "{text:?}");
        }
    }

    #[test]
    fn missing_paths_are_found() {
        let program = parse("a2 server python3 '{sub}/a2/server.py' {port}\n").unwrap();
        let dir = std::env::temp_dir();
        assert!(program[0].missing_path(&dir).is_some());
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let program = parse("a2 server cat {sub}/Cargo.toml\n").unwrap();
        assert_eq!(program[0].missing_path(here), None);
    }
}
