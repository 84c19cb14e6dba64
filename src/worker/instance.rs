//! The worker as a member of an autoscaling group, on an instance that may go away.
//!
//! - A spot interruption notice drains the worker exactly like SIGTERM: no video waits out its
//!   lease on a vanished machine.
//! - The group's decision to terminate the instance (an instance refresh, a capacity
//!   rebalance, the instance's own removal) stops claims and lets the jobs in hand finish,
//!   however long they take, with the termination held open by heartbeats: a two-hour lecture
//!   is not encoded twice because the fleet moved itself. A spot interruption during that
//!   still drains.
//! - A rebalance recommendation only stops claiming: the instance is at risk, not yet going,
//!   so the jobs in hand run on.
//! - An instance whose slots have been idle for the idle period removes itself from the group
//!   (lowering its desired capacity): the fleet gets back down even when its scaler fails.
//! - While any slot holds a lease the instance is protected from scale-in, so shrinking the
//!   group takes idle instances, not half-encoded videos.
//! - Once drained after a termination, the worker completes the group's termination hook
//!   itself, so the group does not wait out the hook's timeout.
//! - A worker that gives up (repeated local failures) asks the group to replace its instance.

use super::Shutdown;
use crate::aws::asg::Asg;
use crate::aws::imds::Imds;
use crate::telemetry::emf::{Metrics, Unit};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Why the instance is leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaving {
    /// A spot interruption notice.
    Interrupted,
    /// The group is terminating the instance.
    Terminating,
}

/// When EC2 will reclaim the instance, from the notice's `time` (RFC 3339).
fn reclaim_time(notice: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let v: serde_json::Value = serde_json::from_str(notice).ok()?;
    chrono::DateTime::parse_from_rfc3339(v.get("time")?.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Releases whatever still runs 20 s before `at`: a job that would outlive the instance must
/// hand its video back while the release can still be written, whatever the drain window.
fn abort_before(at: chrono::DateTime<chrono::Utc>, abort: CancellationToken) {
    let left = (at - chrono::Utc::now() - chrono::TimeDelta::seconds(20))
        .to_std()
        .unwrap_or_default();
    tokio::spawn(async move {
        tokio::time::sleep(left).await;
        if !abort.is_cancelled() {
            warn!("spot reclaim in 20 s: releasing what still runs");
            abort.cancel();
        }
    });
}

/// This instance in its group.
#[derive(Debug, Clone)]
pub struct Member {
    imds: Imds,
    asg: Asg,
    hook: Option<String>,
    instance: String,
    poll: Duration,
}

impl Member {
    /// Reads this instance's id; `hook` is the group's termination lifecycle hook.
    pub async fn join(
        imds: Imds,
        asg: Asg,
        hook: Option<String>,
        poll: Duration,
    ) -> Result<Self, aws_config::imds::client::error::ImdsError> {
        let instance = imds.instance_id().await?;
        Ok(Self {
            imds,
            asg,
            hook,
            instance,
            poll,
        })
    }

    /// This instance's id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Polls the notices until `stop`. A spot interruption drains `shutdown` (bounded by the
    /// reclaim time); the group's termination (a refresh, a capacity rebalance, an idle
    /// instance's own removal) finishes it: no new claims, the jobs in hand run to their end
    /// while the termination action is kept open with a heartbeat every `heartbeat`. A
    /// rebalance recommendation quiesces it. Returns why the instance is leaving, if it is.
    pub async fn watch(
        &self,
        shutdown: Shutdown,
        heartbeat: Duration,
        stop: CancellationToken,
    ) -> Option<Leaving> {
        let mut leaving = None;
        let mut failing = false;
        let mut beat: Option<tokio::time::Instant> = None;
        loop {
            match self.imds.notices().await {
                Ok(n) => {
                    failing = false;
                    if n.rebalance && !shutdown.quiesce.is_cancelled() {
                        warn!("spot rebalance recommendation: no new claims");
                        shutdown.quiesce.cancel();
                    }
                    if n.interruption.is_some() && !shutdown.drain.is_cancelled() {
                        warn!(notice = ?n.interruption, "spot interruption: draining");
                        shutdown.drain.cancel();
                        if let Some(at) = n.interruption.as_deref().and_then(reclaim_time) {
                            abort_before(at, shutdown.abort.clone());
                        }
                        leaving = leaving.or(Some(Leaving::Interrupted));
                    }
                    // The stronger reason: the one that owes a lifecycle completion.
                    if n.terminating() && leaving != Some(Leaving::Terminating) {
                        warn!("the group is terminating this instance: no new claims, finishing the jobs in hand");
                        shutdown.finish.cancel();
                        leaving = Some(Leaving::Terminating);
                        beat = Some(tokio::time::Instant::now());
                    }
                }
                Err(e) if !failing => {
                    failing = true;
                    warn!(error = %crate::error::chain(&e), "instance metadata unreadable; retrying");
                }
                Err(_) => {}
            }
            if let (Some(hook), Some(last)) = (&self.hook, beat) {
                if last.elapsed() >= heartbeat {
                    beat = Some(tokio::time::Instant::now());
                    match self.asg.record_heartbeat(hook, &self.instance).await {
                        Ok(()) => info!(%hook, "termination held while the jobs in hand finish"),
                        Err(e) => {
                            warn!(error = %crate::error::chain(&e), "lifecycle heartbeat not recorded")
                        }
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = stop.cancelled() => return leaving,
            }
        }
    }

    /// The instance's own way down, which needs no scaler: once no slot has held a lease for
    /// `idle` (nothing was claimable, or the fleet is paused), asks the group to terminate
    /// this instance and lower its desired capacity. The group then terminates it through
    /// the drain hook like any other. Refused at the group's minimum size: the clock starts
    /// again.
    pub async fn remove_when_idle(
        &self,
        mut busy: watch::Receiver<usize>,
        idle: Duration,
        stop: CancellationToken,
    ) {
        loop {
            // Wait for the slots to be empty, then for `idle` without a claim.
            while *busy.borrow_and_update() > 0 {
                tokio::select! {
                    r = busy.changed() => if r.is_err() { return },
                    _ = stop.cancelled() => return,
                }
            }
            tokio::select! {
                r = busy.changed() => {
                    if r.is_err() {
                        return;
                    }
                    continue;
                }
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(idle) => {}
            }
            match self.asg.remove(&self.instance).await {
                Ok(()) => {
                    info!(
                        idle_s = idle.as_secs_f64(),
                        "idle: this instance leaves the group"
                    );
                    return;
                }
                Err(e) => {
                    warn!(error = %crate::error::chain(&e), "idle, but the group kept this instance")
                }
            }
        }
    }

    /// Keeps the instance protected from scale-in while any slot is busy, until `stop`; also
    /// publishes the slot counts once a minute.
    pub async fn protect_while_busy(
        &self,
        mut busy: watch::Receiver<usize>,
        slots: usize,
        metrics: &Metrics,
        stop: CancellationToken,
    ) {
        // What the group is known to hold; `None` after a failed call (a lost response may
        // have applied it), so that the next change or tick sets it again for certain.
        let mut applied: Option<bool> = None;
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            let want = *busy.borrow_and_update() > 0;
            if applied != Some(want) {
                match self.asg.protect(&self.instance, want).await {
                    Ok(()) => {
                        info!(protected = want, "scale-in protection");
                        applied = Some(want);
                    }
                    Err(e) => {
                        applied = None;
                        warn!(error = %crate::error::chain(&e), "scale-in protection not set");
                    }
                }
            }
            tokio::select! {
                biased;
                r = busy.changed() => if r.is_err() { break },
                _ = stop.cancelled() => break,
                _ = tick.tick() => {
                    let n = *busy.borrow();
                    metrics.emit(
                        &[
                            ("BusySlots", n as f64, Unit::Count),
                            ("FreeSlots", slots.saturating_sub(n) as f64, Unit::Count),
                        ],
                        &[("instance", serde_json::json!(self.instance))],
                    );
                }
            }
        }
        // The worker is stopping with its slots empty: an instance that stays (the process
        // exits without a termination, say `--exit-when-idle`) must not stay protected.
        if applied != Some(false) {
            if let Err(e) = self.asg.protect(&self.instance, false).await {
                warn!(error = %crate::error::chain(&e), "scale-in protection not lifted at exit");
            }
        }
    }

    /// After the worker stopped: completes the termination hook if the group is terminating
    /// the instance (also when the drain began with a spot notice).
    pub async fn leave(&self, why: Option<Leaving>) {
        let Some(hook) = &self.hook else { return };
        let terminating = why == Some(Leaving::Terminating)
            || self.imds.notices().await.is_ok_and(|n| n.terminating());
        if !terminating {
            return;
        }
        match self.asg.complete_lifecycle(hook, &self.instance).await {
            Ok(()) => info!(%hook, "drained: termination may go on"),
            Err(e) => {
                warn!(error = %crate::error::chain(&e), "lifecycle action not completed; the hook times out instead")
            }
        }
    }

    /// Asks the group to replace this instance.
    pub async fn give_up(&self) {
        match self.asg.mark_unhealthy(&self.instance).await {
            Ok(()) => warn!("instance marked unhealthy: the group replaces it"),
            Err(e) => {
                warn!(error = %crate::error::chain(&e), "could not mark the instance unhealthy")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reclaim_time;

    #[test]
    fn the_reclaim_time_comes_from_the_notice() {
        let t = reclaim_time(r#"{"action":"terminate","time":"2026-11-27T15:00:00Z"}"#).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-27T15:00:00+00:00");
        assert_eq!(reclaim_time("not json"), None);
    }
}
