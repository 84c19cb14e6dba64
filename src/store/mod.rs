//! The table of videos, behind a narrow, domain-shaped trait: claim, heartbeat, complete,
//! fail, release. No SDK type appears in it, so the worker can be tested against any store.

pub mod dynamo;
pub mod schema;

use crate::clock::EpochMs;
use crate::domain::{FailureKind, Progress, VideoItem, VideoState};
use crate::error::StoreError;
use async_trait::async_trait;
pub use dynamo::registry::WorkerRecord;
use tokio::time::Instant;

/// A claim we won: the right to work on one video until `deadline`.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The video as our claim wrote it.
    pub video: VideoItem,
    /// The slot holding it.
    pub holder: String,
    /// Our fencing token.
    pub token: u64,
    /// Wall-clock expiry written with the claim.
    pub expires: EpochMs,
    /// Monotonic instant after which we must stop unless a heartbeat was confirmed: read
    /// before the claim was sent, plus the lease, minus the self-fencing margin.
    pub deadline: Instant,
    /// The wall clock and the monotonic clock read together when the claim was sent.
    pub anchor: (EpochMs, Instant),
}

impl Lease {
    /// The video's key.
    pub fn id(&self) -> &str {
        &self.video.pk
    }

    /// The holder's wall time for its heartbeats: the wall time of the claim plus the
    /// monotonic time since. A wall clock stepped back or forward during the job (an NTP step)
    /// then neither shortens nor stretches the leases it writes; only the claim's own reading
    /// must be within the skew budget. (A machine suspended and resumed is another matter: the
    /// monotonic clock does not count the sleep, so the local deadline does not see it; the
    /// table's writes and the published keys stay fenced by the token.)
    pub fn wall_now(&self) -> EpochMs {
        let since = Instant::now().saturating_duration_since(self.anchor.1);
        self.anchor.0 + i64::try_from(since.as_millis()).unwrap_or(i64::MAX / 2)
    }
}

/// A confirmed heartbeat.
#[derive(Debug, Clone, Copy)]
pub struct Renewal {
    /// The new wall-clock expiry.
    pub expires: EpochMs,
    /// The new local deadline.
    pub deadline: Instant,
}

/// What a holder records when it gives up on an attempt.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Whether it is worth another attempt.
    pub kind: FailureKind,
    /// A readable message: for ffmpeg, its exit status and the tail of its stderr.
    pub message: String,
    /// The argv of the ffmpeg run, if one ran.
    pub ffmpeg_args: Option<Vec<String>>,
}

/// What a holder records when the stream is published.
#[derive(Debug, Clone)]
pub struct Completion {
    /// `s3://…/master.m3u8`.
    pub output: String,
    /// The argv of the ffmpeg run.
    pub ffmpeg_args: Vec<String>,
    /// Content duration in seconds.
    pub duration_s: Option<f64>,
    /// What was left out (an unreadable caption file, a bitmap subtitle track): the video is
    /// done, and these say what it lacks.
    pub warnings: Vec<String>,
    /// How the ladder was encoded for this title, in one line (rate control per rung, rungs
    /// left out and why); `None`: the ladder as configured, at fixed bitrates.
    pub ladder: Option<String>,
}

/// What a claim found. An error (no shard could be read, or a claim write failed without a
/// race lost) is the `Err` beside it. Only [`Claim::Empty`] means "nothing to do": a worker
/// backs off on it and on nothing else.
#[derive(Debug)]
pub enum Claim {
    /// A video is ours.
    Won(Box<Lease>),
    /// Claimable videos were there (or could not be read: throttled keys), and every race for
    /// them was lost: try again at once.
    Contended,
    /// Every shard was read and none held a claimable video.
    Empty,
}

/// Rounds of [`VideoStore::claim`] while claims come back [`Claim::Contended`].
const CONTENDED_ROUNDS: u32 = 3;

/// The claim engine's storage.
#[async_trait]
pub trait VideoStore: Send + Sync + std::fmt::Debug {
    /// One claim for `holder`: [`Claim::Won`], [`Claim::Contended`] or [`Claim::Empty`]. Never
    /// scans the table.
    async fn claim_next(&self, holder: &str) -> Result<Claim, StoreError>;

    /// Claims one claimable video for `holder`, or returns `None` if none was found, trying
    /// again a few times while claims are contended (for callers that only want a video).
    async fn claim(&self, holder: &str) -> Result<Option<Lease>, StoreError> {
        for _ in 0..CONTENDED_ROUNDS {
            match self.claim_next(holder).await? {
                Claim::Won(lease) => return Ok(Some(*lease)),
                Claim::Empty => return Ok(None),
                Claim::Contended => {
                    let pause = rand::random_range(5..=50);
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
            }
        }
        Ok(None)
    }

    /// Extends the lease while we still hold its token. Idempotent: safe under SDK retries.
    async fn heartbeat(
        &self,
        lease: &Lease,
        progress: Option<&Progress>,
    ) -> Result<Renewal, StoreError>;

    /// Marks the video `done`. Rejected with `LeaseLost` unless we still hold the token.
    async fn complete(&self, lease: &Lease, done: &Completion) -> Result<(), StoreError>;

    /// Records a failed attempt: back to `pending` with backoff, or `failed`. Returns the
    /// state it went to.
    async fn fail(&self, lease: &Lease, failure: &Failure) -> Result<VideoState, StoreError>;

    /// Gives the video back at once (shutdown, local trouble), returning the attempt.
    async fn release(&self, lease: &Lease, reason: &str) -> Result<(), StoreError>;

    /// Gives the video back at once after the holder fenced itself (its lease could not be
    /// renewed in time: the worker stalled). The attempt counts, as a lapsed one: a video
    /// that starves every worker it runs on (one that swaps the machine to a halt) is then
    /// failed after the attempts allowed, instead of going round for ever.
    async fn release_stalled(&self, lease: &Lease, reason: &str) -> Result<(), StoreError>;

    /// Whether any video is still pending or in progress anywhere (claimable now or later).
    async fn has_open_work(&self) -> Result<bool, StoreError>;

    /// Whether an operator paused the fleet (`fleet-admin pause`).
    async fn is_paused(&self) -> Result<bool, StoreError>;

    /// Records this worker process in the registry operators read (`report`'s workers).
    async fn register(&self, rec: &WorkerRecord) -> Result<(), StoreError>;

    /// Records an event that could not be sent (`id` its idempotency key, `body` its JSON),
    /// for any worker to send later. Stores that keep no events (test stubs) drop it.
    async fn owe_event(&self, _id: &str, _body: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Up to `limit` owed events, oldest first, as (id, body).
    async fn owed_events(&self, _limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        Ok(Vec::new())
    }

    /// Forgets an owed event once it was sent.
    async fn settle_event(&self, _id: &str) -> Result<(), StoreError> {
        Ok(())
    }
}
