//! The file client: send the key, read the reply, and store every byte
//! after `AUTH_SUCCESS` until the server closes the connection.

use super::protocol::{classify_reply, Reply, AUTH_SUCCESS, CHUNK};
use crate::error::Context;
use crate::net::is_timeout;
use crate::output::Progress;
use crate::python;
use crate::shutdown::{Shutdown, POLL_INTERVAL};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Everything the client needs to know.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's host name or address (IPv4 or IPv6).
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// The key to send.
    pub key: Vec<u8>,
    /// Where the file goes (replaced only after a complete transfer).
    pub output: PathBuf,
    /// Give up when the server sends nothing for this long (also the
    /// connect timeout).
    pub timeout: Duration,
    /// Print the seed's `Received Data :  b'…'` line for every read.
    pub verbose: bool,
}

/// How a fetch ended when nothing went wrong on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// The whole file arrived and was stored.
    File {
        /// File bytes received.
        bytes: u64,
        /// From the file's first byte (or the reply, for an empty file) to
        /// the server's close; the server's pause is not counted.
        elapsed: Duration,
    },
    /// The server answered `AUTH_ERROR`.
    Refused,
}

/// Connects, authenticates and stores the file at `config.output`.
///
/// The bytes go to a temporary file next to the output, renamed into place
/// only when the server ended the transfer cleanly; on any error (a reset,
/// a timeout, Ctrl-C) the temporary file is removed, so a file at the
/// output path is always a complete one.
pub fn fetch(config: &ClientConfig, shutdown: &Shutdown) -> io::Result<Fetched> {
    let mut stream = crate::net::connect_first(&config.host, config.port, config.timeout)?;
    stream.set_read_timeout(Some(POLL_INTERVAL))?;
    stream.set_write_timeout(Some(config.timeout))?;
    stream.write_all(&config.key)?;

    let mut reader = Receiver::new(&mut stream, config.timeout, shutdown);
    let mut buffer = vec![0u8; CHUNK];
    let Some(filled) = read_reply(&mut reader, &mut buffer)? else {
        return Ok(Fetched::Refused);
    };
    // Whatever came with AUTH_SUCCESS already belongs to the file.
    let first_bytes = AUTH_SUCCESS.len()..filled;
    receive_file(&mut reader, &mut buffer, first_bytes, config)
}

/// Reads until the reply is known; on `AUTH_SUCCESS` returns how many bytes
/// of `buffer` were filled (the reply and perhaps the file's first bytes),
/// on `AUTH_ERROR` `None`.
fn read_reply(reader: &mut Receiver<'_>, buffer: &mut [u8]) -> io::Result<Option<usize>> {
    let mut filled = 0;
    loop {
        match classify_reply(&buffer[..filled]) {
            Reply::Success => return Ok(Some(filled)),
            Reply::Refused => return Ok(None),
            Reply::Unexpected => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "unexpected reply from the server: {}",
                        python::bytes_repr(&buffer[..filled.min(32)])
                    ),
                ))
            }
            Reply::Incomplete => match reader
                .read(&mut buffer[filled..])
                .context(|| "no answer to the key from the server")?
            {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "no answer to the key: the server closed the connection",
                    ))
                }
                read => filled += read,
            },
        }
    }
}

/// Stores `buffer[first_bytes]` and then everything up to the server's
/// clean close into a temporary file, renamed to `config.output` at the end.
fn receive_file(
    reader: &mut Receiver<'_>,
    buffer: &mut [u8],
    first_bytes: Range<usize>,
    config: &ClientConfig,
) -> io::Result<Fetched> {
    let mut partial = PartialFile::create(&config.output)?;
    let mut progress = Progress::new("receiving", None);
    let mut bytes = 0u64;
    let mut started = Instant::now();
    let mut data = first_bytes;
    loop {
        let chunk = &buffer[data];
        if !chunk.is_empty() {
            if bytes == 0 {
                started = Instant::now();
            }
            if config.verbose {
                crate::say!("Received Data :  {}", python::bytes_repr(chunk));
            }
            partial.write(chunk)?;
            bytes += chunk.len() as u64;
            progress.update(bytes);
        }
        let read = reader
            .read(buffer)
            .map_err(|e| broken_off(e, bytes, &config.output))?;
        if read == 0 {
            if config.verbose {
                crate::say!("Received Data :  {}", python::bytes_repr(b""));
            }
            break;
        }
        data = 0..read;
    }
    progress.finish();
    partial.finish(&config.output)?;
    Ok(Fetched::File {
        bytes,
        elapsed: started.elapsed(),
    })
}

/// The error for a transfer that ended without the server's clean close.
fn broken_off(error: io::Error, bytes: u64, output: &Path) -> io::Error {
    io::Error::new(
        error.kind(),
        format!(
            "the transfer broke off after {bytes} bytes ({error}); {} was not written",
            output.display()
        ),
    )
}

/// Reads from the socket, waking every [`POLL_INTERVAL`] to look at the
/// shutdown flag, and failing when the server sends nothing for `timeout`.
struct Receiver<'a> {
    stream: &'a mut TcpStream,
    timeout: Duration,
    shutdown: &'a Shutdown,
}

impl<'a> Receiver<'a> {
    fn new(stream: &'a mut TcpStream, timeout: Duration, shutdown: &'a Shutdown) -> Self {
        Receiver {
            stream,
            timeout,
            shutdown,
        }
    }

    /// One read: the byte count, 0 at a clean end of the stream.
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let waiting_since = Instant::now();
        loop {
            if self.shutdown.is_triggered() {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
            }
            match self.stream.read(buffer) {
                Ok(read) => return Ok(read),
                Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                    if waiting_since.elapsed() >= self.timeout {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("the server sent nothing for {} s", self.timeout.as_secs()),
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A temporary file beside the output that is removed again unless
/// [`PartialFile::finish`] renamed it into place.
struct PartialFile {
    path: PathBuf,
    file: File,
    renamed: bool,
}

impl PartialFile {
    /// Creates `.NAME.PID.part` in the output's directory.
    fn create(output: &Path) -> io::Result<Self> {
        let name = output.file_name().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} does not name a file", output.display()),
            )
        })?;
        let name = format!(".{}.{}.part", name.to_string_lossy(), std::process::id());
        let path = output.with_file_name(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .context(|| format!("cannot create {}", path.display()))?;
        Ok(PartialFile {
            path,
            file,
            renamed: false,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file
            .write_all(bytes)
            .context(|| format!("writing {}", self.path.display()))
    }

    /// Renames the finished file to `output`, replacing what was there.
    fn finish(mut self, output: &Path) -> io::Result<()> {
        fs::rename(&self.path, output).context(|| {
            format!(
                "cannot rename {} to {}",
                self.path.display(),
                output.display()
            )
        })?;
        self.renamed = true;
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = fs::remove_file(&self.path);
        }
    }
}
