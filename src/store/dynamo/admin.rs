//! Operators' writes, behind `fleet-admin` (`seed`, `retry`, `audit --fix`, `pause`): never
//! made by a worker, and each conditioned so that it cannot disturb a video in progress.

use super::attrs::{
    ATTEMPTS, CAPTIONS, FINISHED_AT, LEASE_EXPIRES, OUT_BUCKET, OUT_PREFIX, PAUSED, PK, PROGRESS,
    READY_AT, REDO, REV, SHARD, STATE, UPDATED_AT,
};
use super::expr;
use super::registry::Counter;
use super::sdk::{self, n, s, Write};
use super::DynamoStore;
use crate::domain::captions::CaptionFile;
use crate::domain::keys::{reentry_shard, shard_of};
use crate::domain::video::FailureKind;
use crate::domain::{VideoItem, VideoState};
use crate::error::StoreError;
use crate::store::schema::CONTROL_PK;
use aws_sdk_dynamodb::types::AttributeValue;

impl DynamoStore {
    /// Writes a new video unless one with its key exists: never resets a video that is in
    /// progress, done or failed. Returns whether it was added.
    pub async fn insert_new(&self, item: &VideoItem) -> Result<bool, StoreError> {
        Ok(self.insert_or_get(item).await?.is_none())
    }

    /// Like [`Self::insert_new`], but a video already there comes back as it is (from the
    /// rejected condition, at no extra read), so `seed` can compare its caption files.
    pub async fn insert_or_get(&self, item: &VideoItem) -> Result<Option<VideoItem>, StoreError> {
        let cond = format!("attribute_not_exists(#{PK})");
        let res = self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(self.encode(item)?))
            .condition_expression(&cond)
            .set_expression_attribute_names(expr::names(&[&cond]))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match sdk::conditional(res, "PutItem", self.table())? {
            Write::Applied(_) => Ok(None),
            Write::Rejected(Some(old)) => Ok(Some(self.decode(old)?)),
            // Rejected without the old item (a server that ignores ALL_OLD): read it; gone
            // again meanwhile, it counts as present with nothing to compare.
            Write::Rejected(None) => Ok(Some(
                self.get(&item.pk).await?.unwrap_or_else(|| item.clone()),
            )),
        }
    }

    /// Sets a video's caption files when they changed. A done video goes back to `pending`
    /// for a captions-only redo (attempts reset); a pending or failed one just gets the new
    /// list (its next attempt reads it); one in progress is left alone, since its worker
    /// read the old list (re-run `seed` after it ends). Conditioned on the version read.
    pub async fn update_captions(
        &self,
        old: &VideoItem,
        captions: &[CaptionFile],
    ) -> Result<CaptionUpdate, StoreError> {
        let list =
            serde_dynamo::to_attribute_value(captions).map_err(|source| StoreError::Malformed {
                video: old.pk.clone(),
                table: self.table().to_string(),
                source,
            })?;
        if old.state == VideoState::InProgress {
            return Ok(CaptionUpdate::Busy);
        }
        let redo = old.state == VideoState::Done;
        let reopen = if redo {
            Reopen::Redo("captions")
        } else {
            Reopen::No
        };
        let set = format!("#{CAPTIONS} = :c");
        match self.revise(old, &set, vec![(":c", list)], reopen).await? {
            true if redo => {
                self.count_quietly(Counter::Done, -1).await;
                Ok(CaptionUpdate::Redo)
            }
            true => Ok(CaptionUpdate::Updated),
            false => Ok(CaptionUpdate::Busy),
        }
    }

    /// Points a video at another output (`seed --update-output`). A pending or failed video
    /// takes it (and one that failed because of its output goes back to `pending`, attempts
    /// reset); a done one keeps its stream where it is; one in progress, or changed since it
    /// was read, is left alone. Conditioned on the version read.
    pub async fn update_output(
        &self,
        old: &VideoItem,
        bucket: &str,
        prefix: &str,
    ) -> Result<OutputUpdate, StoreError> {
        match old.state {
            VideoState::InProgress => return Ok(OutputUpdate::Busy),
            VideoState::Done => return Ok(OutputUpdate::DoneKept),
            _ => {}
        }
        let requeue = old.state == VideoState::Failed
            && old.error_kind.as_deref() == Some(FailureKind::Output.as_str());
        let reopen = if requeue { Reopen::Fresh } else { Reopen::No };
        let set = format!("#{OUT_BUCKET} = :b, #{OUT_PREFIX} = :p");
        let values = vec![(":b", s(bucket)), (":p", s(prefix))];
        match self.revise(old, &set, values, reopen).await? {
            true if requeue => {
                self.count_quietly(Counter::Failed, -1).await;
                Ok(OutputUpdate::Requeued)
            }
            true => Ok(OutputUpdate::Moved),
            false => Ok(OutputUpdate::Busy),
        }
    }

    /// One conditional UpdateItem on `old` at the version read: `set` (with `values`), the
    /// version bumped, and, as `reopen` says, the video back to `pending` (attempts reset, in
    /// its shard, claimable now, no lease, progress or finish time). Returns whether it was
    /// applied (not: a worker took it, or someone changed it since).
    async fn revise(
        &self,
        old: &VideoItem,
        set: &str,
        values: Vec<(&str, AttributeValue)>,
        reopen: Reopen<'_>,
    ) -> Result<bool, StoreError> {
        let cond = format!("#{REV} = :rev");
        let pending = format!(
            "#{STATE} = :pending, #{ATTEMPTS} = :zero, #{SHARD} = :shard, #{READY_AT} = :now"
        );
        let gone = format!("REMOVE #{LEASE_EXPIRES}, #{PROGRESS}, #{FINISHED_AT}");
        let update = match reopen {
            Reopen::No => format!("SET {set}, #{REV} = #{REV} + :one"),
            Reopen::Redo(_) => {
                format!("SET {set}, #{REV} = #{REV} + :one, {pending}, #{REDO} = :redo {gone}")
            }
            Reopen::Fresh => {
                format!("SET {set}, #{REV} = #{REV} + :one, {pending} {gone}, #{REDO}")
            }
        };
        let mut req = self
            .client
            .update_item()
            .table_name(self.table())
            .key(PK, s(&old.pk))
            .update_expression(&update)
            .condition_expression(&cond)
            .set_expression_attribute_names(expr::names(&[&update, &cond]))
            .expression_attribute_values(":rev", n(old.rev))
            .expression_attribute_values(":one", n(1));
        for (name, value) in values {
            req = req.expression_attribute_values(name, value);
        }
        if let Reopen::Redo(redo) = reopen {
            req = req.expression_attribute_values(":redo", s(redo));
        }
        if !matches!(reopen, Reopen::No) {
            req = req
                .expression_attribute_values(":pending", s(VideoState::Pending.as_str()))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":shard", s(shard_of(&old.pk, self.shards())))
                .expression_attribute_values(":now", n(self.clock.now_ms()));
        }
        Ok(matches!(
            sdk::conditional(req.send().await, "UpdateItem", self.table())?,
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
             REMOVE #{LEASE_EXPIRES}, #{PROGRESS}, #{FINISHED_AT}, #{REDO}"
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
            // A retried video is re-entered work: ahead of the fresh backlog.
            .expression_attribute_values(":shard", s(reentry_shard(&shard_of(pk, self.shards()))))
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

/// What [`DynamoStore::update_captions`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptionUpdate {
    /// A done video was queued for a captions-only redo.
    Redo,
    /// A pending or failed video got the new list.
    Updated,
    /// In progress (or changed since it was read): left alone.
    Busy,
}

/// What `update_output` did to one video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputUpdate {
    /// Pending or failed: it now points at the new output.
    Moved,
    /// It had failed because of its output: moved and back to `pending`.
    Requeued,
    /// Done: its stream stays at the old output.
    DoneKept,
    /// A worker holds it (or it changed since it was read): untouched.
    Busy,
}

/// Whether [`DynamoStore::revise`] puts the video back to `pending`, and how.
#[derive(Debug, Clone, Copy)]
enum Reopen<'a> {
    /// It stays in its state.
    No,
    /// Back to `pending` for a narrower redo (`captions`).
    Redo(&'a str),
    /// Back to `pending` for a whole new job.
    Fresh,
}
