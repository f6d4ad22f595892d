//! Host tests of the lock: exclusion, try_lock's refusal, release on drop, and contended
//! acquires from several threads.

use super::Mutex;
use std::sync::Arc;
use std::thread;

#[test]
fn try_lock_is_refused_while_held_and_granted_after() {
    let lock = Mutex::new(5u32);
    let guard = lock.lock();
    assert!(lock.is_locked());
    assert!(lock.try_lock().is_none(), "a held lock must refuse try_lock");
    drop(guard);
    assert!(!lock.is_locked(), "dropping the guard releases the lock");
    assert_eq!(lock.try_lock().map(|g| *g), Some(5));
}

#[test]
fn writes_through_the_guard_are_kept() {
    let mut lock = Mutex::new(Vec::new());
    lock.lock().push(1u8);
    lock.lock().push(2);
    assert_eq!(*lock.get_mut(), vec![1, 2]);
    assert_eq!(lock.into_inner(), vec![1, 2]);
}

#[test]
fn force_unlock_frees_a_lock_whose_guard_is_forgotten() {
    let lock = Mutex::new(());
    core::mem::forget(lock.lock());
    assert!(lock.try_lock().is_none());
    // SAFETY: the forgotten guard is never used again.
    unsafe { lock.force_unlock() };
    assert!(lock.try_lock().is_some());
}

#[test]
fn contended_increments_are_all_counted() {
    const THREADS: usize = 4;
    const ROUNDS: u64 = 2_000;
    let lock = Arc::new(Mutex::new(0u64));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let lock = Arc::clone(&lock);
            thread::spawn(move || {
                for _ in 0..ROUNDS {
                    // A read, a yield with the lock held (so the others find it taken and
                    // wait out of line), then the write: a lost update shows in the total.
                    let mut value = lock.lock();
                    let seen = *value;
                    thread::yield_now();
                    *value = seen + 1;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker thread");
    }
    assert_eq!(*lock.lock(), THREADS as u64 * ROUNDS);
}

#[test]
fn debug_shows_the_value_or_that_it_is_locked() {
    let lock = Mutex::new(7u8);
    assert_eq!(format!("{lock:?}"), "Mutex { data: 7 }");
    let _guard = lock.lock();
    assert_eq!(format!("{lock:?}"), "Mutex { <locked> }");
}
