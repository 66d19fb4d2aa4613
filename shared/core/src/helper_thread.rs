//! Threads that work beside the one a caller waits for: reading rows ahead
//! of a report's writer, hashing behind it. On two cores they share the
//! second one, but whenever all three want a core at once the scheduler
//! used to split the time evenly, and the writer, which the whole export
//! waits for, waited about half a second per million rows for its own
//! helpers. A helper lowers its own priority (nice 10, a tenth of the
//! writer's share under contention), so it runs whenever a core is free
//! and steps aside when the writer wants one. The writer's wait for its
//! helpers' output is unchanged: bounded channels still hold them back.

use std::io;
use std::thread::JoinHandle;

/// The niceness a helper takes: on Linux, weight 110 against the default
/// thread's 1024.
const HELPER_NICE: i32 = 10;

/// Spawns `f` on a new named thread that runs below the caller's
/// priority. A thread, not a pooled one: a thread cannot raise its
/// priority back without privileges, and a pool would hand the lowered
/// thread to unrelated work afterwards.
pub fn spawn<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> io::Result<JoinHandle<T>> {
    std::thread::Builder::new().name(name.into()).spawn(move || {
        lower_own_priority();
        f()
    })
}

#[cfg(target_os = "linux")]
fn lower_own_priority() {
    // Linux keeps a nice value per thread: PRIO_PROCESS with the calling
    // thread's id changes this thread alone. Lowering one's own priority
    // needs no privilege; a failure only leaves the thread as it was.
    // SAFETY: plain system calls with no pointers.
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, HELPER_NICE);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_own_priority() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    fn own_nice() -> i32 {
        // SAFETY: as above. Asking for one's own thread cannot fail.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[test]
    fn a_helper_runs_below_its_caller_and_leaves_the_caller_as_it_was() {
        let before = own_nice();
        let helper = super::spawn("helper-test", own_nice).unwrap().join().unwrap();
        assert_eq!(helper, (before + super::HELPER_NICE).min(19));
        assert_eq!(own_nice(), before);
    }
}
