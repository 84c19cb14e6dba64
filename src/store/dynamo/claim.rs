//! The claim path: Query a shard of the sparse `ready` index, read candidates consistently,
//! compare-and-swap one of them. No Scan, no single hot key, losers move on.

use super::sdk::{self, n, s, Item, Write};
use super::{ClaimStats, DynamoStore};
use crate::domain::keys::shard_name;
use crate::domain::video::{abandoned, claimed, decide, ClaimDecision};
use crate::domain::VideoItem;
use crate::error::StoreError;
use crate::store::schema::READY_INDEX;
use crate::store::Lease;
use aws_sdk_dynamodb::types::{KeysAndAttributes, ReturnValuesOnConditionCheckFailure};
use rand::seq::SliceRandom;
use tokio::time::Instant;
use tracing::{debug, info};

impl DynamoStore {
    /// Tries the shards in order from a random one until a claim is won.
    pub(super) async fn claim_one(&self, holder: &str) -> Result<Option<Lease>, StoreError> {
        let shards = self.shards();
        let start = rand::random_range(0..shards);
        for i in 0..shards {
            let shard = shard_name((start + i) % shards);
            let mut keys = self.candidates(&shard).await?;
            if keys.is_empty() {
                continue;
            }
            keys.shuffle(&mut rand::rng());
            keys.truncate(self.cfg.read.max(1));
            let items = self.read_consistently(keys).await?;
            for item in items {
                let now = self.clock.now_ms();
                match decide(&item, now, &self.cfg.timings, self.cfg.retry.max_attempts) {
                    ClaimDecision::Claim => {
                        if let Some(lease) = self.try_claim(&item, holder).await? {
                            return Ok(Some(lease));
                        }
                    }
                    ClaimDecision::Exhausted => self.abandon(&item).await?,
                    ClaimDecision::NotReady | ClaimDecision::Held | ClaimDecision::Closed => {}
                }
            }
        }
        Ok(None)
    }

    /// Whether any shard of the sparse index holds an open video: one item per shard at most.
    pub(super) async fn any_open(&self) -> Result<bool, StoreError> {
        for i in 0..self.shards() {
            let out = self
                .client
                .query()
                .table_name(self.table())
                .index_name(READY_INDEX)
                .key_condition_expression("#shard = :shard")
                .expression_attribute_names("#shard", "shard")
                .expression_attribute_values(":shard", s(shard_name(i)))
                .limit(1)
                .send()
                .await
                .map_err(|e| sdk::classify(e, "Query", self.table()))?;
            if out.count > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Keys of up to `page` videos in `shard` whose `ready_at` has passed, oldest first.
    async fn candidates(&self, shard: &str) -> Result<Vec<Item>, StoreError> {
        ClaimStats::bump(&self.stats.queries);
        let out = self
            .client
            .query()
            .table_name(self.table())
            .index_name(READY_INDEX)
            .key_condition_expression("#shard = :shard AND #ready <= :now")
            .expression_attribute_names("#shard", "shard")
            .expression_attribute_names("#ready", "ready_at")
            .expression_attribute_values(":shard", s(shard))
            .expression_attribute_values(":now", n(self.clock.now_ms()))
            .limit(self.cfg.page)
            .send()
            .await
            .map_err(|e| sdk::classify(e, "Query", self.table()))?;
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut i| {
                i.remove("pk")
                    .map(|pk| Item::from([("pk".to_string(), pk)]))
            })
            .collect())
    }

    /// The candidates' current items, read consistently: the index is eventually consistent
    /// and only projects keys, so the decision must come from the table itself.
    async fn read_consistently(&self, keys: Vec<Item>) -> Result<Vec<VideoItem>, StoreError> {
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Fatal {
                op: "BatchGetItem",
                table: self.table().to_string(),
                source: Box::new(e),
            })?;
        let out = self
            .client
            .batch_get_item()
            .request_items(self.table(), request)
            .send()
            .await
            .map_err(|e| sdk::classify(e, "BatchGetItem", self.table()))?;
        // Unprocessed keys (throttling) are simply not candidates this round.
        let items = out
            .responses
            .and_then(|mut r| r.remove(self.table()))
            .unwrap_or_default();
        items.into_iter().map(|i| self.decode(i)).collect()
    }

    /// One compare-and-swap. `Ok(None)` is a lost race, an outcome rather than an error.
    async fn try_claim(&self, item: &VideoItem, holder: &str) -> Result<Option<Lease>, StoreError> {
        let sent = Instant::now();
        let now = self.clock.now_ms();
        let t = &self.cfg.timings;
        let next = claimed(item, holder, now, t);
        ClaimStats::bump(&self.stats.attempted);
        let res = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(self.encode(&next)?))
            .condition_expression("#rev = :rev AND (#state = :pending OR #lease < :cutoff)")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#lease", "lease_expires")
            .expression_attribute_values(":rev", n(item.rev))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":cutoff", n(t.takeover_cutoff(now)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let lease = Lease {
            holder: holder.to_string(),
            token: next.token,
            expires: next.lease_expires.unwrap_or(now),
            deadline: sent + t.local_validity(),
            video: next,
        };
        match sdk::conditional(res, "PutItem", self.table()) {
            Ok(Write::Applied(_)) => {
                ClaimStats::bump(&self.stats.won);
                info!(video = %lease.id(), token = lease.token, holder, "claimed");
                Ok(Some(lease))
            }
            Ok(Write::Rejected(old)) => {
                // Our own earlier attempt may have been applied and its response lost: the SDK's
                // retry then fails the condition against our own write.
                let old = old.map(|o| self.decode(o)).transpose()?;
                if old.as_ref().is_some_and(|o| is_ours(o, &lease)) {
                    ClaimStats::bump(&self.stats.adopted);
                    ClaimStats::bump(&self.stats.won);
                    info!(video = %lease.id(), token = lease.token, "claim adopted after a lost response");
                    return Ok(Some(lease));
                }
                ClaimStats::bump(&self.stats.lost);
                debug!(video = %lease.id(), "claim lost to another worker");
                Ok(None)
            }
            Err(e) if e.is_retryable() => {
                // Ambiguous: read back and adopt the claim if it is ours, rather than orphan
                // the video for a whole lease.
                match self.get_consistent(lease.id()).await {
                    Ok(Some(cur)) if is_ours(&cur, &lease) => {
                        ClaimStats::bump(&self.stats.adopted);
                        ClaimStats::bump(&self.stats.won);
                        Ok(Some(lease))
                    }
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Marks a video whose attempts are used up `failed`, conditioned on the version read.
    async fn abandon(&self, item: &VideoItem) -> Result<(), StoreError> {
        let next = abandoned(item, self.clock.now_ms());
        let res = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(self.encode(&next)?))
            .condition_expression("#rev = :rev")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":rev", n(item.rev))
            .send()
            .await;
        if let Write::Applied(_) = sdk::conditional(res, "PutItem", self.table())? {
            ClaimStats::bump(&self.stats.abandoned);
            info!(video = %item.pk, attempts = item.attempts, "gave up: every lease lapsed");
        }
        Ok(())
    }

    /// The current item, read consistently.
    pub(crate) async fn get_consistent(&self, pk: &str) -> Result<Option<VideoItem>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table())
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk::classify(e, "GetItem", self.table()))?;
        out.item.map(|i| self.decode(i)).transpose()
    }

    pub(super) fn decode(&self, item: Item) -> Result<VideoItem, StoreError> {
        let video = item
            .get("pk")
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        serde_dynamo::from_item(item).map_err(|source| StoreError::Malformed {
            video,
            table: self.table().to_string(),
            source,
        })
    }

    pub(super) fn encode(&self, item: &VideoItem) -> Result<Item, StoreError> {
        serde_dynamo::to_item(item).map_err(|source| StoreError::Malformed {
            video: item.pk.clone(),
            table: self.table().to_string(),
            source,
        })
    }
}

fn is_ours(item: &VideoItem, lease: &Lease) -> bool {
    item.holder.as_deref() == Some(lease.holder.as_str()) && item.token == lease.token
}
