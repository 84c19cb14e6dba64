//! Lease arithmetic: when a lease is live, when a taker may take it over, when a holder must
//! stop. Pure functions of explicit times, so every case is unit-tested without a server.
//!
//! The safety argument (see `docs/DESIGN.md`): a holder reads its monotonic clock *before*
//! sending a claim or heartbeat that sets `expires = wall_now + lease`, and stops working at
//! `instant_before_send + lease - margin` unless a later heartbeat is confirmed. A taker only
//! takes over once its own wall clock passes `expires + skew`. If no two machines' clocks
//! differ by more than `skew`, the taker starts after real time `send + lease`, and the holder
//! has stopped `margin` before that.

use crate::clock::EpochMs;
use std::time::Duration;

/// The timing knobs of the lease protocol, validated together because they only make sense
/// together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimings {
    /// How long a claim or heartbeat keeps the video ours without another heartbeat.
    pub lease: Duration,
    /// How often the holder extends its lease. At most a third of `lease`, so two heartbeats
    /// can fail (throttling, a network blip) before the lease is in danger.
    pub heartbeat: Duration,
    /// The largest wall-clock difference between two machines that the protocol tolerates.
    /// A taker waits this long past `expires` before taking a video over.
    pub skew: Duration,
    /// How long before its lease ends a holder stops on its own (self-fencing): time to kill
    /// ffmpeg and cancel uploads, plus monotonic clock drift.
    pub margin: Duration,
}

impl Default for LeaseTimings {
    /// 60 s leases heartbeated every 15 s, tolerating 5 s of clock skew (NTP-synchronised EC2
    /// instances are within milliseconds; 5 s covers a badly drifting laptop running a worker).
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(15),
            skew: Duration::from_secs(5),
            margin: Duration::from_secs(3),
        }
    }
}

/// Why a set of timings was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    /// A heartbeat period above a third of the lease leaves no room for a failed heartbeat.
    #[error("heartbeat every {heartbeat:?} is more than a third of the {lease:?} lease; use at most {max:?}")]
    HeartbeatTooSlow {
        /// The heartbeat asked for.
        heartbeat: Duration,
        /// The lease asked for.
        lease: Duration,
        /// The largest heartbeat allowed.
        max: Duration,
    },
    /// The holder would stop before it even started.
    #[error("self-fencing margin {margin:?} must be less than a third of the {lease:?} lease")]
    MarginTooLarge {
        /// The margin asked for.
        margin: Duration,
        /// The lease asked for.
        lease: Duration,
    },
    /// A zero duration where time must pass.
    #[error("lease and heartbeat must be longer than zero")]
    Zero,
}

impl LeaseTimings {
    /// Builds timings, refusing combinations that would let a lease lapse under a live holder.
    pub fn new(
        lease: Duration,
        heartbeat: Duration,
        skew: Duration,
        margin: Duration,
    ) -> Result<Self, TimingError> {
        if lease.is_zero() || heartbeat.is_zero() {
            return Err(TimingError::Zero);
        }
        let max = lease / 3;
        if heartbeat > max {
            return Err(TimingError::HeartbeatTooSlow {
                heartbeat,
                lease,
                max,
            });
        }
        if margin >= max {
            return Err(TimingError::MarginTooLarge { margin, lease });
        }
        Ok(Self {
            lease,
            heartbeat,
            skew,
            margin,
        })
    }

    /// The expiry a claim or heartbeat sent at wall time `now` writes.
    pub fn expiry_from(&self, now: EpochMs) -> EpochMs {
        now + ms(self.lease)
    }

    /// The wall time before which no other worker may take a lease expiring at `expires`:
    /// it is also the `ready_at` an in-progress item carries in the index.
    pub fn takeover_at(&self, expires: EpochMs) -> EpochMs {
        expires + ms(self.skew)
    }

    /// Whether a taker whose clock reads `now` may take over a lease expiring at `expires`.
    pub fn may_take_over(&self, expires: EpochMs, now: EpochMs) -> bool {
        now > self.takeover_at(expires)
    }

    /// The newest `expires` a takeover condition accepts when the taker's clock reads `now`.
    /// Sent to DynamoDB as `lease_expires < :cutoff`, so the check is atomic with the write.
    pub fn takeover_cutoff(&self, now: EpochMs) -> EpochMs {
        now - ms(self.skew)
    }

    /// How long after sending a write that set a new expiry the holder may keep working.
    pub fn local_validity(&self) -> Duration {
        self.lease.saturating_sub(self.margin)
    }
}

/// The delay before a video that failed for the `attempt`-th time is offered again:
/// exponential from `base`, capped at `cap`, scaled by `jitter` in `[0.5, 1.0]` so that
/// a burst of failures does not come back as a burst.
pub fn retry_delay(attempt: u32, base: Duration, cap: Duration, jitter: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let raw = base.saturating_mul(1u32 << exp).min(cap);
    raw.mul_f64(jitter.clamp(0.5, 1.0))
}

/// A duration in whole milliseconds, as stored in the table.
pub fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> LeaseTimings {
        LeaseTimings::default()
    }

    #[test]
    fn heartbeat_above_a_third_of_the_lease_is_refused() {
        let s = Duration::from_secs;
        assert!(matches!(
            LeaseTimings::new(s(30), s(11), s(1), s(1)),
            Err(TimingError::HeartbeatTooSlow { .. })
        ));
        assert!(LeaseTimings::new(s(30), s(10), s(1), s(1)).is_ok());
        assert_eq!(
            LeaseTimings::new(s(30), s(0), s(1), s(1)),
            Err(TimingError::Zero)
        );
        assert!(matches!(
            LeaseTimings::new(s(30), s(5), s(1), s(10)),
            Err(TimingError::MarginTooLarge { .. })
        ));
    }

    #[test]
    fn takeover_waits_for_expiry_plus_skew() {
        let t = t();
        let expires = t.expiry_from(1_000_000);
        assert_eq!(expires, 1_060_000);
        assert!(!t.may_take_over(expires, expires));
        assert!(!t.may_take_over(expires, expires + 5_000));
        assert!(t.may_take_over(expires, expires + 5_001));
        // The condition sent to DynamoDB agrees with the local check.
        let now = expires + 5_001;
        assert!(expires < t.takeover_cutoff(now));
        assert!(expires >= t.takeover_cutoff(expires + 5_000));
    }

    #[test]
    fn holder_stops_before_any_taker_within_the_skew_budget() {
        let t = t();
        // Holder's clock is `skew` behind real time, taker's `skew/2` ahead: worst case within
        // budget is |difference| <= skew, so test the extremes of the budget.
        for (holder_off, taker_off) in [(-5_000i64, 0i64), (0, 5_000), (-2_500, 2_500), (0, 0)] {
            let real_send = 10_000_000i64;
            let expires = t.expiry_from(real_send + holder_off);
            // Holder stops at real_send + lease - margin (monotonic clock).
            let holder_stop = real_send + ms(t.local_validity());
            // The earliest real time at which the taker's clock passes the takeover point.
            let taker_start = t.takeover_at(expires) - taker_off + 1;
            assert!(
                holder_stop < taker_start,
                "offsets {holder_off}/{taker_off}: holder stops {holder_stop}, taker starts {taker_start}"
            );
        }
    }

    #[test]
    fn skew_beyond_budget_is_what_breaks_the_promise() {
        // Negative control: the arithmetic is not vacuous; a taker 10 s ahead can start early.
        let t = t();
        let real_send = 10_000_000i64;
        let expires = t.expiry_from(real_send);
        let holder_stop = real_send + ms(t.local_validity());
        let taker_start = t.takeover_at(expires) - 10_000 + 1;
        assert!(taker_start < holder_stop);
    }

    #[test]
    fn retry_delay_grows_and_is_capped() {
        let b = Duration::from_secs(30);
        let cap = Duration::from_secs(600);
        assert_eq!(retry_delay(1, b, cap, 1.0), Duration::from_secs(30));
        assert_eq!(retry_delay(2, b, cap, 1.0), Duration::from_secs(60));
        assert_eq!(retry_delay(3, b, cap, 1.0), Duration::from_secs(120));
        assert_eq!(retry_delay(30, b, cap, 1.0), cap);
        assert_eq!(retry_delay(2, b, cap, 0.5), Duration::from_secs(30));
        assert_eq!(retry_delay(2, b, cap, 0.0), Duration::from_secs(30));
    }
}
