//! # The raw C calls of the checker (private; unsafe lives only here)
//!
//! Everything `std` cannot do for the grader's process handling: signals
//! to process groups and single processes, resource limits for a child
//! before it `exec`s, the kernel's child-subreaper flag, network
//! namespaces for one thread, bringing a namespace's loopback up, and
//! reaping one orphan by its pid. Each wrapper returns `io::Result` or a
//! plain value; no pointer escapes. (At merge this folds into the kit's
//! single `net::sys` module.)

use std::io;

/// SIGKILL.
pub const SIGKILL: i32 = libc::SIGKILL;

/// Turns a C return value into `io::Result`.
fn check(result: libc::c_int) -> io::Result<()> {
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sends `signal` to the process `pid` (negative: to the group `-pid`);
/// whether the target existed.
pub fn kill(pid: i32, signal: i32) -> bool {
    // SAFETY: kill(2) takes plain integers and only sends a signal.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// This process's id.
pub fn own_pid() -> i32 {
    // SAFETY: getpid(2) cannot fail.
    unsafe { libc::getpid() }
}

/// Whether the grader runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The effective user and group ids.
pub fn ids() -> (u32, u32) {
    // SAFETY: geteuid(2) and getegid(2) cannot fail.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// Makes this process the reaper of every orphaned descendant (they are
/// re-parented here instead of to init, so none can escape by `setsid`
/// or a double fork).
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl(2) with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })
}

/// Reaps `pid` if it is a child of this process that has exited; whether
/// it was reaped.
pub fn reap(pid: i32) -> bool {
    let mut status = 0;
    // SAFETY: waitpid(2) for one specific pid, writing into a local.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) == pid }
}

/// The resources [`set_limit`] can bound.
#[derive(Debug, Clone, Copy)]
pub enum Resource {
    /// Data and private writable memory, in bytes.
    Memory,
    /// Processes of the user (in its user namespace).
    Processes,
    /// Open file descriptors.
    Files,
    /// CPU seconds.
    CpuSeconds,
}

/// Sets the soft and hard limit of `resource` for this process to `value`
/// (or the current hard limit, if lower). Called in a child between fork
/// and exec: async-signal-safe.
pub fn set_limit(resource: Resource, value: u64) -> io::Result<()> {
    let which = match resource {
        Resource::Memory => libc::RLIMIT_DATA,
        Resource::Processes => libc::RLIMIT_NPROC,
        Resource::Files => libc::RLIMIT_NOFILE,
        Resource::CpuSeconds => libc::RLIMIT_CPU,
    };
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) and setrlimit(2) read and write a local struct.
    unsafe {
        check(libc::getrlimit(which, &mut limit))?;
        // An ordinary user cannot raise the hard limit: stay under it.
        let value = value.min(limit.rlim_max);
        limit.rlim_cur = value;
        limit.rlim_max = value;
        check(libc::setrlimit(which, &limit))
    }
}

/// Moves the whole (still single-threaded) process into a new user
/// namespace where it keeps its own uid and gid and holds the
/// capabilities to create network namespaces; programs it starts lose
/// them at `exec`, as an ordinary user's would.
pub fn enter_user_namespace() -> io::Result<()> {
    let (uid, gid) = ids();
    // SAFETY: unshare(2) with a flag constant.
    check(unsafe { libc::unshare(libc::CLONE_NEWUSER) })?;
    std::fs::write("/proc/self/setgroups", "deny")?;
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1"))
}

/// Moves the calling thread (only it, and what it starts later) into a new
/// network namespace and brings its loopback up.
pub fn enter_network_namespace() -> io::Result<()> {
    // SAFETY: unshare(2) with a flag constant; it acts on this thread.
    check(unsafe { libc::unshare(libc::CLONE_NEWNET) })?;
    loopback_up()
}

/// `struct ifreq` as SIOCGIFFLAGS/SIOCSIFFLAGS use it: a name and flags,
/// padded to the kernel's size.
#[repr(C)]
struct InterfaceFlags {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Sets `IFF_UP` on `lo` in the calling thread's network namespace.
fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain datagram socket used only for two ioctls, closed
    // below; the ioctls read and write a local struct of the size the
    // kernel expects.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut request = InterfaceFlags {
            name: [0; 16],
            flags: 0,
            _pad: [0; 22],
        };
        request.name[..2].copy_from_slice(b"lo");
        let mut result = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request);
        if result == 0 {
            request.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            result = libc::ioctl(fd, libc::SIOCSIFFLAGS, &request);
        }
        let error = io::Error::last_os_error();
        libc::close(fd);
        if result == 0 {
            Ok(())
        } else {
            Err(error)
        }
    }
}
