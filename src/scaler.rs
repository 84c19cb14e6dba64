//! The scaler: once a minute (an EventBridge schedule invokes the `fleet-scaler` Lambda), read
//! the backlog (from the counters when it is large, counted through the `ready` index when it
//! is small or the last count is an hour old: [`DynamoStore::backlog`]), publish it as metrics, and set the group's desired
//! capacity by [`crate::domain::scaling::decide`]. It runs outside the group, so it works while
//! no instance does: that is how the fleet scales out from zero.

use crate::aws::asg::{Asg, AsgError};
use crate::domain::scaling::{self, Decision, Observed, ScalePolicy};
use crate::error::StoreError;
use crate::store::dynamo::{Backlog, BacklogSource, DynamoStore};
use crate::store::VideoStore;
use crate::telemetry::emf::{Metrics, Unit};
use serde::Serialize;
use serde_json::json;

/// A tick that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ScalerError {
    /// The table could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The group could not be read or resized.
    #[error(transparent)]
    Asg(#[from] AsgError),
}

/// What one tick saw and did (the Lambda's response, and a log line).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tick {
    /// Open videos.
    pub open: u64,
    /// Claimable now.
    pub claimable: u64,
    /// Seconds the oldest claimable video has waited.
    pub oldest_claimable_age_s: f64,
    /// Whether the fleet is paused.
    pub paused: bool,
    /// Desired capacity before.
    pub before: u32,
    /// Instances booting or in service.
    pub existing: u32,
    /// Of those, protected from scale-in (busy or booting).
    pub protected: u32,
    /// Instances the backlog asks for.
    pub wanted: u32,
    /// Desired capacity after.
    pub desired: u32,
    /// Whether the backlog was counted through the index (else read from the counters).
    pub counted: bool,
    /// Requests the backlog read took.
    pub queries: u32,
    /// Read units they consumed.
    pub read_units: f64,
}

/// One tick.
pub async fn tick(
    store: &DynamoStore,
    asg: &Asg,
    policy: ScalePolicy,
    metrics: &Metrics,
    now: crate::clock::EpochMs,
) -> Result<Tick, ScalerError> {
    let b: Backlog = store.backlog().await?;
    let paused = store.is_paused().await?;
    let memory = store.scaler_memory().await?;
    let size = asg.size().await?;
    let d: Decision = scaling::decide(
        policy,
        Observed {
            open: b.open,
            paused,
            current: size.desired,
            min: size.min,
            max: size.max,
            existing: size.existing,
            protected: size.protected,
            memory,
            now,
        },
    );
    if d.memory != memory {
        store.set_scaler_memory(d.memory).await?;
    }
    if d.desired != size.desired {
        asg.set_desired(d.desired).await?;
        tracing::info!(
            group = asg.name(),
            from = size.desired,
            to = d.desired,
            open = b.open,
            "desired capacity changed"
        );
    }
    let age = b
        .oldest_claimable
        .map(|t| (now - t).max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    let t = Tick {
        open: b.open,
        claimable: b.claimable,
        oldest_claimable_age_s: age,
        paused,
        before: size.desired,
        existing: size.existing,
        protected: size.protected,
        wanted: d.wanted,
        desired: d.desired,
        counted: b.source == BacklogSource::Counted,
        queries: b.cost.requests,
        read_units: b.cost.read_units,
    };
    metrics.emit(
        &[
            ("Backlog", b.open as f64, Unit::Count),
            ("Claimable", b.claimable as f64, Unit::Count),
            ("Running", b.not_claimable() as f64, Unit::Count),
            ("OldestClaimableAgeSeconds", age, Unit::Seconds),
            ("DesiredInstances", f64::from(d.desired), Unit::Count),
        ],
        &[("group", json!(asg.name())), ("paused", json!(paused))],
    );
    Ok(t)
}
