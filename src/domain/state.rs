//! The states a video goes through. The words are part of the contract: operators' scripts,
//! `report --json` and the tests rely on `pending`, `in_progress`, `done` and `failed`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a video stands.
///
/// ```text
///            seed                 claim (conditional Put, token+1)
///   (none) ───────▶ pending ─────────────────────────────▶ in_progress
///                     ▲  ▲                                   │  │  │
///                     │  └──── release / retryable fail ─────┘  │  │
///                     │        (attempts < max, with backoff)   │  │
///                     │                                         │  │ complete
///            retry    │      fail: invalid input, or attempts   │  ▼
///   failed ◀──────────┼───── exhausted, or lease abandoned ─────┘ done
///     │   (admin)     │      max_attempts times
///     └───────────────┘
/// ```
///
/// An `in_progress` video whose lease has expired (plus the skew margin) is claimable again:
/// that is how a crashed worker's video comes back without anyone's help.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    clap::ValueEnum,
)]
#[value(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum VideoState {
    /// Waiting for a worker; claimable once `ready_at` has passed.
    Pending,
    /// Held by a worker under a lease.
    InProgress,
    /// The stream is in the output bucket. Terminal.
    Done,
    /// Gave up: invalid input or too many attempts. Terminal until an operator retries it.
    Failed,
}

impl VideoState {
    /// All states, in the order reports print them.
    pub const ALL: [VideoState; 4] = [Self::Pending, Self::InProgress, Self::Done, Self::Failed];

    /// The word stored in the table and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// Whether the video can still be worked on (and so sits in the `ready` index).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::InProgress)
    }
}

impl fmt::Display for VideoState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_the_contract() {
        let words: Vec<_> = VideoState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(words, ["pending", "in_progress", "done", "failed"]);
        for s in VideoState::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
    }
}
