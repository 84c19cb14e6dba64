//! `VideoStore` on DynamoDB. The algorithm is written down in `docs/DESIGN.md`; in short:
//!
//! - **claim**: Query one shard of the sparse `ready` index (`ready_at <= now`), read the
//!   candidates consistently, and PutItem the next version of one of them conditioned on the
//!   `rev` it was computed from and on its lease being over. Losers move to another candidate.
//! - **heartbeat / complete / fail / release**: UpdateItem conditioned on `holder` + `token` +
//!   `in_progress`; a heartbeat changes nothing its own condition reads, so an SDK retry of a
//!   heartbeat whose response was lost succeeds again instead of reporting a false loss.
//! - every rejected condition returns the old item (`ALL_OLD`), which tells a lost lease from
//!   our own retried write.

mod claim;
mod sdk;
mod table;
mod writes;

pub use table::{create_table, TableStatus};

use crate::clock::SharedClock;
use crate::domain::{LeaseTimings, RetryPolicy};
use crate::domain::{Progress, VideoItem, VideoState};
use crate::error::StoreError;
use crate::store::schema::{schema, CONTROL_PK};
use crate::store::{Completion, Failure, Lease, Renewal, VideoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Settings of the DynamoDB store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Table name.
    pub table: String,
    /// Lease protocol timings.
    pub timings: LeaseTimings,
    /// How often and how patiently failures are retried.
    pub retry: RetryPolicy,
    /// Keys fetched from one index shard per query, oldest `ready_at` first: never-tried
    /// videos sort before held ones, whose `ready_at` is their first possible takeover.
    pub page: i32,
    /// Of those, how many random ones are read consistently (1 RCU each, whatever their size):
    /// enough to survive a lost race or two, few enough not to pay for a page of reads to win
    /// one claim. Different claimers pick different subsets, which spreads them out.
    pub read: usize,
}

impl StoreConfig {
    /// Defaults for `table`.
    pub fn new(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            timings: LeaseTimings::default(),
            retry: RetryPolicy::default(),
            page: 8,
            read: 4,
        }
    }
}

/// Counters of the claim path, so contention and throttling can be measured.
#[derive(Debug, Default)]
pub struct ClaimStats {
    /// Index queries sent.
    pub queries: AtomicU64,
    /// Conditional claim writes sent.
    pub attempted: AtomicU64,
    /// Claims won.
    pub won: AtomicU64,
    /// Claims lost to another claimer's condition: normal under contention.
    pub lost: AtomicU64,
    /// Claims whose response was lost but which read-back showed were ours.
    pub adopted: AtomicU64,
    /// Videos given up because every lease of theirs lapsed.
    pub abandoned: AtomicU64,
}

impl ClaimStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A plain copy of the counters.
    pub fn snapshot(&self) -> [(&'static str, u64); 6] {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("queries", g(&self.queries)),
            ("attempted", g(&self.attempted)),
            ("won", g(&self.won)),
            ("lost", g(&self.lost)),
            ("adopted", g(&self.adopted)),
            ("abandoned", g(&self.abandoned)),
        ]
    }
}

/// The claim engine on a DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    cfg: Arc<StoreConfig>,
    clock: SharedClock,
    stats: Arc<ClaimStats>,
}

impl DynamoStore {
    /// A store over `client`, with wall time from `clock`.
    pub fn new(client: Client, cfg: StoreConfig, clock: SharedClock) -> Self {
        Self {
            client,
            cfg: Arc::new(cfg),
            clock,
            stats: Arc::default(),
        }
    }

    /// The claim path's counters.
    pub fn stats(&self) -> &ClaimStats {
        &self.stats
    }

    /// The settings.
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// The SDK client (admin commands reuse it).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn table(&self) -> &str {
        &self.cfg.table
    }

    fn shards(&self) -> u32 {
        schema().ready_shards
    }

    /// Writes a new video unless one with its key exists: never resets a video that is in
    /// progress, done or failed. Returns whether it was added.
    pub async fn insert_new(&self, item: &VideoItem) -> Result<bool, StoreError> {
        let res = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(self.encode(item)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        Ok(matches!(
            sdk::conditional(res, "PutItem", self.table())?,
            sdk::Write::Applied(_)
        ))
    }

    /// The current item, read consistently.
    pub async fn get(&self, pk: &str) -> Result<Option<VideoItem>, StoreError> {
        self.get_consistent(pk).await
    }

    /// Puts a failed (or, with `also_done`, a done) video back to `pending` with its attempts
    /// reset. Conditional: a video in progress is never disturbed. Returns whether it was
    /// requeued.
    pub async fn requeue(&self, pk: &str, also_done: bool) -> Result<bool, StoreError> {
        use crate::domain::keys::shard_of;
        let cond = if also_done {
            "attribute_exists(pk) AND (#state = :failed OR #state = :done)"
        } else {
            "attribute_exists(pk) AND #state = :failed"
        };
        let mut req = self
            .client
            .update_item()
            .table_name(self.table())
            .key("pk", sdk::s(pk))
            .update_expression(
                "SET #state = :pending, #attempts = :zero, #rev = #rev + :one, #shard = :shard, \
                 #ready_at = :now REMOVE #lease_expires, #progress, #finished_at",
            )
            .condition_expression(cond)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_names("#shard", "shard")
            .expression_attribute_names("#ready_at", "ready_at")
            .expression_attribute_names("#lease_expires", "lease_expires")
            .expression_attribute_names("#progress", "progress")
            .expression_attribute_names("#finished_at", "finished_at")
            .expression_attribute_values(":pending", sdk::s("pending"))
            .expression_attribute_values(":failed", sdk::s("failed"))
            .expression_attribute_values(":zero", sdk::n(0))
            .expression_attribute_values(":one", sdk::n(1))
            .expression_attribute_values(":shard", sdk::s(shard_of(pk, self.shards())))
            .expression_attribute_values(":now", sdk::n(self.clock.now_ms()));
        if also_done {
            req = req.expression_attribute_values(":done", sdk::s("done"));
        }
        let res = req.send().await;
        Ok(matches!(
            sdk::conditional(res, "UpdateItem", self.table())?,
            sdk::Write::Applied(_)
        ))
    }

    /// Deletes a video's item if it is still at version `rev` and no worker holds it (`audit
    /// --fix`, for a source that is gone). Returns whether it was deleted.
    pub async fn forget(&self, pk: &str, rev: u64) -> Result<bool, StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(self.table())
            .key("pk", sdk::s(pk))
            .condition_expression("#rev = :rev AND #state <> :in_progress")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":rev", sdk::n(rev))
            .expression_attribute_values(":in_progress", sdk::s("in_progress"))
            .send()
            .await;
        Ok(matches!(
            sdk::conditional(res, "DeleteItem", self.table())?,
            sdk::Write::Applied(_)
        ))
    }

    /// Sets or clears the fleet-wide pause flag.
    pub async fn set_paused(&self, paused: bool) -> Result<(), StoreError> {
        let res = self
            .client
            .put_item()
            .table_name(self.table())
            .item("pk", sdk::s(CONTROL_PK))
            .item(
                "paused",
                aws_sdk_dynamodb::types::AttributeValue::Bool(paused),
            )
            .item("updated_at", sdk::n(self.clock.now_ms()))
            .send()
            .await;
        res.map(|_| ())
            .map_err(|e| sdk::classify(e, "PutItem", self.table()))
    }
}

#[async_trait]
impl VideoStore for DynamoStore {
    async fn claim(&self, holder: &str) -> Result<Option<Lease>, StoreError> {
        self.claim_one(holder).await
    }

    async fn heartbeat(
        &self,
        lease: &Lease,
        progress: Option<&Progress>,
    ) -> Result<Renewal, StoreError> {
        self.extend(lease, progress).await
    }

    async fn complete(&self, lease: &Lease, done: &Completion) -> Result<(), StoreError> {
        self.finish(lease, done).await
    }

    async fn fail(&self, lease: &Lease, failure: &Failure) -> Result<VideoState, StoreError> {
        self.record_failure(lease, failure).await
    }

    async fn release(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        self.give_back(lease, reason).await
    }

    async fn has_open_work(&self) -> Result<bool, StoreError> {
        self.any_open().await
    }

    async fn is_paused(&self) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table())
            .key("pk", sdk::s(CONTROL_PK))
            .send()
            .await
            .map_err(|e| sdk::classify(e, "GetItem", self.table()))?;
        Ok(out
            .item()
            .and_then(|i| i.get("paused"))
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false))
    }
}
