//! The worker registry and the fleet's counters: what `report --summary` reads instead of
//! scanning the table.
//!
//! Each worker process puts a `#worker#<id>` item every half minute (host, instance, version,
//! slots, busy slots, recent local failures, last seen). The item carries the `ready` index's
//! key attributes under the shard `#workers`, which no claimer queries (claims read the shards
//! `s00`.. and `r00`..), so listing the workers is one Query of that shard: idle workers and crash loops
//! show up, not only lease holders. A DynamoDB TTL on `expires_at` removes an item an hour after
//! its worker was last seen.
//!
//! The `#stats` item holds counters: `total` (seeded), `done` and `failed`, added to by `seed`,
//! the workers and `retry` after each write that changed a state. They are exact as long as
//! nothing dies between the two writes; the full `report` counts for real.

use super::attrs::{DONE, FAILED, PK, READY_AT, SHARD, TOTAL};
use super::{sdk, DynamoStore};
use crate::clock::EpochMs;
use crate::error::StoreError;
use crate::store::schema::READY_INDEX;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, KeysAndAttributes, ReturnConsumedCapacity,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The registry's shard of the `ready` index.
pub const WORKERS_SHARD: &str = "#workers";
/// Key prefix of registry items.
pub const WORKER_PK_PREFIX: &str = "#worker#";
/// Key of the counters item.
pub const STATS_PK: &str = "#stats";
/// How long a registry item outlives its last write (DynamoDB's TTL deletes it after).
pub const WORKER_TTL_S: i64 = 3600;

/// One worker process, as it last described itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// The worker's id (`host:pid:nonce`).
    pub id: String,
    /// Host name.
    pub host: String,
    /// EC2 instance id, in a group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// fleet-worker's version.
    pub version: String,
    /// The ffmpeg it runs (`ffmpeg -version`), when it could tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ffmpeg: Option<String>,
    /// Slots.
    pub slots: u32,
    /// Slots holding a lease.
    pub busy: u32,
    /// Consecutive local failures (three stop the worker).
    pub local_failures: u32,
    /// The last local failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_local_error: Option<String>,
    /// Videos this process finished.
    pub videos_done: u64,
    /// When the process started.
    pub started_at: EpochMs,
    /// When it last wrote this record.
    pub last_seen: EpochMs,
    /// How often it writes this record, seconds (three missed writes make it `silent`).
    #[serde(default = "default_period")]
    pub period_s: f64,
    /// Set by the process as it exits normally.
    #[serde(default)]
    pub stopped: bool,
    /// Set by the process as it exits after too many local failures in a row.
    #[serde(default)]
    pub gave_up: bool,
}

fn default_period() -> f64 {
    30.0
}

/// The counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counters {
    /// Videos seeded.
    pub total: i64,
    /// Videos done.
    pub done: i64,
    /// Videos failed for good.
    pub failed: i64,
}

/// A counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Seeded.
    Total,
    /// Done.
    Done,
    /// Failed for good.
    Failed,
}

impl Counter {
    fn attr(self) -> &'static str {
        match self {
            Counter::Total => TOTAL,
            Counter::Done => DONE,
            Counter::Failed => FAILED,
        }
    }
}

/// What a registry or counters read cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ReadCost {
    /// Requests.
    pub requests: u32,
    /// Read capacity units.
    pub read_units: f64,
}

impl ReadCost {
    /// Both costs together.
    pub fn plus(self, other: ReadCost) -> ReadCost {
        ReadCost {
            requests: self.requests + other.requests,
            read_units: self.read_units + other.read_units,
        }
    }

    /// One more request, which consumed `c` (requested with `ReturnConsumedCapacity::Total`).
    pub(super) fn add<'a>(&mut self, c: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        self.requests += 1;
        self.read_units += c
            .into_iter()
            .filter_map(|c| c.capacity_units())
            .sum::<f64>();
    }
}

impl DynamoStore {
    /// Writes `rec` (its item expires an hour after `rec.last_seen`).
    pub async fn register(&self, rec: &WorkerRecord) -> Result<(), StoreError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(rec).map_err(|e| StoreError::Fatal {
                op: "PutItem",
                table: self.table().to_string(),
                source: Box::new(e),
            })?;
        item.insert(PK.into(), sdk::s(format!("{WORKER_PK_PREFIX}{}", rec.id)));
        item.insert(SHARD.into(), sdk::s(WORKERS_SHARD));
        item.insert(READY_AT.into(), sdk::n(rec.last_seen));
        item.insert(
            "expires_at".into(),
            sdk::n(rec.last_seen / 1000 + WORKER_TTL_S),
        );
        self.client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk::classify(e, "PutItem", self.table()))
    }

    /// Every registered worker, most recently seen first, and what reading them cost: one
    /// Query of the registry shard and one BatchGetItem per hundred workers.
    pub async fn workers(&self) -> Result<(Vec<WorkerRecord>, ReadCost), StoreError> {
        let mut cost = ReadCost::default();
        // Seen within the TTL: DynamoDB deletes expired items within days, not at once, and a
        // restarted worker has a new id, so the bound keeps dead records out of the listing.
        let key = format!("#{SHARD} = :shard AND #{READY_AT} >= :since");
        let since = self.clock.now_ms() - WORKER_TTL_S * 1000;
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(self.table())
                .index_name(READY_INDEX)
                .key_condition_expression(&key)
                .set_expression_attribute_names(super::expr::names(&[&key]))
                .expression_attribute_values(":shard", sdk::s(WORKERS_SHARD))
                .expression_attribute_values(":since", sdk::n(since))
                .scan_index_forward(false)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk::classify(e, "Query", self.table()))?;
            cost.add(out.consumed_capacity());
            keys.extend(
                out.items()
                    .iter()
                    .filter_map(|i| i.get(PK).cloned())
                    .map(|pk| HashMap::from([(PK.to_string(), pk)])),
            );
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let mut records = Vec::new();
        for chunk in keys.chunks(100) {
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .build()
                    .expect("keys set"),
            );
            while let Some(ka) = pending.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(self.table(), ka)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| sdk::classify(e, "BatchGetItem", self.table()))?;
                cost.add(out.consumed_capacity());
                for item in out
                    .responses
                    .unwrap_or_default()
                    .remove(self.table())
                    .unwrap_or_default()
                {
                    if let Ok(r) = serde_dynamo::from_item::<_, WorkerRecord>(item) {
                        records.push(r);
                    }
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(self.table()));
            }
        }
        records.sort_by_key(|r| std::cmp::Reverse(r.last_seen));
        Ok((records, cost))
    }

    /// Adds `by` to a counter (negative to take away).
    pub async fn count(&self, counter: Counter, by: i64) -> Result<(), StoreError> {
        if by == 0 {
            return Ok(());
        }
        let add = format!("ADD #{} :by", counter.attr());
        self.client
            .update_item()
            .table_name(self.table())
            .key(PK, sdk::s(STATS_PK))
            .update_expression(&add)
            .set_expression_attribute_names(super::expr::names(&[&add]))
            .expression_attribute_values(":by", sdk::n(by))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk::classify(e, "UpdateItem", self.table()))
    }

    /// Overwrites the counters.
    pub async fn set_counters(&self, c: Counters) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(self.table())
            .item(PK, sdk::s(STATS_PK))
            .item(TOTAL, sdk::n(c.total))
            .item(DONE, sdk::n(c.done))
            .item(FAILED, sdk::n(c.failed))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk::classify(e, "PutItem", self.table()))
    }

    /// The counters, and what reading them cost.
    pub async fn counters(&self) -> Result<(Counters, ReadCost), StoreError> {
        let (item, cost) = self.stats_item(false).await?;
        let get = |name: &str| sdk::num(item.as_ref(), name).unwrap_or(0);
        Ok((
            Counters {
                total: get(TOTAL),
                done: get(DONE),
                failed: get(FAILED),
            },
            cost,
        ))
    }

    /// The `#stats` item, and what reading it cost.
    pub(super) async fn stats_item(
        &self,
        consistent: bool,
    ) -> Result<(Option<sdk::Item>, ReadCost), StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table())
            .key(PK, sdk::s(STATS_PK))
            .consistent_read(consistent)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk::classify(e, "GetItem", self.table()))?;
        let mut cost = ReadCost::default();
        cost.add(out.consumed_capacity());
        Ok((out.item, cost))
    }
}
