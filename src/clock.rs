//! Wall-clock time behind a trait, so that tests can skew one worker's clock against another's.
//!
//! Lease expiries are wall-clock instants written by one machine and compared by another, so
//! they cannot use `Instant`. Local deadlines (self-fencing) use tokio's monotonic `Instant`
//! instead, which `tokio::time::pause()` controls in tests.

use std::sync::Arc;

/// Milliseconds since the Unix epoch, as DynamoDB stores them.
pub type EpochMs = i64;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current wall-clock time.
    fn now_ms(&self) -> EpochMs;
}

/// The machine's real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> EpochMs {
        chrono::Utc::now().timestamp_millis()
    }
}

/// The real clock shifted by a fixed offset: a machine whose clock runs ahead (positive) or
/// behind (negative). Used by tests to prove the skew budget.
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock {
    /// How far this clock is ahead of the real one, in milliseconds.
    pub offset_ms: i64,
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> EpochMs {
        SystemClock.now_ms() + self.offset_ms
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}
