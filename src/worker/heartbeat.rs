//! The heartbeat task of one job. It extends the lease every period, carrying progress; on a
//! transient error it retries with jittered backoff, but never past the local deadline. Lease
//! lost or deadline passed → it cancels the job, which then publishes nothing.

use crate::domain::{LeaseTimings, Progress};
use crate::error::StoreError;
use crate::store::{Lease, VideoStore};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Why the heartbeat task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatEnd {
    /// Stopped by the job (it is about to complete, fail or release).
    Stopped,
    /// Someone else holds the video now.
    Lost(String),
    /// No heartbeat was confirmed before the local deadline: we stopped ourselves.
    Expired,
}

/// A running heartbeat.
#[derive(Debug)]
pub struct Heartbeat {
    stop: CancellationToken,
    task: JoinHandle<HeartbeatEnd>,
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
        let task = tokio::spawn(beat(
            store,
            lease,
            timings,
            progress,
            job,
            stop.clone(),
            deadline_tx,
        ));
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
        self.task.await.unwrap_or(HeartbeatEnd::Stopped)
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
