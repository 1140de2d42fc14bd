//! Software signing off the async workers.
//!
//! An ES256 signature costs ~150 µs and RS256 ~4 ms of CPU. Done inline on a tokio worker, that work delays the
//! I/O of every other connection on the worker and tokio's per-worker queues hand the delay out unevenly (the
//! worker polls for new I/O only between batches of tasks), which shows up as tail latency under load. Here the
//! gateway's workers only parse, verify SigV4 and write; signatures are made by one thread per core taking jobs
//! from a single FIFO queue, so requests are signed in arrival order and wait about the same time.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

type Job = Box<dyn FnOnce() + Send>;

/// A handle to the signing threads; clones share them. The threads exit when the last handle is dropped.
#[derive(Clone)]
pub struct SignPool {
    tx: mpsc::Sender<Job>,
}

impl SignPool {
    /// `threads` threads (at least one). If the OS refuses to start any, jobs run on the caller instead.
    pub fn new(threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let started = std::thread::Builder::new()
                .name(format!("iamjwt-sign-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job: one FIFO for all threads.
                        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok(job) = job else { return };
                        // A panicking job drops its reply (the caller sees an error); the thread carries on.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = started {
                tracing::warn!(error = %e, "could not start a signing thread");
            }
        }
        Self { tx }
    }

    /// One thread per available core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Runs `f` on a signing thread and waits for it without blocking the async worker. `None` if `f` panicked.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (reply, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(f());
        });
        if let Err(mpsc::SendError(job)) = self.tx.send(job) {
            // No signing thread is alive: sign here rather than fail.
            job();
        }
        result.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::SignPool;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panicking_one() {
        let pool = SignPool::new(2);
        assert_eq!(pool.run(|| 21 * 2).await, Some(42));
        #[allow(clippy::panic)]
        let failed = pool.run(|| -> u32 { panic!("boom") }).await;
        assert_eq!(failed, None);
        let all = futures_join(&pool).await;
        assert_eq!(all, (0..16).map(|i| i * i).collect::<Vec<u64>>());
    }

    async fn futures_join(pool: &SignPool) -> Vec<u64> {
        let mut handles = Vec::new();
        for i in 0..16u64 {
            let pool = pool.clone();
            handles.push(tokio::spawn(async move { pool.run(move || i * i).await }));
        }
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.ok().flatten().unwrap_or(u64::MAX));
        }
        out
    }

    #[tokio::test]
    async fn a_pool_without_threads_still_signs_on_the_caller() {
        // Dropping the receiver side is what a pool with no live threads looks like.
        let (tx, rx) = std::sync::mpsc::channel();
        drop(rx);
        let pool = SignPool { tx };
        assert_eq!(pool.run(|| "inline").await, Some("inline"));
    }
}
