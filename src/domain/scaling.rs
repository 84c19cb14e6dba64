//! How many instances the fleet should run, from its backlog: the scaler Lambda's one decision.
//!
//! The rule is "enough instances for every open video to have a slot", capped by the group's
//! size limits. Scaling out is immediate (a `seed` should not wait); scaling in to a smaller
//! non-zero size is immediate too, because busy workers protect themselves from scale-in and the
//! group can only take idle ones. Going to zero waits for the backlog to have stayed empty for
//! the idle period the user chose, so that a trickle of uploads does not cold-start the fleet
//! every few minutes.

use crate::clock::EpochMs;
use std::time::Duration;

/// The user's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalePolicy {
    /// Videos one instance works on at once (the worker's concurrency).
    pub slots_per_instance: u32,
    /// How long the backlog must stay empty before the fleet goes to zero.
    pub idle: Duration,
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
    /// Since when the backlog has been empty (from the previous minutes), if it has.
    pub idle_since: Option<EpochMs>,
    /// Now.
    pub now: EpochMs,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The desired capacity to set (equal to `current` when nothing changes).
    pub desired: u32,
    /// Instances the backlog asks for, before the limits and the idle period.
    pub wanted: u32,
    /// Since when the backlog has been empty, to remember for the next minute.
    pub idle_since: Option<EpochMs>,
}

/// The decision for one minute.
pub fn decide(policy: ScalePolicy, o: Observed) -> Decision {
    let slots = u64::from(policy.slots_per_instance.max(1));
    let wanted = if o.paused {
        0
    } else {
        u32::try_from(o.open.div_ceil(slots)).unwrap_or(u32::MAX)
    };
    let idle_since = (wanted == 0).then(|| o.idle_since.unwrap_or(o.now));
    let clamp = |n: u32| n.clamp(o.min, o.max.max(o.min));
    let desired = if wanted > 0 {
        clamp(wanted)
    } else {
        let idle_for = o.now.saturating_sub(idle_since.unwrap_or(o.now));
        if u128::try_from(idle_for).unwrap_or(0) >= policy.idle.as_millis() {
            clamp(0)
        } else {
            o.current
        }
    };
    Decision {
        desired,
        wanted,
        idle_since,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn policy() -> ScalePolicy {
        ScalePolicy {
            slots_per_instance: 2,
            idle: Duration::from_secs(15 * 60),
        }
    }

    fn seen(open: u64, current: u32) -> Observed {
        Observed {
            open,
            paused: false,
            current,
            min: 0,
            max: 20,
            idle_since: None,
            now: 1_000 * MIN,
        }
    }

    #[test]
    fn a_seed_scales_out_from_zero_at_once_to_a_slot_per_video() {
        assert_eq!(decide(policy(), seen(1, 0)).desired, 1);
        assert_eq!(decide(policy(), seen(7, 0)).desired, 4);
        assert_eq!(decide(policy(), seen(8, 2)).desired, 4);
    }

    #[test]
    fn the_group_maximum_caps_a_large_backlog() {
        let d = decide(policy(), seen(50_000, 2));
        assert_eq!((d.desired, d.wanted), (20, 25_000));
    }

    #[test]
    fn a_shrinking_backlog_scales_in_to_what_it_still_needs() {
        assert_eq!(decide(policy(), seen(3, 10)).desired, 2);
    }

    #[test]
    fn an_empty_backlog_waits_out_the_idle_period_before_zero() {
        let first = decide(policy(), seen(0, 3));
        assert_eq!((first.desired, first.idle_since), (3, Some(1_000 * MIN)));
        let mut later = seen(0, 3);
        later.idle_since = first.idle_since;
        later.now += 14 * MIN;
        assert_eq!(decide(policy(), later).desired, 3, "14 of 15 minutes");
        later.now += MIN;
        assert_eq!(decide(policy(), later).desired, 0, "15 minutes idle");
    }

    #[test]
    fn work_arriving_resets_the_idle_clock() {
        let mut o = seen(2, 3);
        o.idle_since = Some(o.now - 60 * MIN);
        let d = decide(policy(), o);
        assert_eq!((d.desired, d.idle_since), (1, None));
    }

    #[test]
    fn the_group_minimum_is_respected_even_when_idle() {
        let mut o = seen(0, 3);
        o.min = 1;
        o.idle_since = Some(o.now - 60 * MIN);
        assert_eq!(decide(policy(), o).desired, 1);
    }

    #[test]
    fn a_paused_fleet_needs_no_instances_after_the_idle_period() {
        let mut o = seen(500, 4);
        o.paused = true;
        assert_eq!(decide(policy(), o).desired, 4, "not at once");
        o.idle_since = Some(o.now - 15 * MIN);
        assert_eq!(decide(policy(), o).desired, 0);
    }
}
