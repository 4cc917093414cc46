//! Graceful shutdown: Ctrl-C, SIGTERM (and, where asked, SIGQUIT) become one
//! [`Shutdown`] signal that every blocking loop in the kit can notice.
//!
//! How a loop notices depends on what it blocks in:
//! - a socket read: give the socket a short read timeout ([`POLL_INTERVAL`])
//!   and check [`Shutdown::is_triggered`] on every timeout;
//! - a sleep or a channel: use [`Shutdown::sleep`] or put
//!   [`Shutdown::receiver`] into a `crossbeam_channel::select!` — it becomes
//!   ready (disconnected) the moment shutdown is triggered;
//! - a blocked `accept()`: signals do not interrupt it, so register a waker
//!   with [`Shutdown::on_trigger`] that connects to the listener itself
//!   (see [`crate::net::accept_until_shutdown`]).
//!
//! `main` installs the handler once with [`Shutdown::install`]; library code
//! takes a `&Shutdown` so tests can trigger it directly.

use crate::sync::lock;
use crossbeam_channel::{Receiver, Sender};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often blocking loops wake up to look at the shutdown flag.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A wake-up action run once when shutdown is triggered.
type Waker = Box<dyn FnOnce() + Send>;

struct Inner {
    triggered: AtomicBool,
    /// Dropped on trigger, which disconnects every clone of `receiver`.
    sender: Mutex<Option<Sender<()>>>,
    wakers: Mutex<Vec<Waker>>,
    /// Run by a second signal just before the process exits (see
    /// [`Shutdown::on_forced_exit`]).
    last_words: Mutex<Vec<Waker>>,
}

/// A cloneable shutdown token shared by every thread of a program.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
    receiver: Receiver<()>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A token that is not connected to any signal (tests trigger it by hand).
    pub fn new() -> Self {
        let (sender, receiver) = crossbeam_channel::bounded(0);
        Shutdown {
            inner: Arc::new(Inner {
                triggered: AtomicBool::new(false),
                sender: Mutex::new(Some(sender)),
                wakers: Mutex::new(Vec::new()),
                last_words: Mutex::new(Vec::new()),
            }),
            receiver,
        }
    }

    /// A token triggered by Ctrl-C (SIGINT), SIGTERM and SIGHUP.
    ///
    /// The first signal triggers a graceful shutdown; a second one runs the
    /// actions registered with [`Shutdown::on_forced_exit`] and exits the
    /// process at once with status 130, for when a graceful stop hangs.
    pub fn install() -> io::Result<Self> {
        let shutdown = Shutdown::new();
        let handle = shutdown.clone();
        let signals = AtomicUsize::new(0);
        ctrlc::set_handler(move || {
            if signals.fetch_add(1, Ordering::SeqCst) == 0 {
                handle.trigger();
            } else {
                handle.run_last_words();
                std::process::exit(130);
            }
        })
        .map_err(|e| io::Error::other(format!("cannot install the signal handler: {e}")))?;
        Ok(shutdown)
    }

    /// Like [`Shutdown::install`], and SIGQUIT triggers it too.
    ///
    /// `ctrlc` does not watch SIGQUIT, so its handler re-raises the signal as
    /// SIGTERM, which `ctrlc` does watch. `raise` is async-signal-safe.
    #[cfg(unix)]
    pub fn install_with_sigquit() -> io::Result<Self> {
        let shutdown = Self::install()?;
        crate::net::sys::quit_as_term()?;
        Ok(shutdown)
    }

    /// Starts the shutdown: sets the flag, wakes every `select!` on
    /// [`Shutdown::receiver`] and runs the registered wakers. Idempotent.
    pub fn trigger(&self) {
        if self.inner.triggered.swap(true, Ordering::SeqCst) {
            return;
        }
        drop(lock(&self.inner.sender).take());
        let wakers = std::mem::take(&mut *lock(&self.inner.wakers));
        for wake in wakers {
            wake();
        }
    }

    /// Whether shutdown has been triggered.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Registers an action to run when shutdown is triggered (at once if it
    /// already was). Used to wake threads blocked where no timeout reaches.
    pub fn on_trigger(&self, wake: impl FnOnce() + Send + 'static) {
        let mut wakers = lock(&self.inner.wakers);
        if self.is_triggered() {
            drop(wakers);
            wake();
        } else {
            wakers.push(Box::new(wake));
        }
    }

    /// Registers an action for a forced exit: a second signal runs it (on
    /// the signal-handling thread, not in a signal handler, so it may write
    /// files) right before the process exits with status 130. Servers use it
    /// to leave what they were writing in a recognisable state.
    pub fn on_forced_exit(&self, action: impl FnOnce() + Send + 'static) {
        lock(&self.inner.last_words).push(Box::new(action));
    }

    /// Runs the actions registered with [`Shutdown::on_forced_exit`], once.
    fn run_last_words(&self) {
        let actions = std::mem::take(&mut *lock(&self.inner.last_words));
        for action in actions {
            action();
        }
    }

    /// A receiver that never yields a value and becomes disconnected (ready)
    /// when shutdown is triggered: made for `crossbeam_channel::select!`.
    pub fn receiver(&self) -> &Receiver<()> {
        &self.receiver
    }

    /// Sleeps for `duration` or until shutdown; returns `true` if shutdown
    /// cut the sleep short (or had already happened).
    pub fn sleep(&self, duration: Duration) -> bool {
        if self.is_triggered() {
            return true;
        }
        // The channel never carries a value: it either times out or disconnects.
        self.receiver.recv_timeout(duration).is_err() && self.is_triggered()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn trigger_wakes_sleepers_and_runs_wakers_once() {
        let shutdown = Shutdown::new();
        let woken = Arc::new(AtomicUsize::new(0));
        let counter = woken.clone();
        shutdown.on_trigger(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let sleeper = shutdown.clone();
        let started = Instant::now();
        let handle = std::thread::spawn(move || sleeper.sleep(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        shutdown.trigger();
        shutdown.trigger();
        assert!(handle.join().unwrap());
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        assert!(shutdown.is_triggered());
    }

    #[test]
    fn sleep_without_trigger_runs_its_time() {
        let shutdown = Shutdown::new();
        let started = Instant::now();
        assert!(!shutdown.sleep(Duration::from_millis(30)));
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn waker_registered_late_runs_at_once() {
        let shutdown = Shutdown::new();
        shutdown.trigger();
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        shutdown.on_trigger(move || flag.store(true, Ordering::SeqCst));
        assert!(ran.load(Ordering::SeqCst));
    }

    #[test]
    fn last_words_run_once_and_only_when_forced() {
        let shutdown = Shutdown::new();
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = ran.clone();
        shutdown.on_forced_exit(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        shutdown.trigger();
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "a graceful stop is not forced"
        );
        shutdown.run_last_words();
        shutdown.run_last_words();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }
}
