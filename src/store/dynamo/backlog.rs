//! The backlog the scaler reads every minute, and what it remembers between ticks.
//!
//! A large backlog is read from the `#stats` counters (one GetItem, whatever the table holds),
//! corrected by the last exact count; the exact count goes through the sparse `ready` index
//! (never a Scan: the index holds only open videos, as keys, so it costs what the open videos
//! weigh) when the counters say the backlog is small (where a wrong number would scale the fleet
//! to zero with work waiting, or keep it up for nothing) or when the last count is old.

use super::attrs::{
    DONE, FAILED, IDLE_SINCE, LOW_PEAK, LOW_SINCE, OPEN_ADJUST, PK, READY_AT, RECOUNTED_AT, TOTAL,
    UPDATED_AT,
};
use super::registry::ReadCost;
use super::{sdk, DynamoStore};
use crate::clock::EpochMs;
use crate::domain::scaling::Memory;
use crate::error::StoreError;
use crate::store::schema::SCALER_PK;
use aws_sdk_dynamodb::types::{ReturnConsumedCapacity, Select};

/// When the backlog is counted exactly rather than read from the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recount {
    /// Counted exactly while the counters say fewer open videos than this: cheap there (the
    /// index count costs what the open videos weigh, about 60 read units per 1,000), and where
    /// the decision to scale to zero is made.
    pub below: u64,
    /// Counted exactly when the last exact count is older than this, to correct the counters'
    /// drift (a worker killed between its state write and its counter update).
    pub every: std::time::Duration,
}

impl Default for Recount {
    fn default() -> Self {
        Self {
            below: 2_000,
            every: std::time::Duration::from_secs(3600),
        }
    }
}

/// Where a backlog figure came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BacklogSource {
    /// Counted through the index.
    #[default]
    Counted,
    /// The counters, corrected by the last count.
    Counters,
}

/// Open videos (eventually consistent, which a scaler can afford).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backlog {
    /// Every open video: claimable, waiting for a retry, or running.
    pub open: u64,
    /// Of those, the ones a worker could claim now (pending, due for a retry, or whose lease
    /// lapsed).
    pub claimable: u64,
    /// The `ready_at` of the longest-waiting claimable video.
    pub oldest_claimable: Option<EpochMs>,
    /// The requests it took.
    pub cost: ReadCost,
    /// Counted, or read from the counters (then `claimable` is `open` less the busy slots the
    /// worker registry reports).
    pub source: BacklogSource,
}

impl Backlog {
    /// Videos held by a live lease or waiting for a retry.
    pub fn not_claimable(&self) -> u64 {
        self.open.saturating_sub(self.claimable)
    }
}

/// The `#stats` item as the backlog reads it.
struct Stats {
    /// total - done - failed.
    counted_open: i64,
    adjust: i64,
    recounted_at: Option<EpochMs>,
    cost: ReadCost,
}

impl DynamoStore {
    /// The backlog for the scaler: from the counters when they say it is large and their last
    /// correction is recent (a GetItem, the registry's Query and one single-key Query per
    /// shard for the oldest claimable: the same whatever the table holds), else counted exactly
    /// ([`Self::backlog_counted`]), remembering how far the counters were off.
    pub async fn backlog(&self) -> Result<Backlog, StoreError> {
        let now = self.clock.now_ms();
        let stats = self.stats_for_backlog().await?;
        let estimate = (stats.counted_open + stats.adjust).max(0) as u64;
        let every = i64::try_from(self.cfg.recount.every.as_millis()).unwrap_or(i64::MAX);
        let stale = stats.recounted_at.is_none_or(|t| now - t >= every);
        if stale || estimate < self.cfg.recount.below {
            let mut b = self.backlog_counted().await?;
            b.cost = b.cost.plus(stats.cost);
            let adjust = b.open as i64 - stats.counted_open;
            if let Err(e) = self.set_open_adjust(adjust, now).await {
                tracing::warn!(error = %crate::error::chain(&e), "could not store the counters' correction");
            }
            return Ok(b);
        }
        let mut b = Backlog {
            open: estimate,
            source: BacklogSource::Counters,
            cost: stats.cost,
            ..Backlog::default()
        };
        let (workers, wcost) = self.workers().await?;
        b.cost = b.cost.plus(wcost);
        // Live workers only: stopped, or silent for three of their own periods, they hold none.
        let busy: u64 = workers
            .iter()
            .filter(|w| !w.stopped && now - w.last_seen <= (3_000.0 * w.period_s) as i64)
            .map(|w| u64::from(w.busy))
            .sum();
        b.claimable = b.open.saturating_sub(busy);
        for shard in self.every_shard() {
            if let Some(t) = self.oldest(&shard, now, &mut b).await? {
                b.oldest_claimable = Some(b.oldest_claimable.map_or(t, |o| o.min(t)));
            }
        }
        Ok(b)
    }

    async fn stats_for_backlog(&self) -> Result<Stats, StoreError> {
        let (item, cost) = self.stats_item(true).await?;
        let num = |name: &str| sdk::num(item.as_ref(), name);
        let n = |name: &str| num(name).unwrap_or(0);
        Ok(Stats {
            counted_open: n(TOTAL) - n(DONE) - n(FAILED),
            adjust: n(OPEN_ADJUST),
            recounted_at: num(RECOUNTED_AT),
            cost,
        })
    }

    /// Remembers how far the counters were off at an exact count (an UpdateItem: the counters
    /// themselves are only ever added to).
    async fn set_open_adjust(&self, adjust: i64, now: EpochMs) -> Result<(), StoreError> {
        let set = format!("SET #{OPEN_ADJUST} = :adj, #{RECOUNTED_AT} = :now");
        self.client
            .update_item()
            .table_name(self.table())
            .key(PK, sdk::s(super::registry::STATS_PK))
            .update_expression(&set)
            .set_expression_attribute_names(super::expr::names(&[&set]))
            .expression_attribute_values(":adj", sdk::n(adjust))
            .expression_attribute_values(":now", sdk::n(now))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk::classify(e, "UpdateItem", self.table()))
    }

    /// Counts the open videos of every shard of both lanes: two COUNT queries per shard (paged
    /// while the shard holds more than 1 MB of keys) and one single-key query for the oldest
    /// claimable.
    pub async fn backlog_counted(&self) -> Result<Backlog, StoreError> {
        let now = self.clock.now_ms();
        let mut b = Backlog::default();
        for shard in self.every_shard() {
            b.open += self.count_shard(&shard, None, &mut b).await?;
            b.claimable += self.count_shard(&shard, Some(now), &mut b).await?;
            if let Some(t) = self.oldest(&shard, now, &mut b).await? {
                b.oldest_claimable = Some(b.oldest_claimable.map_or(t, |o| o.min(t)));
            }
        }
        Ok(b)
    }

    async fn count_shard(
        &self,
        shard: &str,
        until: Option<EpochMs>,
        b: &mut Backlog,
    ) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .ready_query(shard, until)
                .select(Select::Count)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk::classify(e, "Query", self.table()))?;
            b.cost.add(out.consumed_capacity());
            total += u64::try_from(out.count).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(total);
            }
        }
    }

    async fn oldest(
        &self,
        shard: &str,
        now: EpochMs,
        b: &mut Backlog,
    ) -> Result<Option<EpochMs>, StoreError> {
        let out = self
            .ready_query(shard, Some(now))
            .limit(1)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk::classify(e, "Query", self.table()))?;
        b.cost.add(out.consumed_capacity());
        Ok(out
            .items()
            .first()
            .and_then(|i| i.get(READY_AT))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok()))
    }

    /// What the scaler remembered at its last tick.
    pub async fn scaler_memory(&self) -> Result<Memory, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(self.table())
            .key(PK, sdk::s(SCALER_PK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk::classify(e, "GetItem", self.table()))?;
        let num = |name: &str| sdk::num(out.item(), name);
        let low = num(LOW_SINCE).zip(num(LOW_PEAK).and_then(|p| u32::try_from(p).ok()));
        Ok(Memory {
            idle_since: num(IDLE_SINCE),
            low,
        })
    }

    /// Remembers the scaler's state for the next tick. One scaler runs at a time (one
    /// schedule), so a plain write is enough.
    pub async fn set_scaler_memory(&self, m: Memory) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(self.table())
            .item(PK, sdk::s(SCALER_PK))
            .item(UPDATED_AT, sdk::n(self.clock.now_ms()));
        if let Some(t) = m.idle_since {
            put = put.item(IDLE_SINCE, sdk::n(t));
        }
        if let Some((since, peak)) = m.low {
            put = put
                .item(LOW_SINCE, sdk::n(since))
                .item(LOW_PEAK, sdk::n(i64::from(peak)));
        }
        put.send()
            .await
            .map(|_| ())
            .map_err(|e| sdk::classify(e, "PutItem", self.table()))
    }
}
