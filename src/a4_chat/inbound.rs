//! Turns one client's byte stream into chat messages and uploads.
//!
//! The reader thread feeds every read to [`Inbound::feed`]. Outside an
//! upload, a read is a chat message — unless it holds an upload header
//! ([`protocol::find_upload_header`]): then the bytes before the header are
//! chat, exactly the announced number of bytes after it are the file, and
//! whatever follows the file is chat again, all within one read if that is
//! how TCP delivered them.
//!
//! A seed client ends its header with no newline, so when the header and a
//! file that starts with a digit arrive in one read, the size is ambiguous.
//! After such a header the bytes are held (up to [`SETTLE_LIMIT`]) until the
//! client pauses — the seed's client sends the whole file at once, then
//! waits for its user — and [`Inbound::settle`] picks the size that
//! accounts for exactly what arrived ([`protocol::split_size_digits`]).
//! Our own client ends the header with a newline and never waits.
//!
//! A file is written as `.upload-….part` in the upload folder and renamed to
//! its name only when complete, so a half-received file never appears under
//! its real name. A refused upload (bad name, too large, disk error) still
//! consumes its announced bytes, so they never turn into chat.

use super::protocol;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// How many bytes after an ambiguous header are held while waiting for the
/// client to pause; beyond this the header's digits are all taken as the size.
pub(crate) const SETTLE_LIMIT: usize = 1 << 20;

/// What one read turned into, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome<'a> {
    /// Bytes to relay as chat.
    Chat(&'a [u8]),
    /// A file was saved under this name.
    Uploaded(String),
    /// An upload was refused or failed; the line tells the uploader why.
    Refused(String),
}

/// The receiving side of one connection.
pub(crate) struct Inbound {
    folder: PathBuf,
    max_upload: u64,
    /// Makes temporary names unique per process and connection.
    tag: String,
    uploads_started: u64,
    upload: Option<Upload>,
}

/// An upload in progress.
enum Upload {
    /// An ambiguous header: the bytes after its name are held until the
    /// client pauses.
    Undecided {
        name: Vec<u8>,
        digits: Vec<u8>,
        held: Vec<u8>,
    },
    /// Bytes go to `temp`, renamed to `name` when `remaining` reaches 0.
    Writing {
        name: String,
        temp: PathBuf,
        file: BufWriter<File>,
        remaining: u64,
        size: u64,
    },
    /// A refused upload: its bytes are read and dropped.
    Discarding { remaining: u64 },
}

impl Inbound {
    /// A receiver that saves uploads in `folder` (which must exist), at most
    /// `max_upload` bytes each; `tag` names this connection in temp names.
    pub(crate) fn new(folder: &Path, max_upload: u64, tag: &str) -> Inbound {
        Inbound {
            folder: folder.to_path_buf(),
            max_upload,
            tag: format!("{}-{tag}", std::process::id()),
            uploads_started: 0,
            upload: None,
        }
    }

    /// Processes one read, calling `emit` for each outcome in order.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], emit: &mut impl FnMut(Outcome<'_>)) {
        while !bytes.is_empty() {
            if let Some(Upload::Undecided { held, .. }) = &mut self.upload {
                let used = bytes.len().min(SETTLE_LIMIT.saturating_sub(held.len()));
                held.extend_from_slice(&bytes[..used]);
                bytes = &bytes[used..];
                if held.len() >= SETTLE_LIMIT {
                    self.settle(true, emit);
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
                    emit(Outcome::Chat(bytes));
                    return;
                }
                Some(header) => {
                    if header.start > 0 {
                        emit(Outcome::Chat(&bytes[..header.start]));
                    }
                    if header.ambiguous {
                        self.upload = Some(Upload::Undecided {
                            name: header.name.to_vec(),
                            digits: header.digits.to_vec(),
                            held: Vec::new(),
                        });
                    } else {
                        self.start_upload(header.name, header.size(), emit);
                    }
                    bytes = &bytes[header.end..];
                }
            }
        }
    }

    /// Whether bytes are held after an ambiguous header; the reader then
    /// calls [`Inbound::settle`] whenever the client pauses.
    pub(crate) fn settling(&self) -> bool {
        matches!(self.upload, Some(Upload::Undecided { .. }))
    }

    /// The client paused (or, with `force`, will send no more that helps):
    /// decides an ambiguous header's size if the held bytes fit one — with
    /// `force`, taking all its digits otherwise — and processes them.
    pub(crate) fn settle(&mut self, force: bool, emit: &mut impl FnMut(Outcome<'_>)) {
        let Some(Upload::Undecided { digits, held, .. }) = &self.upload else {
            return;
        };
        let split = protocol::split_size_digits(digits, held.len() as u64);
        let Some(size_digits) = split.or(force.then_some(digits.len())) else {
            return;
        };
        let Some(Upload::Undecided { name, digits, held }) = self.upload.take() else {
            return;
        };
        self.start_upload(&name, protocol::parse_size(&digits[..size_digits]), emit);
        let file_start = [&digits[size_digits..], &held[..]].concat();
        self.feed(&file_start, emit);
    }

    /// Ends the connection: removes an unfinished upload's temp file and
    /// describes it, for the server's log.
    pub(crate) fn abandon(&mut self) -> Option<String> {
        match self.upload.take()? {
            Upload::Writing {
                name,
                temp,
                file,
                remaining,
                size,
            } => {
                drop(file);
                let _ = fs::remove_file(&temp);
                Some(format!(
                    "upload of '{name}' abandoned after {} of {size} bytes",
                    size - remaining
                ))
            }
            Upload::Undecided { name, .. } => Some(format!(
                "upload of '{}' abandoned before its size was clear",
                String::from_utf8_lossy(&name)
            )),
            Upload::Discarding { .. } => None,
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
        self.uploads_started += 1;
        let temp = self.folder.join(format!(
            ".upload-{}-{}.part",
            self.tag, self.uploads_started
        ));
        match File::create_new(&temp) {
            Ok(file) => {
                self.upload = Some(Upload::Writing {
                    name,
                    temp,
                    file: BufWriter::new(file),
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
                file, remaining, ..
            } => {
                let used = share(bytes.len(), *remaining);
                *remaining -= used as u64;
                (used, *remaining, file.write_all(&bytes[..used]))
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
            Some(Upload::Writing {
                name, temp, file, ..
            }) => {
                let saved = file
                    .into_inner()
                    .map_err(io::IntoInnerError::into_error)
                    .and_then(|file| {
                        drop(file);
                        fs::rename(&temp, self.folder.join(&name))
                    });
                match saved {
                    Ok(()) => emit(Outcome::Uploaded(name)),
                    Err(e) => {
                        let _ = fs::remove_file(&temp);
                        emit(Outcome::Refused(protocol::upload_refused(
                            &name,
                            &format!("the server cannot save it: {e}"),
                        )));
                    }
                }
            }
            Some(Upload::Discarding { .. } | Upload::Undecided { .. }) | None => {}
        }
    }

    /// Gives up on the upload in progress: removes its file and drops the
    /// rest of its bytes.
    fn fail(&mut self, reason: &str, emit: &mut impl FnMut(Outcome<'_>)) {
        if let Some(Upload::Writing {
            name,
            temp,
            file,
            remaining,
            ..
        }) = self.upload.take()
        {
            drop(file);
            let _ = fs::remove_file(&temp);
            emit(Outcome::Refused(protocol::upload_refused(&name, reason)));
            self.discard(remaining);
        }
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
            Outcome::Uploaded(name) => format!("uploaded {name}"),
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
        let seen = feed_all(&mut inbound, &[b"hi#upload 'a.txt' 3\nabcafter"]);
        assert_eq!(seen, ["chat hi", "uploaded a.txt", "chat after"]);
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
                b"ok#upload 'big' 5\n12",
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
        assert!(inbound.settling());
        let mut seen = Vec::new();
        inbound.settle(false, &mut |outcome| seen.push(describe(outcome)));
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
        inbound.settle(false, &mut |outcome| seen.push(describe(outcome)));
        assert!(seen.is_empty() && inbound.settling());
        inbound.settle(true, &mut |outcome| seen.push(describe(outcome)));
        assert!(!inbound.settling());
        assert_eq!(
            feed_all(&mut inbound, &[b"defghijok"]),
            ["uploaded b", "chat ok"]
        );
        assert_eq!(fs::read(dir.join("b")).unwrap(), b"abcdefghij");
        fs::remove_dir_all(dir).unwrap();
    }
}
