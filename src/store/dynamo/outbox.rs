//! Owed events: one `#event#<id>` item per event that could not be sent, in the `#events`
//! shard of the `ready` index (`ready_at` = when it was owed), so finding them is one Query
//! and counting them one `Select=COUNT`, whatever the table's size. No claimer reads that
//! shard (claims read `s00`..`s15` and `r00`..`r03`), and every reader of the whole table skips `#` keys.

use super::attrs::{EVENT, PK, READY_AT, SHARD};
use super::sdk;
use super::DynamoStore;
use crate::error::StoreError;
use crate::store::schema::READY_INDEX;
use aws_sdk_dynamodb::types::Select;

/// The shard owed events live in.
pub const EVENTS_SHARD: &str = "#events";
/// Their keys' prefix.
pub const EVENT_PK_PREFIX: &str = "#event#";

impl DynamoStore {
    /// Records an owed event (a second owe of the same id overwrites it: same content).
    pub async fn owe_event(&self, id: &str, body: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(self.table())
            .item(PK, sdk::s(format!("{EVENT_PK_PREFIX}{id}")))
            .item(SHARD, sdk::s(EVENTS_SHARD))
            .item(READY_AT, sdk::n(self.clock.now_ms()))
            .item(EVENT, sdk::s(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk::classify(e, "PutItem", self.table()))
    }

    /// A Query of the owed events' shard of the ready index, oldest first.
    fn events_query(&self) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let key = format!("#{SHARD} = :shard");
        self.client
            .query()
            .table_name(self.table())
            .index_name(READY_INDEX)
            .set_expression_attribute_names(super::expr::names(&[&key]))
            .key_condition_expression(key)
            .expression_attribute_values(":shard", sdk::s(EVENTS_SHARD))
    }

    /// Up to `limit` owed events, oldest first.
    pub async fn owed_events(&self, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let out = self
            .events_query()
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(|e| sdk::classify(e, "Query", self.table()))?;
        let mut events = Vec::new();
        for k in out.items() {
            let Some(pk) = k.get(PK).and_then(|v| v.as_s().ok()) else {
                continue;
            };
            let item = self
                .client
                .get_item()
                .table_name(self.table())
                .key(PK, sdk::s(pk))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| sdk::classify(e, "GetItem", self.table()))?;
            let body = item
                .item()
                .and_then(|i| i.get(EVENT))
                .and_then(|v| v.as_s().ok());
            if let (Some(id), Some(body)) = (pk.strip_prefix(EVENT_PK_PREFIX), body) {
                events.push((id.to_string(), body.clone()));
            }
        }
        Ok(events)
    }

    /// Forgets an owed event.
    pub async fn settle_event(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(self.table())
            .key(PK, sdk::s(format!("{EVENT_PK_PREFIX}{id}")))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk::classify(e, "DeleteItem", self.table()))
    }

    /// How many events are owed: one `Select=COUNT` Query of their shard.
    pub async fn owed_count(&self) -> Result<u64, StoreError> {
        let mut n = 0u64;
        let mut start = None;
        loop {
            let out = self
                .events_query()
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk::classify(e, "Query", self.table()))?;
            n += out.count().max(0) as u64;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(n);
            }
        }
    }
}
