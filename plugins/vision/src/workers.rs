// SPDX-License-Identifier: MIT

//! A fixed set of threads that share the parts of one job at a time with the calling
//! thread: per-frame work split over cores without starting threads every frame (a
//! scoped thread costs an allocation, a stack mapping and a clone each time).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// A part of a job: called with the part's index, once for each index.
pub type Part<'a> = dyn Fn(usize) + Sync + 'a;

/// Threads that run [`Workers::run`]'s parts beside the caller; stopped and joined on
/// drop.
pub struct Workers {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// A job was posted, or the workers are to stop.
    wake: Condvar,
    /// The last part in progress on a worker ended.
    idle: Condvar,
}

#[derive(Default)]
struct State {
    job: Option<Job>,
    stop: bool,
    /// A part panicked on a worker during the current job.
    panicked: bool,
}

struct Job {
    /// Valid while the job is posted: [`Workers::run`] clears it only once no worker
    /// is inside it, and does not return before.
    part: *const Part<'static>,
    parts: usize,
    next: usize,
    /// Parts in progress on the workers.
    running: usize,
}

// SAFETY: the pointer is only called through while `run` keeps its referent alive
// (see `Job::part`); `Part` is `Sync`, so calling it from several threads is allowed.
unsafe impl Send for Job {}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under the lock, so a poisoned lock still holds whole state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next part of the posted job, if any is left; counted as running when a
    /// worker takes it (the caller waits for those alone).
    fn take(state: &mut State, worker: bool) -> Option<(usize, *const Part<'static>)> {
        let job = state.job.as_mut()?;
        (job.next < job.parts).then(|| {
            job.next += 1;
            job.running += worker as usize;
            (job.next - 1, job.part)
        })
    }
}

impl Workers {
    /// `threads` in all, the caller of [`Workers::run`] included (so `threads - 1`
    /// are started; 0 counts as 1). A thread the system refuses is done without: the
    /// parts then run on fewer threads.
    pub fn new(threads: usize) -> Workers {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            idle: Condvar::new(),
        });
        let threads = (1..threads)
            .map_while(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("portrait-worker-{i}"))
                    .spawn(move || work(&shared))
                    .ok()
            })
            .collect();
        Workers { shared, threads }
    }

    /// Threads that run parts, the caller included.
    pub fn threads(&self) -> usize {
        self.threads.len() + 1
    }

    /// Calls `part(i)` for every i in 0..`parts`, on the workers and the calling
    /// thread, and returns once all have returned. A panic in a part is raised here
    /// after the other parts have ended.
    pub fn run(&self, parts: usize, part: &Part<'_>) {
        if self.threads.is_empty() || parts <= 1 {
            (0..parts).for_each(part);
            return;
        }
        // SAFETY: only the lifetime is erased. The pointer is reachable through the
        // posted job alone, and the job is cleared below only after every part taken
        // from it has ended, before `run` returns (or unwinds): `part` outlives its
        // uses.
        let erased: *const Part<'static> =
            unsafe { std::mem::transmute::<*const Part<'_>, *const Part<'static>>(part) };
        let shared = &*self.shared;
        {
            let mut s = shared.lock();
            s.job = Some(Job {
                part: erased,
                parts,
                next: 0,
                running: 0,
            });
            s.panicked = false;
        }
        shared.wake.notify_all();
        let mut failed: Option<Box<dyn Any + Send>> = None;
        loop {
            let Some((i, _)) = Shared::take(&mut shared.lock(), false) else {
                break;
            };
            if let Err(e) = catch_unwind(AssertUnwindSafe(|| part(i))) {
                failed = Some(e);
                if let Some(job) = shared.lock().job.as_mut() {
                    job.next = job.parts;
                }
                break;
            }
        }
        let mut s = shared.lock();
        while s.job.as_ref().is_some_and(|j| j.running > 0) {
            s = shared.idle.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        s.job = None;
        let worker_failed = std::mem::take(&mut s.panicked);
        drop(s);
        if let Some(e) = failed {
            resume_unwind(e);
        }
        assert!(
            !worker_failed,
            "a part of the job panicked on a worker thread"
        );
    }
}

/// A worker: waits for a job's parts, runs them, until told to stop.
fn work(shared: &Shared) {
    let mut s = shared.lock();
    loop {
        if s.stop {
            return;
        }
        let Some((i, part)) = Shared::take(&mut s, true) else {
            s = shared.wake.wait(s).unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        drop(s);
        // SAFETY: the job this part was taken from is still posted (it counts this
        // part as running), so `run` keeps `part`'s referent alive.
        let ok = catch_unwind(AssertUnwindSafe(|| unsafe { (*part)(i) })).is_ok();
        s = shared.lock();
        if let Some(job) = s.job.as_mut() {
            job.running -= 1;
            if !ok {
                job.next = job.parts;
            }
            if job.running == 0 {
                shared.idle.notify_all();
            }
        }
        s.panicked |= !ok;
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_part_runs_once_on_borrowed_data() {
        for threads in [0, 1, 2, 3, 8] {
            let w = Workers::new(threads);
            assert_eq!(w.threads(), threads.max(1));
            for parts in [0, 1, 2, 5, 64] {
                // Borrowed, not 'static: the parts write into the caller's slots.
                let slots: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
                w.run(parts, &|i| {
                    slots[i].fetch_add(i + 1, Ordering::Relaxed);
                });
                for (i, s) in slots.iter().enumerate() {
                    assert_eq!(
                        s.load(Ordering::Relaxed),
                        i + 1,
                        "{threads} threads, {parts} parts"
                    );
                }
            }
        }
    }

    #[test]
    fn the_workers_share_the_parts() {
        let w = Workers::new(2);
        let seen = Mutex::new(std::collections::HashSet::new());
        // Parts that wait a little, so that the worker gets some while the caller works.
        w.run(16, &|_| {
            std::thread::sleep(std::time::Duration::from_millis(2));
            seen.lock().unwrap().insert(std::thread::current().id());
        });
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_panicking_part_is_raised_after_the_others_end_and_the_workers_go_on() {
        let w = Workers::new(3);
        let done = AtomicUsize::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            w.run(8, &|i| {
                if i == 3 {
                    panic!("part 3");
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
                done.fetch_add(1, Ordering::Relaxed);
            })
        }));
        assert!(r.is_err());
        // Every part taken before the panic ended before `run` did.
        let after = done.load(Ordering::Relaxed);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(done.load(Ordering::Relaxed), after);
        // The same workers take the next job.
        let n = AtomicUsize::new(0);
        w.run(10, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 10);
    }
}
