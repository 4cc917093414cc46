//! The accio client: connects, streams one file, half-closes and waits for
//! the server to close.
//!
//! Half-closing (`shutdown(Write)`) sends the FIN that tells the server the
//! file is complete, while the connection stays open for the server's own
//! close. The server renames the file to its final name before closing, so
//! when this client returns `Ok` the file is saved. (The seed client just
//! closed the socket and could not know.)
//!
//! The file goes out through one [`SEND_BUFFER`]-sized buffer: read a
//! piece, write it all, draw the progress line, look at the shutdown flag.
//! (`std::io::copy` would do the same with an 8 KiB buffer: std no longer
//! hands a file to a socket with `sendfile`.)
//!
//! The protocol has no length: the server takes a clean close as "file
//! complete". So until the whole file is sent, the socket is set to *reset*
//! on close; a client that fails, is interrupted or killed mid-transfer
//! leaves `ERROR` on the server, never a truncated file that looks whole.

use super::protocol::SEND_BUFFER;
use crate::error::Context;
use crate::output::{human_bytes, human_rate, rate, Progress};
use crate::shutdown::Shutdown;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown as Direction, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What the client is told on its command line.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's host name or address.
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// The file to send.
    pub file: PathBuf,
    /// Limit for connecting, for each send, and for the server's close.
    pub timeout: Duration,
}

/// A finished upload.
#[derive(Debug, Clone, Copy)]
pub struct Upload {
    /// The server's address.
    pub server: SocketAddr,
    /// Bytes sent (the whole file).
    pub bytes: u64,
    /// From connected to the server's close.
    pub elapsed: Duration,
}

impl fmt::Display for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Sent {} to {} in {:.3} s ({})",
            human_bytes(self.bytes),
            self.server,
            self.elapsed.as_secs_f64(),
            human_rate(rate(self.bytes, self.elapsed))
        )
    }
}

/// Sends the file and waits until the server has closed the connection.
///
/// Every error carries a message fit for the `ERROR: …` line.
pub fn send_file(config: &ClientConfig, shutdown: &Shutdown) -> io::Result<Upload> {
    let path = config.file.display();
    let mut file = File::open(&config.file).context(|| format!("cannot open {path}"))?;
    let metadata = file.metadata().context(|| format!("cannot read {path}"))?;
    if metadata.is_dir() {
        return Err(io::Error::other(format!("{path} is a directory")));
    }

    let mut stream = crate::net::connect_first(&config.host, config.port, config.timeout)?;
    let server = stream.peer_addr()?;
    stream.set_write_timeout(Some(config.timeout))?;
    // Until the last byte is out, closing the socket for any reason (an
    // error, Ctrl-C, even `kill -9`) must reset the connection: a plain
    // close would send the FIN that tells the server the file is complete.
    crate::net::reset_on_close(&stream, true)?;
    let started = Instant::now();

    let label = format!("{path} → {server}");
    let sent = send_contents(
        &mut file,
        &mut stream,
        Progress::new(label, Some(metadata.len())),
        config.timeout,
        shutdown,
    )?;

    crate::net::reset_on_close(&stream, false)?;
    stream
        .shutdown(Direction::Write)
        .map_err(|e| send_error(e, sent, config.timeout))?;
    wait_for_close(&mut stream, config.timeout, shutdown)?;
    Ok(Upload {
        server,
        bytes: sent,
        elapsed: started.elapsed(),
    })
}

/// Streams the rest of `file` into `stream` through one buffer; returns the
/// bytes sent. Between pieces it updates `progress` and stops if shutdown
/// was triggered.
fn send_contents(
    file: &mut File,
    stream: &mut TcpStream,
    mut progress: Progress,
    timeout: Duration,
    shutdown: &Shutdown,
) -> io::Result<u64> {
    let mut buffer = vec![0u8; SEND_BUFFER];
    let mut sent: u64 = 0;
    loop {
        if shutdown.is_triggered() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                format!("interrupted after sending {sent} bytes"),
            ));
        }
        let count = match file.read(&mut buffer) {
            Ok(0) => return Ok(sent),
            Ok(count) => count,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context(|| format!("cannot read the file after {sent} bytes")),
        };
        // write_all would lose count of a partly written piece.
        let mut piece = &buffer[..count];
        while !piece.is_empty() {
            match stream.write(piece) {
                Ok(0) => {
                    let closed = io::Error::from(io::ErrorKind::WriteZero);
                    return Err(send_error(closed, sent, timeout));
                }
                Ok(written) => {
                    piece = &piece[written..];
                    sent += written as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(send_error(e, sent, timeout)),
            }
        }
        progress.update(sent);
    }
}

/// Waits for the server's close (end of stream), which says it has saved
/// the file. Anything the server sends is ignored.
fn wait_for_close(
    stream: &mut TcpStream,
    timeout: Duration,
    shutdown: &Shutdown,
) -> io::Result<()> {
    stream.set_read_timeout(Some(crate::shutdown::POLL_INTERVAL))?;
    let waiting_since = Instant::now();
    let mut scratch = [0u8; 512];
    loop {
        match stream.read(&mut scratch) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if crate::net::is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(e)
                    .context(|| "the server broke the connection before confirming the file")
            }
        }
        if shutdown.is_triggered() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "interrupted while waiting for the server to confirm the file",
            ));
        }
        if waiting_since.elapsed() >= timeout {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the server did not close the connection within {} s of the end of the file",
                    timeout.as_secs_f64()
                ),
            ));
        }
    }
}

/// Words a failed send for the `ERROR:` line.
fn send_error(error: io::Error, sent: u64, timeout: Duration) -> io::Error {
    let message = if crate::net::is_timeout(&error) {
        format!(
            "the server took no data for {} s (after {sent} bytes)",
            timeout.as_secs_f64()
        )
    } else {
        format!("sending failed after {sent} bytes: {error}")
    };
    io::Error::new(error.kind(), message)
}
