//! `fleet-worker`: N slots, each claiming one video at a time and running it through
//! [`job::run`]. Shutdown comes in two steps: the first signal stops claiming and drains, the
//! second releases everything at once.

pub mod captions;
pub mod ctx;
mod describe;
mod fenced;
pub mod heartbeat;
pub mod instance;
pub mod job;
mod leftovers;
mod phases;
mod redo;
mod stills;
pub mod upload;

use crate::domain::ladder::Ladder;
use crate::domain::LeaseTimings;
use crate::store::{Claim, VideoStore};
use crate::telemetry::emf::Metrics;
use ctx::JobCtx;
use job::JobEnd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn, Instrument};

/// Validated worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This process's identity, written as `<id>/<slot>` into the leases it holds.
    pub worker_id: String,
    /// The EC2 instance, when the worker knows it (in an autoscaling group).
    pub instance: Option<String>,
    /// How often the worker refreshes its registry item.
    pub registry_period: Duration,
    /// After a rebalance recommendation, how long the slots wait for the instance's
    /// termination before claiming again (without capacity rebalancing, none may come).
    pub quiesce_max: Duration,
    /// Slots: videos worked on at once.
    pub concurrency: usize,
    /// Exit 0 once no pending or in-progress video is left anywhere and the slots are empty.
    pub exit_when_idle: bool,
    /// How long a shutdown lets nearly finished videos finish.
    pub drain: Duration,
    /// The HLS ladder.
    pub ladder: Ladder,
    /// Where jobs download and encode.
    pub work_dir: PathBuf,
    /// Disk space a job leaves free in `work_dir` beyond what it needs (the OS, logs, other
    /// slots' growth): a job that would eat into it gives its video back instead.
    pub disk_reserve_bytes: u64,
    /// x264 preset.
    pub preset: String,
    /// Rate control: per title and rung from a source analysis, or the ladder's bitrates.
    pub rate_control: crate::domain::quality::RateControl,
    /// A job whose ffmpeg makes no progress for this long is killed and retried.
    pub stall: Duration,
    /// Cache-Control of what is published.
    pub cache: upload::CacheControl,
    /// Longest wait between claims when there is nothing to do.
    pub idle_backoff_max: Duration,
    /// Consecutive local failures after which the worker stops claiming.
    pub max_local_failures: u32,
    /// One scrubbing thumbnail every this many seconds; 0 makes neither thumbnails nor a
    /// poster.
    pub thumbnail_interval_s: f64,
    /// How often owed events (refused by the bus earlier) are sent again.
    pub events_retry: Duration,
    /// Share of a source's timeline (0.05 = 5%) that may be undecodable before it fails.
    pub max_damaged_share: f64,
    /// How long a replaced attempt of a redone video stays readable after the new master.
    pub redo_grace: Duration,
    /// The ffmpeg release this worker runs, for the registry.
    pub ffmpeg: Option<String>,
}

/// The rule for `--concurrency` by default: one slot per two cores, but at least two where
/// there are two cores. x264 already spreads one ladder over every core, so slots beyond that
/// mostly add memory (a 1080p ladder holds ~1 GB) and context switches; but a lone slot leaves
/// the cores idle while it starts ffmpeg, downloads, and waits for its last uploads and the
/// stills run. Measured on a 2-core machine (README): 2 slots did 12-19% more videos per
/// minute than 1. A c6g.xlarge (4 vCPU) gets 2 slots, a c6g.4xlarge (16) gets 8.
pub fn default_concurrency() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    concurrency_for(cores)
}

/// [`default_concurrency`] for `cores` cores.
pub fn concurrency_for(cores: usize) -> usize {
    (cores / 2).max(2).min(cores.max(1))
}

/// Shutdown signals: `drain` on the first SIGTERM/SIGINT, `abort` on the second.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    /// Stop claiming; finish what will end within the drain window; release the rest.
    pub drain: CancellationToken,
    /// Release everything now.
    pub abort: CancellationToken,
    /// Stop claiming but finish the jobs in hand, however long they take (a spot rebalance
    /// recommendation: the instance is at risk, not yet going).
    pub quiesce: CancellationToken,
    /// Stop claiming for good, finish the jobs in hand however long they take, then stop (the
    /// group is terminating the instance: a refresh, a rebalance, its own removal; not a
    /// spot interruption, which drains).
    pub finish: CancellationToken,
}

/// What the worker tells the rest of the process and the outside.
#[derive(Debug, Clone)]
pub struct Reporting {
    /// Slots holding a lease now (scale-in protection and the per-worker metrics follow it).
    pub busy: Arc<tokio::sync::watch::Sender<usize>>,
    /// Where per-video metrics go.
    pub metrics: Arc<Metrics>,
    /// Where completion events go (`--event-bus`), if anywhere.
    pub events: Option<Arc<dyn crate::events::bridge::Sink>>,
}

impl Default for Reporting {
    fn default() -> Self {
        Self {
            busy: Arc::new(tokio::sync::watch::channel(0).0),
            metrics: Arc::new(Metrics::off()),
            events: None,
        }
    }
}

/// Why a worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Too many jobs (or table calls) failed for reasons of this machine or its setup: it
    /// stopped claiming rather than poisoning the queue.
    #[error(
        "stopped claiming after {count} consecutive failures this worker cannot mend; last: {last}"
    )]
    Unhealthy {
        /// How many.
        count: u32,
        /// The last one.
        last: String,
    },
}

/// Runs the worker until shutdown (or until idle, with `exit_when_idle`).
pub async fn run(
    cfg: WorkerConfig,
    timings: LeaseTimings,
    store: Arc<dyn VideoStore>,
    s3: aws_sdk_s3::Client,
    shutdown: Shutdown,
    reporting: Reporting,
) -> Result<(), WorkerError> {
    std::fs::create_dir_all(&cfg.work_dir).ok();
    clean_stale_job_dirs(&cfg.work_dir);
    let cfg = Arc::new(cfg);
    let events = reporting.events.clone().map(|sink| {
        Arc::new(crate::events::publisher::Publisher::new(
            sink,
            store.clone(),
        ))
    });
    let ctx = JobCtx {
        store,
        s3,
        cfg: cfg.clone(),
        timings,
        metrics: reporting.metrics.clone(),
        events: events.clone(),
        conditional: Arc::default(),
    };
    let health = Arc::new(Health::default());
    health
        .started_at
        .get_or_init(|| chrono::Utc::now().timestamp_millis());
    let tracker = TaskTracker::new();
    for slot in 0..cfg.concurrency {
        let (ctx, shutdown, health) = (ctx.clone(), shutdown.clone(), health.clone());
        let busy = reporting.busy.clone();
        let span = tracing::info_span!("slot", worker = %cfg.worker_id, slot);
        tracker.spawn(
            async move { slot_loop(slot, ctx, shutdown, health, busy).await }.instrument(span),
        );
    }
    tracker.close();
    let registry = tokio::spawn(register_every(
        ctx.clone(),
        health.clone(),
        reporting.busy.subscribe(),
        cfg.registry_period,
    ));
    // Events a bus refused earlier (this worker's or another's) go out while the worker runs.
    let resend = events.map(|p| {
        let period = cfg.events_retry;
        tokio::spawn(async move {
            loop {
                p.resend_owed(25).await;
                tokio::time::sleep(period).await;
            }
        })
    });
    tracker.wait().await;
    registry.abort();
    let _ = registry.await;
    if let Some(r) = resend {
        r.abort();
    }
    let count = health.unmendable();
    let mut last = record(&cfg, &health, 0, chrono::Utc::now().timestamp_millis());
    last.gave_up = count >= cfg.max_local_failures;
    last.stopped = !last.gave_up;
    if let Err(e) = ctx.store.register(&last).await {
        warn!(error = %crate::error::chain(&e), "registry not updated at exit");
    }
    if count >= cfg.max_local_failures {
        let last = health.last.lock().map(|l| l.clone()).unwrap_or_default();
        return Err(WorkerError::Unhealthy { count, last });
    }
    info!("worker stopped");
    Ok(())
}

#[derive(Debug, Default)]
struct Health {
    consecutive: AtomicU32,
    /// Table calls outside jobs that failed in a row with errors no retry mends; any table
    /// call that succeeds resets it (a rotation's brief ExpiredToken days apart must not add
    /// up to a stop).
    table_errors: AtomicU32,
    last: std::sync::Mutex<String>,
    done: std::sync::atomic::AtomicU64,
    started_at: std::sync::OnceLock<i64>,
}

impl Health {
    /// A table call outside a job succeeded.
    fn table_ok(&self) {
        self.table_errors.store(0, Ordering::Relaxed);
    }

    /// Failures in a row that count toward stopping: jobs for local reasons, or table calls.
    fn unmendable(&self) -> u32 {
        self.consecutive
            .load(Ordering::Relaxed)
            .max(self.table_errors.load(Ordering::Relaxed))
    }

    /// A table call that failed outside a job. One that may pass (throttled, a timeout) is
    /// logged and retried with backoff; one no retry mends (the table deleted, access denied)
    /// counts toward stopping, as a local failure does, so that the worker exits non-zero
    /// instead of logging WARN for ever.
    fn table_error(&self, e: &crate::error::StoreError, what: &str) {
        let line = crate::error::chain(e);
        if e.is_retryable() {
            warn!(error = %line, "{what}");
            return;
        }
        error!(error = %line, "{what}: no retry mends this");
        self.table_errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut l) = self.last.lock() {
            *l = line;
        }
    }
}

fn record(
    cfg: &WorkerConfig,
    health: &Health,
    busy: usize,
    now: i64,
) -> crate::store::WorkerRecord {
    crate::store::WorkerRecord {
        id: cfg.worker_id.clone(),
        host: hostname::get()
            .map(|h| h.to_string_lossy().to_string())
            .unwrap_or_default(),
        instance: cfg.instance.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        ffmpeg: cfg.ffmpeg.clone(),
        slots: u32::try_from(cfg.concurrency).unwrap_or(u32::MAX),
        busy: u32::try_from(busy).unwrap_or(u32::MAX),
        local_failures: health.consecutive.load(Ordering::Relaxed),
        last_local_error: health
            .last
            .lock()
            .ok()
            .map(|l| l.clone())
            .filter(|l| !l.is_empty()),
        videos_done: health.done.load(Ordering::Relaxed),
        started_at: *health.started_at.get_or_init(|| now),
        last_seen: now,
        period_s: cfg.registry_period.as_secs_f64(),
        stopped: false,
        gave_up: false,
    }
}

/// Keeps this process's registry item fresh: at start, every `period`, and when the number of
/// busy slots changes (then at most every 5 s).
async fn register_every(
    ctx: JobCtx,
    health: Arc<Health>,
    mut busy: tokio::sync::watch::Receiver<usize>,
    period: Duration,
) {
    let mut failing = false;
    loop {
        let n = *busy.borrow_and_update();
        let rec = record(&ctx.cfg, &health, n, chrono::Utc::now().timestamp_millis());
        match ctx.store.register(&rec).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                warn!(error = %crate::error::chain(&e), "registry not updated");
            }
            Err(_) => {}
        }
        let written = tokio::time::Instant::now();
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            r = busy.changed() => {
                if r.is_err() {
                    return;
                }
                // At most one write per 5 s for busy changes: at fleet scale a write per
                // claim and per finish would add two writes to every video.
                tokio::time::sleep_until(written + period.min(Duration::from_secs(5))).await;
            }
        }
    }
}

async fn slot_loop(
    slot: usize,
    ctx: JobCtx,
    shutdown: Shutdown,
    health: Arc<Health>,
    busy: Arc<tokio::sync::watch::Sender<usize>>,
) {
    let cfg = ctx.cfg.clone();
    let holder = format!("{}/{slot}", cfg.worker_id);
    let mut idle = Duration::from_millis(250);
    // Contended claims in a row (their pause grows, from about 25 ms to at most 400 ms).
    let mut contended = 0u32;
    let mut paused = false;
    let mut resumed = false;
    loop {
        if shutdown.drain.is_cancelled() || shutdown.finish.is_cancelled() {
            return;
        }
        if health.unmendable() >= cfg.max_local_failures {
            error!("too many consecutive failures this worker cannot mend: it stops claiming");
            return;
        }
        if shutdown.quiesce.is_cancelled() && !resumed {
            info!("not claiming: waiting for the instance's termination");
            tokio::select! {
                _ = shutdown.drain.cancelled() => return,
                _ = shutdown.finish.cancelled() => return,
                _ = tokio::time::sleep(cfg.quiesce_max) => {
                    warn!("no termination followed the rebalance recommendation: claiming again");
                    resumed = true;
                }
            }
        }
        let flag = ctx.store.is_paused().await.inspect(|_| health.table_ok());
        if let Ok(now) = flag {
            if now != paused {
                info!(
                    paused = now,
                    "fleet {}",
                    if now {
                        "paused: not claiming"
                    } else {
                        "resumed"
                    }
                );
                paused = now;
            }
        }
        let wait = match flag {
            Ok(true) => Some(cfg.idle_backoff_max.min(Duration::from_secs(5))),
            Ok(false) => match ctx
                .store
                .claim_next(&holder)
                .await
                .inspect(|_| health.table_ok())
            {
                Ok(Claim::Won(lease)) => {
                    idle = Duration::from_millis(250);
                    contended = 0;
                    busy.send_modify(|b| *b += 1);
                    let end = job::run(&ctx, *lease, &shutdown.drain, &shutdown.abort).await;
                    busy.send_modify(|b| *b = b.saturating_sub(1));
                    match end {
                        JobEnd::Local(msg) => {
                            health.consecutive.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut l) = health.last.lock() {
                                *l = msg;
                            }
                        }
                        JobEnd::Done => {
                            health.consecutive.store(0, Ordering::Relaxed);
                            health.done.fetch_add(1, Ordering::Relaxed);
                        }
                        JobEnd::Failed(_) => health.consecutive.store(0, Ordering::Relaxed),
                        JobEnd::Released | JobEnd::LeaseLost => {}
                    }
                    None
                }
                // Work is there and others won it: again at once, never the idle backoff (whose
                // state is kept: a slot that lost one race is not made eager again). A few ms of
                // jitter so the losers of one race do not meet again, growing to 400 ms at
                // most while claims stay contended (a table throttling every read), so a slot
                // never spins on the table.
                Ok(Claim::Contended) => {
                    contended = (contended + 1).min(5);
                    let ms = 25u64 << (contended - 1);
                    tokio::time::sleep(Duration::from_millis(rand::random_range(ms / 5..=ms)))
                        .await;
                    None
                }
                Ok(Claim::Empty) => {
                    contended = 0;
                    if cfg.exit_when_idle && !ctx.store.has_open_work().await.unwrap_or(true) {
                        info!("nothing left to claim: slot exits");
                        return;
                    }
                    Some(idle)
                }
                Err(e) => {
                    health.table_error(&e, "claim failed");
                    Some(idle)
                }
            },
            Err(e) => {
                health.table_error(&e, "reading the pause flag failed");
                Some(idle)
            }
        };
        if let Some(w) = wait {
            let w = w.mul_f64(rand::random_range(0.5..=1.0));
            tokio::select! {
                _ = tokio::time::sleep(w) => {}
                _ = shutdown.drain.cancelled() => return,
                _ = shutdown.finish.cancelled() => return,
                _ = shutdown.quiesce.cancelled(), if !resumed => {}
            }
            idle = (idle * 2).min(cfg.idle_backoff_max);
        }
    }
}

/// Removes job folders left by worker processes that no longer run (kill -9, power loss).
fn clean_stale_job_dirs(work_dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(work_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix("job-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            info!(dir = %e.path().display(), "removing a dead worker's job folder");
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::concurrency_for;

    #[test]
    fn slots_follow_cores_with_a_floor_of_two() {
        let got: Vec<usize> = [1, 2, 4, 8, 16, 64].map(concurrency_for).to_vec();
        assert_eq!(got, [1, 2, 2, 4, 8, 32]);
    }
}
