//! One job: from a claimed video to a published stream and a `done` item, or to a recorded
//! failure, a release, or, if the lease was lost, to nothing at all.
//!
//! [`run`] holds the lease (heartbeat, drain watch) around [`pipeline`], then records the one
//! outcome. The pipeline is four named phases, each in `phases.rs`: fetch the source, encode
//! and upload, verify, publish.

use super::captions;
use super::ctx::{Job, JobCtx, Moved};
use super::heartbeat::{Heartbeat, HeartbeatEnd};
use super::leftovers;
use super::phases;
use super::redo;
use super::stills;
use crate::domain::video::Redo;
use crate::domain::{FailureKind, Progress, VideoState};
use crate::error::{chain, JobError, StoreError};
use crate::events::{self, Facts, Kind};
use crate::store::{Completion, Failure, Lease, VideoStore};
use crate::telemetry::emf::{Metrics, Unit};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEnd {
    /// Published and marked done.
    Done,
    /// Recorded as a failed attempt; the video went to this state.
    Failed(VideoState),
    /// Given back at once (shutdown).
    Released,
    /// The lease was lost or lapsed: nothing was marked.
    LeaseLost,
    /// The machine is in trouble (disk, ffmpeg missing, output bucket unusable): the video was
    /// given back and the worker counts this against itself.
    Local(String),
}

/// Why the worker stopped a job that was still running: recorded once, by the drain watch,
/// before it cancels the job. A job cancelled without one lost its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The first shutdown signal, and the job would not end within the drain window.
    Drain,
    /// The second signal, or the end of the drain window.
    Abort,
}

/// The longest a job waits to learn what the published master points into before it starts.
const PREVIOUS_READ: Duration = Duration::from_secs(2);

/// Runs one job to its end. `drain` is the first shutdown signal, `abort` the second.
#[tracing::instrument(skip_all, fields(video = %lease.id(), token = lease.token, holder = %lease.holder))]
pub async fn run(
    ctx: &JobCtx,
    lease: Lease,
    drain: &CancellationToken,
    abort: &CancellationToken,
) -> JobEnd {
    let cancel = CancellationToken::new();
    let stop = Arc::new(OnceLock::new());
    let (ptx, prx) = watch::channel(Progress {
        phase: "download".into(),
        ..Default::default()
    });
    let hb = Heartbeat::start(
        ctx.store.clone(),
        lease.clone(),
        ctx.timings,
        prx.clone(),
        cancel.clone(),
    );
    let watcher = tokio::spawn(drain_watch(
        drain.clone(),
        abort.clone(),
        cancel.clone(),
        stop.clone(),
        prx,
        ctx.cfg.drain,
    ));
    let job = Job {
        ctx,
        lease: &lease,
        cancel: &cancel,
        progress: &ptx,
        hb: &hb,
        started: Instant::now(),
        publish_unsure: Default::default(),
    };
    // What viewers may be playing now, read before this job can publish anything (read beside
    // it, a fast captions-only redo could publish first and its own master be read as the
    // old one). A read that hangs costs at most PREVIOUS_READ, and then nothing is removed.
    let previous = tokio::time::timeout(
        PREVIOUS_READ,
        leftovers::published_folders(ctx, &lease.video),
    )
    .await
    .unwrap_or(Ok(None));
    let (result, previous) = match previous {
        Ok(previous) => (pipeline(&job).await, previous),
        Err(unusable) => (Err(unusable), None),
    };
    let started = job.started;
    let publish_unsure = job
        .publish_unsure
        .load(std::sync::atomic::Ordering::Relaxed);
    watcher.abort();
    let deadline = hb.deadline();
    let hb_end = hb.stop().await;
    if hb_end.lease_gone() {
        warn!(?hb_end, "lease gone: publishing nothing");
        if hb_end == HeartbeatEnd::Expired {
            // We stopped ourselves without knowing whether anyone took over. A release is
            // fenced on our token, so it can only succeed if nobody did, and then it hands
            // the video on now instead of after lease + skew.
            let _ = ctx
                .store
                .release_stalled(&lease, "the lease could not be renewed in time")
                .await;
        }
        return JobEnd::LeaseLost;
    }
    let (result, moved) = match result {
        Ok((done, moved)) => (Ok(done), Some(moved)),
        Err(e) => (Err(e), None),
    };
    let content = result.as_ref().ok().and_then(|d| d.duration_s);
    let facts = facts_of(&lease, &result);
    let end = record(
        ctx.store.as_ref(),
        &lease,
        result,
        stop.get().copied(),
        deadline,
    )
    .await;
    emit(
        &ctx.metrics,
        &lease,
        &end,
        started.elapsed(),
        content,
        moved,
    );
    // After the state change is durably written, never before.
    if let Some(p) = &ctx.events {
        let kind = match &end {
            JobEnd::Done => Some((Kind::Done, VideoState::Done)),
            JobEnd::Failed(VideoState::Failed) => Some((Kind::Failed, VideoState::Failed)),
            JobEnd::Failed(VideoState::Pending) => Some((Kind::Retrying, VideoState::Pending)),
            _ => None,
        };
        if let Some((kind, state)) = kind {
            let facts = Facts {
                state: state.as_str().to_string(),
                ..facts
            };
            p.emit(vec![events::event(kind, &lease.video, facts)]).await;
        }
    }
    match (&end, previous) {
        (JobEnd::Done, Some(previous)) => {
            leftovers::bounded(leftovers::after_done(ctx, &lease, previous, abort)).await;
        }
        // A master PUT that may still land keeps what it names: removing it could leave a
        // published master pointing at nothing.
        (JobEnd::Failed(_), Some(_)) if !publish_unsure => {
            leftovers::bounded(leftovers::after_failure(ctx, &lease)).await;
        }
        _ => {}
    }
    end
}

/// What an event will say of a job's result (the state is added once it is written).
fn facts_of(lease: &Lease, result: &Result<Completion, JobError>) -> Facts {
    let mut f = Facts {
        seq: lease.token,
        ..Default::default()
    };
    match result {
        Ok(done) => {
            f.output = Some(done.output.clone());
            f.warnings = done.warnings.clone();
        }
        Err(JobError::Video { kind, message, .. }) => {
            f.error = Some(message.clone());
            f.error_kind = Some(kind.as_str().to_string());
        }
        Err(JobError::Transient { message, .. }) => {
            f.error = Some(message.clone());
            f.error_kind = Some(FailureKind::Transient.as_str().to_string());
        }
        Err(_) => {}
    }
    f
}

/// One metrics record per job that ended in `done` or a recorded failure (a release or a lost
/// lease is not an outcome: another attempt will report).
fn emit(
    metrics: &Metrics,
    lease: &Lease,
    end: &JobEnd,
    took: Duration,
    content: Option<f64>,
    moved: Option<Moved>,
) {
    let secs = took.as_secs_f64();
    let video = serde_json::json!(lease.id());
    match end {
        JobEnd::Done => {
            let moved = moved.unwrap_or_default();
            let content = content.unwrap_or(f64::NAN);
            metrics.emit(
                &[
                    ("VideosDone", 1.0, Unit::Count),
                    ("JobSeconds", secs, Unit::Seconds),
                    ("ContentSeconds", content, Unit::Seconds),
                    ("Speed", content / secs, Unit::None),
                    ("BytesIn", moved.bytes_in as f64, Unit::Bytes),
                    ("BytesOut", moved.bytes_out as f64, Unit::Bytes),
                ],
                &[("video", video)],
            );
        }
        JobEnd::Failed(state) if *state != VideoState::InProgress => metrics.emit(
            &[
                ("AttemptsFailed", 1.0, Unit::Count),
                // Attempts are retried; a video fails once, when it has none left.
                (
                    "VideosFailed",
                    f64::from(u8::from(*state == VideoState::Failed)),
                    Unit::Count,
                ),
                ("JobSeconds", secs, Unit::Seconds),
            ],
            &[
                ("video", video),
                ("state", serde_json::json!(state.as_str())),
            ],
        ),
        _ => {}
    }
}

/// The phases, in order.
async fn pipeline(job: &Job<'_>) -> Result<(Completion, Moved), JobError> {
    let dir = phases::job_dir(&job.ctx.cfg)?;
    let started = job.started;
    if job.lease.video.redo == Some(Redo::Captions) {
        if let Some(done) = redo::captions_only(job, dir.path()).await? {
            return Ok(done);
        }
        info!("the published master is gone: a full job instead of a captions-only redo");
    }
    let mut source = phases::fetch_source(job, dir.path()).await?;
    info!(
        ms = started.elapsed().as_millis() as u64,
        "source downloaded"
    );
    phases::choose_rates(job, &mut source, dir.path()).await?;
    // Captions are read while ffmpeg encodes: the 608 extraction decodes the video itself.
    let (encoded, texts) = tokio::join!(
        phases::encode_and_upload(job, &source, dir.path()),
        captions::read(job, &source, dir.path()),
    );
    let (encoded, texts) = (encoded?, texts?);
    info!(ms = started.elapsed().as_millis() as u64, "encoded");
    let damage = phases::verify(&source, &encoded, job.ctx.cfg.max_damaged_share)
        .map_err(|e| e.with_argv(&encoded.argv))?;
    let (subtitles, mut warnings) = captions::publish_read(job, &source, &encoded, texts).await?;
    warnings.splice(0..0, damage);
    let subtitles = (subtitles, warnings);
    let stills = stills::publish(job, &source, &encoded, dir.path()).await?;
    let done = phases::publish(job, &source, &encoded, subtitles, stills).await?;
    info!(ms = started.elapsed().as_millis() as u64, "published");
    let moved = Moved {
        bytes_in: std::fs::metadata(&source.path)
            .map(|m| m.len())
            .unwrap_or(0),
        bytes_out: encoded
            .renditions
            .iter()
            .flat_map(|r| r.segments.iter().map(|(b, _)| b))
            .sum(),
    };
    Ok((done, moved))
}

/// Retries a final write on throttling and transient errors, with jittered backoff, until the
/// lease's local deadline: a throttled `complete` must not throw away a published stream. Past
/// the deadline the write is still fenced (conditioned on our token), so the last try is as
/// safe as the first.
async fn until_deadline<T, F, Fut>(deadline: Instant, mut write: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut pause = Duration::from_millis(100);
    loop {
        match write().await {
            Err(e) if e.is_retryable() && Instant::now() + pause < deadline => {
                warn!(error = %chain(&e), "final write failed, retrying");
                tokio::time::sleep(pause.mul_f64(rand::random_range(0.5..=1.0))).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            r => return r,
        }
    }
}

/// Writes the one outcome of a job to the table.
async fn record(
    store: &dyn VideoStore,
    lease: &Lease,
    result: Result<Completion, JobError>,
    stop: Option<StopReason>,
    deadline: Instant,
) -> JobEnd {
    let failure = |kind, message, ffmpeg_args| Failure {
        kind,
        message,
        ffmpeg_args,
    };
    let lost = |e: StoreError, what: &str| match e {
        StoreError::LeaseLost { .. } => JobEnd::LeaseLost,
        e => {
            error!(error = %chain(&e), "could not {what}; the lease will lapse");
            JobEnd::Failed(VideoState::InProgress)
        }
    };
    match result {
        Ok(done) => match until_deadline(deadline, || store.complete(lease, &done)).await {
            Ok(()) => JobEnd::Done,
            Err(e) => lost(e, "mark done"),
        },
        Err(JobError::Cancelled) => match stop {
            None => JobEnd::LeaseLost,
            Some(reason) => {
                let why = format!("worker shutting down ({reason:?})");
                match until_deadline(deadline, || store.release(lease, &why)).await {
                    Ok(()) => JobEnd::Released,
                    Err(e) => match lost(e, "release") {
                        JobEnd::LeaseLost => JobEnd::LeaseLost,
                        _ => JobEnd::Released,
                    },
                }
            }
        },
        Err(JobError::Local { message, .. }) => {
            error!(error = %message, "local trouble: giving the video back");
            if let Err(e) = until_deadline(deadline, || store.release(lease, &message)).await {
                error!(error = %chain(&e), "release failed");
            }
            JobEnd::Local(message)
        }
        Err(e) => {
            let (kind, message, argv) = match e {
                JobError::Video {
                    kind,
                    message,
                    argv,
                } => (kind, message, argv),
                JobError::Transient { message, argv } => (FailureKind::Transient, message, argv),
                JobError::Cancelled | JobError::Local { .. } => unreachable!("matched above"),
            };
            warn!(error = %message, kind = kind.as_str(), "attempt failed");
            let f = failure(kind, message, argv);
            match until_deadline(deadline, || store.fail(lease, &f)).await {
                Ok(state) => JobEnd::Failed(state),
                Err(e) => lost(e, "record the failure"),
            }
        }
    }
}

/// On the first shutdown signal: lets the job run on only if its estimated end falls inside
/// the drain window, otherwise stops it so it is released at once; at the window's end, or on
/// a second signal, stops it regardless. The reason is recorded before the job is cancelled.
async fn drain_watch(
    drain: CancellationToken,
    abort: CancellationToken,
    job: CancellationToken,
    stop: Arc<OnceLock<StopReason>>,
    progress: watch::Receiver<Progress>,
    window: Duration,
) {
    let started = Instant::now();
    tokio::select! {
        _ = drain.cancelled() => {}
        _ = job.cancelled() => return,
    }
    let end = Instant::now() + window;
    loop {
        let p = progress.borrow().clone();
        let remaining = match (p.phase.as_str(), p.percent) {
            ("upload", _) => Some(Duration::from_secs(5)),
            ("encode", Some(pct)) if pct > 1.0 => {
                Some(started.elapsed().mul_f64((100.0 - pct) / pct) + Duration::from_secs(5))
            }
            _ => None,
        };
        let fits = remaining.is_some_and(|r| Instant::now() + r <= end);
        let reason = if abort.is_cancelled() || Instant::now() >= end {
            Some(StopReason::Abort)
        } else if !fits {
            Some(StopReason::Drain)
        } else {
            None
        };
        if let Some(reason) = reason {
            info!(phase = %p.phase, percent = ?p.percent, ?reason, "shutting down: stopping this job to release it");
            let _ = stop.set(reason);
            job.cancel();
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = abort.cancelled() => {}
            _ = job.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn throttled() -> StoreError {
        StoreError::Throttled {
            op: "UpdateItem",
            table: "t".into(),
            source: "slow down".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_final_write_is_retried_until_it_lands() {
        let tries = AtomicU32::new(0);
        let r = until_deadline(Instant::now() + Duration::from_secs(30), || async {
            if tries.fetch_add(1, Ordering::Relaxed) < 4 {
                Err(throttled())
            } else {
                Ok(())
            }
        })
        .await;
        assert!(r.is_ok());
        assert_eq!(tries.load(Ordering::Relaxed), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn it_gives_up_at_the_deadline_and_never_retries_a_lost_lease() {
        let started = Instant::now();
        let r: Result<(), _> = until_deadline(started + Duration::from_secs(3), || async {
            Err(throttled())
        })
        .await;
        assert!(matches!(r, Err(StoreError::Throttled { .. })));
        assert!(started.elapsed() <= Duration::from_secs(3));
        let tries = AtomicU32::new(0);
        let r: Result<(), _> = until_deadline(started + Duration::from_secs(30), || async {
            tries.fetch_add(1, Ordering::Relaxed);
            Err(StoreError::LeaseLost {
                video: "v".into(),
                token: 1,
                state: None,
                holder: None,
                now_token: None,
            })
        })
        .await;
        assert!(matches!(r, Err(StoreError::LeaseLost { .. })));
        assert_eq!(tries.load(Ordering::Relaxed), 1);
    }
}
