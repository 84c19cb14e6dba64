//! `report`: the whole fleet at a glance, from one parallel Scan (the admin path, never the
//! claim path). Work is measured in source bytes and content seconds, not only in videos.

use crate::domain::{Progress, VideoItem, VideoState};
use crate::error::StoreError;
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
}

/// Work done in the last hour.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Throughput {
    /// Videos finished.
    pub videos: u64,
    /// Their source bytes.
    pub bytes: u64,
    /// Their content seconds.
    pub content_seconds: f64,
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
    /// Done in the last hour.
    pub last_hour: Throughput,
    /// Seconds until pending + in-progress bytes are done at the last hour's rate.
    pub eta_seconds: Option<f64>,
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
pub fn build(table: &str, items: Vec<VideoItem>, paused: bool, now: i64) -> Report {
    let mut counts = Counts::default();
    let mut bytes = Counts::default();
    let mut last_hour = Throughput::default();
    for v in &items {
        counts.add(v.state, 1);
        bytes.add(v.state, v.size_bytes);
        if v.state == VideoState::Done && v.finished_at.is_some_and(|f| f > now - 3_600_000) {
            last_hour.videos += 1;
            last_hour.bytes += v.size_bytes;
            last_hour.content_seconds += v.duration_s.unwrap_or(0.0);
        }
    }
    let remaining = bytes.pending + bytes.in_progress;
    let eta_seconds =
        (last_hour.bytes > 0).then(|| remaining as f64 / (last_hour.bytes as f64 / 3600.0));
    let mut videos: Vec<VideoLine> = items
        .into_iter()
        .map(|v| VideoLine {
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
        last_hour,
        eta_seconds,
        videos,
    }
}
