//! A holder's writes: heartbeat, complete, fail, release. Each is one UpdateItem conditioned on
//! `holder` + `token` + `in_progress`, so a stale holder's write is always rejected.

use super::attrs::{
    ATTEMPTS, DURATION_S, ERROR, ERRORS, ERROR_KIND, FFMPEG_ARGS, FINISHED_AT, HOLDER, LADDER,
    LAPSED, LEASE_EXPIRES, OUTPUT, PK, PROGRESS, READY_AT, REDO, REV, SHARD, STATE, TOKEN,
    WARNINGS,
};
use super::expr;
use super::registry::Counter;
use super::sdk::{self, n, s, Write};
use super::DynamoStore;
use crate::domain::video::AfterFailure;
use crate::domain::{Progress, VideoItem, VideoState};
use crate::error::StoreError;
use crate::store::{Completion, Failure, Lease, Renewal};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use std::collections::HashMap;
use tokio::time::Instant;
use tracing::{info, warn};

/// The fencing condition every holder write carries.
fn held() -> String {
    format!("#{HOLDER} = :holder AND #{TOKEN} = :token AND #{STATE} = :in_progress")
}

/// The bodies of `VideoStore`'s holder verbs, named like them (inherent methods take
/// precedence over the trait's, which forward here).
impl DynamoStore {
    pub(super) async fn heartbeat(
        &self,
        lease: &Lease,
        progress: Option<&Progress>,
    ) -> Result<Renewal, StoreError> {
        let sent = Instant::now();
        let t = &self.cfg.timings;
        let expires = t.expiry_from(lease.wall_now());
        // Only attributes the condition does not read, so an SDK retry of an applied heartbeat
        // passes the condition again. `ready_at` moves with the lease: a held video stays out
        // of the claimers' `ready_at <= now` window for as long as it is heartbeated, so
        // running jobs never crowd claimable videos out of a shard's first page (one index
        // update per heartbeat is the price; docs/DESIGN.md).
        let mut values = vec![(":exp", n(expires)), (":ready", n(t.takeover_at(expires)))];
        let update = match progress {
            Some(p) => {
                let p = Progress {
                    at: Some(self.clock.now_ms()),
                    ..p.clone()
                };
                values.push((":progress", AttributeValue::M(to_map(&p)?)));
                format!(
                    "SET #{LEASE_EXPIRES} = :exp, #{READY_AT} = :ready, #{PROGRESS} = :progress"
                )
            }
            None => format!("SET #{LEASE_EXPIRES} = :exp, #{READY_AT} = :ready"),
        };
        // Never backwards: a heartbeat delivered late (held in the network, or an SDK retry's
        // first attempt landing after a newer heartbeat) must not shorten the lease a newer one
        // set. (A wall clock stepped back cannot cause one: the expiry is computed from the
        // claim's wall time plus monotonic time, `Lease::wall_now`.)
        let not_shorter = format!("#{LEASE_EXPIRES} <= :exp");
        match self
            .holder_write_if(lease, &update, Some(&not_shorter), values)
            .await?
        {
            Ok(()) => Ok(Renewal {
                expires,
                deadline: sent + t.local_validity(),
            }),
            // Still ours, already extended further (by a newer heartbeat): the lease holds at
            // least until our own expiry, which is our send time plus the lease on the
            // claim-anchored clock, so the deadline measured from our send time stays on the
            // safe side. Had the expiry come from a wall clock stepped back, it would not:
            // the table's expiry could then precede our send time plus the lease.
            Err(Some(old))
                if same_holder(&old, lease)
                    && old.state == VideoState::InProgress
                    && old.lease_expires.is_some_and(|e| e > expires) =>
            {
                Ok(Renewal {
                    expires: old.lease_expires.unwrap_or(expires),
                    deadline: sent + t.local_validity(),
                })
            }
            Err(old) => Err(lost(lease, old.as_ref())),
        }
    }

    pub(super) async fn complete(
        &self,
        lease: &Lease,
        done: &Completion,
    ) -> Result<(), StoreError> {
        let mut values = vec![
            (":done", s(VideoState::Done.as_str())),
            (":one", n(1)),
            (":output", s(&done.output)),
            (":now", n(self.clock.now_ms())),
            (":args", string_list(&done.ffmpeg_args)),
        ];
        let mut update = format!(
            "SET #{STATE} = :done, #{REV} = #{REV} + :one, #{OUTPUT} = :output, \
             #{FINISHED_AT} = :now, #{FFMPEG_ARGS} = :args"
        );
        if let Some(d) = done.duration_s {
            update.push_str(&format!(", #{DURATION_S} = :dur"));
            values.push((":dur", n(d)));
        }
        if !done.warnings.is_empty() {
            update.push_str(&format!(", #{WARNINGS} = :warnings"));
            values.push((":warnings", string_list(&done.warnings)));
        }
        if let Some(l) = &done.ladder {
            update.push_str(&format!(", #{LADDER} = :ladder"));
            values.push((":ladder", s(l)));
        }
        update.push_str(&format!(
            " REMOVE #{SHARD}, #{READY_AT}, #{LEASE_EXPIRES}, #{PROGRESS}, #{ERROR}, \
             #{ERROR_KIND}, #{REDO}"
        ));
        if done.warnings.is_empty() {
            update.push_str(&format!(", #{WARNINGS}"));
        }
        if done.ladder.is_none() {
            update.push_str(&format!(", #{LADDER}"));
        }
        let r = match self.holder_write(lease, &update, values).await? {
            Ok(()) => {
                info!(video = %lease.id(), token = lease.token, "done");
                Ok(())
            }
            // Our own retried write: the first attempt was applied.
            Err(Some(old)) if old.state == VideoState::Done && same_holder(&old, lease) => Ok(()),
            Err(old) => Err(lost(lease, old.as_ref())),
        };
        if r.is_ok() {
            self.count_quietly(Counter::Done, 1).await;
        }
        r
    }

    pub(super) async fn fail(
        &self,
        lease: &Lease,
        failure: &Failure,
    ) -> Result<VideoState, StoreError> {
        let now = self.clock.now_ms();
        let jitter = rand::random_range(0.5..=1.0);
        let next = self
            .cfg
            .retry
            .after(failure.kind, lease.video.attempts, now, jitter);
        let entry = format!(
            "attempt {} by {} at {}: {}: {}",
            lease.video.attempts,
            lease.holder,
            chrono::DateTime::from_timestamp_millis(now)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default(),
            failure.kind.as_str(),
            failure.message.chars().take(2000).collect::<String>()
        );
        let mut values = vec![
            (":one", n(1)),
            (":error", s(&failure.message)),
            (":kind", s(failure.kind.as_str())),
            (":entry", AttributeValue::L(vec![s(entry)])),
            (":none", AttributeValue::L(vec![])),
        ];
        let mut update = format!(
            "SET #{STATE} = :next, #{REV} = #{REV} + :one, #{ERROR} = :error, \
             #{ERROR_KIND} = :kind, #{ERRORS} = list_append(if_not_exists(#{ERRORS}, :none), :entry)"
        );
        if let Some(args) = &failure.ffmpeg_args {
            update.push_str(&format!(", #{FFMPEG_ARGS} = :args"));
            values.push((":args", string_list(args)));
        }
        let state = match next {
            AfterFailure::RetryAt(at) => {
                update.push_str(&format!(
                    ", #{READY_AT} = :at REMOVE #{LEASE_EXPIRES}, #{PROGRESS}"
                ));
                values.push((":at", n(at)));
                VideoState::Pending
            }
            AfterFailure::GiveUp => {
                update.push_str(&format!(
                    ", #{FINISHED_AT} = :now \
                     REMOVE #{SHARD}, #{READY_AT}, #{LEASE_EXPIRES}, #{PROGRESS}"
                ));
                values.push((":now", n(now)));
                VideoState::Failed
            }
        };
        values.push((":next", s(state.as_str())));
        let r = match self.holder_write(lease, &update, values).await? {
            Ok(()) => {
                warn!(video = %lease.id(), token = lease.token, %state, error = %failure.message, "attempt failed");
                Ok(state)
            }
            Err(Some(old)) if old.state == state && same_holder(&old, lease) => Ok(state),
            Err(old) => Err(lost(lease, old.as_ref())),
        };
        if r.as_ref().is_ok_and(|s| *s == VideoState::Failed) {
            self.count_quietly(Counter::Failed, 1).await;
        }
        r
    }

    pub(super) async fn release_with(
        &self,
        lease: &Lease,
        reason: &str,
        return_attempt: bool,
    ) -> Result<(), StoreError> {
        let mut values = vec![
            (":pending", s(VideoState::Pending.as_str())),
            (":one", n(1)),
            (":now", n(self.clock.now_ms())),
            (":reason", s(format!("released: {reason}"))),
        ];
        if !return_attempt {
            values.push((":zero", n(0)));
        }
        // The attempt is returned: being interrupted is not the video's fault. The reason is
        // kept so that `report` shows why a video went back (a full disk, a shutdown). A
        // holder that stalled past its lease keeps the attempt, counted as lapsed.
        let counted = if return_attempt {
            format!("#{ATTEMPTS} = #{ATTEMPTS} - :one")
        } else {
            format!("#{LAPSED} = if_not_exists(#{LAPSED}, :zero) + :one")
        };
        let update = format!(
            "SET #{STATE} = :pending, #{REV} = #{REV} + :one, {counted}, \
             #{READY_AT} = :now, #{ERROR} = :reason \
             REMOVE #{LEASE_EXPIRES}, #{PROGRESS}, #{ERROR_KIND}"
        );
        match self.holder_write(lease, &update, values).await? {
            Ok(()) => {
                info!(video = %lease.id(), token = lease.token, reason, "released");
                Ok(())
            }
            Err(Some(old)) if old.state == VideoState::Pending && same_holder(&old, lease) => {
                Ok(())
            }
            Err(old) => Err(lost(lease, old.as_ref())),
        }
    }

    /// Sends one fenced UpdateItem. `Ok(Err(old))` is a rejected condition with the item as
    /// it was.
    async fn holder_write(
        &self,
        lease: &Lease,
        update: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Result<(), Option<VideoItem>>, StoreError> {
        self.holder_write_if(lease, update, None, values).await
    }

    /// [`Self::holder_write`], with `also` added to the fencing condition.
    async fn holder_write_if(
        &self,
        lease: &Lease,
        update: &str,
        also: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Result<(), Option<VideoItem>>, StoreError> {
        let held = match also {
            Some(c) => format!("{} AND {c}", held()),
            None => held(),
        };
        let mut req = self
            .client
            .update_item()
            .table_name(self.table())
            .key(PK, s(lease.id()))
            .update_expression(update)
            .condition_expression(&held)
            .set_expression_attribute_names(expr::names(&[update, &held]))
            .expression_attribute_values(":holder", s(&lease.holder))
            .expression_attribute_values(":token", n(lease.token))
            .expression_attribute_values(":in_progress", s(VideoState::InProgress.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        match sdk::conditional(req.send().await, "UpdateItem", self.table())? {
            Write::Applied(_) => Ok(Ok(())),
            Write::Rejected(old) => Ok(Err(old.map(|o| self.decode(o)).transpose()?)),
        }
    }
}

fn same_holder(old: &VideoItem, lease: &Lease) -> bool {
    old.token == lease.token && old.holder.as_deref() == Some(lease.holder.as_str())
}

fn lost(lease: &Lease, old: Option<&VideoItem>) -> StoreError {
    StoreError::LeaseLost {
        video: lease.id().to_string(),
        token: lease.token,
        state: old.map(|o| o.state),
        holder: old.and_then(|o| o.holder.clone()),
        now_token: old.map(|o| o.token),
    }
}

impl DynamoStore {
    /// Counts a state change the write above made; a failure only costs the summary's accuracy.
    pub(super) async fn count_quietly(&self, c: Counter, by: i64) {
        if let Err(e) = self.count(c, by).await {
            warn!(error = %crate::error::chain(&e), "counter not updated");
        }
    }
}

fn string_list(v: &[String]) -> AttributeValue {
    AttributeValue::L(v.iter().map(|a| s(a.as_str())).collect())
}

fn to_map(p: &Progress) -> Result<HashMap<String, AttributeValue>, StoreError> {
    serde_dynamo::to_item(p).map_err(|source| StoreError::Malformed {
        video: String::new(),
        table: String::new(),
        source,
    })
}
