//! `report`: the whole fleet at a glance, from one parallel Scan (the admin path, never the
//! claim path). Work is measured in source bytes and content seconds, not only in videos.

use crate::domain::{Progress, VideoItem, VideoState};
use crate::error::StoreError;
use crate::store::schema::CONTROL_PK;
use aws_sdk_dynamodb::Client;
use serde::Serialize;

mod live;
mod stats;

pub use live::{recount, summary, workers, Summary, WorkerLine, SILENT_FLOOR_MS};
pub use stats::{
    cost, failure_groups, throughput, warning_groups, Cost, FailureGroup, Pricing, Throughput,
};

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
    /// What a done video lacks (captions left out and why).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The version of `report --json`'s shape; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 2;

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
    /// Seconds until pending + in-progress bytes are done at the window's rate; `None` while
    /// `eta_held` says why no ETA holds.
    pub eta_seconds: Option<f64>,
    /// Why there is no ETA although videos are open: `paused`, `no live worker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_held: Option<String>,
    /// Failed videos, grouped by kind and reason.
    pub failures: Vec<FailureGroup>,
    /// Done videos that lack something (an unreadable caption file, a bitmap subtitle
    /// track), grouped by reason.
    pub warnings: Vec<FailureGroup>,
    /// Pending videos that failed before and wait for another attempt.
    pub retrying: u64,
    /// Completion events the bus refused, waiting in the table for a worker to send them.
    pub owed_events: u64,
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
    let warnings = warning_groups(&items);
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
                .then(|| video_eta(v.progress.as_ref()?, v.claimed_at?, now))
                .flatten(),
            errors: v.errors.clone().unwrap_or_default(),
            warnings: v.warnings.clone().unwrap_or_default(),
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
        eta_held: None,
        failures,
        warnings,
        retrying,
        owed_events: 0,
        workers: Vec::new(),
        cost,
        videos,
    }
}

/// A running video's seconds left: the pace up to its last progress reading (percent done over
/// the time from its claim to that reading), less the time since the reading. Without the
/// reading's time (an older worker), the pace is taken up to now.
pub fn video_eta(p: &Progress, claimed_at: i64, now: i64) -> Option<f64> {
    let pct = p.percent?;
    if pct <= 0.5 {
        return None;
    }
    let at = p.at.unwrap_or(now).clamp(claimed_at, now.max(claimed_at));
    let spent = (at - claimed_at) as f64 / 1000.0;
    let left_at_reading = spent * (100.0 - pct) / pct;
    Some((left_at_reading - (now - at) as f64 / 1000.0).max(0.0))
}

impl Report {
    /// No fleet-wide ETA while nothing can make progress: the fleet is paused, or no worker
    /// is alive (registered, seen lately, not stopped). Call once `workers` is filled in.
    pub fn hold_eta(&mut self) {
        let open = self.counts.pending + self.counts.in_progress > 0;
        let live = self
            .workers
            .iter()
            .any(|w| matches!(w.status, "busy" | "idle"));
        self.eta_held = match (open, self.paused, live) {
            (false, _, _) => None,
            (true, true, _) => Some("paused".into()),
            (true, false, false) => Some("no live worker".into()),
            (true, false, true) => None,
        };
        if self.eta_held.is_some() {
            self.eta_seconds = None;
        }
    }
}

#[cfg(test)]
mod eta_tests {
    use super::*;

    #[test]
    fn a_video_eta_counts_down_between_readings_instead_of_jumping() {
        // Claimed at 0, 25% at 10 s: 30 s left at the reading.
        let p = Progress {
            percent: Some(25.0),
            at: Some(10_000),
            ..Default::default()
        };
        assert_eq!(video_eta(&p, 0, 10_000), Some(30.0));
        assert_eq!(video_eta(&p, 0, 15_000), Some(25.0));
        assert_eq!(video_eta(&p, 0, 50_000), Some(0.0));
        // The next reading on the same pace agrees with the countdown.
        let next = Progress {
            percent: Some(37.5),
            at: Some(15_000),
            ..Default::default()
        };
        assert_eq!(video_eta(&next, 0, 15_000), Some(25.0));
    }
}
