//! The heartbeat task of one job. It extends the lease every period, carrying progress; on a
//! transient error it retries with jittered backoff, but never past the local deadline. Lease
//! lost or deadline passed → it cancels the job, which then publishes nothing.

use crate::domain::{LeaseTimings, Progress};
use crate::error::StoreError;
use crate::store::{Lease, VideoStore};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{sleep, timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::{debug, error, warn};

/// Why the heartbeat task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatEnd {
    /// Stopped by the job (it is about to complete, fail or release).
    Stopped,
    /// Someone else holds the video now.
    Lost(String),
    /// No heartbeat was confirmed before the local deadline: we stopped ourselves.
    Expired,
    /// The task panicked: the lease can no longer be vouched for, so the job was stopped.
    Panicked(String),
}

impl HeartbeatEnd {
    /// Whether the lease may have been lost: the job must publish and mark nothing.
    pub fn lease_gone(&self) -> bool {
        !matches!(self, Self::Stopped)
    }
}

/// A running heartbeat.
#[derive(Debug)]
pub struct Heartbeat {
    stop: CancellationToken,
    /// Aborted when dropped: a job that ends without `stop` (a panic, an early return) never
    /// leaves a task extending a lease nobody works on.
    task: AbortOnDropHandle<HeartbeatEnd>,
    deadline: watch::Receiver<Instant>,
}

impl Heartbeat {
    /// Starts heartbeating `lease`, reading progress from `progress`, cancelling `job` when
    /// the lease is lost or its local deadline passes.
    pub fn start(
        store: Arc<dyn VideoStore>,
        lease: Lease,
        timings: LeaseTimings,
        progress: watch::Receiver<Progress>,
        job: CancellationToken,
    ) -> Self {
        let stop = CancellationToken::new();
        let (deadline_tx, deadline) = watch::channel(lease.deadline);
        let on_panic = job.clone();
        let beating = beat(
            store,
            lease,
            timings,
            progress,
            job,
            stop.clone(),
            deadline_tx,
        );
        // A panic inside the task is a failure of the lease, not a quiet stop: the job is
        // cancelled and publishes nothing.
        let task = AbortOnDropHandle::new(tokio::spawn(async move {
            match AssertUnwindSafe(beating).catch_unwind().await {
                Ok(end) => end,
                Err(panic) => {
                    on_panic.cancel();
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    error!(panic = %what, "heartbeat task panicked: stopping the job");
                    HeartbeatEnd::Panicked(what)
                }
            }
        }));
        Self {
            stop,
            task,
            deadline,
        }
    }

    /// The current local deadline: work must be published before it.
    pub fn deadline(&self) -> Instant {
        *self.deadline.borrow()
    }

    /// Stops the task and waits for it, so that no heartbeat is in flight when the job's final
    /// write (complete, fail, release) is sent: a released lease is never extended again.
    pub async fn stop(self) -> HeartbeatEnd {
        self.stop.cancel();
        match self.task.await {
            Ok(end) => end,
            Err(e) => HeartbeatEnd::Panicked(e.to_string()),
        }
    }
}

async fn beat(
    store: Arc<dyn VideoStore>,
    lease: Lease,
    t: LeaseTimings,
    progress: watch::Receiver<Progress>,
    job: CancellationToken,
    stop: CancellationToken,
    deadline_tx: watch::Sender<Instant>,
) -> HeartbeatEnd {
    let mut deadline = lease.deadline;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return HeartbeatEnd::Stopped,
            _ = sleep(t.heartbeat) => {}
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            if Instant::now() >= deadline {
                warn!(video = %lease.id(), token = lease.token, "no heartbeat confirmed before the local deadline: stopping the job");
                job.cancel();
                return HeartbeatEnd::Expired;
            }
            let p = progress.borrow().clone();
            let res = tokio::select! {
                _ = stop.cancelled() => return HeartbeatEnd::Stopped,
                r = timeout_at(deadline, store.heartbeat(&lease, Some(&p))) => r,
            };
            match res {
                Ok(Ok(r)) => {
                    deadline = r.deadline;
                    deadline_tx.send_replace(deadline);
                    debug!(video = %lease.id(), expires = r.expires, "heartbeat");
                    break;
                }
                Ok(Err(e @ StoreError::LeaseLost { .. })) => {
                    warn!(video = %lease.id(), token = lease.token, error = %e, "lease lost: stopping the job");
                    job.cancel();
                    return HeartbeatEnd::Lost(e.to_string());
                }
                Ok(Err(e)) => {
                    // Throttling or a network blip: try again, well before the deadline.
                    warn!(video = %lease.id(), error = %e, "heartbeat failed, retrying");
                    let jitter = rand::random_range(0.5..=1.0);
                    let wait = backoff
                        .mul_f64(jitter)
                        .min(deadline.saturating_duration_since(Instant::now()));
                    tokio::select! {
                        _ = stop.cancelled() => return HeartbeatEnd::Stopped,
                        _ = sleep(wait) => {}
                    }
                    backoff = (backoff * 2).min(t.heartbeat);
                }
                Err(_) => continue, // timed out at the deadline: the check above ends it
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::video::tests::pending;
    use crate::domain::VideoState;
    use crate::store::{Completion, Failure, Renewal, WorkerRecord};
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A store whose only working verb is `heartbeat`: it counts calls, and panics on the
    /// `panic_at`-th when set. The task logic needs nothing more.
    #[derive(Debug, Default)]
    struct Beats {
        calls: AtomicU32,
        panic_at: Option<u32>,
    }

    #[async_trait]
    impl VideoStore for Beats {
        async fn claim_next(&self, _: &str) -> Result<crate::store::Claim, StoreError> {
            unimplemented!()
        }
        async fn heartbeat(&self, _: &Lease, _: Option<&Progress>) -> Result<Renewal, StoreError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if self.panic_at == Some(n) {
                panic!("store bug on beat {n}");
            }
            Ok(Renewal {
                expires: 0,
                deadline: Instant::now() + Duration::from_secs(60),
            })
        }
        async fn complete(&self, _: &Lease, _: &Completion) -> Result<(), StoreError> {
            unimplemented!()
        }
        async fn fail(&self, _: &Lease, _: &Failure) -> Result<VideoState, StoreError> {
            unimplemented!()
        }
        async fn release(&self, _: &Lease, _: &str) -> Result<(), StoreError> {
            unimplemented!()
        }
        async fn release_stalled(&self, _: &Lease, _: &str) -> Result<(), StoreError> {
            unimplemented!()
        }
        async fn has_open_work(&self) -> Result<bool, StoreError> {
            unimplemented!()
        }
        async fn is_paused(&self) -> Result<bool, StoreError> {
            unimplemented!()
        }
        async fn register(&self, _: &WorkerRecord) -> Result<(), StoreError> {
            unimplemented!()
        }
    }

    fn start(store: Arc<Beats>, job: CancellationToken) -> Heartbeat {
        let timings = LeaseTimings {
            heartbeat: Duration::from_secs(1),
            ..LeaseTimings::default()
        };
        let lease = Lease {
            video: pending("v"),
            holder: "w".into(),
            token: 1,
            expires: 0,
            deadline: Instant::now() + Duration::from_secs(60),
            anchor: (0, Instant::now()),
        };
        let (_tx, progress) = watch::channel(Progress::default());
        Heartbeat::start(store, lease, timings, progress, job)
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_heartbeat_never_beats_again() {
        let store = Arc::new(Beats::default());
        let hb = start(store.clone(), CancellationToken::new());
        sleep(Duration::from_millis(2_500)).await;
        assert_eq!(store.calls.load(Ordering::SeqCst), 2);
        drop(hb);
        sleep(Duration::from_secs(10)).await;
        assert_eq!(
            store.calls.load(Ordering::SeqCst),
            2,
            "a dropped heartbeat kept extending the lease"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_heartbeat_stops_the_job_and_says_so() {
        let store = Arc::new(Beats {
            panic_at: Some(2),
            ..Beats::default()
        });
        let job = CancellationToken::new();
        let hb = start(store.clone(), job.clone());
        sleep(Duration::from_millis(2_500)).await;
        assert!(job.is_cancelled(), "the job goes on without a heartbeat");
        let end = hb.stop().await;
        assert!(
            matches!(&end, HeartbeatEnd::Panicked(m) if m.contains("store bug on beat 2")),
            "{end:?}"
        );
        assert!(end.lease_gone());
    }
}
