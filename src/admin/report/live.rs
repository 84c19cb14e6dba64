//! The fleet as it is now, from a handful of reads whatever the table's size: the counters,
//! the pause flag and the worker registry (no Scan).

use super::SCHEMA_VERSION;
use crate::domain::{VideoItem, VideoState};
use crate::error::StoreError;
use crate::store::dynamo::registry::{Counters, ReadCost};
use crate::store::dynamo::DynamoStore;
use serde::Serialize;

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
