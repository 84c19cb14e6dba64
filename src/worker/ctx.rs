//! What a job carries through its phases: the worker's clients and settings ([`JobCtx`]),
//! one job in flight ([`Job`]) and what it moved ([`Moved`]). A module of its own so that the
//! job's driver and its phases both depend on it, not on each other.

use super::heartbeat::Heartbeat;
use super::upload::Published;
use super::WorkerConfig;
use crate::domain::damage::Assessment;
use crate::domain::{LeaseTimings, Progress};
use crate::error::JobError;
use crate::store::{Lease, VideoStore};
use crate::telemetry::emf::Metrics;
use crate::transcode::command::Plan;
use crate::transcode::probe::Probe;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a job needs from its worker.
#[derive(Debug, Clone)]
pub struct JobCtx {
    /// The claim engine.
    pub store: Arc<dyn VideoStore>,
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// Settings.
    pub cfg: Arc<WorkerConfig>,
    /// Lease timings (for the heartbeat).
    pub timings: LeaseTimings,
    /// Where per-video metrics go.
    pub metrics: Arc<Metrics>,
    /// Where completion events go, if anywhere.
    pub events: Option<Arc<crate::events::publisher::Publisher>>,
    /// Which output stores enforce conditional writes, learnt once per bucket.
    pub conditional: Arc<super::fenced::Conditional>,
}

/// What a finished job moved: the per-video metrics beyond its duration.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moved {
    /// Source bytes downloaded.
    pub bytes_in: u64,
    /// Segment bytes published.
    pub bytes_out: u64,
}

/// One job in flight: what every phase needs.
#[derive(Debug)]
pub struct Job<'a> {
    /// The worker's clients and settings.
    pub ctx: &'a JobCtx,
    /// The lease held.
    pub lease: &'a Lease,
    /// Fires when the lease is lost, its deadline passes, or shutdown stops the job.
    pub cancel: &'a CancellationToken,
    /// Progress for the heartbeat and the drain watch.
    pub progress: &'a watch::Sender<Progress>,
    /// The heartbeat, for the self-fencing deadline.
    pub hb: &'a Heartbeat,
    /// When the job started (after the claim), for the timing log lines.
    pub started: Instant,
    /// Set while a PUT of a key players read was sent and not answered for sure (it timed out,
    /// or failed in a way that may have been applied): S3 may still store it, later, so the
    /// attempt's renditions it names must not be deleted if the attempt fails.
    pub publish_unsure: std::sync::atomic::AtomicBool,
}

impl Job<'_> {
    /// Runs `fut` unless the job is cancelled first.
    pub(super) async fn unless_cancelled<T>(
        &self,
        fut: impl Future<Output = Result<T, JobError>>,
    ) -> Result<T, JobError> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(JobError::Cancelled),
            r = fut => r,
        }
    }

    pub(super) fn phase(&self, phase: &str, percent: Option<f64>) {
        self.progress.send_replace(Progress {
            phase: phase.into(),
            percent,
            ..Default::default()
        });
    }
}

/// The source on local disk, what it is, and what will be made of it.
#[derive(Debug)]
pub struct Source {
    /// Local copy.
    pub path: PathBuf,
    /// What ffprobe says.
    pub probe: Probe,
    /// The renditions and the ffmpeg plan.
    pub plan: Plan,
}

/// What ffmpeg made and the uploader published.
#[derive(Debug)]
pub struct Encoded {
    /// The ffmpeg argv, for the item.
    pub argv: Vec<String>,
    /// Every folder's published playlist, in [`Plan::folders`] order.
    pub renditions: Vec<Published>,
    /// Where the decoder could not read the source.
    pub damage: Assessment,
    /// How long the decoded source lasts, seconds (the last decoded frame of any stream).
    pub decoded_s: Option<f64>,
}
