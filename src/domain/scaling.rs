//! How many instances the fleet should run, from its backlog: the scaler Lambda's one decision.
//!
//! The rule is "enough instances for every open video to have a slot", capped by the group's
//! size limits, with four brakes that a bill notices when they are missing:
//!
//! - **Bounded steps out.** The desired capacity never exceeds the instances that exist
//!   (booting or in service) plus `max(step, existing)`: the fleet at most doubles a minute.
//!   A young account's vCPU quota makes launches fail; the group then holds fewer instances
//!   than it was asked for, and the ask stays near what actually runs instead of jumping to
//!   `max_size` and failing there.
//! - **Hysteresis in.** A smaller need must hold for `settle` before the group shrinks, and
//!   then it shrinks to the largest need seen over that window, so a trickle of uploads does
//!   not flap N ↔ N+1.
//! - **Never below the protected.** Busy workers protect their instance from scale-in, and so
//!   does every new instance until its worker is up and idle (the group launches instances
//!   protected): shrinking below the protected count would make the group terminate a booting
//!   instance, whose boot was paid for, or fail to shrink at all.
//! - **Zero waits** for the backlog to have stayed empty for the idle period the user chose.

use crate::clock::EpochMs;
use std::time::Duration;

/// The user's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalePolicy {
    /// Videos one instance works on at once (the worker's concurrency).
    pub slots_per_instance: u32,
    /// How long the backlog must stay empty before the fleet goes to zero.
    pub idle: Duration,
    /// How long a smaller need must hold before the fleet shrinks above zero.
    pub settle: Duration,
    /// Instances one tick may add beyond those that exist, at least (doubling goes further).
    pub step: u32,
}

impl ScalePolicy {
    /// The defaults the Lambda runs with: 5 minutes of settling, steps of 10.
    pub fn new(slots_per_instance: u32, idle: Duration) -> Self {
        Self {
            slots_per_instance,
            idle,
            settle: Duration::from_secs(5 * 60),
            step: 10,
        }
    }
}

/// What the scaler remembers between ticks (in the table's `#scaler` item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    /// Since when the backlog has been empty.
    pub idle_since: Option<EpochMs>,
    /// Since when the need has been below the desired capacity, and the largest need seen
    /// since then.
    pub low: Option<(EpochMs, u32)>,
}

/// What the scaler read this minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    /// Open videos: claimable now, waiting for a retry, or running.
    pub open: u64,
    /// The fleet is paused: workers claim nothing, so none are needed beyond the busy ones.
    pub paused: bool,
    /// The group's desired capacity now.
    pub current: u32,
    /// The group's size limits.
    pub min: u32,
    /// The group's size limits.
    pub max: u32,
    /// Instances in the group that are booting or in service (not leaving).
    pub existing: u32,
    /// Of those, protected from scale-in (busy, or not yet up).
    pub protected: u32,
    /// The previous ticks.
    pub memory: Memory,
    /// Now.
    pub now: EpochMs,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The desired capacity to set (equal to `current` when nothing changes).
    pub desired: u32,
    /// Instances the backlog asks for, before the limits, brakes and the idle period.
    pub wanted: u32,
    /// What to remember for the next tick.
    pub memory: Memory,
}

fn held(since: EpochMs, now: EpochMs, d: Duration) -> bool {
    u128::try_from(now.saturating_sub(since)).unwrap_or(0) >= d.as_millis()
}

/// The decision for one minute.
pub fn decide(policy: ScalePolicy, o: Observed) -> Decision {
    let slots = u64::from(policy.slots_per_instance.max(1));
    let wanted = if o.paused {
        0
    } else {
        u32::try_from(o.open.div_ceil(slots)).unwrap_or(u32::MAX)
    };
    let clamp = |n: u32| n.clamp(o.min, o.max.max(o.min));
    let idle_since = (wanted == 0).then(|| o.memory.idle_since.unwrap_or(o.now));
    // Never below the protected when shrinking, never above `current` either.
    let shrunk = |n: u32| clamp(n.max(o.protected)).min(o.current.max(o.min));
    let (desired, low) = if wanted > o.current {
        let ceiling = o.existing.saturating_add(policy.step.max(o.existing));
        (clamp(wanted.min(ceiling.max(o.protected))), None)
    } else if wanted == o.current {
        (clamp(o.current), None)
    } else if let Some(since) = idle_since {
        // Nothing open: to zero (or the protected) after the idle period.
        let idle = held(since, o.now, policy.idle);
        (if idle { shrunk(0) } else { o.current }, None)
    } else {
        // A smaller need: after it held for the settling window, to the window's largest.
        let (since, peak) = match o.memory.low {
            Some((since, peak)) => (since, peak.max(wanted)),
            None => (o.now, wanted),
        };
        if held(since, o.now, policy.settle) {
            (shrunk(peak), None)
        } else {
            (o.current, Some((since, peak)))
        }
    };
    Decision {
        desired,
        wanted,
        memory: Memory { idle_since, low },
    }
}

#[cfg(test)]
mod tests;
