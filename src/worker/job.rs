//! One job: from a claimed video to a published stream and a `done` item, or to a recorded
//! failure, a release, or, if the lease was lost, to nothing at all.

use super::heartbeat::{Heartbeat, HeartbeatEnd};
use super::upload::Uploader;
use super::WorkerConfig;
use crate::blob;
use crate::domain::{FailureKind, LeaseTimings, Progress, VideoState};
use crate::error::{BlobError, StoreError, TranscodeError};
use crate::store::{Completion, Failure, Lease, VideoStore};
use crate::transcode::{codecs, command, playlist, probe, run};
use std::future::Future;
use std::sync::Arc;
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

/// Why a pipeline stopped, classed by what should happen to the video.
#[derive(Debug)]
pub enum JobError {
    /// Cancelled: lease lost, deadline passed, or shutdown.
    Cancelled,
    /// The source is not a usable video.
    Invalid(String, Option<Vec<String>>),
    /// May pass: retried with backoff, within the attempt budget.
    Transient(String, Option<Vec<String>>),
    /// This machine's trouble.
    Local(String, Option<Vec<String>>),
}

impl JobError {
    /// An error reading the source.
    pub fn source(e: BlobError) -> Self {
        match e {
            BlobError::NotFound { .. } => Self::Invalid(format!("source missing: {e}"), None),
            BlobError::Transient { .. } => Self::Transient(chain(&e), None),
            BlobError::Fatal { .. } | BlobError::Local { .. } => Self::Local(chain(&e), None),
        }
    }

    /// An error writing the output.
    pub fn output(e: BlobError) -> Self {
        match e {
            BlobError::Transient { .. } => Self::Transient(chain(&e), None),
            _ => Self::Local(format!("cannot write the output: {}", chain(&e)), None),
        }
    }

    fn transcode(e: TranscodeError) -> Self {
        match e {
            TranscodeError::Cancelled => Self::Cancelled,
            TranscodeError::InvalidInput(m) => Self::Invalid(m, None),
            TranscodeError::Local { .. } => Self::Local(chain(&e), None),
            TranscodeError::Ffmpeg {
                ref stderr_tail,
                ref argv,
                ..
            } => {
                let argv = Some(argv.clone());
                let msg = e.to_string();
                if stderr_tail.contains("No space left on device") {
                    Self::Local(msg, argv)
                } else if [
                    "Invalid data found",
                    "moov atom not found",
                    "could not find codec",
                    "Invalid NAL",
                ]
                .iter()
                .any(|p| stderr_tail.contains(p))
                {
                    Self::Invalid(msg, argv)
                } else {
                    Self::Transient(msg, argv)
                }
            }
        }
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

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
}

/// Runs `fut` unless `job` is cancelled first.
async fn unless_cancelled<T>(
    job: &CancellationToken,
    fut: impl Future<Output = Result<T, JobError>>,
) -> Result<T, JobError> {
    tokio::select! {
        _ = job.cancelled() => Err(JobError::Cancelled),
        r = fut => r,
    }
}

/// Runs one job to its end. `drain` is the first shutdown signal, `abort` the second.
#[tracing::instrument(skip_all, fields(video = %lease.id(), token = lease.token, holder = %lease.holder))]
pub async fn run(
    ctx: &JobCtx,
    lease: Lease,
    drain: &CancellationToken,
    abort: &CancellationToken,
) -> JobEnd {
    let job = CancellationToken::new();
    let shutdown = CancellationToken::new();
    let (ptx, prx) = watch::channel(Progress {
        phase: "download".into(),
        ..Default::default()
    });
    let hb = Heartbeat::start(
        ctx.store.clone(),
        lease.clone(),
        ctx.timings,
        prx.clone(),
        job.clone(),
    );
    let watcher = tokio::spawn(drain_watch(
        drain.clone(),
        abort.clone(),
        job.clone(),
        shutdown.clone(),
        prx,
        ctx.cfg.drain,
    ));
    let result = pipeline(ctx, &lease, &job, &ptx, &hb).await;
    watcher.abort();
    let hb_end = hb.stop().await;
    if matches!(hb_end, HeartbeatEnd::Lost(_) | HeartbeatEnd::Expired) {
        warn!(?hb_end, "lease gone: publishing nothing");
        return JobEnd::LeaseLost;
    }
    let store = &ctx.store;
    match result {
        Ok(done) => match store.complete(&lease, &done).await {
            Ok(()) => JobEnd::Done,
            Err(StoreError::LeaseLost { .. }) => JobEnd::LeaseLost,
            Err(e) => {
                // The master is up; the item stays in_progress until the lease lapses and the
                // video is redone: wasteful, never wrong.
                error!(error = %chain(&e), "could not mark done");
                JobEnd::Failed(VideoState::InProgress)
            }
        },
        Err(JobError::Cancelled) if shutdown.is_cancelled() => {
            match store.release(&lease, "worker shutting down").await {
                Ok(()) => JobEnd::Released,
                Err(StoreError::LeaseLost { .. }) => JobEnd::LeaseLost,
                Err(e) => {
                    error!(error = %chain(&e), "release failed; the lease will lapse instead");
                    JobEnd::Released
                }
            }
        }
        Err(JobError::Cancelled) => JobEnd::LeaseLost,
        Err(JobError::Local(msg, _)) => {
            error!(error = %msg, "local trouble: giving the video back");
            if let Err(e) = store.release(&lease, &msg).await {
                error!(error = %chain(&e), "release failed");
            }
            JobEnd::Local(msg)
        }
        Err(JobError::Invalid(msg, argv)) => {
            record(store.as_ref(), &lease, FailureKind::InvalidInput, msg, argv).await
        }
        Err(JobError::Transient(msg, argv)) => {
            record(store.as_ref(), &lease, FailureKind::Transient, msg, argv).await
        }
    }
}

async fn record(
    store: &dyn VideoStore,
    lease: &Lease,
    kind: FailureKind,
    message: String,
    ffmpeg_args: Option<Vec<String>>,
) -> JobEnd {
    let f = Failure {
        kind,
        message,
        ffmpeg_args,
    };
    match store.fail(lease, &f).await {
        Ok(state) => JobEnd::Failed(state),
        Err(StoreError::LeaseLost { .. }) => JobEnd::LeaseLost,
        Err(e) => {
            error!(error = %chain(&e), "could not record the failure; the lease will lapse");
            JobEnd::Failed(VideoState::InProgress)
        }
    }
}

async fn pipeline(
    ctx: &JobCtx,
    lease: &Lease,
    job: &CancellationToken,
    ptx: &watch::Sender<Progress>,
    hb: &Heartbeat,
) -> Result<Completion, JobError> {
    let v = &lease.video;
    let cfg = &ctx.cfg;
    let dir = tempfile::Builder::new()
        .prefix(&format!("job-{}-", std::process::id()))
        .tempdir_in(&cfg.work_dir)
        .map_err(|e| {
            JobError::Local(
                format!(
                    "cannot create a job folder in {}: {e}",
                    cfg.work_dir.display()
                ),
                None,
            )
        })?;

    let started = Instant::now();
    let size = unless_cancelled(job, async {
        blob::size(&ctx.s3, &v.src_bucket, &v.src_key)
            .await
            .map_err(JobError::source)
    })
    .await?;
    if size == 0 {
        return Err(JobError::Invalid(
            "the source object is empty (0 bytes)".into(),
            None,
        ));
    }
    let free = fs4::available_space(dir.path()).unwrap_or(u64::MAX);
    // The source, the renditions (at most about its size) and ffmpeg's temporary files.
    let need = size
        .saturating_mul(3)
        .saturating_add(cfg.disk_reserve_bytes);
    if free < need {
        return Err(JobError::Local(
            format!(
                "not enough disk in {}: {free} bytes free, {need} needed for a {size}-byte source",
                cfg.work_dir.display()
            ),
            None,
        ));
    }
    let src = dir.path().join("source");
    unless_cancelled(job, async {
        blob::download(&ctx.s3, &v.src_bucket, &v.src_key, size, &src)
            .await
            .map_err(JobError::source)
    })
    .await?;
    info!(
        bytes = size,
        ms = started.elapsed().as_millis() as u64,
        "source downloaded"
    );

    ptx.send_replace(Progress {
        phase: "encode".into(),
        percent: Some(0.0),
        ..Default::default()
    });
    let probe = unless_cancelled(job, async {
        probe::probe(&src).await.map_err(JobError::transcode)
    })
    .await?;
    let plan = command::plan(&probe, &cfg.ladder, &cfg.preset);
    let out = dir.path().join("out");
    for name in plan.variant_names() {
        tokio::fs::create_dir_all(out.join(&name))
            .await
            .map_err(|e| JobError::Local(format!("creating output folder: {e}"), None))?;
    }
    let argv = command::argv(&plan, &src, &out);
    let remote = format!("{}/t{}", v.out_prefix, lease.token);
    let mut uploader = Uploader::new(
        ctx.s3.clone(),
        v.out_bucket.clone(),
        remote.clone(),
        out.clone(),
        plan.variant_names(),
    );

    // The time before ffmpeg starts (claim to here: download and probe) is fleet's overhead
    // on top of the encode; the worker benchmark reads it from this line.
    info!(ms = started.elapsed().as_millis() as u64, "ffmpeg starting");
    let encode = job.child_token();
    let encoded = CancellationToken::new();
    let (ff, up) = tokio::join!(
        async {
            let r = run::run(&argv, probe.duration_s, ptx, &encode).await;
            encoded.cancel();
            r
        },
        async {
            let r = uploader.follow(&encoded, job).await;
            if r.is_err() {
                encode.cancel();
            }
            r
        }
    );
    up?;
    ff.map_err(JobError::transcode)
        .map_err(|e| with_argv(e, &argv))?;
    info!(ms = started.elapsed().as_millis() as u64, "encoded");

    ptx.send_replace(Progress {
        phase: "upload".into(),
        percent: Some(100.0),
        ..Default::default()
    });
    let variants = unless_cancelled(job, uploader.finish()).await?;
    // CODECS comes from each rendition's bitstream: one ffprobe per rendition, all at once.
    let all_codecs = futures::future::try_join_all(variants.iter().map(|(name, segs)| {
        let first = out.join(name).join(&segs[0].0.uri);
        async move { codecs::of_segment(&first).await }
    }))
    .await
    .map_err(JobError::transcode)?;
    let mut entries = Vec::new();
    for ((name, segs), codecs) in variants.iter().zip(all_codecs) {
        let sizes: Vec<(u64, f64)> = segs.iter().map(|(s, b)| (*b, s.duration)).collect();
        let (bandwidth, average_bandwidth) = playlist::bitrates(&sizes);
        let idx = plan.renditions.iter().position(|r| &r.name == name);
        entries.push(playlist::Variant {
            uri: format!("t{}/{name}/index.m3u8", lease.token),
            bandwidth,
            average_bandwidth,
            codecs,
            resolution: idx.map(|i| (plan.renditions[i].width, plan.renditions[i].height)),
            frame_rate: idx.map(|i| plan.fps[i]),
        });
    }
    let master = playlist::master(&entries);
    // Publish only while the lease is certainly ours: a stale holder's master must never
    // replace the winner's (and if it ever did, it would point at its own complete set).
    if job.is_cancelled() || Instant::now() + Duration::from_millis(200) >= hb.deadline() {
        return Err(JobError::Cancelled);
    }
    let key = format!("{}/master.m3u8", v.out_prefix);
    blob::put_bytes(
        &ctx.s3,
        &v.out_bucket,
        &key,
        master.into_bytes(),
        blob::content_type(&key),
    )
    .await
    .map_err(JobError::output)?;
    info!(ms = started.elapsed().as_millis() as u64, "published");
    Ok(Completion {
        output: format!("s3://{}/{key}", v.out_bucket),
        ffmpeg_args: argv,
        duration_s: probe.duration_s,
    })
}

fn with_argv(e: JobError, argv: &[String]) -> JobError {
    let a = Some(argv.to_vec());
    match e {
        JobError::Invalid(m, None) => JobError::Invalid(m, a),
        JobError::Transient(m, None) => JobError::Transient(m, a),
        JobError::Local(m, None) => JobError::Local(m, a),
        other => other,
    }
}

/// On the first shutdown signal: lets the job run on only if its estimated end falls inside
/// the drain window, otherwise stops it so it is released at once; at the window's end, or on
/// a second signal, stops it regardless.
async fn drain_watch(
    drain: CancellationToken,
    abort: CancellationToken,
    job: CancellationToken,
    shutdown: CancellationToken,
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
        if !fits || abort.is_cancelled() || Instant::now() >= end {
            info!(phase = %p.phase, percent = ?p.percent, "shutting down: stopping this job to release it");
            shutdown.cancel();
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
