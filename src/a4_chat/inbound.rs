//! Turns one client's byte stream into chat messages and uploads.
//!
//! The reader thread feeds every read to [`Inbound::feed`]. Outside an
//! upload, a read is a chat message — unless it starts with an upload
//! header ([`protocol::find_upload_header`]): then exactly the announced
//! number of bytes after it are the file, and whatever follows the file is
//! a new message (chat, or the next header), all within one read if that is
//! how TCP delivered them. A chat message is never longer than one read
//! ([`protocol::READ_SIZE`] bytes), whatever path its bytes took.
//!
//! A seed client ends its header with no newline, so when the header and a
//! file that starts with a digit arrive in one read, the size is ambiguous.
//! After such a header the bytes are held — in a hidden file in the upload
//! folder, not in memory, up to [`SETTLE_LIMIT`] — until the client pauses
//! (the seed's client sends the whole file at once, then waits for its
//! user); then [`Inbound::paused`] picks the size that accounts for exactly
//! what arrived ([`protocol::split_size_digits`]) and replays the held bytes
//! in reads of [`protocol::READ_SIZE`]. Our own client ends the header with
//! a newline and never waits.
//!
//! A file is written to a hidden temporary file created exclusively
//! ([`files::create_exclusive`]: a planted symlink is never followed) and
//! published under its name only when complete and never over an existing
//! file: a taken name gets a number, `photo (1).png` ([`files::publish`]).
//!
//! A refused upload (bad name, too large, disk error) drops its announced
//! bytes so they do not turn into chat — but only until the client pauses
//! for [`DISCARD_SILENCE`]: a huge announced size cannot swallow what the
//! user types afterwards.

use super::protocol;
use crate::files;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How many bytes after an ambiguous header are held while waiting for the
/// client to pause; beyond this the header's digits are all taken as the size.
pub(crate) const SETTLE_LIMIT: u64 = 1 << 20;

/// The silence after which a read times out while [`Inbound::awaits_pause`],
/// and [`Inbound::paused`] is called: the client has paused.
pub(crate) const PAUSE: Duration = Duration::from_millis(100);

/// After this much silence with no size fitting, an ambiguous header's
/// digits are all taken as the size.
const SETTLE_SILENCE: Duration = Duration::from_millis(500);

/// After this much silence a refused upload stops dropping bytes: what
/// comes next is a new message.
pub(crate) const DISCARD_SILENCE: Duration = Duration::from_secs(1);

/// How many numbered names (`name (1).ext` …) are tried for a taken name.
const MAX_COPIES: u32 = 9999;

/// What one read turned into, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome<'a> {
    /// Bytes to relay as chat (at most [`protocol::READ_SIZE`]).
    Chat(&'a [u8]),
    /// A file was saved: `name` as the client gave it, `saved` the name it
    /// got (another one when `name` was taken).
    Uploaded { name: String, saved: String },
    /// An upload was refused or failed; the line tells the uploader why.
    Refused(String),
}

/// The receiving side of one connection.
pub(crate) struct Inbound {
    folder: PathBuf,
    max_upload: u64,
    /// Makes temporary names unique per process and connection.
    tag: String,
    temps_made: u64,
    upload: Option<Upload>,
}

/// An upload in progress.
enum Upload {
    /// An ambiguous header: the bytes after it go to `hold` until the
    /// client pauses.
    Undecided {
        name: Vec<u8>,
        digits: Vec<u8>,
        hold: Temp,
        held: u64,
    },
    /// Bytes go to `temp`, published as `name` when `remaining` reaches 0.
    Writing {
        name: String,
        temp: Temp,
        remaining: u64,
        size: u64,
    },
    /// A refused upload: up to `remaining` more bytes are dropped, until the
    /// client pauses.
    Discarding { remaining: u64 },
}

/// A hidden temporary file in the upload folder, removed when dropped
/// unless it was published.
struct Temp {
    path: PathBuf,
    file: BufWriter<File>,
}

impl Drop for Temp {
    fn drop(&mut self) {
        // Gone already when it was published under its name.
        let _ = fs::remove_file(&self.path);
    }
}

impl Inbound {
    /// A receiver that saves uploads in `folder` (which must exist), at most
    /// `max_upload` bytes each; `tag` names this connection in temp names.
    pub(crate) fn new(folder: &Path, max_upload: u64, tag: &str) -> Inbound {
        Inbound {
            folder: folder.to_path_buf(),
            max_upload,
            tag: format!("{}-{tag}", std::process::id()),
            temps_made: 0,
            upload: None,
        }
    }

    /// Processes one read, calling `emit` for each outcome in order.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], emit: &mut impl FnMut(Outcome<'_>)) {
        while !bytes.is_empty() {
            if let Some(Upload::Undecided { hold, held, .. }) = &mut self.upload {
                let room =
                    usize::try_from(SETTLE_LIMIT.saturating_sub(*held)).unwrap_or(usize::MAX);
                let used = bytes.len().min(room);
                let written = hold.file.write_all(&bytes[..used]);
                *held += used as u64;
                let full = *held >= SETTLE_LIMIT;
                bytes = &bytes[used..];
                if let Err(e) = written {
                    self.fail(&format!("the server cannot hold it: {e}"), emit);
                } else if full {
                    self.decide(true, emit);
                }
                continue;
            }
            if self.upload.is_some() {
                let used = self.continue_upload(bytes, emit);
                bytes = &bytes[used..];
                continue;
            }
            match protocol::find_upload_header(bytes) {
                None => {
                    for message in bytes.chunks(protocol::READ_SIZE) {
                        emit(Outcome::Chat(message));
                    }
                    return;
                }
                Some(header) => {
                    if header.start > 0 {
                        emit(Outcome::Chat(&bytes[..header.start]));
                    }
                    if header.ambiguous {
                        self.hold(header.name, header.digits, emit);
                    } else {
                        self.start_upload(header.name, header.size(), emit);
                    }
                    bytes = &bytes[header.end..];
                }
            }
        }
    }

    /// Whether the reader should report pauses ([`Inbound::paused`]): bytes
    /// are held after an ambiguous header, or dropped for a refused upload.
    pub(crate) fn awaits_pause(&self) -> bool {
        matches!(
            self.upload,
            Some(Upload::Undecided { .. } | Upload::Discarding { .. })
        )
    }

    /// The client has sent nothing for `silence` (at least [`PAUSE`]):
    /// decides an ambiguous header's size if the held bytes fit one (after
    /// [`SETTLE_SILENCE`], taking all its digits), or ends a refused
    /// upload's dropping after [`DISCARD_SILENCE`].
    pub(crate) fn paused(&mut self, silence: Duration, emit: &mut impl FnMut(Outcome<'_>)) {
        match self.upload {
            Some(Upload::Undecided { .. }) => self.decide(silence >= SETTLE_SILENCE, emit),
            Some(Upload::Discarding { .. }) if silence >= DISCARD_SILENCE => self.upload = None,
            _ => {}
        }
    }

    /// The connection ended: whatever was held after an ambiguous header is
    /// all the client sent, so its size is decided now.
    pub(crate) fn end_of_stream(&mut self, emit: &mut impl FnMut(Outcome<'_>)) {
        self.decide(true, emit);
    }

    /// Ends the connection: removes an unfinished upload's temp file and
    /// describes it, for the server's log.
    pub(crate) fn abandon(&mut self) -> Option<String> {
        match self.upload.take()? {
            Upload::Writing {
                name,
                remaining,
                size,
                ..
            } => Some(format!(
                "upload of '{name}' abandoned after {} of {size} bytes",
                size - remaining
            )),
            Upload::Undecided { name, .. } => Some(format!(
                "upload of '{}' abandoned before its size was clear",
                String::from_utf8_lossy(&name)
            )),
            Upload::Discarding { .. } => None,
        }
    }

    /// A new hidden temporary file, `.upload-<pid>-<connection>-<n>.<kind>`.
    fn temp(&mut self, kind: &str) -> io::Result<Temp> {
        self.temps_made += 1;
        let path = self
            .folder
            .join(format!(".upload-{}-{}.{kind}", self.tag, self.temps_made));
        let file = files::create_exclusive(&path)?;
        Ok(Temp {
            path,
            file: BufWriter::with_capacity(protocol::READ_SIZE, file),
        })
    }

    /// Starts holding the bytes after an ambiguous header.
    fn hold(&mut self, name: &[u8], digits: &[u8], emit: &mut impl FnMut(Outcome<'_>)) {
        match self.temp("hold") {
            Ok(hold) => {
                self.upload = Some(Upload::Undecided {
                    name: name.to_vec(),
                    digits: digits.to_vec(),
                    hold,
                    held: 0,
                });
            }
            // Nowhere to hold: all the digits are the size.
            Err(_) => self.start_upload(name, protocol::parse_size(digits), emit),
        }
    }

    /// Decides an ambiguous header's size if the held bytes fit one (or,
    /// with `force`, takes all its digits), then replays the held bytes.
    fn decide(&mut self, force: bool, emit: &mut impl FnMut(Outcome<'_>)) {
        let Some(Upload::Undecided { digits, held, .. }) = &self.upload else {
            return;
        };
        let split = protocol::split_size_digits(digits, *held);
        let Some(size_digits) = split.or(force.then_some(digits.len())) else {
            return;
        };
        let Some(Upload::Undecided {
            name, digits, hold, ..
        }) = self.upload.take()
        else {
            return;
        };
        self.start_upload(&name, protocol::parse_size(&digits[..size_digits]), emit);
        self.feed(&digits[size_digits..], emit);
        if let Err(e) = self.replay(hold, emit) {
            self.fail(
                &format!("the server cannot read back what it held: {e}"),
                emit,
            );
        }
    }

    /// Feeds the held bytes back in reads of [`protocol::READ_SIZE`].
    fn replay(&mut self, mut hold: Temp, emit: &mut impl FnMut(Outcome<'_>)) -> io::Result<()> {
        hold.file.flush()?;
        let file = hold.file.get_mut();
        file.rewind()?;
        let mut buffer = [0u8; protocol::READ_SIZE];
        loop {
            let count = file.read(&mut buffer)?;
            if count == 0 {
                return Ok(());
            }
            self.feed(&buffer[..count], emit);
        }
    }

    fn start_upload(&mut self, raw_name: &[u8], size: u64, emit: &mut impl FnMut(Outcome<'_>)) {
        let shown = String::from_utf8_lossy(raw_name).into_owned();
        let refuse = |reason: &str| Outcome::Refused(protocol::upload_refused(&shown, reason));
        let name = match protocol::plain_file_name(raw_name) {
            Ok(name) => name.to_string(),
            Err(reason) => {
                emit(refuse(reason));
                self.discard(size);
                return;
            }
        };
        if size > self.max_upload {
            emit(refuse(&format!(
                "{size} bytes is over the limit of {} bytes",
                self.max_upload
            )));
            self.discard(size);
            return;
        }
        match self.temp("part") {
            Ok(temp) => {
                self.upload = Some(Upload::Writing {
                    name,
                    temp,
                    remaining: size,
                    size,
                });
                if size == 0 {
                    self.finish(emit);
                }
            }
            Err(e) => {
                emit(refuse(&format!("the server cannot create it: {e}")));
                self.discard(size);
            }
        }
    }

    fn discard(&mut self, size: u64) {
        self.upload = (size > 0).then_some(Upload::Discarding { remaining: size });
    }

    /// Takes this upload's share of `bytes`; returns how many it used.
    fn continue_upload(&mut self, bytes: &[u8], emit: &mut impl FnMut(Outcome<'_>)) -> usize {
        let Some(upload) = &mut self.upload else {
            return 0;
        };
        let (used, remaining, written) = match upload {
            Upload::Writing {
                temp, remaining, ..
            } => {
                let used = share(bytes.len(), *remaining);
                *remaining -= used as u64;
                (used, *remaining, temp.file.write_all(&bytes[..used]))
            }
            Upload::Discarding { remaining } => {
                let used = share(bytes.len(), *remaining);
                *remaining -= used as u64;
                (used, *remaining, Ok(()))
            }
            Upload::Undecided { .. } => return 0,
        };
        if let Err(e) = written {
            self.fail(&format!("the server cannot write it: {e}"), emit);
        } else if remaining == 0 {
            self.finish(emit);
        }
        used
    }

    /// Completes the upload in progress (all its bytes are in).
    fn finish(&mut self, emit: &mut impl FnMut(Outcome<'_>)) {
        match self.upload.take() {
            Some(Upload::Writing { name, mut temp, .. }) => {
                let saved = temp
                    .file
                    .flush()
                    .and_then(|()| self.publish(&temp.path, &name));
                match saved {
                    Ok(saved) => emit(Outcome::Uploaded { name, saved }),
                    Err(e) => emit(Outcome::Refused(protocol::upload_refused(
                        &name,
                        &format!("the server cannot save it: {e}"),
                    ))),
                }
                // Dropping `temp` removes the temporary file if it is still there.
            }
            Some(Upload::Discarding { .. } | Upload::Undecided { .. }) | None => {}
        }
    }

    /// Publishes the finished file at `temp` as `name`, or as the first free
    /// `name (n).ext`; returns the name it got.
    fn publish(&self, temp: &Path, name: &str) -> io::Result<String> {
        for copy in 0..=MAX_COPIES {
            let candidate = match copy {
                0 => name.to_string(),
                _ => protocol::numbered_name(name, copy),
            };
            if candidate.len() > protocol::MAX_NAME_LEN {
                break;
            }
            match files::publish(temp, &self.folder.join(&candidate)) {
                Ok(()) => return Ok(candidate),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the name and every numbered variant of it are taken",
        ))
    }

    /// Gives up on the upload in progress: removes its file and drops the
    /// rest of its bytes (until the client pauses).
    fn fail(&mut self, reason: &str, emit: &mut impl FnMut(Outcome<'_>)) {
        let (shown, remaining) = match self.upload.take() {
            Some(Upload::Writing {
                name, remaining, ..
            }) => (name, remaining),
            Some(Upload::Undecided {
                name, digits, held, ..
            }) => (
                String::from_utf8_lossy(&name).into_owned(),
                protocol::parse_size(&digits).saturating_sub(held),
            ),
            other => {
                self.upload = other;
                return;
            }
        };
        emit(Outcome::Refused(protocol::upload_refused(&shown, reason)));
        self.discard(remaining);
    }
}

/// How many of `available` bytes belong to an upload with `remaining` to go.
fn share(available: usize, remaining: u64) -> usize {
    usize::try_from(remaining).map_or(available, |remaining| remaining.min(available))
}

impl Drop for Inbound {
    fn drop(&mut self) {
        self.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh upload folder for one test.
    fn folder(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("socklab-a4-inbound-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn describe(outcome: Outcome<'_>) -> String {
        match outcome {
            Outcome::Chat(bytes) => format!("chat {}", String::from_utf8_lossy(bytes)),
            Outcome::Uploaded { name, saved } if name == saved => format!("uploaded {name}"),
            Outcome::Uploaded { name, saved } => format!("uploaded {name} as {saved}"),
            Outcome::Refused(line) => line,
        }
    }

    /// Feeds `reads` in order and describes the outcomes as strings.
    fn feed_all(inbound: &mut Inbound, reads: &[&[u8]]) -> Vec<String> {
        let mut seen = Vec::new();
        for read in reads {
            inbound.feed(read, &mut |outcome| seen.push(describe(outcome)));
        }
        seen
    }

    #[test]
    fn header_file_and_chat_in_one_read() {
        let dir = folder("one-read");
        let mut inbound = Inbound::new(&dir, 100, "1");
        let seen = feed_all(
            &mut inbound,
            &[b"I will upload a file#upload 'a.txt' 3\nabcafter"],
        );
        assert_eq!(
            seen,
            ["chat I will upload a file", "uploaded a.txt", "chat after"]
        );
        assert_eq!(fs::read(dir.join("a.txt")).unwrap(), b"abc");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "temp file left behind"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn file_spread_over_reads_appears_only_when_complete() {
        let dir = folder("spread");
        let mut inbound = Inbound::new(&dir, 100, "1");
        assert!(feed_all(&mut inbound, &[b"#upload 'b.bin' 6\n", b"123"]).is_empty());
        assert!(!dir.join("b.bin").exists());
        let seen = feed_all(&mut inbound, &[b"456next"]);
        assert_eq!(seen, ["uploaded b.bin", "chat next"]);
        assert_eq!(fs::read(dir.join("b.bin")).unwrap(), b"123456");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn refused_uploads_swallow_their_bytes() {
        let dir = folder("refused");
        let mut inbound = Inbound::new(&dir, 4, "1");
        let seen = feed_all(
            &mut inbound,
            &[
                b"#upload '../x' 3\nabc",
                b"ok",
                b"#upload 'big' 5\n12",
                b"345ok2",
            ],
        );
        assert_eq!(
            seen,
            [
                "> Upload of '../x' refused: a file name may not contain '/' or '\\'",
                "chat ok",
                "> Upload of 'big' refused: 5 bytes is over the limit of 4 bytes",
                "chat ok2"
            ]
        );
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_empty_file_and_an_abandoned_upload() {
        let dir = folder("edge");
        let mut inbound = Inbound::new(&dir, 100, "1");
        assert_eq!(
            feed_all(&mut inbound, &[b"#upload 'empty' 0\n"]),
            ["uploaded empty"]
        );
        assert_eq!(fs::read(dir.join("empty")).unwrap(), b"");
        feed_all(&mut inbound, &[b"#upload 'half' 10\n12345"]);
        assert_eq!(
            inbound.abandon().as_deref(),
            Some("upload of 'half' abandoned after 5 of 10 bytes")
        );
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "only 'empty' remains"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_seed_header_joined_by_digits_waits_for_the_pause() {
        let dir = folder("digits");
        let mut inbound = Inbound::new(&dir, 1 << 20, "1");
        let mut file = b"77".to_vec();
        file.extend(std::iter::repeat_n(b'x', 5000));
        let mut read = b"#upload 'n.txt' 5002".to_vec();
        read.extend_from_slice(&file[..1000]);
        assert!(feed_all(&mut inbound, &[&read, &file[1000..]]).is_empty());
        assert!(inbound.awaits_pause());
        let mut seen = Vec::new();
        inbound.paused(PAUSE, &mut |outcome| seen.push(describe(outcome)));
        assert_eq!(seen, ["uploaded n.txt"]);
        assert_eq!(fs::read(dir.join("n.txt")).unwrap(), file);
        assert_eq!(feed_all(&mut inbound, &[b"later"]), ["chat later"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unresolved_header_takes_all_its_digits_when_forced() {
        let dir = folder("forced");
        let mut inbound = Inbound::new(&dir, 100, "1");
        assert!(feed_all(&mut inbound, &[b"#upload 'b' 10abc"]).is_empty());
        let mut seen = Vec::new();
        inbound.paused(PAUSE, &mut |outcome| seen.push(describe(outcome)));
        assert!(seen.is_empty() && inbound.awaits_pause());
        inbound.paused(SETTLE_SILENCE, &mut |outcome| seen.push(describe(outcome)));
        assert!(!inbound.awaits_pause());
        assert_eq!(
            feed_all(&mut inbound, &[b"defghijok"]),
            ["uploaded b", "chat ok"]
        );
        assert_eq!(fs::read(dir.join("b")).unwrap(), b"abcdefghij");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_taken_name_gets_a_number_and_both_files_survive() {
        let dir = folder("same-name");
        let mut first = Inbound::new(&dir, 100, "1");
        let mut second = Inbound::new(&dir, 100, "2");
        assert_eq!(
            feed_all(&mut first, &[b"#upload 'a.txt' 5\nfirst"]),
            ["uploaded a.txt"]
        );
        assert_eq!(
            feed_all(&mut second, &[b"#upload 'a.txt' 6\nsecond"]),
            ["uploaded a.txt as a (1).txt"]
        );
        assert_eq!(
            feed_all(&mut first, &[b"#upload 'a.txt' 5\nthird"]),
            ["uploaded a.txt as a (2).txt"]
        );
        assert_eq!(fs::read(dir.join("a.txt")).unwrap(), b"first");
        assert_eq!(fs::read(dir.join("a (1).txt")).unwrap(), b"second");
        assert_eq!(fs::read(dir.join("a (2).txt")).unwrap(), b"third");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 3, "temp files left");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_refused_huge_size_drops_bytes_only_until_the_client_pauses() {
        let dir = folder("huge");
        let mut inbound = Inbound::new(&dir, 100, "1");
        let seen = feed_all(&mut inbound, &[b"#upload 'x' 99999999999\nfile bytes"]);
        assert_eq!(seen.len(), 1);
        assert!(seen[0].contains("over the limit"), "{seen:?}");
        assert!(feed_all(&mut inbound, &[b"more file bytes"]).is_empty());
        assert!(inbound.awaits_pause());
        inbound.paused(DISCARD_SILENCE - PAUSE, &mut |_| {});
        assert!(feed_all(&mut inbound, &[b"still dropped"]).is_empty());
        inbound.paused(DISCARD_SILENCE, &mut |_| {});
        assert!(!inbound.awaits_pause());
        assert_eq!(feed_all(&mut inbound, &[b"hello"]), ["chat hello"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn held_bytes_come_back_as_chat_no_longer_than_one_read() {
        // The flood: a seed header for one byte, then far more than the hold limit.
        let dir = folder("flood");
        let mut inbound = Inbound::new(&dir, 100, "1");
        let limit = usize::try_from(SETTLE_LIMIT).unwrap();
        let mut lengths = Vec::new();
        let mut emit = |outcome: Outcome<'_>| match outcome {
            Outcome::Chat(bytes) => lengths.push(bytes.len()),
            Outcome::Uploaded { .. } => lengths.push(0),
            Outcome::Refused(line) => panic!("{line}"),
        };
        inbound.feed(b"#upload 'a' 1", &mut emit);
        let chunk = [b'x'; protocol::READ_SIZE];
        for _ in 0..limit / chunk.len() + 1 {
            inbound.feed(&chunk, &mut emit);
        }
        assert!(!inbound.awaits_pause(), "the hold limit forces a decision");
        assert_eq!(lengths[0], 0, "the one-byte file comes first");
        assert!(lengths[1..].iter().all(|&len| len <= protocol::READ_SIZE));
        assert_eq!(lengths.iter().sum::<usize>(), limit + chunk.len() - 1);
        assert_eq!(fs::read(dir.join("a")).unwrap(), b"x");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "hold file left");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_header_in_the_middle_of_chat_creates_no_file() {
        let dir = folder("mid");
        let mut inbound = Inbound::new(&dir, 100, "1");
        assert_eq!(
            feed_all(&mut inbound, &[b"see #upload 'm.txt' 2\nhi"]),
            ["chat see #upload 'm.txt' 2\nhi"]
        );
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(dir).unwrap();
    }
}
