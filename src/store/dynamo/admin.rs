//! Operators' writes, behind `fleet-admin` (`seed`, `retry`, `audit --fix`, `pause`): never
//! made by a worker, and each conditioned so that it cannot disturb a video in progress.

use super::attrs::{
    ATTEMPTS, FINISHED_AT, LEASE_EXPIRES, PAUSED, PK, PROGRESS, READY_AT, REV, SHARD, STATE,
    UPDATED_AT,
};
use super::expr;
use super::registry::Counter;
use super::sdk::{self, n, s, Write};
use super::DynamoStore;
use crate::domain::keys::shard_of;
use crate::domain::{VideoItem, VideoState};
use crate::error::StoreError;
use crate::store::schema::CONTROL_PK;
use aws_sdk_dynamodb::types::AttributeValue;

impl DynamoStore {
    /// Writes a new video unless one with its key exists: never resets a video that is in
    /// progress, done or failed. Returns whether it was added.
    pub async fn insert_new(&self, item: &VideoItem) -> Result<bool, StoreError> {
        let cond = format!("attribute_not_exists(#{PK})");
        let res = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(self.encode(item)?))
            .condition_expression(&cond)
            .set_expression_attribute_names(expr::names(&[&cond]))
            .send()
            .await;
        Ok(matches!(
            sdk::conditional(res, "PutItem", self.table())?,
            Write::Applied(_)
        ))
    }

    /// Puts a failed (or, with `also_done`, a done) video back to `pending` with its attempts
    /// reset. Conditional: a video in progress is never disturbed. Returns the state it left
    /// (`None`: left alone), and takes it off that state's counter.
    pub async fn requeue(
        &self,
        pk: &str,
        also_done: bool,
    ) -> Result<Option<VideoState>, StoreError> {
        let cond = if also_done {
            format!("attribute_exists(#{PK}) AND (#{STATE} = :failed OR #{STATE} = :done)")
        } else {
            format!("attribute_exists(#{PK}) AND #{STATE} = :failed")
        };
        let update = format!(
            "SET #{STATE} = :pending, #{ATTEMPTS} = :zero, #{REV} = #{REV} + :one, \
             #{SHARD} = :shard, #{READY_AT} = :now \
             REMOVE #{LEASE_EXPIRES}, #{PROGRESS}, #{FINISHED_AT}"
        );
        let mut req = self
            .client
            .update_item()
            .table_name(self.table())
            .key(PK, s(pk))
            .update_expression(&update)
            .condition_expression(&cond)
            .set_expression_attribute_names(expr::names(&[&update, &cond]))
            .expression_attribute_values(":pending", s(VideoState::Pending.as_str()))
            .expression_attribute_values(":failed", s(VideoState::Failed.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":shard", s(shard_of(pk, self.shards())))
            .expression_attribute_values(":now", n(self.clock.now_ms()));
        if also_done {
            req = req.expression_attribute_values(":done", s(VideoState::Done.as_str()));
        }
        let res = req
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedOld)
            .send()
            .await;
        let Write::Applied(out) = sdk::conditional(res, "UpdateItem", self.table())? else {
            return Ok(None);
        };
        let old = out
            .attributes()
            .and_then(|a| a.get(STATE))
            .and_then(|v| v.as_s().ok())
            .and_then(|s| serde_json::from_value(serde_json::json!(s)).ok());
        match old {
            Some(VideoState::Failed) => self.count_quietly(Counter::Failed, -1).await,
            Some(VideoState::Done) => self.count_quietly(Counter::Done, -1).await,
            _ => {}
        }
        Ok(old.or(Some(VideoState::Failed)))
    }

    /// Deletes a video's item if it is still at version `rev` and no worker holds it (`audit
    /// --fix`, for a source that is gone). Returns whether it was deleted.
    pub async fn forget(&self, pk: &str, rev: u64) -> Result<bool, StoreError> {
        let cond = format!("#{REV} = :rev AND #{STATE} <> :in_progress");
        let res = self
            .client
            .delete_item()
            .table_name(self.table())
            .key(PK, s(pk))
            .condition_expression(&cond)
            .set_expression_attribute_names(expr::names(&[&cond]))
            .expression_attribute_values(":rev", n(rev))
            .expression_attribute_values(":in_progress", s(VideoState::InProgress.as_str()))
            .send()
            .await;
        Ok(matches!(
            sdk::conditional(res, "DeleteItem", self.table())?,
            Write::Applied(_)
        ))
    }

    /// Sets or clears the fleet-wide pause flag.
    pub async fn set_paused(&self, paused: bool) -> Result<(), StoreError> {
        let res = self
            .client
            .put_item()
            .table_name(self.table())
            .item(PK, s(CONTROL_PK))
            .item(PAUSED, AttributeValue::Bool(paused))
            .item(UPDATED_AT, n(self.clock.now_ms()))
            .send()
            .await;
        res.map(|_| ())
            .map_err(|e| sdk::classify(e, "PutItem", self.table()))
    }
}
