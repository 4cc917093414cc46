//! The accio server's file numbers on disk: which number a connection
//! gets, and how no file is ever overwritten or lost.
//!
//! - At start-up the server checks that it can create files in `FILE_DIR`
//!   ([`check_writable`]), turns every `.n.file.part` an earlier run left
//!   behind (a crash, a kill) into an `n.file` holding `ERROR`, and numbers
//!   past the highest `n.file` already there ([`recover_leftovers`]), so a
//!   restart continues the numbering.
//! - A number is claimed by creating its `.n.file.part` exclusively
//!   (`create_new`, which also never follows a symlink planted at that
//!   name) and locking it; a number whose temporary or final name exists is
//!   skipped, so two servers on one directory take turns instead of
//!   overwriting each other, and a live server's locked `.part` is left
//!   alone by the other's start-up clean-up.
//! - A finished file is published with [`files::publish`], which never
//!   replaces an existing `n.file`; a failed one becomes `n.file` holding
//!   exactly [`ERROR_CONTENT`].

use super::protocol::{self, ERROR_CONTENT};
use crate::error::Context;
use crate::files;
use std::collections::BTreeMap;
use std::fs::{self, File, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Creates `dir` if missing and checks that it is a directory.
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    let what = || format!("cannot use {} as the file directory", dir.display());
    if dir.exists() && !dir.is_dir() {
        return Err(io::Error::other("it exists and is not a directory")).context(what);
    }
    fs::create_dir_all(dir).context(what)
}

/// Checks that files can be created in `dir` (a read-only mount, an
/// immutable directory or missing permissions would otherwise fail every
/// upload): creates and removes a hidden probe file.
pub fn check_writable(dir: &Path) -> io::Result<()> {
    let probe = dir.join(format!(".accio-write-check-{}", std::process::id()));
    let _ = fs::remove_file(&probe);
    files::create_exclusive(&probe)
        .and_then(|file| {
            drop(file);
            fs::remove_file(&probe)
        })
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot write files in {}: {e}", dir.display()),
            )
        })
}

/// What [`recover_leftovers`] found in `FILE_DIR`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The highest file number in use (0 if none); numbering continues past it.
    pub highest: u64,
    /// One line for each leftover turned into `ERROR` or removed.
    pub notes: Vec<String>,
}

/// Turns the `.n.file.part` files an earlier run left behind into `n.file`
/// holding `ERROR` (unless `n.file` exists), removes anything at a
/// temporary name that is not a regular file (a planted symlink), leaves
/// alone a `.part` another live server holds locked, and finds the highest
/// file number in `dir`.
pub fn recover_leftovers(dir: &Path) -> io::Result<Recovered> {
    let context =
        |e: io::Error| io::Error::new(e.kind(), format!("cannot read {}: {e}", dir.display()));
    let mut recovered = Recovered::default();
    for entry in fs::read_dir(dir).map_err(context)? {
        let entry = entry.map_err(context)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if let Some(number) = protocol::file_number(name) {
            recovered.highest = recovered.highest.max(number);
        } else if let Some(number) = protocol::temp_file_number(name) {
            recovered.highest = recovered.highest.max(number);
            recovered.notes.extend(recover_temp(dir, number));
        }
    }
    Ok(recovered)
}

/// Recovers one leftover `.n.file.part` (see [`recover_leftovers`]);
/// returns what it did, if anything.
fn recover_temp(dir: &Path, number: u64) -> Option<String> {
    let temp = dir.join(protocol::temp_file_name(number));
    let name = protocol::file_name(number);
    let regular = fs::symlink_metadata(&temp).is_ok_and(|meta| meta.file_type().is_file());
    if !regular {
        return fs::remove_file(&temp)
            .ok()
            .map(|()| format!("Note: removed {}: not a regular file", temp.display()));
    }
    let file = File::open(&temp).ok()?;
    if matches!(file.try_lock(), Err(TryLockError::WouldBlock)) {
        // Another server on this directory is receiving it.
        return None;
    }
    let recorded = match write_error_file(&dir.join(&name)) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => fs::remove_file(&temp),
    };
    Some(match recorded {
        Ok(()) => format!("Note: {name}: ERROR (an unfinished upload left by an earlier run)"),
        Err(e) => format!("{name}: cannot record ERROR: {e}"),
    })
}

/// Creates `path` holding exactly `ERROR`; fails if the name is taken.
///
/// The name appears with its content (written under a hidden name first,
/// then linked), so a reader never sees an empty `n.file`.
fn write_error_file(path: &Path) -> io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = path.with_file_name(format!(".{name}.error-{}", std::process::id()));
    let written = files::create_exclusive(&temp).and_then(|mut file| file.write_all(ERROR_CONTENT));
    let published = written.and_then(|()| files::publish(&temp, path));
    if published.is_err() {
        let _ = fs::remove_file(&temp);
    }
    published
}

/// The file numbers of one server: which comes next, and which transfers
/// are in flight (so a forced exit can record them).
pub(super) struct Numbering {
    dir: PathBuf,
    /// The last number tried; the next claim starts above it.
    last: u64,
    /// Transfers in flight: number → their temporary file.
    in_flight: BTreeMap<u64, PathBuf>,
}

/// A claimed number: its temporary file, created exclusively and locked.
pub(super) struct Claim {
    pub(super) number: u64,
    pub(super) temp_path: PathBuf,
    pub(super) file: File,
}

/// How many taken numbers a claim skips before it gives up.
const MAX_CLAIM_ATTEMPTS: u32 = 100_000;

impl Numbering {
    /// Numbering for `dir` that continues past `highest`.
    pub(super) fn new(dir: &Path, highest: u64) -> Numbering {
        Numbering {
            dir: dir.to_path_buf(),
            last: highest,
            in_flight: BTreeMap::new(),
        }
    }

    /// Claims the next free number: creates `.n.file.part` exclusively and
    /// locks it, skipping numbers whose temporary or final name is taken
    /// (by another server on this directory, a planted link, a file that
    /// appeared since start-up).
    pub(super) fn claim(&mut self) -> io::Result<Claim> {
        // FILE_DIR may have been removed since start-up; the seed recreates
        // it for every connection, and so do we.
        prepare_dir(&self.dir)?;
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            self.last = self
                .last
                .checked_add(1)
                .ok_or_else(|| io::Error::other("every file number is used"))?;
            let number = self.last;
            let temp_path = self.dir.join(protocol::temp_file_name(number));
            let file = match files::create_exclusive(&temp_path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot create {}: {e}", temp_path.display()),
                    ))
                }
            };
            // Locked: another server's start-up leaves this file alone.
            let _ = file.try_lock();
            if fs::symlink_metadata(self.dir.join(protocol::file_name(number))).is_ok() {
                drop(file);
                let _ = fs::remove_file(&temp_path);
                continue;
            }
            self.in_flight.insert(number, temp_path.clone());
            return Ok(Claim {
                number,
                temp_path,
                file,
            });
        }
        Err(io::Error::other(format!(
            "{MAX_CLAIM_ATTEMPTS} file numbers in a row are taken"
        )))
    }

    /// Ends transfer `number`, whose file (closed by now) is at
    /// `temp_path`: publishes it if `complete`, or records `ERROR` at
    /// `n.file`, and removes the temporary file. Returns the number the file
    /// was saved under: `number`, or — if `n.file` appeared meanwhile (put
    /// there by someone else) — the next free one, so the upload is still
    /// not lost. Runs under the numbering lock, so a forced exit either sees
    /// the transfer in flight or finds it finished. An error says the
    /// complete file could not be published (then `ERROR` was recorded) or
    /// `ERROR` could not be.
    pub(super) fn finish(
        &mut self,
        number: u64,
        temp_path: &Path,
        complete: bool,
    ) -> io::Result<u64> {
        self.in_flight.remove(&number);
        let target = self.dir.join(protocol::file_name(number));
        let published = if complete {
            match files::publish(temp_path, &target) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    self.publish_elsewhere(temp_path)
                }
                other => other.map(|()| number),
            }
        } else {
            Err(io::Error::other("not complete"))
        };
        if published.is_ok() {
            return published;
        }
        let recorded = write_error_file(&target);
        let _ = fs::remove_file(temp_path);
        match (published, recorded) {
            (Err(e), Ok(())) if complete => Err(e),
            (_, recorded) => recorded.map(|()| number),
        }
    }

    /// Publishes a finished file under the next number nobody has claimed.
    fn publish_elsewhere(&mut self, temp_path: &Path) -> io::Result<u64> {
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            self.last = self
                .last
                .checked_add(1)
                .ok_or_else(|| io::Error::other("every file number is used"))?;
            let claimed = self.dir.join(protocol::temp_file_name(self.last));
            if fs::symlink_metadata(claimed).is_ok() {
                continue;
            }
            match files::publish(temp_path, &self.dir.join(protocol::file_name(self.last))) {
                Ok(()) => return Ok(self.last),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "{MAX_CLAIM_ATTEMPTS} file numbers in a row are taken"
        )))
    }

    /// A second signal: records every transfer in flight as `ERROR` and
    /// removes its temporary file, right before the process exits; returns
    /// how many there were.
    pub(super) fn abandon_all(&mut self) -> usize {
        let count = self.in_flight.len();
        for (number, temp_path) in std::mem::take(&mut self.in_flight) {
            let _ = write_error_file(&self.dir.join(protocol::file_name(number)));
            let _ = fs::remove_file(temp_path);
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory for one test.
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("socklab-a5-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn leftovers_become_error_files_and_numbering_continues_past_them() {
        let dir = scratch("recover");
        fs::write(dir.join("2.file"), b"kept").unwrap();
        fs::write(dir.join(".5.file.part"), b"half").unwrap();
        fs::write(dir.join("notes.txt"), b"other").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.join(".3.file.part")).unwrap();
        let recovered = recover_leftovers(&dir).unwrap();
        assert_eq!(recovered.highest, 5);
        assert_eq!(recovered.notes.len(), 2, "{:?}", recovered.notes);
        assert!(recovered
            .notes
            .contains(&"Note: 5.file: ERROR (an unfinished upload left by an earlier run)".into()));
        assert_eq!(names(&dir), ["2.file", "5.file", "notes.txt"]);
        assert_eq!(fs::read(dir.join("5.file")).unwrap(), ERROR_CONTENT);
        assert_eq!(fs::read(dir.join("2.file")).unwrap(), b"kept");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_locked_part_belongs_to_a_live_server_and_is_left_alone() {
        let dir = scratch("locked");
        let part = dir.join(".1.file.part");
        let file = files::create_exclusive(&part).unwrap();
        file.lock().unwrap();
        assert_eq!(recover_leftovers(&dir).unwrap().highest, 1);
        assert_eq!(names(&dir), [".1.file.part"]);
        drop(file);
        recover_leftovers(&dir).unwrap();
        assert_eq!(names(&dir), ["1.file"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn claims_skip_taken_numbers_and_finishing_never_overwrites() {
        let dir = scratch("claim");
        let mut numbering = Numbering::new(&dir, 0);
        fs::write(dir.join("2.file"), b"someone else's").unwrap();
        fs::write(dir.join(".3.file.part"), b"someone else's").unwrap();
        let first = numbering.claim().unwrap();
        let second = numbering.claim().unwrap();
        assert_eq!((first.number, second.number), (1, 4));
        (&first.file).write_all(b"one").unwrap();
        drop(first.file);
        assert_eq!(numbering.finish(1, &first.temp_path, true).unwrap(), 1);
        drop(second.file);
        assert_eq!(numbering.finish(4, &second.temp_path, false).unwrap(), 4);
        assert!(numbering.in_flight.is_empty());
        assert_eq!(names(&dir), [".3.file.part", "1.file", "2.file", "4.file"]);
        assert_eq!(fs::read(dir.join("1.file")).unwrap(), b"one");
        assert_eq!(fs::read(dir.join("4.file")).unwrap(), ERROR_CONTENT);

        // A file that appears at the final name while a transfer runs stays,
        // and the upload takes the next free number.
        let third = numbering.claim().unwrap();
        (&third.file).write_all(b"three").unwrap();
        fs::write(dir.join("5.file"), b"planted").unwrap();
        fs::write(dir.join(".6.file.part"), b"in flight elsewhere").unwrap();
        drop(third.file);
        assert_eq!(numbering.finish(5, &third.temp_path, true).unwrap(), 7);
        assert_eq!(fs::read(dir.join("5.file")).unwrap(), b"planted");
        assert_eq!(fs::read(dir.join("7.file")).unwrap(), b"three");
        assert!(!third.temp_path.exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_forced_exit_records_every_transfer_in_flight() {
        let dir = scratch("forced");
        let mut numbering = Numbering::new(&dir, 0);
        let claims: Vec<Claim> = (0..3).map(|_| numbering.claim().unwrap()).collect();
        assert_eq!(numbering.abandon_all(), 3);
        assert_eq!(names(&dir), ["1.file", "2.file", "3.file"]);
        for name in names(&dir) {
            assert_eq!(fs::read(dir.join(name)).unwrap(), ERROR_CONTENT);
        }
        drop(claims);
        fs::remove_dir_all(dir).unwrap();
    }
}
