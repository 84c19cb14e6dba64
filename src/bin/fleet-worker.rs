//! fleet-worker: parse → validate → tracing → signals → worker::run → exit code.

use anyhow::{Context, Result};
use clap::Parser;
use fleet::aws::asg::Asg;
use fleet::aws::imds::Imds;
use fleet::domain::ladder::Ladder;
use fleet::domain::LeaseTimings;
use fleet::store::dynamo::{DynamoStore, StoreConfig};
use fleet::telemetry::emf::Metrics;
use fleet::telemetry::LogFormat;
use fleet::worker::instance::Member;
use fleet::worker::{self, upload::CacheControl, Reporting, Shutdown, WorkerConfig, WorkerError};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Claims videos from the fleet table and turns them into HLS streams.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// DynamoDB table of videos.
    #[arg(long, env = "FLEET_TABLE", default_value = "fleet-videos")]
    table: String,
    /// Videos worked on at once (default: one per two cores, at least two on two or more cores).
    #[arg(long, env = "FLEET_CONCURRENCY")]
    concurrency: Option<usize>,
    /// Exit 0 once no video is pending or in progress and the slots are empty.
    #[arg(long, env = "FLEET_EXIT_WHEN_IDLE")]
    exit_when_idle: bool,
    /// Lease length, seconds.
    #[arg(long, env = "FLEET_LEASE_SECONDS", default_value_t = 60.0)]
    lease_seconds: f64,
    /// Heartbeat period, seconds (at most a third of the lease).
    #[arg(long, env = "FLEET_HEARTBEAT_SECONDS", default_value_t = 15.0)]
    heartbeat_seconds: f64,
    /// Clock skew between machines that the lease protocol tolerates, seconds.
    #[arg(long, env = "FLEET_SKEW_SECONDS", default_value_t = 5.0)]
    skew_seconds: f64,
    /// On SIGTERM, how long videos about to finish may run on, seconds.
    #[arg(long, env = "FLEET_DRAIN_SECONDS", default_value_t = 90.0)]
    drain_seconds: f64,
    /// Claims of a failing video before it is marked failed.
    #[arg(long, env = "FLEET_MAX_ATTEMPTS", default_value_t = 3)]
    max_attempts: u32,
    /// Delay before the first retry of a failed video, seconds (doubles each time).
    #[arg(long, env = "FLEET_RETRY_BASE_SECONDS", default_value_t = 30.0)]
    retry_base_seconds: f64,
    /// Longest wait between claims when idle, seconds.
    #[arg(long, env = "FLEET_IDLE_MAX_SECONDS", default_value_t = 20.0)]
    idle_max_seconds: f64,
    /// TOML file with the HLS ladder (default: 1080p/720p/540p/360p/240p).
    #[arg(long, env = "FLEET_LADDER")]
    ladder: Option<PathBuf>,
    /// Where jobs download and encode.
    #[arg(long, env = "FLEET_WORK_DIR", default_value_os_t = std::env::temp_dir().join("fleet"))]
    work_dir: PathBuf,
    /// Free space, MB, that jobs leave in the work dir beyond what they need (the source and
    /// the segments on their way up).
    #[arg(long, env = "FLEET_DISK_RESERVE_MB", default_value_t = 64)]
    disk_reserve_mb: u64,
    /// Kill and retry a job whose ffmpeg makes no progress for this long, seconds (well above
    /// the longest normal pause: opening a huge file, a slow first frame).
    #[arg(long, env = "FLEET_STALL_SECONDS", default_value_t = 300.0)]
    stall_seconds: f64,
    /// EventBridge bus (name or ARN) that gets an event when a video is done, failed or
    /// retried; none: no events.
    #[arg(long, env = "FLEET_EVENT_BUS")]
    event_bus: Option<String>,
    /// How often events the bus refused earlier are sent again, seconds.
    #[arg(long, env = "FLEET_EVENTS_RETRY_SECONDS", default_value_t = 30.0)]
    events_retry_seconds: f64,
    /// One scrubbing thumbnail every this many seconds (thumbnails.vtt and its sprite sheets);
    /// 0 makes neither thumbnails nor a poster.
    #[arg(long, env = "FLEET_THUMBNAIL_SECONDS", default_value_t = 5.0)]
    thumbnail_seconds: f64,
    /// A source whose decoder could not read more than this share of its timeline, in
    /// percent, fails with the damaged ranges; below it, it is published with a warning that
    /// names them.
    #[arg(long, env = "FLEET_MAX_DAMAGED_PERCENT", default_value_t = 5.0)]
    max_damaged_percent: f64,
    /// When a done video is redone, how long the attempt it replaces stays readable after the
    /// new master is published, seconds: players that loaded the old master keep fetching its
    /// segments. Longer than a lesson by default (6 hours).
    #[arg(long, env = "FLEET_REDO_GRACE_SECONDS", default_value_t = 21600.0)]
    redo_grace_seconds: f64,
    /// Start even when `ffmpeg -version` is not the release fleet is tested with (5.1,
    /// Debian 12's): its error messages and filters may differ.
    #[arg(long, env = "FLEET_ALLOW_UNTESTED_FFMPEG")]
    allow_untested_ffmpeg: bool,
    /// Cache-Control of segments and media playlists (never changed once written).
    #[arg(
        long,
        env = "FLEET_CACHE_CONTROL_MEDIA",
        default_value = "public, max-age=31536000, immutable"
    )]
    cache_control_media: String,
    /// Cache-Control of master playlists (replaced when a video is redone).
    #[arg(
        long,
        env = "FLEET_CACHE_CONTROL_MASTER",
        default_value = "public, max-age=60"
    )]
    cache_control_master: String,
    /// x264 preset (speed/quality trade-off).
    #[arg(long, env = "FLEET_X264_PRESET", default_value = "veryfast")]
    preset: String,
    /// Rate control. `adaptive`: a few seconds of each source are encoded at every rung both
    /// ways and scored; a rung gets capped CRF (under its ladder bitrate as the ceiling) where
    /// that matches the fixed encode's quality for fewer bytes, and a rung that adds nothing
    /// visible over the next smaller one is left out. `fixed`: every rung at its bitrate.
    /// Adaptive by default: on the quality bench's corpus it saved up to 55% of a ladder's
    /// bytes, and every rung it changed stayed within the gate (README, "Quality per bit").
    #[arg(long, env = "FLEET_RATE_CONTROL", default_value = "adaptive",
          value_parser = ["adaptive", "fixed"])]
    rate_control: String,
    /// Log format.
    #[arg(long, env = "FLEET_LOG_FORMAT", value_enum, default_value_t)]
    log_format: LogFormat,
    /// The autoscaling group this instance belongs to. Set, the worker reads the instance
    /// metadata: it drains on a spot interruption or the group's termination, stops claiming
    /// on a rebalance recommendation, stays protected from scale-in while busy, and asks the
    /// group to replace the instance when it gives up.
    #[arg(long, env = "FLEET_ASG_NAME")]
    asg_name: Option<String>,
    /// The group's termination lifecycle hook: the worker keeps it open with heartbeats while
    /// it finishes the jobs in hand, then completes it.
    #[arg(long, env = "FLEET_LIFECYCLE_HOOK", requires = "asg_name")]
    lifecycle_hook: Option<String>,
    /// How often the termination hook is heartbeated while the jobs in hand finish, seconds
    /// (keep well under the hook's heartbeat timeout).
    #[arg(
        long,
        env = "FLEET_LIFECYCLE_HEARTBEAT_SECONDS",
        default_value_t = 60.0,
        hide = true
    )]
    lifecycle_heartbeat_seconds: f64,
    /// In a group: once no slot has held a lease for this many minutes, the instance removes
    /// itself from the group (terminated, desired capacity lowered by one), so the fleet gets
    /// back down even when its scaler fails. Unset: never.
    #[arg(long, env = "FLEET_IDLE_REMOVE_MINUTES", requires = "asg_name")]
    idle_remove_minutes: Option<f64>,
    /// How often the worker refreshes its item in the registry `fleet-admin report` lists,
    /// seconds.
    #[arg(long, env = "FLEET_REGISTRY_SECONDS", default_value_t = 30.0)]
    registry_seconds: f64,
    /// After a spot rebalance recommendation, how long to hold off claiming while waiting for
    /// the group to replace the instance, seconds; then claiming goes on.
    #[arg(long, env = "FLEET_REBALANCE_WAIT_SECONDS", default_value_t = 600.0)]
    rebalance_wait_seconds: f64,
    /// How often the instance metadata is read, seconds.
    #[arg(long, env = "FLEET_IMDS_POLL_SECONDS", default_value_t = 5.0)]
    imds_poll_seconds: f64,
}

fn secs(what: &str, s: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(s)
        .with_context(|| format!("--{what} must be a non-negative number of seconds"))
}

/// The autoscaling group settings.
struct Group {
    name: String,
    hook: Option<String>,
    poll: Duration,
    heartbeat: Duration,
    idle_remove: Option<Duration>,
}

/// Validated settings, before any I/O.
struct Settings {
    worker: WorkerConfig,
    store: StoreConfig,
    group: Option<Group>,
    /// The EventBridge bus, if events are wanted.
    event_bus: Option<String>,
}

impl TryFrom<Args> for Settings {
    type Error = anyhow::Error;
    fn try_from(a: Args) -> Result<Self> {
        let timings = LeaseTimings::new(
            secs("lease-seconds", a.lease_seconds)?,
            secs("heartbeat-seconds", a.heartbeat_seconds)?,
            secs("skew-seconds", a.skew_seconds)?,
            secs("lease-seconds", a.lease_seconds / 20.0)?.min(Duration::from_secs(3)),
        )?;
        let ladder = match &a.ladder {
            Some(p) => Ladder::from_toml(
                &std::fs::read_to_string(p)
                    .with_context(|| format!("reading ladder {}", p.display()))?,
            )
            .with_context(|| format!("ladder {}", p.display()))?,
            None => Ladder::default(),
        };
        anyhow::ensure!(a.max_attempts >= 1, "--max-attempts must be at least 1");
        anyhow::ensure!(
            a.thumbnail_seconds.is_finite() && a.thumbnail_seconds >= 0.0,
            "--thumbnail-seconds must be 0 or more"
        );
        anyhow::ensure!(
            (0.0..=100.0).contains(&a.max_damaged_percent),
            "--max-damaged-percent must be between 0 and 100"
        );
        let concurrency = a.concurrency.unwrap_or_else(worker::default_concurrency);
        anyhow::ensure!(concurrency >= 1, "--concurrency must be at least 1");
        let host = hostname::get()
            .map(|h| h.to_string_lossy().to_string())
            .unwrap_or_else(|_| "host".into());
        let worker_id = format!(
            "{host}:{}:{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        let mut store = StoreConfig::new(a.table);
        store.timings = timings;
        store.retry.max_attempts = a.max_attempts;
        store.retry.base = secs("retry-base-seconds", a.retry_base_seconds)?;
        store.owe_abandoned_events = a.event_bus.as_deref().is_some_and(|b| !b.is_empty());
        let poll = secs("imds-poll-seconds", a.imds_poll_seconds)?.max(Duration::from_millis(100));
        let heartbeat = secs("lifecycle-heartbeat-seconds", a.lifecycle_heartbeat_seconds)?
            .max(Duration::from_millis(100));
        let idle_remove = match a.idle_remove_minutes {
            Some(m) if m.is_finite() && m > 0.0 => Some(m * 60.0),
            Some(m) => anyhow::bail!("--idle-remove-minutes must be above 0, not {m}"),
            None => None,
        };
        Ok(Self {
            event_bus: a.event_bus.clone(),
            group: a.asg_name.map(|g| Group {
                name: g,
                hook: a.lifecycle_hook,
                poll,
                heartbeat,
                idle_remove: idle_remove.map(Duration::from_secs_f64),
            }),
            worker: WorkerConfig {
                worker_id,
                instance: None,
                registry_period: secs("registry-seconds", a.registry_seconds)?
                    .max(Duration::from_millis(200)),
                quiesce_max: secs("rebalance-wait-seconds", a.rebalance_wait_seconds)?,
                concurrency,
                exit_when_idle: a.exit_when_idle,
                drain: secs("drain-seconds", a.drain_seconds)?,
                ladder,
                work_dir: a.work_dir,
                disk_reserve_bytes: a.disk_reserve_mb.saturating_mul(1 << 20),
                preset: a.preset,
                rate_control: if a.rate_control == "fixed" {
                    fleet::domain::quality::RateControl::Fixed
                } else {
                    fleet::domain::quality::RateControl::Adaptive
                },
                stall: secs("stall-seconds", a.stall_seconds)?,
                cache: CacheControl {
                    media: a.cache_control_media,
                    master: a.cache_control_master,
                },
                idle_backoff_max: secs("idle-max-seconds", a.idle_max_seconds)?,
                max_local_failures: 3,
                thumbnail_interval_s: a.thumbnail_seconds,
                max_damaged_share: a.max_damaged_percent / 100.0,
                redo_grace: secs("redo-grace-seconds", a.redo_grace_seconds)?,
                ffmpeg: None,
                events_retry: secs("events-retry-seconds", a.events_retry_seconds)?,
            },
            store,
        })
    }
}

/// First SIGTERM/SIGINT drains, the second aborts.
fn watch_signals(shutdown: Shutdown) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        for step in 0..2 {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            if step == 0 {
                tracing::info!("shutdown requested: no new claims, draining");
                shutdown.drain.cancel();
            } else {
                tracing::warn!("second signal: releasing everything now");
                shutdown.abort.cancel();
            }
        }
    });
    Ok(())
}

/// What no retry mends, checked before the first claim: a region, credentials, and a table
/// with fleet's index. Each failure is one line and a non-zero exit within seconds (a worker
/// that logged WARN for ever on a missing table looked alive to its supervisor).
async fn preflight(
    sdk: &aws_config::SdkConfig,
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<()> {
    anyhow::ensure!(
        sdk.region().is_some(),
        "no AWS region: set AWS_REGION (on EC2 the instance's region is found by itself)"
    );
    fleet::aws::require_credentials(sdk, None).await?;
    fleet::store::dynamo::check_usable(ddb, table)
        .await
        .map_err(|e| anyhow::anyhow!(fleet::error::chain(&e)))
}

/// The ffmpeg on PATH, refused unless it is the tested release or `allow` says so.
async fn ffmpeg_checked(allow: bool) -> Result<String> {
    use fleet::transcode::version;
    let v = version::detect()
        .await
        .context("cannot run `ffmpeg -version`: is ffmpeg installed and on PATH?")?;
    if !version::is_tested(&v) {
        anyhow::ensure!(
            allow,
            "ffmpeg {v} is not the release fleet is tested with ({}, Debian 12's): install \
             that one, or pass --allow-untested-ffmpeg",
            version::TESTED
        );
        tracing::warn!(ffmpeg = %v, tested = version::TESTED, "running an untested ffmpeg release");
    }
    Ok(v)
}

/// The instance's side of the worker, until `stop`: its notices (drain, finish, quiesce,
/// heartbeating a termination), scale-in protection while busy, and its removal when idle.
/// Returns why the instance is leaving, if it is.
fn watch_instance(
    m: Member,
    g: Group,
    shutdown: Shutdown,
    stop: CancellationToken,
    reporting: &Reporting,
    slots: usize,
) -> tokio::task::JoinHandle<Option<fleet::worker::instance::Leaving>> {
    let (busy, idle_busy) = (reporting.busy.subscribe(), reporting.busy.subscribe());
    let metrics = reporting.metrics.clone();
    tokio::spawn(async move {
        let protect = m.protect_while_busy(busy, slots, &metrics, stop.clone());
        let remove = async {
            if let Some(idle) = g.idle_remove {
                m.remove_when_idle(idle_busy, idle, stop.clone()).await;
            }
        };
        let (why, (), ()) = tokio::join!(
            m.watch(shutdown, g.heartbeat, stop.clone()),
            protect,
            remove
        );
        why
    })
}

async fn run(args: Args) -> Result<()> {
    let format = args.log_format;
    let allow_untested = args.allow_untested_ffmpeg;
    let mut s = Settings::try_from(args)?;
    fleet::telemetry::init(format, "info");
    s.worker.ffmpeg = Some(ffmpeg_checked(allow_untested).await?);
    let sdk = fleet::aws::sdk_config().await;
    let timings = s.store.timings;
    let ddb = fleet::aws::dynamodb(&sdk, timings.heartbeat);
    preflight(&sdk, &ddb, &s.store.table).await?;
    let store = DynamoStore::new(ddb, s.store, fleet::clock::system());
    let shutdown = Shutdown::default();
    watch_signals(shutdown.clone())?;
    let reporting = Reporting {
        metrics: Arc::new(Metrics::from_env()),
        events: s.event_bus.as_deref().filter(|b| !b.is_empty()).map(|bus| {
            Arc::new(fleet::events::bridge::EventBridge::new(&sdk, bus))
                as Arc<dyn fleet::events::bridge::Sink>
        }),
        ..Default::default()
    };
    let group = s.group;
    let member = match &group {
        Some(g) => Some(
            Member::join(
                Imds::new(),
                Asg::from_conf(&sdk, g.name.clone()),
                g.hook.clone(),
                g.poll,
            )
            .await
            .context("FLEET_ASG_NAME is set but the instance metadata is unreadable")?,
        ),
        None => None,
    };
    let mut cfg = s.worker;
    cfg.instance = member.as_ref().map(|m| m.instance().to_string());
    let stop = CancellationToken::new();
    let watchers = member.clone().zip(group).map(|(m, g)| {
        watch_instance(
            m,
            g,
            shutdown.clone(),
            stop.clone(),
            &reporting,
            cfg.concurrency,
        )
    });
    tracing::info!(
        worker = %cfg.worker_id,
        concurrency = cfg.concurrency,
        instance = member.as_ref().map(|m| m.instance()),
        version = env!("CARGO_PKG_VERSION"),
        "fleet-worker starting"
    );
    let result = worker::run(
        cfg,
        timings,
        Arc::new(store),
        fleet::aws::s3(&sdk),
        shutdown,
        reporting,
    )
    .await;
    stop.cancel();
    let why = match watchers {
        Some(w) => w.await.ok().flatten(),
        None => None,
    };
    if let Some(m) = &member {
        match &result {
            Err(WorkerError::Unhealthy { .. }) => m.give_up().await,
            Ok(()) => m.leave(why).await,
        }
    }
    result?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleet-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}
