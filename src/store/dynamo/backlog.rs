//! The backlog, counted through the sparse `ready` index (never a Scan: the index holds only
//! open videos, as keys, so a count costs what the open videos weigh, not the whole table),
//! and what the scaler remembers between ticks.

use super::attrs::{IDLE_SINCE, LOW_PEAK, LOW_SINCE, PK, READY_AT, UPDATED_AT};
use super::registry::ReadCost;
use super::{sdk, DynamoStore};
use crate::clock::EpochMs;
use crate::domain::keys::shard_name;
use crate::domain::scaling::Memory;
use crate::error::StoreError;
use crate::store::schema::SCALER_PK;
use aws_sdk_dynamodb::types::{ReturnConsumedCapacity, Select};

/// Open videos, as the index sees them (eventually consistent, which a scaler can afford).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backlog {
    /// Every open video: claimable, waiting for a retry, or running.
    pub open: u64,
    /// Of those, the ones a worker could claim now (pending, due for a retry, or whose lease
    /// lapsed).
    pub claimable: u64,
    /// The `ready_at` of the longest-waiting claimable video.
    pub oldest_claimable: Option<EpochMs>,
    /// The queries it took.
    pub cost: ReadCost,
}

impl Backlog {
    /// Videos held by a live lease or waiting for a retry.
    pub fn not_claimable(&self) -> u64 {
        self.open.saturating_sub(self.claimable)
    }
}

impl DynamoStore {
    /// Counts the open videos of every shard: two COUNT queries per shard (paged while the
    /// shard holds more than 1 MB of keys) and one single-key query for the oldest claimable.
    pub async fn backlog(&self) -> Result<Backlog, StoreError> {
        let now = self.clock.now_ms();
        let mut b = Backlog::default();
        for i in 0..self.shards() {
            let shard = shard_name(i);
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
        let num = |name: &str| -> Option<i64> {
            out.item()
                .and_then(|i| i.get(name))
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
        };
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
