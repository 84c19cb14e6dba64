//! The claim path: Query a shard of the sparse `ready` index, read candidates consistently,
//! compare-and-swap one of them. No Scan, no single hot key, losers move on.

use super::attrs::{LEASE_EXPIRES, PK, REV, STATE};
use super::expr;
use super::sdk::{self, n, s, Item, Write};
use super::{ClaimStats, DynamoStore};
use crate::domain::keys::Lane;
use crate::domain::video::{abandoned, claimed, decide, ClaimDecision};
use crate::domain::{VideoItem, VideoState};
use crate::error::StoreError;
use crate::store::{Claim, Lease};
use aws_sdk_dynamodb::types::{KeysAndAttributes, ReturnValuesOnConditionCheckFailure};
use rand::seq::SliceRandom;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// One claim in this many (of each worker process, counted, not drawn) visits the fresh lane
/// before the re-entry lane: re-entries go first, and a flood of them (a bad batch retried, a
/// fleet-wide spot reclaim) still leaves fresh work at least this share of the claims.
pub(super) const FRESH_FIRST_ONE_IN: u64 = 4;

/// What a pass over the shards (or one shard) found.
#[derive(Debug)]
enum Swept {
    /// A claim won (boxed: the other outcomes carry nothing).
    Won(Box<Lease>),
    /// Claimable videos were there, and every race for them was lost.
    Lost,
    /// Nothing claimable.
    Empty,
}

impl DynamoStore {
    /// `VideoStore::claim_next`, which forwards here. Visits every shard of both lanes, the
    /// re-entry lane first (but see [`FRESH_FIRST_ONE_IN`]), each lane's shards in an order
    /// shuffled per claim so that losers do not move in convoys, until a claim is won.
    ///
    /// One shard's error (a throttled Query, a failed abandon, an ambiguous claim) does not
    /// stop the others: it is logged and the next shard is tried. The outcome is `Contended`
    /// when claimable videos were seen and every race lost, `Empty` only when every shard was
    /// read and none held one, and the last error when some shard could not be read and the
    /// others held nothing: "nothing to do" is said only when it is known.
    pub(super) async fn claim_next(&self, holder: &str) -> Result<Claim, StoreError> {
        let nth = self
            .stats
            .claims
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let lanes = if nth % FRESH_FIRST_ONE_IN == FRESH_FIRST_ONE_IN - 1 {
            [Lane::Fresh, Lane::Reentry]
        } else {
            Lane::ALL
        };
        let (mut lost, mut last_err) = (false, None);
        for lane in lanes {
            let mut shards: Vec<u32> = (0..lane.shards(self.shards())).collect();
            shards.shuffle(&mut rand::rng());
            for n in shards {
                let shard = lane.shard(n);
                match self.claim_in(&shard, holder).await {
                    Ok(Swept::Won(lease)) => return Ok(Claim::Won(lease)),
                    Ok(Swept::Lost) => lost = true,
                    Ok(Swept::Empty) => {}
                    Err(e) => {
                        warn!(%shard, error = %crate::error::chain(&e), "claim: shard skipped");
                        last_err = Some(e);
                    }
                }
            }
        }
        match last_err {
            _ if lost => {
                ClaimStats::bump(&self.stats.contended);
                Ok(Claim::Contended)
            }
            Some(e) => Err(e),
            None => {
                ClaimStats::bump(&self.stats.empty);
                Ok(Claim::Empty)
            }
        }
    }

    /// One shard: its oldest claimable candidates, a random few read consistently, tried in
    /// random order. An item that cannot be decoded is skipped (`fleet-admin audit` reports
    /// it); an abandon that fails is left to the next claimer.
    async fn claim_in(&self, shard: &str, holder: &str) -> Result<Swept, StoreError> {
        let mut keys = self.candidates(shard).await?;
        if keys.is_empty() {
            return Ok(Swept::Empty);
        }
        keys.shuffle(&mut rand::rng());
        keys.truncate(self.cfg.read.max(1));
        let (mut failed, mut lost) = (None, false);
        let (items, unprocessed) = self.read_consistently(keys).await?;
        // Only undecodable items listed (left for `fleet-admin audit`): nothing to claim here,
        // and saying "contended" would send the slot round again at once, for ever.
        if items.is_empty() && unprocessed == 0 {
            return Ok(Swept::Empty);
        }
        for item in items {
            let now = self.clock.now_ms();
            match decide(&item, now, &self.cfg.timings, self.cfg.retry.max_attempts) {
                ClaimDecision::Claim => match self.try_claim(&item, holder).await {
                    Ok(Some(lease)) => return Ok(Swept::Won(Box::new(lease))),
                    Ok(None) => lost = true,
                    Err(e) => failed = Some(e),
                },
                ClaimDecision::Exhausted => {
                    if let Err(e) = self.abandon(&item).await {
                        warn!(video = %item.pk, error = %crate::error::chain(&e), "could not give up on a video; the next claimer will");
                    }
                }
                ClaimDecision::NotReady | ClaimDecision::Held | ClaimDecision::Closed => {}
            }
        }
        // The index listed claimable videos a moment ago: finding none of them claimable now
        // (other claimers got there first, the index lags, or the read was throttled and
        // returned fewer) is a race lost, never an empty shard. A claim write that failed
        // without any race lost is an error.
        match failed {
            Some(e) if !lost => Err(e),
            _ => Ok(Swept::Lost),
        }
    }

    /// `VideoStore::has_open_work`: whether any shard of the sparse index holds an open
    /// video. One item per shard at most.
    pub(super) async fn has_open_work(&self) -> Result<bool, StoreError> {
        for shard in self.every_shard() {
            let out = self
                .ready_query(&shard, None)
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
            .ready_query(shard, Some(self.clock.now_ms()))
            .limit(self.cfg.page)
            .send()
            .await
            .map_err(|e| sdk::classify(e, "Query", self.table()))?;
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut i| i.remove(PK).map(|pk| Item::from([(PK.to_string(), pk)])))
            .collect())
    }

    /// The candidates' current items, read consistently: the index is eventually consistent
    /// and only projects keys, so the decision must come from the table itself.
    /// Also returns how many keys came back unprocessed.
    async fn read_consistently(
        &self,
        keys: Vec<Item>,
    ) -> Result<(Vec<VideoItem>, usize), StoreError> {
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
        // Unprocessed keys (throttling) are not candidates this round; the shard then reads as
        // contended, not empty.
        let unprocessed = out
            .unprocessed_keys()
            .and_then(|u| u.get(self.table()))
            .map_or(0, |k| k.keys().len());
        if unprocessed > 0 {
            self.stats
                .unprocessed
                .fetch_add(unprocessed as u64, std::sync::atomic::Ordering::Relaxed);
        }
        let items = out
            .responses
            .and_then(|mut r| r.remove(self.table()))
            .unwrap_or_default();
        let items = items
            .into_iter()
            .filter_map(|i| match self.decode(i) {
                Ok(v) => Some(v),
                Err(e) => {
                    warn!(error = %crate::error::chain(&e), "claim: skipping an item that cannot be decoded");
                    None
                }
            })
            .collect();
        Ok((items, unprocessed))
    }

    /// One compare-and-swap. `Ok(None)` is a lost race, an outcome rather than an error.
    async fn try_claim(&self, item: &VideoItem, holder: &str) -> Result<Option<Lease>, StoreError> {
        let sent = Instant::now();
        let now = self.clock.now_ms();
        let t = &self.cfg.timings;
        let next = claimed(item, holder, now, t);
        ClaimStats::bump(&self.stats.attempted);
        let cond = format!("#{REV} = :rev AND (#{STATE} = :pending OR #{LEASE_EXPIRES} < :cutoff)");
        let res = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(self.encode(&next)?))
            .condition_expression(&cond)
            .set_expression_attribute_names(expr::names(&[&cond]))
            .expression_attribute_values(":rev", n(item.rev))
            .expression_attribute_values(":pending", s(VideoState::Pending.as_str()))
            .expression_attribute_values(":cutoff", n(t.takeover_cutoff(now)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let lease = Lease {
            holder: holder.to_string(),
            token: next.token,
            expires: next.lease_expires.unwrap_or(now),
            deadline: sent + t.local_validity(),
            anchor: (now, sent),
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
                // the video for a whole lease. The read-back is retried (it may be throttled
                // too) while the claim would still be valid.
                let mut pause = std::time::Duration::from_millis(100);
                while Instant::now() + pause < lease.deadline {
                    match self.get(lease.id()).await {
                        Ok(Some(cur)) if is_ours(&cur, &lease) => {
                            ClaimStats::bump(&self.stats.adopted);
                            ClaimStats::bump(&self.stats.won);
                            return Ok(Some(lease));
                        }
                        Ok(_) => return Ok(None),
                        Err(r) if r.is_retryable() => {
                            tokio::time::sleep(pause.mul_f64(rand::random_range(0.5..=1.0))).await;
                            pause = (pause * 2).min(std::time::Duration::from_secs(2));
                        }
                        Err(_) => break,
                    }
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Marks a video whose attempts are used up `failed`, conditioned on the version read.
    async fn abandon(&self, item: &VideoItem) -> Result<(), StoreError> {
        let next = abandoned(item, self.clock.now_ms());
        let cond = format!("#{REV} = :rev");
        let res = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(self.encode(&next)?))
            .condition_expression(&cond)
            .set_expression_attribute_names(expr::names(&[&cond]))
            .expression_attribute_values(":rev", n(item.rev))
            .send()
            .await;
        if let Write::Applied(_) = sdk::conditional(res, "PutItem", self.table())? {
            ClaimStats::bump(&self.stats.abandoned);
            info!(video = %item.pk, attempts = item.attempts, "gave up: attempts used up, the last lease lapsed");
            self.count_quietly(super::registry::Counter::Failed, 1)
                .await;
            if self.cfg.owe_abandoned_events {
                let facts = crate::events::Facts {
                    state: next.state.as_str().to_string(),
                    seq: next.token,
                    error: next.error.clone(),
                    error_kind: next.error_kind.clone(),
                    ..Default::default()
                };
                let e = crate::events::event(crate::events::Kind::Failed, &next, facts);
                let body = serde_json::to_string(&e).unwrap_or_default();
                if let Err(err) = self.owe_event(e.id(), &body).await {
                    tracing::warn!(error = %crate::error::chain(&err), "abandoned video's event not owed");
                }
            }
        }
        Ok(())
    }

    /// The current item, read consistently.
    pub async fn get(&self, pk: &str) -> Result<Option<VideoItem>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table())
            .key(PK, s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk::classify(e, "GetItem", self.table()))?;
        out.item.map(|i| self.decode(i)).transpose()
    }

    pub(super) fn decode(&self, item: Item) -> Result<VideoItem, StoreError> {
        let video = item
            .get(PK)
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
