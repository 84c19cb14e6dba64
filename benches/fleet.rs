//! Fleet-scale benchmark of the claim engine (`cargo bench --bench fleet`, local stack
//! running): hundreds of simulated slots against DynamoDB Local, each claiming, heartbeating,
//! holding for a job duration drawn from a spread and completing, with some slots dying (they
//! stop heartbeating), some releasing (drain) and some failing (retried with backoff). No
//! ffmpeg: only the table's work. Reports, per way a video became claimable (fresh, retried,
//! released, orphaned), the time from claimable to claimed; requests and capacity units per
//! video; the cost of an idle poll and of an idle slot per minute; and idle polls that found
//! nothing while a video was claimable. Under `cargo test` it does nothing.
//!
//! `FLEET_BENCH_SLOTS` (default 300), `FLEET_BENCH_VIDEOS` (default 20000) and
//! `FLEET_BENCH_RATE` (arrivals per second in the no-backlog run, default 15) change the size;
//! `FLEET_BENCH_ONLY=arrivals` (or `backlog`) runs only the no-backlog (or the large backlog)
//! run.

#[path = "support/common.rs"]
mod common;

#[path = "support/capacity.rs"]
mod capacity;

#[path = "support/seed.rs"]
mod seed;

use capacity::CapacityMeter;
use fleet::aws::ops::OpCounter;
use fleet::domain::{FailureKind, LeaseTimings, RetryPolicy, VideoState};
use fleet::store::dynamo::{DynamoStore, StoreConfig};
use fleet::store::{Claim, Completion, Failure, VideoStore};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    common::bench_main("fleet", run);
}

/// Lease, heartbeat, skew, job lengths and retry delays are these times `FLEET_BENCH_TIME_SCALE`
/// (default 1): at thousands of slots, jobs a few seconds long would ask DynamoDB Local (on
/// the same 2 cores) for more writes a second than it serves, and the figures would measure
/// that server, not the engine.
const LEASE_1: Duration = Duration::from_secs(6);
const HEARTBEAT_1: Duration = Duration::from_millis(1500);
const SKEW_1: Duration = Duration::from_secs(1);

fn scale() -> f64 {
    static S: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *S.get_or_init(|| {
        std::env::var("FLEET_BENCH_TIME_SCALE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1.0)
    })
}

fn scaled(d: Duration) -> Duration {
    d.mul_f64(scale())
}
/// The worker's idle backoff: 250 ms doubling to 20 s, jittered to 50-100%.
const IDLE_MIN: Duration = Duration::from_millis(250);
const IDLE_MAX: Duration = Duration::from_secs(20);
const MAX_ATTEMPTS: u32 = 3;

/// How a video became claimable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    Fresh,
    Retried,
    Released,
    Orphaned,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn timings() -> LeaseTimings {
    LeaseTimings::new(
        scaled(LEASE_1),
        scaled(HEARTBEAT_1),
        scaled(SKEW_1),
        Duration::from_millis(300),
    )
    .unwrap()
}

fn store(
    cfg: &aws_config::SdkConfig,
    table: &str,
    meters: Option<(OpCounter, CapacityMeter)>,
) -> DynamoStore {
    let client = fleet::aws::dynamodb_with(cfg, Duration::from_secs(10), |b| match meters {
        Some((c, m)) => b.interceptor(c).interceptor(m),
        None => b,
    });
    let mut c = StoreConfig::new(table);
    c.timings = timings();
    c.retry = RetryPolicy {
        max_attempts: MAX_ATTEMPTS,
        base: scaled(Duration::from_secs(2)),
        cap: Duration::from_secs(10),
    };
    DynamoStore::new(client, c, fleet::clock::system())
}

/// Shared bookkeeping of the simulation.
#[derive(Default)]
struct Book {
    /// Videos claimable (or about to be), with how and since when (wall ms).
    claimable: Mutex<HashMap<String, (Kind, i64)>>,
    /// Claimable → claimed, ms, by kind.
    waits: Mutex<BTreeMap<Kind, Vec<f64>>>,
    /// The newest token claimed of each video.
    last_claim: Mutex<HashMap<String, u64>>,
    /// Videos done or given up.
    finished: AtomicUsize,
    /// Claims that answered "empty".
    idle_polls: AtomicU64,
    /// Claims that answered "contended" (retried at once).
    contended: AtomicU64,
    /// Claims that ended in an error (timeouts of a saturated DynamoDB Local, mostly).
    claim_errors: AtomicU64,
    /// "Empty" claims while a video claimable for over a second when the claim was sent was
    /// still unclaimed after it: false "nothing to do".
    idle_polls_missing_work: AtomicU64,
    /// Those, by the kind of the video that waited.
    missed: Mutex<BTreeMap<Kind, u64>>,
    /// "Empty" claims while a booked orphan waited whose lease the table shows extended
    /// beyond what the bench saw (not claimable yet: not false).
    orphans_extended: AtomicU64,
    deaths: AtomicU64,
    /// Videos are still arriving (trickle runs).
    feeding: std::sync::atomic::AtomicBool,
    releases: AtomicU64,
    failures: AtomicU64,
}

impl Book {
    /// `pk` became claimable at `at` as `kind`, after the claim of `token` ended. Recorded
    /// after the write that made it claimable returned, so another slot may have claimed it
    /// already (re-entries go first): then it waited no longer than that write took, recorded
    /// as 0, and it is not left waiting in the book for ever.
    fn became_claimable(&self, pk: &str, kind: Kind, at: i64, token: u64) {
        if self
            .last_claim
            .lock()
            .unwrap()
            .get(pk)
            .is_some_and(|t| *t > token)
        {
            self.waits
                .lock()
                .unwrap()
                .entry(kind)
                .or_default()
                .push(0.0);
            return;
        }
        self.claimable
            .lock()
            .unwrap()
            .insert(pk.to_string(), (kind, at));
    }

    fn claimed(&self, pk: &str, token: u64) {
        {
            let mut last = self.last_claim.lock().unwrap();
            let t = last.entry(pk.to_string()).or_default();
            *t = (*t).max(token);
        }
        if let Some((kind, at)) = self.claimable.lock().unwrap().remove(pk) {
            let wait = (now_ms() - at).max(0) as f64;
            self.waits
                .lock()
                .unwrap()
                .entry(kind)
                .or_default()
                .push(wait);
        }
    }

    /// Videos claimable for over a second now.
    fn waiting_since_a_second(&self) -> Vec<String> {
        let now = now_ms();
        self.claimable
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, (_, at))| *at + 1000 <= now)
            .map(|(pk, _)| pk.clone())
            .collect()
    }

    /// One of `pks` still waiting to be claimed, with its kind, if any.
    fn still_unclaimed(&self, pks: &[String]) -> Option<(String, Kind)> {
        let c = self.claimable.lock().unwrap();
        pks.iter()
            .find_map(|pk| c.get(pk).map(|(k, _)| (pk.clone(), *k)))
    }
}

fn done() -> Completion {
    Completion {
        output: "s3://out/x/master.m3u8".into(),
        ffmpeg_args: vec!["ffmpeg".into()],
        duration_s: Some(60.0),
        warnings: vec![],
        ladder: None,
    }
}

/// A job's length: mostly 1-3 s, a long tail to 8 s (a library of short clips and some long
/// lectures, compressed in time).
fn job_length() -> Duration {
    let u: f64 = rand::random_range(0.0..1.0);
    scaled(Duration::from_secs_f64(if u < 0.9 {
        1.0 + 2.0 * u / 0.9
    } else {
        3.0 + 50.0 * (u - 0.9)
    }))
}

/// Holds `lease` for `d`, heartbeating; returns the last confirmed expiry, or `None` if the
/// lease was lost.
async fn hold(s: &DynamoStore, lease: &fleet::store::Lease, d: Duration) -> Option<i64> {
    let end = Instant::now() + d;
    let mut expires = lease.expires;
    let heartbeat = scaled(HEARTBEAT_1);
    while Instant::now() + heartbeat < end {
        tokio::time::sleep(heartbeat).await;
        match s.heartbeat(lease, None).await {
            Ok(r) => expires = r.expires,
            Err(e) if e.is_retryable() => {}
            Err(_) => return None,
        }
    }
    tokio::time::sleep(end.saturating_duration_since(Instant::now())).await;
    Some(expires)
}

async fn slot(i: usize, s: DynamoStore, plain: DynamoStore, book: Arc<Book>, total: usize) {
    let mut life = 0;
    let mut idle = IDLE_MIN;
    let mut contended = 0u32;
    loop {
        if book.finished.load(Ordering::Relaxed) >= total {
            return;
        }
        let holder = format!("sim-{i}.{life}");
        // What had been claimable for over a second when the claim was sent: if the claim
        // says "empty" and one of these is still unclaimed after it, the claim was wrong.
        let waiting = book.waiting_since_a_second();
        let sent = now_ms();
        let lease = match s.claim_next(&holder).await {
            Ok(Claim::Won(l)) => l,
            // As the worker does: again at once, the idle backoff kept, a pause from about
            // 25 ms growing to 400 ms while claims stay contended.
            Ok(Claim::Contended) => {
                book.contended.fetch_add(1, Ordering::Relaxed);
                contended = (contended + 1).min(5);
                let ms = 25u64 << (contended - 1);
                tokio::time::sleep(Duration::from_millis(rand::random_range(ms / 5..=ms))).await;
                continue;
            }
            outcome => {
                contended = 0;
                if outcome.is_err() {
                    book.claim_errors.fetch_add(1, Ordering::Relaxed);
                } else {
                    book.idle_polls.fetch_add(1, Ordering::Relaxed);
                    if let Some((pk, kind)) = book.still_unclaimed(&waiting) {
                        // An orphan is booked claimable at the expiry its holder's last
                        // *confirmed* heartbeat wrote; one applied after its client gave up
                        // (a saturated server) extends the lease unseen. The table says which.
                        let item = plain.get(&pk).await.ok().flatten();
                        let extended = kind == Kind::Orphaned
                            && item.as_ref().is_some_and(|v| {
                                v.state == VideoState::InProgress
                                    && v.lease_expires.is_some_and(|e| {
                                        e + scaled(SKEW_1).as_millis() as i64 + 1000 > sent
                                    })
                            });
                        if extended {
                            book.orphans_extended.fetch_add(1, Ordering::Relaxed);
                        } else {
                            book.idle_polls_missing_work.fetch_add(1, Ordering::Relaxed);
                            *book.missed.lock().unwrap().entry(kind).or_default() += 1;
                        }
                    }
                }
                let fed = !book.feeding.load(Ordering::Relaxed);
                if book.finished.load(Ordering::Relaxed) >= total
                    || (fed && !plain.has_open_work().await.unwrap_or(true))
                {
                    return;
                }
                tokio::time::sleep(idle.mul_f64(rand::random_range(0.5..=1.0))).await;
                idle = (idle * 2).min(IDLE_MAX);
                continue;
            }
        };
        idle = IDLE_MIN;
        contended = 0;
        let pk = lease.id().to_string();
        book.claimed(&pk, lease.token);
        let d = job_length();
        let fate: f64 = rand::random_range(0.0..1.0);
        if fate < 0.03 {
            // The instance dies mid-job: no more heartbeats; a new one replaces it.
            let Some(expires) = hold(&s, &lease, d / 2).await else {
                continue;
            };
            book.deaths.fetch_add(1, Ordering::Relaxed);
            // With its attempts used up it will be given up by the next claimer, not claimed.
            if lease.video.attempts < MAX_ATTEMPTS {
                book.became_claimable(
                    &pk,
                    Kind::Orphaned,
                    expires + scaled(SKEW_1).as_millis() as i64,
                    lease.token,
                );
            }
            life += 1;
            tokio::time::sleep(Duration::from_secs(2)).await;
        } else if fate < 0.06 {
            // Drained (scale-in, spot): released at once.
            if hold(&s, &lease, d / 2).await.is_none() {
                continue;
            }
            if s.release(&lease, "drain").await.is_ok() {
                book.releases.fetch_add(1, Ordering::Relaxed);
                book.became_claimable(&pk, Kind::Released, now_ms(), lease.token);
            }
        } else if fate < 0.10 {
            if hold(&s, &lease, d).await.is_none() {
                continue;
            }
            let f = Failure {
                kind: FailureKind::Transient,
                message: "simulated".into(),
                ffmpeg_args: None,
            };
            match s.fail(&lease, &f).await {
                Ok(VideoState::Pending) => {
                    book.failures.fetch_add(1, Ordering::Relaxed);
                    let at = plain.get(&pk).await.ok().flatten().and_then(|v| v.ready_at);
                    book.became_claimable(
                        &pk,
                        Kind::Retried,
                        at.unwrap_or_else(now_ms),
                        lease.token,
                    );
                }
                Ok(_) => {
                    book.finished.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {}
            }
        } else {
            if hold(&s, &lease, d).await.is_none() {
                continue;
            }
            if s.complete(&lease, &done()).await.is_ok() {
                book.finished.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() as f64 - 1.0) * p).round() as usize]
}

/// Adds `videos` fresh videos at `rate` per second, as a library trickling in would.
async fn trickle(plain: DynamoStore, book: Arc<Book>, videos: usize, rate: f64) {
    let shards = fleet::store::schema::schema().ready_shards;
    let t = Instant::now();
    for i in 0..videos {
        let due = t + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let src = fleet::domain::keys::S3Uri {
            bucket: "in".into(),
            key: format!("trickle/video-{i:06}.mp4"),
        };
        let item = fleet::domain::video::seeded(
            &src,
            "out",
            &format!("hls/{i}"),
            1 << 20,
            now_ms(),
            shards,
        );
        book.became_claimable(&item.pk, Kind::Fresh, now_ms(), 0);
        plain.insert_new(&item).await.expect("seed");
    }
    book.feeding.store(false, Ordering::Relaxed);
}

/// One simulated run; returns (requests per video, table units, index units per video).
/// With `rate`, the table starts empty and videos arrive at that rate (no backlog: waits are
/// the engine's); without, all are seeded first (a backlog: waits are mostly the queue's).
async fn simulate(
    cfg: &aws_config::SdkConfig,
    slots: usize,
    videos: usize,
    rate: Option<f64>,
) -> (f64, f64, f64) {
    let t0 = Instant::now();
    let table = seed::table(cfg, if rate.is_some() { 0 } else { videos }, "fleet").await;
    let seeded = now_ms();
    let (counter, meter) = (OpCounter::default(), CapacityMeter::default());
    let book = Arc::new(Book::default());
    let plain = store(cfg, &table, None);
    let feeder = match rate {
        Some(r) => {
            book.feeding.store(true, Ordering::Relaxed);
            println!("\n### {slots} slots, {videos} videos arriving at {r:.0}/s\n");
            Some(tokio::spawn(trickle(
                plain.clone(),
                book.clone(),
                videos,
                r,
            )))
        }
        None => {
            println!(
                "\n### {slots} slots, a backlog of {videos} videos (seeded in {:.1} s)\n",
                t0.elapsed().as_secs_f64()
            );
            // Every seeded video is claimable from its seed time.
            let items = fleet::admin::report::scan_all(plain.client(), &table)
                .await
                .unwrap()
                .0;
            book.claimable
                .lock()
                .unwrap()
                .extend(items.into_iter().map(|v| (v.pk, (Kind::Fresh, seeded))));
            None
        }
    };
    let t = Instant::now();
    let tasks: Vec<_> = (0..slots)
        .map(|i| {
            let s = store(cfg, &table, Some((counter.clone(), meter.clone())));
            tokio::spawn(slot(i, s, plain.clone(), book.clone(), videos))
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    if let Some(f) = feeder {
        f.await.unwrap();
    }
    let wall = t.elapsed().as_secs_f64();
    let items = fleet::admin::report::scan_all(plain.client(), &table)
        .await
        .unwrap()
        .0;
    let done = items.iter().filter(|v| v.state == VideoState::Done).count();
    let failed = items
        .iter()
        .filter(|v| v.state == VideoState::Failed)
        .count();
    println!(
        "{done} done, {failed} failed (attempts used up), {} open, in {wall:.0} s ({:.0} videos/s); \
         {} slot deaths, {} releases, {} retried failures",
        items.len() - done - failed,
        (done + failed) as f64 / wall,
        book.deaths.load(Ordering::Relaxed),
        book.releases.load(Ordering::Relaxed),
        book.failures.load(Ordering::Relaxed),
    );
    println!("\n| became claimable as | videos | wait p50 s | wait p99 s | max s |");
    println!("|---|---:|---:|---:|---:|");
    for (kind, w) in book.waits.lock().unwrap().iter() {
        println!(
            "| {kind:?} | {} | {:.2} | {:.2} | {:.2} |",
            w.len(),
            pct(w, 0.5) / 1000.0,
            pct(w, 0.99) / 1000.0,
            pct(w, 1.0) / 1000.0
        );
    }
    let polls = book.idle_polls.load(Ordering::Relaxed);
    let missing = book.idle_polls_missing_work.load(Ordering::Relaxed);
    println!(
        "\nclaims answered empty: {polls}; of them false (a video claimable for over 1 s when \
         the claim was sent and still unclaimed after it): {missing} ({:.2}%); answered \
         contended: {}; failed: {}",
        100.0 * missing as f64 / polls.max(1) as f64,
        book.contended.load(Ordering::Relaxed),
        book.claim_errors.load(Ordering::Relaxed),
    );
    if missing > 0 {
        println!(
            "false empty claims by the kind of video waiting: {:?}",
            book.missed.lock().unwrap()
        );
    }
    println!(
        "empty claims while a booked orphan's lease was in fact extended (not false): {}",
        book.orphans_extended.load(Ordering::Relaxed)
    );
    let n = videos as f64;
    let counts = counter.counts();
    let requests: u64 = counts.values().sum();
    println!("\nrequests per video (everything, idle polls and heartbeats included):");
    for (op, c) in &counts {
        println!("- {op}: {:.2}", *c as f64 / n);
    }
    let (mut tu, mut iu) = (0.0, 0.0);
    for (op, (t, i)) in meter.units() {
        println!(
            "- {op} capacity: {:.2} table + {:.2} index units per video",
            t / n,
            i / n
        );
        tu += t;
        iu += i;
    }
    println!(
        "- total: {:.2} requests, {:.2} table units + {:.2} index units per video",
        requests as f64 / n,
        tu / n,
        iu / n
    );
    (requests as f64 / n, tu / n, iu / n)
}

/// What one empty claim costs, and one idle slot per minute with the worker's backoff.
async fn idle_cost(cfg: &aws_config::SdkConfig) {
    let table = seed::table(cfg, 0, "idle").await;
    let (counter, meter) = (OpCounter::default(), CapacityMeter::default());
    let s = store(cfg, &table, Some((counter.clone(), meter.clone())));
    for _ in 0..20 {
        assert!(s.claim("idle").await.unwrap().is_none());
    }
    let requests: u64 = counter.counts().values().sum();
    let units: f64 = meter.units().values().map(|(t, i)| t + i).sum();
    println!(
        "\nan empty claim (every shard empty): {:.1} requests, {:.1} read units",
        requests as f64 / 20.0,
        units / 20.0
    );
    counter.reset();
    let t = Instant::now();
    let mut idle = IDLE_MIN;
    let mut polls = 0;
    while t.elapsed() < Duration::from_secs(60) {
        let _ = s.claim("idle").await;
        polls += 1;
        tokio::time::sleep(idle.mul_f64(rand::random_range(0.5..=1.0))).await;
        idle = (idle * 2).min(IDLE_MAX);
    }
    let requests: u64 = counter.counts().values().sum();
    println!(
        "an idle slot's first minute with the worker's backoff (250 ms doubling to 20 s): {polls} \
         polls, {requests} requests; at the 20 s cap, about {:.0} polls and {:.0} requests a minute",
        60.0 / 15.0,
        60.0 / 15.0 * requests as f64 / polls as f64
    );
}

async fn run() {
    let cfg = fleet::aws::sdk_config().await;
    let slots: usize = std::env::var("FLEET_BENCH_SLOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let videos: usize = std::env::var("FLEET_BENCH_VIDEOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    println!("## fleet simulation (DynamoDB Local, this machine)");
    println!(
        "lease {} s, heartbeat {} s, skew {} s; jobs {}-{} s, a tenth up to {} s; fates: 3% die \
         mid-job, 3% released, 4% fail (retry after {} s doubling), the rest complete",
        scaled(LEASE_1).as_secs_f64(),
        scaled(HEARTBEAT_1).as_secs_f64(),
        scaled(SKEW_1).as_secs_f64(),
        scale(),
        3.0 * scale(),
        8.0 * scale(),
        2.0 * scale(),
    );
    // No backlog: videos arrive at well under what the slots get through on this machine
    // (about 40 videos/s with DynamoDB Local on the same 2 cores), so waits are the engine's.
    let rate: f64 = std::env::var("FLEET_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15.0);
    let only = std::env::var("FLEET_BENCH_ONLY").unwrap_or_default();
    if only == "backlog" {
        simulate(&cfg, slots, videos, None).await;
        return;
    }
    simulate(&cfg, slots, videos / 10, Some(rate)).await;
    if only == "arrivals" {
        return;
    }
    let small = simulate(&cfg, slots, videos / 10, None).await;
    let large = simulate(&cfg, slots, videos, None).await;
    println!(
        "\nper video, {} vs {} videos: {:.2} vs {:.2} requests, {:.2} vs {:.2} table units, \
         {:.2} vs {:.2} index units",
        videos / 10,
        videos,
        small.0,
        large.0,
        small.1,
        large.1,
        small.2,
        large.2
    );
    idle_cost(&cfg).await;
}
