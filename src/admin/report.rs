//! `report`: the whole fleet at a glance, from one parallel Scan (the admin path, never the
//! claim path). Work is measured in source bytes and content seconds, not only in videos.

use crate::domain::{Progress, VideoItem, VideoState};
use crate::error::StoreError;
use crate::store::dynamo::registry::{Counters, ReadCost};
use crate::store::dynamo::DynamoStore;
use crate::store::schema::CONTROL_PK;
use aws_sdk_dynamodb::Client;
use serde::Serialize;

/// Parallel Scan segments: DynamoDB serves each from a different partition.
pub const SCAN_SEGMENTS: i32 = 8;

/// Counts per state.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Waiting.
    pub pending: u64,
    /// Held by a worker (or with a lapsed lease not yet taken over).
    pub in_progress: u64,
    /// Published.
    pub done: u64,
    /// Given up.
    pub failed: u64,
    /// All videos.
    pub total: u64,
}

impl Counts {
    fn add(&mut self, s: VideoState, n: u64) {
        match s {
            VideoState::Pending => self.pending += n,
            VideoState::InProgress => self.in_progress += n,
            VideoState::Done => self.done += n,
            VideoState::Failed => self.failed += n,
        }
        self.total += n;
    }
}

/// One video, as `report --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct VideoLine {
    /// The full input key.
    pub key: String,
    /// `s3://bucket/key` of the source.
    pub source: String,
    /// State.
    pub state: VideoState,
    /// Claims so far.
    pub attempts: u32,
    /// The slot holding it (or that last did).
    pub worker: Option<String>,
    /// Live progress.
    pub progress: Option<Progress>,
    /// Last error.
    pub error: Option<String>,
    /// Class of the last error.
    pub error_kind: Option<String>,
    /// `s3://…/master.m3u8` of a done video.
    pub output: Option<String>,
    /// argv of its last ffmpeg run.
    pub ffmpeg_args: Option<Vec<String>>,
    /// Source bytes.
    pub size_bytes: u64,
    /// Content seconds, once known.
    pub duration_s: Option<f64>,
    /// Wall-clock lease expiry, ms.
    pub lease_expires: Option<i64>,
    /// For a running video: seconds since it was claimed.
    pub elapsed_s: Option<f64>,
    /// For a running video: seconds left at its pace so far (from its progress).
    pub eta_s: Option<f64>,
    /// Every failed attempt's error.
    pub errors: Vec<String>,
}

/// Work done over the recent window: the last hour, or since the run started if that is later
/// (the earliest claim of the videos done within the hour or running now), so that ten
/// minutes into a run the rate is over those ten minutes, not an hour that was mostly idle.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Throughput {
    /// The window, seconds.
    pub window_s: f64,
    /// Videos finished in it.
    pub videos: u64,
    /// Their source bytes.
    pub bytes: u64,
    /// Their content seconds.
    pub content_seconds: f64,
    /// Videos per hour.
    pub videos_per_hour: f64,
    /// Content-hours per wall-clock hour.
    pub content_hours_per_hour: f64,
}

/// Failed videos that failed the same way.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailureGroup {
    /// `invalid_input`, `transient`, ...
    pub kind: String,
    /// The first line of the error with its numbers masked (`#`), so that "decoded 8.0 s of
    /// 20.0 s" and "decoded 3.1 s of 9.0 s" group together.
    pub reason: String,
    /// One real message of the group.
    pub example: String,
    /// Videos.
    pub count: u64,
    /// Their keys, sorted.
    pub keys: Vec<String>,
}

/// The version of `report --json`'s shape; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 2;

/// A worker as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerLine {
    /// What the worker last wrote.
    #[serde(flatten)]
    pub record: crate::store::WorkerRecord,
    /// `busy` or `idle` (seen within three registry periods), `stopped` (exited normally),
    /// `gave up` (exited after repeated local failures), or `silent` (not seen for three
    /// periods: killed, crashed, or its machine is gone).
    pub status: &'static str,
    /// Seconds since it was last seen.
    pub seen_s_ago: f64,
}

/// A worker unseen for three of its registry periods (90 s at the default 30 s), and at least
/// this long, is reported `silent`.
pub const SILENT_FLOOR_MS: f64 = 3_000.0;

/// The workers, from the registry.
pub async fn workers(store: &DynamoStore, now: i64) -> Result<Vec<WorkerLine>, StoreError> {
    Ok(worker_lines(store.workers().await?.0, now))
}

fn worker_lines(records: Vec<crate::store::WorkerRecord>, now: i64) -> Vec<WorkerLine> {
    records
        .into_iter()
        .map(|r| {
            let ago = now - r.last_seen;
            let status = if r.gave_up {
                "gave up"
            } else if r.stopped {
                "stopped"
            } else if ago as f64 > (r.period_s * 3000.0).max(SILENT_FLOOR_MS) {
                "silent"
            } else if r.busy > 0 {
                "busy"
            } else {
                "idle"
            };
            WorkerLine {
                seen_s_ago: ago.max(0) as f64 / 1000.0,
                status,
                record: r,
            }
        })
        .collect()
}

/// `report --summary`: counters, workers and rates from a handful of reads, whatever the
/// table's size (no Scan).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Shape version of this JSON.
    pub schema_version: u32,
    /// Table read.
    pub table: String,
    /// When (ms).
    pub generated_at: i64,
    /// Whether the fleet is paused.
    pub paused: bool,
    /// Seeded, done, failed (counters kept by seed, the workers and retry).
    pub counters: Counters,
    /// Videos not yet done or failed: seeded less done less failed.
    pub open: i64,
    /// Slots busy across live workers.
    pub busy_slots: u32,
    /// Slots across live workers.
    pub slots: u32,
    /// The workers.
    pub workers: Vec<WorkerLine>,
    /// What the summary cost to read.
    pub cost: ReadCost,
}

/// Reads the summary: the counters item, the pause flag, and the registry.
pub async fn summary(store: &DynamoStore, now: i64) -> Result<Summary, StoreError> {
    let (counters, ccost) = store.counters().await?;
    let (paused, pcost) = store.paused().await?;
    let (records, wcost) = store.workers().await?;
    let cost = ccost.plus(pcost).plus(wcost);
    let workers = worker_lines(records, now);
    let live = workers
        .iter()
        .filter(|w| w.status == "busy" || w.status == "idle");
    let (busy_slots, slots) =
        live.fold((0, 0), |(b, s), w| (b + w.record.busy, s + w.record.slots));
    Ok(Summary {
        schema_version: SCHEMA_VERSION,
        table: store.config().table.clone(),
        generated_at: now,
        paused,
        open: counters.total - counters.done - counters.failed,
        counters,
        busy_slots,
        slots,
        workers,
        cost,
    })
}

/// Sets the counters to the counts of `items` (a whole table's): for tables seeded before the
/// counters existed, or counters that drifted. Workers keep adding while it runs, so run it
/// when the fleet is quiet for an exact result.
pub async fn recount(store: &DynamoStore, items: &[VideoItem]) -> Result<(), StoreError> {
    let count = |s: VideoState| items.iter().filter(|v| v.state == s).count() as i64;
    store
        .set_counters(Counters {
            total: items.len() as i64,
            done: count(VideoState::Done),
            failed: count(VideoState::Failed),
        })
        .await
}

/// Groups the failed videos by kind and masked reason, largest group first.
pub fn failure_groups(items: &[VideoItem]) -> Vec<FailureGroup> {
    let mut groups: std::collections::BTreeMap<(String, String), FailureGroup> = Default::default();
    for v in items.iter().filter(|v| v.state == VideoState::Failed) {
        let kind = v.error_kind.clone().unwrap_or_else(|| "unknown".into());
        let first = v
            .error
            .as_deref()
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("");
        let reason = mask_numbers(first);
        let g = groups
            .entry((kind.clone(), reason.clone()))
            .or_insert_with(|| FailureGroup {
                kind,
                reason,
                example: first.to_string(),
                count: 0,
                keys: Vec::new(),
            });
        g.count += 1;
        g.keys.push(v.pk.clone());
    }
    let mut out: Vec<FailureGroup> = groups.into_values().collect();
    for g in &mut out {
        g.keys.sort();
    }
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    out
}

/// Digit runs (with their decimals) become `#`, and the text is cut at 160 characters.
fn mask_numbers(s: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for c in s.chars() {
        if c.is_ascii_digit() || (in_num && c == '.') {
            if !in_num {
                out.push('#');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out.chars().take(160).collect()
}

/// The recent window's throughput.
pub fn throughput(items: &[VideoItem], now: i64) -> Throughput {
    let hour_ago = now - 3_600_000;
    // The run's start, as far as the last hour can tell: the earliest claim of a video that
    // finished within the hour or is running now. A video claimed before the hour (a long one)
    // means the fleet has worked the whole hour.
    let first_claim = items
        .iter()
        .filter(|v| {
            v.state == VideoState::InProgress
                || (v.state == VideoState::Done && v.finished_at.is_some_and(|f| f >= hour_ago))
        })
        .filter_map(|v| v.claimed_at)
        .min();
    let start = first_claim.unwrap_or(hour_ago).max(hour_ago);
    let mut t = Throughput {
        window_s: ((now - start).max(1)) as f64 / 1000.0,
        ..Default::default()
    };
    for v in items {
        if v.state == VideoState::Done && v.finished_at.is_some_and(|f| f >= start) {
            t.videos += 1;
            t.bytes += v.size_bytes;
            t.content_seconds += v.duration_s.unwrap_or(0.0);
        }
    }
    let hours = t.window_s / 3600.0;
    t.videos_per_hour = t.videos as f64 / hours;
    t.content_hours_per_hour = t.content_seconds / 3600.0 / hours;
    t
}

/// How instances are priced and filled: the settings behind [`Cost`].
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Pricing {
    /// Price of one instance-hour (on-demand or the spot price you pay).
    pub per_instance_hour: f64,
    /// Videos one instance works on at once (the worker's concurrency).
    pub slots_per_instance: u32,
}

impl Default for Pricing {
    /// c6g.xlarge on demand in us-east-1 (USD), two slots: the Terraform defaults.
    fn default() -> Self {
        Self {
            per_instance_hour: 0.136,
            slots_per_instance: 2,
        }
    }
}

/// Instance-hours and their price, from the time videos held their slots: the last attempt of
/// each done video (claim to finish), and the same rate per source byte for what is left.
/// Boot time and idle minutes before scale-in are not in it: it is the floor of the bill.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Cost {
    /// The settings used.
    pub pricing: Pricing,
    /// Instance-hours the done videos took.
    pub instance_hours_so_far: f64,
    /// Their price.
    pub so_far: f64,
    /// Instance-hours the pending and running videos will take at the done ones' rate per
    /// source byte (unknown before the first video is done).
    pub instance_hours_to_go: Option<f64>,
    /// Their price.
    pub to_go: Option<f64>,
}

/// The [`Cost`] of `items` at `pricing`.
pub fn cost(items: &[VideoItem], pricing: Pricing) -> Cost {
    let slots = f64::from(pricing.slots_per_instance.max(1));
    let (mut slot_s, mut done_bytes, mut left_bytes) = (0.0, 0u64, 0u64);
    for v in items {
        match (v.state, v.claimed_at, v.finished_at) {
            (VideoState::Done, Some(c), Some(f)) if f >= c => {
                slot_s += (f - c) as f64 / 1000.0;
                done_bytes += v.size_bytes;
            }
            (VideoState::Pending | VideoState::InProgress, ..) => left_bytes += v.size_bytes,
            _ => {}
        }
    }
    let hours = slot_s / slots / 3600.0;
    let to_go = (done_bytes > 0).then(|| hours * left_bytes as f64 / done_bytes as f64);
    Cost {
        pricing,
        instance_hours_so_far: hours,
        so_far: hours * pricing.per_instance_hour,
        instance_hours_to_go: to_go,
        to_go: to_go.map(|h| h * pricing.per_instance_hour),
    }
}

/// Everything `report` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Table read.
    pub table: String,
    /// When (ms).
    pub generated_at: i64,
    /// Whether the fleet is paused.
    pub paused: bool,
    /// Videos per state.
    pub counts: Counts,
    /// Source bytes per state.
    pub bytes: Counts,
    /// Shape version of this JSON.
    pub schema_version: u32,
    /// Done over the recent window.
    pub throughput: Throughput,
    /// Seconds until pending + in-progress bytes are done at the window's rate.
    pub eta_seconds: Option<f64>,
    /// Failed videos, grouped by kind and reason.
    pub failures: Vec<FailureGroup>,
    /// Pending videos that failed before and wait for another attempt.
    pub retrying: u64,
    /// The worker registry.
    pub workers: Vec<WorkerLine>,
    /// Compute spent and still to spend.
    pub cost: Cost,
    /// Every video.
    pub videos: Vec<VideoLine>,
}

/// Reads the whole table with a parallel Scan.
pub async fn scan_all(client: &Client, table: &str) -> Result<(Vec<VideoItem>, bool), StoreError> {
    let segments = futures::future::try_join_all((0..SCAN_SEGMENTS).map(|seg| async move {
        client
            .scan()
            .table_name(table)
            .segment(seg)
            .total_segments(SCAN_SEGMENTS)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_resource_not_found_exception() => StoreError::TableMissing {
                    table: table.to_string(),
                },
                _ => StoreError::Fatal {
                    op: "Scan",
                    table: table.to_string(),
                    source: Box::new(e),
                },
            })
    }))
    .await?;
    let mut paused = false;
    let mut items = Vec::new();
    for item in segments.into_iter().flatten() {
        let pk = item
            .get("pk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        if pk == CONTROL_PK {
            paused = item
                .get("paused")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false);
            continue;
        }
        if pk.starts_with('#') {
            continue; // another non-video item (the scaler's)
        }
        items.push(
            serde_dynamo::from_item(item).map_err(|source| StoreError::Malformed {
                video: pk,
                table: table.to_string(),
                source,
            })?,
        );
    }
    Ok((items, paused))
}

/// Builds the report from the table's items at wall time `now`.
pub fn build(
    table: &str,
    items: Vec<VideoItem>,
    paused: bool,
    now: i64,
    pricing: Pricing,
) -> Report {
    let cost = cost(&items, pricing);
    let mut counts = Counts::default();
    let mut bytes = Counts::default();
    let mut retrying = 0;
    for v in &items {
        counts.add(v.state, 1);
        bytes.add(v.state, v.size_bytes);
        if v.state == VideoState::Pending && v.attempts > 0 && v.error.is_some() {
            retrying += 1;
        }
    }
    let throughput = throughput(&items, now);
    let failures = failure_groups(&items);
    let remaining = bytes.pending + bytes.in_progress;
    let eta_seconds = (throughput.bytes > 0)
        .then(|| remaining as f64 / (throughput.bytes as f64 / throughput.window_s));
    let mut videos: Vec<VideoLine> = items
        .into_iter()
        .map(|v| VideoLine {
            elapsed_s: (v.state == VideoState::InProgress)
                .then_some(v.claimed_at)
                .flatten()
                .map(|c| (now - c).max(0) as f64 / 1000.0),
            eta_s: (v.state == VideoState::InProgress)
                .then(|| {
                    let p = v.progress.as_ref()?.percent?;
                    let e = (now - v.claimed_at?).max(0) as f64 / 1000.0;
                    (p > 0.5).then(|| e * (100.0 - p) / p)
                })
                .flatten(),
            errors: v.errors.clone().unwrap_or_default(),
            source: v.pk.clone(),
            key: v.src_key,
            state: v.state,
            attempts: v.attempts,
            worker: v.holder,
            progress: v.progress,
            error: v.error,
            error_kind: v.error_kind,
            output: v.output,
            ffmpeg_args: v.ffmpeg_args,
            size_bytes: v.size_bytes,
            duration_s: v.duration_s,
            lease_expires: v.lease_expires,
        })
        .collect();
    videos.sort_by(|a, b| a.source.cmp(&b.source));
    Report {
        table: table.to_string(),
        generated_at: now,
        paused,
        counts,
        bytes,
        schema_version: SCHEMA_VERSION,
        throughput,
        eta_seconds,
        failures,
        retrying,
        workers: Vec::new(),
        cost,
        videos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::video::tests::pending;

    #[test]
    fn cost_counts_slot_time_of_done_videos_and_extrapolates_by_bytes() {
        let mut done = pending("s3://b/a");
        done.state = VideoState::Done;
        done.size_bytes = 1_000;
        done.claimed_at = Some(0);
        done.finished_at = Some(3_600_000); // one slot-hour
        let mut left = pending("s3://b/b");
        left.size_bytes = 3_000;
        let c = cost(
            &[done, left],
            Pricing {
                per_instance_hour: 0.2,
                slots_per_instance: 2,
            },
        );
        assert!((c.instance_hours_so_far - 0.5).abs() < 1e-9);
        assert!((c.so_far - 0.1).abs() < 1e-9);
        assert!((c.instance_hours_to_go.unwrap() - 1.5).abs() < 1e-9);
        assert!((c.to_go.unwrap() - 0.3).abs() < 1e-9);
        assert_eq!(cost(&[], Pricing::default()).to_go, None);
    }

    fn failed(pk: &str, kind: &str, error: &str) -> VideoItem {
        let mut v = pending(pk);
        v.state = VideoState::Failed;
        v.error_kind = Some(kind.into());
        v.error = Some(error.into());
        v
    }

    #[test]
    fn failures_group_by_kind_and_reason_with_numbers_masked() {
        let items = [
            failed(
                "s3://b/1",
                "invalid_input",
                "decoded 8.0 s of 20.0 s (360p): truncated\nmore",
            ),
            failed(
                "s3://b/2",
                "invalid_input",
                "decoded 3.1 s of 9.0 s (360p): truncated",
            ),
            failed("s3://b/3", "transient", "ffmpeg exited with signal 9"),
            pending("s3://b/4"),
        ];
        let g = failure_groups(&items);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].count, 2);
        assert_eq!(g[0].reason, "decoded # s of # s (#p): truncated");
        assert_eq!(g[0].keys, ["s3://b/1", "s3://b/2"]);
        assert_eq!(g[1].kind, "transient");
    }

    #[test]
    fn throughput_is_over_the_time_the_fleet_has_run_within_the_hour() {
        let now = 10 * 3_600_000;
        let mut items = Vec::new();
        for i in 0..6 {
            let mut v = pending(&format!("s3://b/{i}"));
            v.state = VideoState::Done;
            v.claimed_at = Some(now - 600_000 + i * 60_000); // first claim ten minutes ago
            v.finished_at = Some(now - 60_000);
            v.duration_s = Some(600.0);
            items.push(v);
        }
        let t = throughput(&items, now);
        assert!((t.window_s - 600.0).abs() < 1e-6);
        assert!((t.videos_per_hour - 36.0).abs() < 1e-6, "{t:?}");
        assert!((t.content_hours_per_hour - 6.0).abs() < 1e-6);
        // Long videos: claimed 100 minutes ago and done just now, others re-claimed since.
        let mut long = pending("s3://b/long");
        long.state = VideoState::Done;
        long.claimed_at = Some(now - 6_000_000);
        long.finished_at = Some(now - 120_000);
        items.push(long);
        let t = throughput(&items, now);
        assert!((t.window_s - 3600.0).abs() < 1e-6, "the whole hour: {t:?}");
    }
}
