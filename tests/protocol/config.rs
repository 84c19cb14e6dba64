//! The model's knobs: timing in ticks, how many workers and videos, which faults the network
//! and the machines may show, and one flag per defect of the old design.

/// Real time, in ticks.
pub type Time = i16;

/// The old design's defects, one flag each. `Old::default()` is the new design.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Old {
    /// The master PUT ignores `If-Match`/`If-None-Match` (only the local deadline at send is
    /// checked) and the holder does not HEAD the master's token first.
    pub unconditional_master_put: bool,
    /// Re-entries go to the one (fresh) lane with `ready_at = now`, behind older fresh videos.
    pub reentry_behind_backlog: bool,
    /// A lost compare-and-swap is reported as `Empty`, so the worker backs off.
    pub lost_race_is_empty: bool,
    /// The heartbeat lacks `lease_expires <= :new`: a late one can shorten the lease.
    pub heartbeat_may_shorten: bool,
    /// A release after a self-fence gives the attempt back.
    pub release_returns_attempt: bool,
    /// The scaler's backlog count reads every index entry instead of one counter item.
    pub backlog_scans_index: bool,
    /// What the worker did until this model found it: a failed attempt deleted its own uploads
    /// at once ("no master points at them"), even when its master PUT, timed out, could still
    /// land. Now an attempt whose PUT is unsure keeps them (`Job::publish_unsure`).
    pub failed_attempt_deletes_uploads: bool,
}

/// One model: bounds, timings, faults and design. Every field is small on purpose: the state
/// space grows with each of them.
#[derive(Clone, Debug)]
pub struct Config {
    /// Workers (one slot each).
    pub workers: u8,
    /// Videos, all seeded fresh at time 0.
    pub videos: u8,
    /// Real time stops advancing here.
    pub max_time: Time,
    /// What a claim or heartbeat adds to the sender's wall clock.
    pub lease: Time,
    /// A holder stops this long before `send + lease` (monotonic clock).
    pub margin: Time,
    /// The skew budget: a taker waits until `lease_expires < wall - skew`.
    pub skew: Time,
    /// Clock offsets worker 1 may have (worker 0 reads real time); one initial state each.
    /// Within the budget when every `|offset| <= skew`.
    pub offsets: Vec<Time>,
    /// Claims a video gets before a claimer gives it up (when its last lease lapsed).
    pub max_attempts: u8,
    /// Whether a worker that found nothing backs off. Without, it stays idle: it may then claim
    /// at any later step, which covers every length of pause, so only the liveness check and
    /// the lost-race scenario need pauses.
    pub backoffs: bool,
    /// How long a worker that found nothing to claim waits.
    pub backoff: Time,
    /// Heartbeats in flight at most (other requests are bounded by the workers).
    pub heartbeats_in_flight: usize,
    /// Whether requests may be lost (never delivered; the sender times out).
    pub losses: bool,
    /// Crashes (the worker forgets its lease and starts over) allowed in a run.
    pub crashes: u8,
    /// Shutdown releases (which give the attempt back) allowed in a run.
    pub shutdowns: u8,
    /// Whether a holder may fail a job transiently (back to pending, retried after a tick).
    pub failures: bool,
    /// Whether the scaler counts the backlog (once).
    pub scaler: bool,
    /// The bound of "a re-entered video waits at most B claims".
    pub reentry_wait: u8,
    /// Check "every video ends done or failed" (only meaningful without losses or crashes).
    pub liveness: bool,
    /// Which design.
    pub old: Old,
}

impl Config {
    /// Two workers, one video, an unreliable network: skew within budget either way, requests
    /// delayed, reordered and lost.
    pub fn lossy() -> Self {
        Self {
            workers: 2,
            videos: 1,
            max_time: 6,
            lease: 4,
            margin: 1,
            skew: 1,
            offsets: vec![-1, 1],
            max_attempts: 2,
            backoffs: false,
            backoff: 2,
            heartbeats_in_flight: 2,
            losses: true,
            crashes: 0,
            shutdowns: 0,
            failures: false,
            scaler: false,
            reentry_wait: 2,
            liveness: false,
            old: Old::default(),
        }
    }

    /// Two workers, one video, unreliable machines: a crash and transient failures (also of a
    /// PUT that timed out but may still land), requests delayed but not lost.
    pub fn crashy() -> Self {
        Self {
            losses: false,
            crashes: 1,
            failures: true,
            heartbeats_in_flight: 0,
            max_time: 5,
            offsets: vec![1],
            ..Self::lossy()
        }
    }

    /// Two workers, one video, a shutdown release (which gives the attempt back) among
    /// delayed requests.
    pub fn shutdown() -> Self {
        Self {
            losses: false,
            shutdowns: 1,
            heartbeats_in_flight: 0,
            max_time: 5,
            ..Self::lossy()
        }
    }

    /// Requests delayed but never lost, no crashes or failures, so that "every video ends done
    /// or failed" must hold on every path.
    pub fn reliable() -> Self {
        Self {
            losses: false,
            backoffs: true,
            liveness: true,
            max_time: 5,
            ..Self::lossy()
        }
    }

    /// One worker and a backlog of fresh videos behind one that will re-enter.
    pub fn backlog() -> Self {
        Self {
            workers: 1,
            videos: 4,
            max_time: 4,
            offsets: vec![0],
            losses: false,
            crashes: 0,
            shutdowns: 0,
            failures: false,
            heartbeats_in_flight: 0,
            ..Self::lossy()
        }
    }

    /// Two workers racing for the head of a two-video queue.
    pub fn race() -> Self {
        Self {
            workers: 2,
            videos: 2,
            max_time: 3,
            backoffs: true,
            offsets: vec![0],
            heartbeats_in_flight: 0,
            ..Self::backlog()
        }
    }

    /// The scaler counting a backlog of two.
    pub fn scaler() -> Self {
        Self {
            videos: 2,
            max_time: 1,
            scaler: true,
            ..Self::backlog()
        }
    }

    /// The same model with `old` selecting the design.
    pub fn with(self, old: Old) -> Self {
        Self { old, ..self }
    }

    /// The local validity of a claim or heartbeat sent at `sent`.
    pub fn deadline(&self, sent: Time) -> Time {
        sent + self.lease - self.margin
    }
}
