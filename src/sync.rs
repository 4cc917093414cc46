//! Locks that outlive a panic: a thread that panics while holding a mutex
//! poisons it, and std then refuses every later lock. The kit's shared state
//! (a registry of connections, a log queue, counters) stays consistent at
//! every step, so the other threads carry on with the data as it is instead
//! of panicking in turn.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Locks `mutex`, recovering the data if a panicking thread poisoned it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`Condvar::wait`] that recovers from poisoning like [`lock`].
pub fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// [`Condvar::wait_timeout`] that recovers from poisoning like [`lock`];
/// whether it timed out is not asked (the caller looks at its state).
pub fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    match condvar.wait_timeout(guard, timeout) {
        Ok((guard, _)) => guard,
        Err(poisoned) => poisoned.into_inner().0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_poisoned_lock_still_hands_out_its_data() {
        let shared = Arc::new(Mutex::new(7));
        let holder = Arc::clone(&shared);
        let panicked = std::thread::spawn(move || {
            let _guard = holder.lock().unwrap();
            panic!("poisons the mutex");
        })
        .join();
        assert!(panicked.is_err());
        assert!(shared.is_poisoned());
        *lock(&shared) += 1;
        assert_eq!(*lock(&shared), 8);
        let condvar = Condvar::new();
        let guard = wait_timeout(&condvar, lock(&shared), Duration::from_millis(1));
        assert_eq!(*guard, 8);
    }
}
