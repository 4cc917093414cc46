//! Every call into the C library the kit makes, in one place, on `libc`'s
//! constants and types: what std and `socket2` have no call for.
//!
//! - sockets: the path MTU of a connected UDP socket (`IP_MTU`,
//!   `IPV6_MTU`), and the kernel's arrival time stamp of each datagram
//!   (`SO_TIMESTAMPNS`, read from `recvmsg`'s control messages);
//! - clocks and scheduling, for [`crate::pacing`]: the monotonic clock,
//!   sleeping to an absolute instant of it, the thread's timer slack, and
//!   real-time scheduling;
//! - signals, for [`crate::shutdown`]: SIGQUIT re-raised as SIGTERM.
//!
//! Each function is safe to call: the `unsafe` blocks here pass only valid
//! descriptors and buffers the function owns. Where a call does not exist
//! (not Linux), the function says "cannot tell" (`None`, `false`) or falls
//! back to std.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// The path MTU the kernel knows for a *connected* UDP socket
/// (`getsockopt(IP_MTU)`, `IPV6_MTU` for IPv6); `None` when not connected.
#[cfg(target_os = "linux")]
pub fn path_mtu(socket: &UdpSocket) -> Option<usize> {
    use std::os::fd::AsRawFd;
    let (level, name) = if socket.peer_addr().ok()?.is_ipv4() {
        (libc::IPPROTO_IP, libc::IP_MTU)
    } else {
        (libc::IPPROTO_IPV6, libc::IPV6_MTU)
    };
    let mut mtu: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid descriptor, and `mtu`/`len` describe a writable c_int.
    let status = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&mut mtu as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (status == 0 && mtu > 0).then_some(mtu as usize)
}

/// Not wired up here: nobody can tell.
#[cfg(not(target_os = "linux"))]
pub fn path_mtu(_socket: &UdpSocket) -> Option<usize> {
    None
}

/// Asks the kernel to stamp each datagram `socket` receives with its
/// arrival time (`SO_TIMESTAMPNS`); whether it agreed.
#[cfg(target_os = "linux")]
pub fn enable_receive_timestamps(socket: &UdpSocket) -> bool {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid descriptor, and `on` is a readable c_int.
    let status = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    status == 0
}

/// Not wired up here: the kernel is never asked.
#[cfg(not(target_os = "linux"))]
pub fn enable_receive_timestamps(_socket: &UdpSocket) -> bool {
    false
}

/// Room for the control messages of one datagram: its `SCM_TIMESTAMPNS`,
/// with space to spare for any other the socket was asked for.
#[cfg(target_os = "linux")]
const CONTROL_SPACE: usize =
    // SAFETY: CMSG_SPACE only computes a size.
    2 * unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::timespec>() as u32) } as usize;

/// A control-message buffer aligned for the `cmsghdr`s the kernel writes.
#[cfg(target_os = "linux")]
#[repr(C)]
struct Control {
    _align: [libc::cmsghdr; 0],
    bytes: [u8; CONTROL_SPACE],
}

/// `recv_from` through `recvmsg`, which also returns the kernel's arrival
/// time of the datagram in nanoseconds since the Unix epoch, when
/// [`enable_receive_timestamps`] turned it on (else `None`).
#[cfg(target_os = "linux")]
pub fn recv_from_stamped(
    socket: &UdpSocket,
    buffer: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u64>)> {
    use std::os::fd::AsRawFd;
    let mut control = Control {
        _align: [],
        bytes: [0; CONTROL_SPACE],
    };
    let mut data = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: buffer.len(),
    };
    // SAFETY: `try_init` hands over zeroed storage for the sender's address
    // and its size; `msghdr` points only at that storage, at `data` (the
    // caller's buffer) and at `control`, all alive for the call, and tells
    // the kernel their true sizes. On success `*len` is the address's size.
    let ((len, stamp), from) = unsafe {
        socket2::SockAddr::try_init(|storage, len| {
            let mut message: libc::msghdr = std::mem::zeroed();
            message.msg_name = storage.cast();
            message.msg_namelen = *len;
            message.msg_iov = &mut data;
            message.msg_iovlen = 1;
            message.msg_control = control.bytes.as_mut_ptr().cast();
            message.msg_controllen = CONTROL_SPACE as _;
            let received = libc::recvmsg(socket.as_raw_fd(), &mut message, 0);
            if received < 0 {
                return Err(io::Error::last_os_error());
            }
            *len = message.msg_namelen;
            Ok((received as usize, timestamp(&message)))
        })?
    };
    let from = from.as_socket().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "datagram from a non-IP address")
    })?;
    Ok((len, from, stamp))
}

/// The `SCM_TIMESTAMPNS` among the control messages `recvmsg` filled in,
/// in nanoseconds since the epoch.
///
/// # Safety
/// `message` is what `recvmsg` returned: its control buffer is aligned for
/// `cmsghdr` and `msg_controllen` bytes of it were written by the kernel.
#[cfg(target_os = "linux")]
unsafe fn timestamp(message: &libc::msghdr) -> Option<u64> {
    let wanted = libc::CMSG_LEN(std::mem::size_of::<libc::timespec>() as u32);
    let mut header = libc::CMSG_FIRSTHDR(message);
    while let Some(cmsg) = header.as_ref() {
        if cmsg.cmsg_level == libc::SOL_SOCKET
            && cmsg.cmsg_type == libc::SCM_TIMESTAMPNS
            && cmsg.cmsg_len >= wanted as _
        {
            let time: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
            let seconds = u64::try_from(time.tv_sec).ok()?;
            let nanos = u64::try_from(time.tv_nsec).ok()?;
            return seconds.checked_mul(1_000_000_000)?.checked_add(nanos);
        }
        header = libc::CMSG_NXTHDR(message, cmsg);
    }
    None
}

/// Not wired up here: a plain `recv_from`, never a stamp.
#[cfg(not(target_os = "linux"))]
pub fn recv_from_stamped(
    socket: &UdpSocket,
    buffer: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u64>)> {
    let (len, from) = socket.recv_from(buffer)?;
    Ok((len, from, None))
}

/// Nanoseconds in a second, for `timespec`.
#[cfg(target_os = "linux")]
const NANOS_PER_SEC: i128 = 1_000_000_000;

/// `CLOCK_MONOTONIC` (the clock `Instant` reads on Linux) in nanoseconds.
#[cfg(target_os = "linux")]
pub fn monotonic_nanos() -> i128 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid, writable timespec.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut time);
    }
    i128::from(time.tv_sec) * NANOS_PER_SEC + i128::from(time.tv_nsec)
}

/// Sleeps until `CLOCK_MONOTONIC` reads `target` nanoseconds
/// (`clock_nanosleep(TIMER_ABSTIME)`), or a signal: the caller loops.
#[cfg(target_os = "linux")]
pub fn sleep_until_monotonic(target: i128) {
    let request = libc::timespec {
        tv_sec: (target / NANOS_PER_SEC) as libc::time_t,
        tv_nsec: (target % NANOS_PER_SEC) as libc::c_long,
    };
    // SAFETY: `request` is a valid timespec; no remainder is asked for with
    // TIMER_ABSTIME. An error (EINTR) just ends this sleep.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &request,
            std::ptr::null_mut(),
        );
    }
}

/// Cuts the calling thread's timer slack (50 µs by default) to 1 ns, so its
/// sleeps end when asked.
#[cfg(target_os = "linux")]
pub fn cut_timer_slack() {
    const ONE_NANOSECOND: libc::c_ulong = 1;
    // SAFETY: PR_SET_TIMERSLACK takes one unsigned long and only changes
    // the calling thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, ONE_NANOSECOND);
    }
}

/// Puts the calling thread under `SCHED_FIFO` at the lowest real-time
/// priority (`on`), or back under `SCHED_OTHER`; `false` if the kernel
/// refused.
#[cfg(target_os = "linux")]
pub fn set_realtime(on: bool) -> bool {
    let policy = if on {
        libc::SCHED_FIFO
    } else {
        libc::SCHED_OTHER
    };
    // SAFETY: sched_get_priority_min only reads its argument.
    let lowest = unsafe { libc::sched_get_priority_min(policy) };
    let param = libc::sched_param {
        sched_priority: lowest.max(0),
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param.
    unsafe { libc::sched_setscheduler(0, policy, &param) == 0 }
}

/// Makes SIGQUIT raise SIGTERM instead (for a signal handler that watches
/// SIGTERM but not SIGQUIT). `raise` is async-signal-safe.
#[cfg(unix)]
pub fn quit_as_term() -> io::Result<()> {
    extern "C" fn handler(_: libc::c_int) {
        // SAFETY: raise() is async-signal-safe.
        unsafe {
            libc::raise(libc::SIGTERM);
        }
    }
    let handler: extern "C" fn(libc::c_int) = handler;
    // SAFETY: installs a handler that only calls an async-signal-safe function.
    let previous = unsafe { libc::signal(libc::SIGQUIT, handler as libc::sighandler_t) };
    if previous == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
