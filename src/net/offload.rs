//! Batched UDP: many datagrams per system call, each still an ordinary
//! datagram on the wire.
//!
//! A fast UDP sender or receiver spends most of its time entering and
//! leaving the kernel, one system call per datagram. Linux offers two ways
//! to move a whole batch per call:
//!
//! - **Segmentation offload** (`UDP_SEGMENT`, Linux 4.18): the sender hands
//!   the kernel one buffer holding many datagrams of the same size (the last
//!   may be shorter) and says the size in a control message; the kernel (or
//!   the network card) cuts it into datagrams. **Receive offload**
//!   (`UDP_GRO`, Linux 5.0): the receiver accepts such batches whole — one
//!   read returns many datagrams back to back, and a control message says
//!   the segment size to cut them at. On loopback a segmented batch travels
//!   intact from the sender's call to the receiver's read.
//! - **Multi-message calls** (`sendmmsg`/`recvmmsg`): a vector of ordinary
//!   datagrams per call. The fallback when offload is refused or turned off.
//!
//! [`BatchSender`] sends a buffer of consecutive datagrams with whichever
//! the kernel takes, falling back (once, with a one-line note) when it
//! refuses segmentation at run time — a path MTU smaller than a datagram
//! does that. [`BatchReceiver`] reads batches and hands them out one
//! datagram at a time, each with its sender and kernel arrival time.
//! Elsewhere than Linux both use one plain call per datagram.
//!
//! Every C call lives in the private [`sys`] module at the bottom.

use crate::output::warn;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};

/// Most payload bytes one send call carries: a segmented batch is one UDP
/// datagram to the kernel until it is cut, so it must stay under the
/// 65,507-byte limit of one (with room for either IP header).
pub const MAX_BATCH_BYTES: usize = 65_000;

/// Most datagrams in one segmented batch (the kernel's `UDP_MAX_SEGMENTS`
/// was 64 before Linux 6.3 and is 128 since).
pub const MAX_SEGMENTS: usize = 64;

/// Receive slots per read: each holds one datagram, or one coalesced batch.
const SLOTS: usize = 16;

/// Bytes per receive slot: any datagram, and any coalesced batch, fits.
const SLOT_BYTES: usize = 65_536;

/// How a [`BatchSender`] hands datagrams to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    /// One buffer per call, cut by the kernel (`UDP_SEGMENT`).
    Segmented,
    /// A vector of datagrams per call (`sendmmsg`).
    Multiple,
    /// One datagram per call (other platforms).
    Single,
}

/// Prints `note` on stderr the first time `flag` is raised.
fn note_once(flag: &AtomicBool, note: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        warn(format_args!("note: {note}"));
    }
}

static SEND_NOTED: AtomicBool = AtomicBool::new(false);
static RECV_NOTED: AtomicBool = AtomicBool::new(false);

/// Sends buffers of consecutive datagrams, as many per call as the kernel
/// takes.
#[derive(Debug)]
pub struct BatchSender {
    mode: SendMode,
}

impl BatchSender {
    /// A sender for `socket`: segmented when `offload` is asked for and the
    /// kernel supports it, else multi-message (one line on stderr says so
    /// when offload was asked for), single datagrams off Linux.
    pub fn new(socket: &UdpSocket, offload: bool) -> BatchSender {
        let mode = if !sys::BATCHES {
            SendMode::Single
        } else if !offload {
            SendMode::Multiple
        } else if sys::supports_segmentation(socket) {
            SendMode::Segmented
        } else {
            note_once(
                &SEND_NOTED,
                "UDP segmentation offload (UDP_SEGMENT) unavailable: sending with sendmmsg",
            );
            SendMode::Multiple
        };
        BatchSender { mode }
    }

    /// How this sender sends.
    pub fn mode(&self) -> SendMode {
        self.mode
    }

    /// How many datagrams of `length` bytes one call may carry.
    pub fn capacity(&self, length: usize) -> usize {
        match self.mode {
            SendMode::Single => 1,
            _ => (MAX_BATCH_BYTES / length.max(1)).clamp(1, MAX_SEGMENTS),
        }
    }

    /// Sends `batch`, consecutive datagrams of `segment` bytes (the last
    /// may be shorter), to `target` (`None`: the socket is connected).
    /// Retries a full device queue (ENOBUFS) and interrupted calls; a
    /// refused segmentation switches this sender to multi-message calls
    /// for good. Nothing is sent twice.
    pub fn send(
        &mut self,
        socket: &UdpSocket,
        target: Option<SocketAddr>,
        batch: &[u8],
        segment: usize,
    ) -> io::Result<()> {
        let mut rest = batch;
        while !rest.is_empty() {
            let count = rest.len().div_ceil(segment.max(1));
            let result = match self.mode {
                _ if count == 1 => sys::send_one(socket, target, rest).map(|_| 1),
                SendMode::Segmented => {
                    sys::send_segmented(socket, target, rest, segment).map(|_| count)
                }
                SendMode::Multiple => sys::send_multiple(socket, target, rest, segment),
                SendMode::Single => sys::send_one(socket, target, &rest[..segment]).map(|_| 1),
            };
            match result {
                Ok(sent) => rest = &rest[(sent * segment).min(rest.len())..],
                Err(e) if is_transient(&e) => std::thread::yield_now(),
                Err(e) if self.mode == SendMode::Segmented && sys::refused_segmentation(&e) => {
                    note_once(
                        &SEND_NOTED,
                        &format!("UDP segmentation offload refused ({e}): sending with sendmmsg"),
                    );
                    self.mode = SendMode::Multiple;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A full device queue or an interrupted call: try again.
fn is_transient(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::Interrupted || sys::is_no_buffer_space(error)
}

/// What the kernel said about one receive slot.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// Bytes in the slot.
    pub len: usize,
    /// The datagrams' size when the slot holds a coalesced batch (else
    /// `len`).
    pub segment: usize,
    /// The sender.
    pub from: SocketAddr,
    /// Kernel arrival time, ns since the Unix epoch.
    pub stamp: Option<u64>,
}

/// Reads datagrams in batches and hands them out one at a time.
///
/// Arrival times: the kernel stamps each read slot once (`SO_TIMESTAMPNS`)
/// with the arrival of its first datagram. The later datagrams of a
/// coalesced batch may have arrived later (the kernel coalesces what came
/// within one poll, not only what was sent together), so they get no stamp
/// ([`BatchReceiver::recv`] returns `None` for them while
/// [`BatchReceiver::coalescing`]).
pub struct BatchReceiver {
    data: Vec<u8>,
    slots: Vec<Slot>,
    /// Slots filled by the last read.
    filled: usize,
    /// The slot being handed out, and the offset of its next datagram.
    slot: usize,
    at: usize,
    /// The datagram handed out last: offset in `data` and length.
    last: (usize, usize),
    coalescing: bool,
}

impl BatchReceiver {
    /// A receiver for `socket`: kernel arrival stamps where available, and
    /// receive offload when `offload` is asked for and the kernel agrees
    /// (else one line on stderr says so, and reads are multi-message).
    pub fn new(socket: &UdpSocket, offload: bool) -> BatchReceiver {
        super::enable_receive_timestamps(socket);
        let coalescing = offload && sys::BATCHES && sys::set_receive_offload(socket, true);
        if offload && sys::BATCHES && !coalescing {
            note_once(
                &RECV_NOTED,
                "UDP receive offload (UDP_GRO) unavailable: receiving with recvmmsg",
            );
        }
        let slots = if sys::BATCHES { SLOTS } else { 1 };
        let empty = Slot {
            len: 0,
            segment: 0,
            from: SocketAddr::from(([0, 0, 0, 0], 0)),
            stamp: None,
        };
        BatchReceiver {
            data: vec![0u8; slots * SLOT_BYTES],
            slots: vec![empty; slots],
            filled: 0,
            slot: 0,
            at: 0,
            last: (0, 0),
            coalescing,
        }
    }

    /// Whether the kernel hands this receiver coalesced batches.
    pub fn coalescing(&self) -> bool {
        self.coalescing
    }

    /// The next datagram: its length, sender and kernel arrival time (its
    /// bytes are [`BatchReceiver::last`]). Reads when the last batch is
    /// used up; a read follows the socket's blocking mode and timeout.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<(usize, SocketAddr, Option<u64>)> {
        while self.slot >= self.filled || self.at >= self.slots[self.slot].len {
            if self.slot + 1 < self.filled {
                self.slot += 1;
                self.at = 0;
                continue;
            }
            self.filled = sys::recv_multiple(socket, &mut self.data, SLOT_BYTES, &mut self.slots)?;
            self.slot = 0;
            self.at = 0;
            if self.filled > 0 && self.slots[0].len == 0 {
                // An empty datagram: handed out as it is.
                self.last = (0, 0);
                self.slot = 1;
                let s = self.slots[0];
                return Ok((0, s.from, s.stamp));
            }
        }
        let slot = self.slots[self.slot];
        let len = slot.segment.max(1).min(slot.len - self.at);
        // Only the first datagram of a coalesced batch has a known arrival.
        let stamp = slot.stamp.filter(|_| self.at == 0);
        self.last = (self.slot * SLOT_BYTES + self.at, len);
        self.at += len;
        Ok((len, slot.from, stamp))
    }

    /// The bytes of the datagram [`BatchReceiver::recv`] returned last.
    pub fn last(&self) -> &[u8] {
        &self.data[self.last.0..self.last.0 + self.last.1]
    }

    /// Turns receive offload off again, so later plain reads on `socket`
    /// get single datagrams.
    pub fn finish(self, socket: &UdpSocket) {
        if self.coalescing {
            sys::set_receive_offload(socket, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UdpSocket, UdpSocket) {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.connect(receiver.local_addr().unwrap()).unwrap();
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        (receiver, sender)
    }

    /// Ten 100-byte datagrams and a 37-byte one, byte i of datagram k `k`.
    fn batch() -> Vec<u8> {
        (0..11u8)
            .flat_map(|k| vec![k; if k == 10 { 37 } else { 100 }])
            .collect()
    }

    fn receive_all(receiver: &UdpSocket, offload: bool) -> (Vec<Vec<u8>>, bool) {
        let mut inbox = BatchReceiver::new(receiver, offload);
        let mut got = Vec::new();
        for _ in 0..11 {
            let (len, _, _) = inbox.recv(receiver).unwrap();
            assert_eq!(inbox.last().len(), len);
            got.push(inbox.last().to_vec());
        }
        let coalescing = inbox.coalescing();
        inbox.finish(receiver);
        (got, coalescing)
    }

    fn expected() -> Vec<Vec<u8>> {
        (0..11u8)
            .map(|k| vec![k; if k == 10 { 37 } else { 100 }])
            .collect()
    }

    #[test]
    fn every_mode_delivers_the_same_datagrams() {
        for (send_offload, receive_offload) in [(true, true), (true, false), (false, true)] {
            let (receiver, sender) = pair();
            let mut batch_sender = BatchSender::new(&sender, send_offload);
            // The receiver must be set up before the batch arrives.
            let mut inbox = BatchReceiver::new(&receiver, receive_offload);
            batch_sender.send(&sender, None, &batch(), 100).unwrap();
            let mut got = Vec::new();
            for _ in 0..11 {
                inbox.recv(&receiver).unwrap();
                got.push(inbox.last().to_vec());
            }
            assert_eq!(got, expected(), "{send_offload} {receive_offload}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_segmented_batch_arrives_in_one_read_with_one_stamp() {
        let (receiver, sender) = pair();
        let mut batch_sender = BatchSender::new(&sender, true);
        assert_eq!(batch_sender.mode(), SendMode::Segmented);
        let mut inbox = BatchReceiver::new(&receiver, true);
        assert!(inbox.coalescing());
        batch_sender.send(&sender, None, &batch(), 100).unwrap();
        inbox.recv(&receiver).unwrap();
        // One read, one slot: the whole batch, cut at 100 bytes.
        assert_eq!((inbox.filled, inbox.slots[0].len), (1, 1037));
        assert_eq!(inbox.slots[0].segment, 100);
        let stamp = inbox.slots[0].stamp;
        assert!(stamp.is_some());
        for k in 1..11 {
            let (len, from, at) = inbox.recv(&receiver).unwrap();
            assert_eq!(len, if k == 10 { 37 } else { 100 });
            // Arrival unknown after the first: no stamp.
            assert_eq!((from, at), (sender.local_addr().unwrap(), None));
            assert_eq!(inbox.last()[0], k as u8);
        }
        inbox.finish(&receiver);
    }

    #[test]
    fn without_receive_offload_a_batch_is_single_datagrams() {
        let (receiver, sender) = pair();
        let mut inbox = BatchReceiver::new(&receiver, false);
        BatchSender::new(&sender, true)
            .send(&sender, None, &batch(), 100)
            .unwrap();
        inbox.recv(&receiver).unwrap();
        assert!(inbox.slots[..inbox.filled].iter().all(|s| s.len <= 100));
        let (got, coalescing) = receive_all_rest(&receiver, inbox);
        assert!(!coalescing);
        assert_eq!(got.len(), 10);
    }

    fn receive_all_rest(receiver: &UdpSocket, mut inbox: BatchReceiver) -> (Vec<Vec<u8>>, bool) {
        let mut got = Vec::new();
        for _ in 0..10 {
            inbox.recv(receiver).unwrap();
            got.push(inbox.last().to_vec());
        }
        (got, inbox.coalescing())
    }

    #[test]
    fn plain_reads_after_finish_see_single_datagrams() {
        let (receiver, sender) = pair();
        let (got, _) = {
            BatchSender::new(&sender, true)
                .send(&sender, None, &batch(), 100)
                .unwrap();
            receive_all(&receiver, true)
        };
        assert_eq!(got, expected());
        BatchSender::new(&sender, true)
            .send(&sender, None, &batch(), 100)
            .unwrap();
        let mut buffer = [0u8; 4096];
        assert_eq!(receiver.recv(&mut buffer).unwrap(), 100);
    }

    #[test]
    fn capacity_stays_within_one_datagram_and_the_segment_limit() {
        let (_, sender) = pair();
        let batches = BatchSender::new(&sender, true);
        if batches.mode() != SendMode::Single {
            assert_eq!(batches.capacity(1472), 44);
            assert_eq!(batches.capacity(1500), 43);
            assert_eq!(batches.capacity(100), MAX_SEGMENTS);
            assert_eq!(batches.capacity(65_507), 1);
        }
    }

    #[test]
    fn an_unconnected_sender_names_its_target() {
        let (receiver, _) = pair();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut inbox = BatchReceiver::new(&receiver, true);
        BatchSender::new(&sender, true)
            .send(&sender, Some(receiver.local_addr().unwrap()), &batch(), 100)
            .unwrap();
        let (_, from, _) = inbox.recv(&receiver).unwrap();
        assert_eq!(from, sender.local_addr().unwrap());
        assert_eq!(inbox.last(), &[0u8; 100][..]);
    }
}

// ---------------------------------------------------------------------------
// The C calls. To be folded into the kit's `net::sys` module.
// ---------------------------------------------------------------------------

/// Raw `libc` calls for batched UDP on Linux (see the module docs).
#[cfg(target_os = "linux")]
mod sys {
    use super::Slot;
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
    use std::os::fd::AsRawFd;

    /// Batches are available here.
    pub const BATCHES: bool = true;

    /// Room for the `UDP_GRO` and `SO_TIMESTAMPNS` control messages.
    const CONTROL_BYTES: usize = 128;

    /// A control buffer aligned for `cmsghdr`.
    #[derive(Clone, Copy)]
    #[repr(C, align(8))]
    struct Control([u8; CONTROL_BYTES]);

    fn check(status: libc::c_int) -> io::Result<usize> {
        if status < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(status as usize)
        }
    }

    fn check_len(status: libc::ssize_t) -> io::Result<usize> {
        if status < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(status as usize)
        }
    }

    /// Whether the kernel knows `UDP_SEGMENT` (reading it fails if not).
    pub fn supports_segmentation(socket: &UdpSocket) -> bool {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a valid descriptor; `value`/`len` describe a writable int.
        let status = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        status == 0
    }

    /// The errors a refused segmented send gives: no checksum offload on
    /// the route's device (EIO), a segment over the path MTU or too many
    /// segments (EINVAL), no support (EOPNOTSUPP, ENOPROTOOPT).
    pub fn refused_segmentation(error: &io::Error) -> bool {
        matches!(
            error.raw_os_error(),
            Some(libc::EIO | libc::EINVAL | libc::EOPNOTSUPP | libc::ENOPROTOOPT)
        )
    }

    pub fn is_no_buffer_space(error: &io::Error) -> bool {
        error.raw_os_error() == Some(libc::ENOBUFS)
    }

    /// Turns `UDP_GRO` on or off; whether the kernel agreed.
    pub fn set_receive_offload(socket: &UdpSocket, on: bool) -> bool {
        let value = libc::c_int::from(on);
        // SAFETY: a valid descriptor; `value` is a readable int.
        let status = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_GRO,
                (&value as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        status == 0
    }

    /// `addr` as a C socket address.
    fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
        // SAFETY: all-zero bytes are a valid sockaddr_storage.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match addr {
            SocketAddr::V4(v4) => {
                // SAFETY: sockaddr_storage is large and aligned enough for
                // any socket address.
                let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = v4.port().to_be();
                sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(v6) => {
                // SAFETY: as above.
                let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = v6.port().to_be();
                sin6.sin6_addr.s6_addr = v6.ip().octets();
                sin6.sin6_flowinfo = v6.flowinfo();
                sin6.sin6_scope_id = v6.scope_id();
                size_of::<libc::sockaddr_in6>()
            }
        };
        (storage, len as libc::socklen_t)
    }

    /// The Rust address of a C socket address the kernel wrote.
    fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
        match libc::c_int::from(storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)).into())
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                let port = u16::from_be(sin6.sin6_port);
                Some(SocketAddrV6::new(ip, port, sin6.sin6_flowinfo, sin6.sin6_scope_id).into())
            }
            _ => None,
        }
    }

    /// A message header for `iov` to `target` (none: connected).
    fn message(
        target: Option<&mut (libc::sockaddr_storage, libc::socklen_t)>,
        iov: *mut libc::iovec,
        iov_len: usize,
    ) -> libc::msghdr {
        // SAFETY: all-zero bytes are a valid, empty msghdr.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        if let Some((storage, len)) = target {
            msg.msg_name = (storage as *mut libc::sockaddr_storage).cast();
            msg.msg_namelen = *len;
        }
        msg.msg_iov = iov;
        msg.msg_iovlen = iov_len as _;
        msg
    }

    /// One datagram.
    pub fn send_one(
        socket: &UdpSocket,
        target: Option<SocketAddr>,
        datagram: &[u8],
    ) -> io::Result<usize> {
        match target {
            Some(addr) => socket.send_to(datagram, addr),
            None => socket.send(datagram),
        }
    }

    /// `data` in one call, cut by the kernel into `segment`-byte datagrams.
    pub fn send_segmented(
        socket: &UdpSocket,
        target: Option<SocketAddr>,
        data: &[u8],
        segment: usize,
    ) -> io::Result<usize> {
        let segment =
            u16::try_from(segment).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let mut name = target.map(sockaddr);
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut libc::c_void,
            iov_len: data.len(),
        };
        let mut control = Control([0; CONTROL_BYTES]);
        let mut msg = message(name.as_mut(), &mut iov, 1);
        msg.msg_control = control.0.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE of a u16 is a small constant.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as _;
        // SAFETY: `msg` points at `control`, which has room for one cmsghdr
        // and a u16; the kernel only reads `iov` (it never writes to it).
        let status = unsafe {
            let header = libc::CMSG_FIRSTHDR(&msg);
            (*header).cmsg_level = libc::SOL_UDP;
            (*header).cmsg_type = libc::UDP_SEGMENT;
            (*header).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<u16>(), segment);
            libc::sendmsg(socket.as_raw_fd(), &msg, 0)
        };
        check_len(status)
    }

    /// Up to [`super::MAX_SEGMENTS`] datagrams of `data`, `segment` bytes
    /// each, in one `sendmmsg`; returns how many went.
    pub fn send_multiple(
        socket: &UdpSocket,
        target: Option<SocketAddr>,
        data: &[u8],
        segment: usize,
    ) -> io::Result<usize> {
        let mut name = target.map(sockaddr);
        let mut iovs: Vec<libc::iovec> = data
            .chunks(segment.max(1))
            .take(super::MAX_SEGMENTS)
            .map(|chunk| libc::iovec {
                iov_base: chunk.as_ptr() as *mut libc::c_void,
                iov_len: chunk.len(),
            })
            .collect();
        let mut messages: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .map(|iov| libc::mmsghdr {
                msg_hdr: message(name.as_mut(), iov, 1),
                msg_len: 0,
            })
            .collect();
        // SAFETY: every header points at a live iovec over `data` (only
        // read) and at `name`, all alive across the call.
        let status = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                messages.as_mut_ptr(),
                messages.len() as libc::c_uint,
                0,
            )
        };
        check(status)
    }

    /// One `recvmmsg` into `slots.len()` slots of `slot_bytes` each of
    /// `data`, returning as soon as one datagram is in (`MSG_WAITFORONE`);
    /// fills `slots` and returns how many were filled.
    pub fn recv_multiple(
        socket: &UdpSocket,
        data: &mut [u8],
        slot_bytes: usize,
        slots: &mut [Slot],
    ) -> io::Result<usize> {
        let count = slots.len().min(data.len() / slot_bytes);
        // SAFETY: all-zero bytes are valid sockaddr_storage values.
        let mut names: Vec<libc::sockaddr_storage> = vec![unsafe { zeroed() }; count];
        let mut controls = vec![Control([0; CONTROL_BYTES]); count];
        let mut iovs: Vec<libc::iovec> = data
            .chunks_mut(slot_bytes)
            .take(count)
            .map(|chunk| libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: chunk.len(),
            })
            .collect();
        let mut messages: Vec<libc::mmsghdr> = (0..count)
            .map(|i| {
                // SAFETY: all-zero bytes are a valid, empty msghdr.
                let mut msg: libc::msghdr = unsafe { zeroed() };
                msg.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
                msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                msg.msg_iov = &mut iovs[i];
                msg.msg_iovlen = 1;
                msg.msg_control = controls[i].0.as_mut_ptr().cast();
                msg.msg_controllen = CONTROL_BYTES as _;
                libc::mmsghdr {
                    msg_hdr: msg,
                    msg_len: 0,
                }
            })
            .collect();
        // SAFETY: every header points at live, writable buffers of the
        // sizes it states; no timeout pointer.
        let status = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                messages.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        let filled = check(status)?;
        for ((slot, message), name) in slots.iter_mut().zip(&messages).zip(&names).take(filled) {
            let len = message.msg_len as usize;
            let (segment, stamp) = control_messages(&message.msg_hdr);
            *slot = Slot {
                len,
                segment: segment.unwrap_or(len),
                from: socket_addr(name).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "datagram from a non-IP address")
                })?,
                stamp,
            };
        }
        Ok(filled)
    }

    /// The `UDP_GRO` segment size and the `SCM_TIMESTAMPNS` arrival time
    /// (ns since the epoch) among a received message's control messages.
    fn control_messages(msg: &libc::msghdr) -> (Option<usize>, Option<u64>) {
        let (mut segment, mut stamp) = (None, None);
        // SAFETY: the kernel wrote `msg_controllen` bytes of well-formed
        // control messages; CMSG_NXTHDR stays within them.
        unsafe {
            let mut header = libc::CMSG_FIRSTHDR(msg);
            while !header.is_null() {
                let data = libc::CMSG_DATA(header);
                match ((*header).cmsg_level, (*header).cmsg_type) {
                    (libc::SOL_UDP, libc::UDP_GRO) => {
                        let size = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                        segment = usize::try_from(size).ok().filter(|&s| s > 0);
                    }
                    (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                        let time = std::ptr::read_unaligned(data.cast::<libc::timespec>());
                        stamp = u64::try_from(time.tv_sec)
                            .ok()
                            .and_then(|s| s.checked_mul(1_000_000_000))
                            .and_then(|ns| ns.checked_add(u64::try_from(time.tv_nsec).ok()?));
                    }
                    _ => {}
                }
                header = libc::CMSG_NXTHDR(msg, header);
            }
        }
        (segment, stamp)
    }
}

/// Other platforms: one plain call per datagram.
#[cfg(not(target_os = "linux"))]
mod sys {
    use super::Slot;
    use std::io;
    use std::net::{SocketAddr, UdpSocket};

    pub const BATCHES: bool = false;

    pub fn supports_segmentation(_socket: &UdpSocket) -> bool {
        false
    }

    pub fn refused_segmentation(_error: &io::Error) -> bool {
        false
    }

    pub fn is_no_buffer_space(error: &io::Error) -> bool {
        error.raw_os_error() == Some(105)
    }

    pub fn set_receive_offload(_socket: &UdpSocket, _on: bool) -> bool {
        false
    }

    pub fn send_one(
        socket: &UdpSocket,
        target: Option<SocketAddr>,
        datagram: &[u8],
    ) -> io::Result<usize> {
        match target {
            Some(addr) => socket.send_to(datagram, addr),
            None => socket.send(datagram),
        }
    }

    pub fn send_segmented(
        socket: &UdpSocket,
        target: Option<SocketAddr>,
        data: &[u8],
        _segment: usize,
    ) -> io::Result<usize> {
        send_one(socket, target, data)
    }

    pub fn send_multiple(
        socket: &UdpSocket,
        target: Option<SocketAddr>,
        data: &[u8],
        segment: usize,
    ) -> io::Result<usize> {
        send_one(socket, target, &data[..segment.min(data.len())]).map(|_| 1)
    }

    pub fn recv_multiple(
        socket: &UdpSocket,
        data: &mut [u8],
        _slot_bytes: usize,
        slots: &mut [Slot],
    ) -> io::Result<usize> {
        let (len, from, stamp) = crate::net::recv_from_stamped(socket, data)?;
        slots[0] = Slot {
            len,
            segment: len,
            from,
            stamp,
        };
        Ok(1)
    }
}
