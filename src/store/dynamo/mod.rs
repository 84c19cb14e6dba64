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
//!
//! Layout: the trait's verbs are inherent methods of the same name, `claim` and
//! `has_open_work` in `claim.rs`, `heartbeat`/`complete`/`fail`/`release` in `writes.rs`;
//! operators' writes (`insert_new`, `requeue`, `forget`, `set_paused`) in `admin.rs`;
//! attribute names in `attrs.rs`, and the one way to build an expression in `expr.rs`;
//! SDK errors become `StoreError`s only in `sdk.rs`.

mod admin;
pub use admin::{CaptionUpdate, OutputUpdate};
pub(crate) mod attrs;
mod backlog;
mod claim;
mod expr;
mod outbox;
pub mod registry;
mod sdk;
mod table;
mod writes;

pub use backlog::{Backlog, BacklogSource, Recount};
pub use table::{check_usable, create_table, TableStatus};

use crate::clock::SharedClock;
use crate::domain::{LeaseTimings, RetryPolicy};
use crate::domain::{Progress, VideoState};
use crate::error::StoreError;
use crate::store::schema::{schema, CONTROL_PK};
use crate::store::{Completion, Failure, Lease, Renewal, VideoStore};
use crate::telemetry::history;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use serde_json::json;
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
    /// Keys fetched from one index shard per query, oldest `ready_at` first. The index holds
    /// only keys, so 32 of them still fit the 0.5 read unit a Query costs at least; a wider
    /// page spreads hundreds of claimers over more candidates (with 8, a 300-slot simulation
    /// found every candidate taken on about 5% of its claims while work waited).
    pub page: i32,
    /// Of those, how many random ones are read consistently (1 RCU each, whatever their size):
    /// enough to survive a lost race or two, few enough not to pay for a page of reads to win
    /// one claim. Different claimers pick different subsets, which spreads them out.
    pub read: usize,
    /// Whether the fleet sends completion events: then a claimer that gives up on a video
    /// (its leases all lapsed) records its "Video Failed" as owed, for the workers' re-send
    /// loop to put on the bus (a claim never waits on the bus).
    pub owe_abandoned_events: bool,
    /// When the scaler counts the backlog through the index instead of the counters.
    pub recount: backlog::Recount,
}

impl StoreConfig {
    /// Defaults for `table`.
    pub fn new(table: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            timings: LeaseTimings::default(),
            retry: RetryPolicy::default(),
            page: 32,
            read: 4,
            owe_abandoned_events: false,
            recount: backlog::Recount::default(),
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
    /// Claims made (each `claim_next`): every [`claim::FRESH_FIRST_ONE_IN`]th visits the
    /// fresh lane first.
    pub claims: AtomicU64,
    /// Claims that saw claimable videos and lost every race for them.
    pub contended: AtomicU64,
    /// Claims that found nothing claimable in any shard.
    pub empty: AtomicU64,
    /// Candidates the consistent read could not return (throttled, unprocessed keys).
    pub unprocessed: AtomicU64,
}

impl ClaimStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A plain copy of the counters.
    pub fn snapshot(&self) -> [(&'static str, u64); 10] {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("queries", g(&self.queries)),
            ("attempted", g(&self.attempted)),
            ("won", g(&self.won)),
            ("lost", g(&self.lost)),
            ("adopted", g(&self.adopted)),
            ("abandoned", g(&self.abandoned)),
            ("claims", g(&self.claims)),
            ("contended", g(&self.contended)),
            ("empty", g(&self.empty)),
            ("unprocessed", g(&self.unprocessed)),
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

    /// Every shard of both lanes of the `ready` index.
    fn every_shard(&self) -> impl Iterator<Item = String> + '_ {
        crate::domain::keys::Lane::ALL
            .into_iter()
            .flat_map(move |lane| (0..lane.shards(self.shards())).map(move |n| lane.shard(n)))
    }

    /// The pause flag, and what reading it cost.
    pub async fn paused(&self) -> Result<(bool, registry::ReadCost), StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table())
            .key(attrs::PK, sdk::s(CONTROL_PK))
            .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk::classify(e, "GetItem", self.table()))?;
        let mut cost = registry::ReadCost::default();
        cost.add(out.consumed_capacity());
        let paused = out
            .item()
            .and_then(|i| i.get(attrs::PAUSED))
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false);
        Ok((paused, cost))
    }

    /// A Query of one shard of the `ready` index, oldest `ready_at` first: every entry, or with
    /// `until` those whose `ready_at` has passed by then. Claims, the idle probe and the
    /// scaler's counts all start from it.
    fn ready_query(
        &self,
        shard: &str,
        until: Option<crate::clock::EpochMs>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let key = match until {
            Some(_) => format!(
                "#{} = :shard AND #{} <= :now",
                attrs::SHARD,
                attrs::READY_AT
            ),
            None => format!("#{} = :shard", attrs::SHARD),
        };
        let q = self
            .client
            .query()
            .table_name(self.table())
            .index_name(crate::store::schema::READY_INDEX)
            .set_expression_attribute_names(expr::names(&[&key]))
            .key_condition_expression(key)
            .expression_attribute_values(":shard", sdk::s(shard));
        match until {
            Some(t) => q.expression_attribute_values(":now", sdk::n(t)),
            None => q,
        }
    }
}

/// What the history records of a lease operation: the video, the token, the holder, and `more`.
fn lease_fields(l: &Lease, more: serde_json::Value) -> serde_json::Value {
    let mut v = json!({"video": l.id(), "token": l.token, "holder": l.holder});
    if let (Some(o), serde_json::Value::Object(m)) = (v.as_object_mut(), more) {
        o.extend(m);
    }
    v
}

/// Each verb's body is the inherent method of the same name: `claim` and `has_open_work` in
/// `claim.rs`, the holder's writes in `writes.rs`. `DynamoStore::verb` names the inherent
/// method (inherent methods take precedence over a trait's), so these calls do not recurse.
#[async_trait]
impl VideoStore for DynamoStore {
    async fn claim_next(&self, holder: &str) -> Result<crate::store::Claim, StoreError> {
        let h = history::invoke();
        let r = DynamoStore::claim_next(self, holder).await;
        if let Ok(crate::store::Claim::Won(l)) = &r {
            h.done(
                "claim",
                true,
                lease_fields(l, json!({"expires": l.expires})),
            );
        }
        r
    }

    async fn heartbeat(
        &self,
        lease: &Lease,
        progress: Option<&Progress>,
    ) -> Result<Renewal, StoreError> {
        let h = history::invoke();
        let r = DynamoStore::heartbeat(self, lease, progress).await;
        let expires = r.as_ref().ok().map(|r| r.expires);
        h.done(
            "heartbeat",
            r.is_ok(),
            lease_fields(lease, json!({"expires": expires})),
        );
        r
    }

    async fn complete(&self, lease: &Lease, done: &Completion) -> Result<(), StoreError> {
        let h = history::invoke();
        let r = DynamoStore::complete(self, lease, done).await;
        h.done("complete", r.is_ok(), lease_fields(lease, json!({})));
        r
    }

    async fn fail(&self, lease: &Lease, failure: &Failure) -> Result<VideoState, StoreError> {
        let h = history::invoke();
        let r = DynamoStore::fail(self, lease, failure).await;
        h.done("fail", r.is_ok(), lease_fields(lease, json!({})));
        r
    }

    async fn release(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        let h = history::invoke();
        let r = DynamoStore::release_with(self, lease, reason, true).await;
        h.done("release", r.is_ok(), lease_fields(lease, json!({})));
        r
    }

    async fn release_stalled(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        let h = history::invoke();
        let r = DynamoStore::release_with(self, lease, reason, false).await;
        h.done(
            "release",
            r.is_ok(),
            lease_fields(lease, json!({"stalled": true})),
        );
        r
    }

    async fn has_open_work(&self) -> Result<bool, StoreError> {
        DynamoStore::has_open_work(self).await
    }

    async fn register(&self, rec: &crate::store::WorkerRecord) -> Result<(), StoreError> {
        DynamoStore::register(self, rec).await
    }

    async fn owe_event(&self, id: &str, body: &str) -> Result<(), StoreError> {
        DynamoStore::owe_event(self, id, body).await
    }

    async fn owed_events(&self, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        DynamoStore::owed_events(self, limit).await
    }

    async fn settle_event(&self, id: &str) -> Result<(), StoreError> {
        DynamoStore::settle_event(self, id).await
    }

    async fn is_paused(&self) -> Result<bool, StoreError> {
        Ok(self.paused().await?.0)
    }
}
