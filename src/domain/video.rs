//! A video's item in the table and the pure transitions between its versions.
//!
//! Every write except a heartbeat bumps `rev`, and the claim is a PutItem of the whole next
//! version conditioned on the `rev` it was computed from: a compare-and-swap. `token` is the
//! fencing token: it grows on every claim, and every write a holder makes is conditioned on it.

use super::captions::CaptionFile;
use super::lease::{ms, retry_delay, LeaseTimings};
use super::state::VideoState;
use crate::clock::EpochMs;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One video, as stored. Attribute names are the field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoItem {
    /// `s3://bucket/key` of the source: the table's partition key.
    pub pk: String,
    /// Where the video stands.
    pub state: VideoState,
    /// Version for compare-and-swap; bumped by every write except heartbeats, so a heartbeat
    /// retried by the SDK can never make a concurrent claim look stale.
    pub rev: u64,
    /// Fencing token: grows on every claim. A write by a holder with an older token fails.
    #[serde(default)]
    pub token: u64,
    /// Claims so far (a release after SIGTERM gives one back: the interruption was not the
    /// video's fault).
    #[serde(default)]
    pub attempts: u32,
    /// Attempts that ended with a lapsed lease (the holder crashed, was killed or stalled),
    /// counted by the claimer that took the video over: with `attempts` it tells an operator
    /// what happened, not just how often.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lapsed: u32,
    /// Source bucket.
    pub src_bucket: String,
    /// Source key, byte for byte as S3 listed it.
    pub src_key: String,
    /// Output bucket.
    pub out_bucket: String,
    /// Prefix of the stream in the output bucket (`master.m3u8` goes beneath it).
    pub out_prefix: String,
    /// Source size from the listing, so progress can be measured in bytes.
    #[serde(default)]
    pub size_bytes: u64,
    /// `ready` index partition key; present only while the video is open (sparse index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// `ready` index sort key: the earliest wall time at which the video may be claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<EpochMs>,
    /// The slot that holds (or last held) the video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Wall time at which the current lease ends unless heartbeated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expires: Option<EpochMs>,
    /// When the video was seeded.
    #[serde(default)]
    pub seeded_at: EpochMs,
    /// When the current (or last) attempt was claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<EpochMs>,
    /// When it reached `done` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<EpochMs>,
    /// The last error, readable by an operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The class of the last error (`invalid_input`, `transient`, `abandoned`, `output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// The argv of the last ffmpeg run, so an operator can reproduce it by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ffmpeg_args: Option<Vec<String>>,
    /// Live progress, carried by heartbeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// `s3://…/master.m3u8` of a done video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Content duration in seconds, once probed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Every failed attempt, oldest first: "attempt N by HOLDER at TIME: KIND: MESSAGE" (the
    /// message of an ffmpeg failure ends with its stderr tail). `error` is the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
    /// Caption files beside the source, attached by `seed` (a re-run that finds them changed
    /// queues a captions-only redo of a done video).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captions: Option<Vec<CaptionFile>>,
    /// What a `done` video's last attempt left out, each naming the file or track and why (a
    /// caption file that cannot be read, a bitmap subtitle track): done, but not everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
    /// How a `done` video's ladder was encoded, in one line: rate control per rung, rungs
    /// left out and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladder: Option<String>,
    /// Set while a done video waits for a redo narrower than a full encode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redo: Option<Redo>,
}

/// A redo narrower than a full encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redo {
    /// Rewrite the subtitle renditions and the master; keep the published video and audio.
    Captions,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What a holder is doing, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Progress {
    /// `download`, `encode` or `upload`.
    pub phase: String,
    /// Percent of the content encoded, when the duration is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Encoding frames per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// Encoding speed relative to real time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
    /// Wall time of this reading (ms), set by the heartbeat that carried it: an ETA computed
    /// at the reading's time and counted down since then does not jump between heartbeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
}

/// A new, never-tried video as `seed` writes it: open, in its shard, claimable at once.
pub fn seeded(
    src: &super::keys::S3Uri,
    out_bucket: &str,
    out_prefix: &str,
    size_bytes: u64,
    now: EpochMs,
    shards: u32,
) -> VideoItem {
    let pk = super::keys::video_id(&src.bucket, &src.key);
    VideoItem {
        shard: Some(super::keys::shard_of(&pk, shards)),
        // Never-tried videos sort before retries and before in-progress items whose lease may
        // lapse, so claimers meet fresh work first.
        ready_at: Some(now),
        pk,
        state: VideoState::Pending,
        rev: 1,
        token: 0,
        lapsed: 0,
        attempts: 0,
        src_bucket: src.bucket.clone(),
        src_key: src.key.clone(),
        out_bucket: out_bucket.to_string(),
        out_prefix: out_prefix.to_string(),
        size_bytes,
        holder: None,
        lease_expires: None,
        seeded_at: now,
        claimed_at: None,
        finished_at: None,
        error: None,
        error_kind: None,
        ffmpeg_args: None,
        progress: None,
        output: None,
        ladder: None,
        duration_s: None,
        errors: None,
        captions: None,
        warnings: None,
        redo: None,
    }
}

/// What a claimer should do with a candidate it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimDecision {
    /// Try to claim it.
    Claim,
    /// Its attempts are used up and its last lease lapsed: mark it `failed` instead.
    Exhausted,
    /// Pending, but its retry backoff has not passed.
    NotReady,
    /// Someone holds a live lease (or one still inside the skew margin).
    Held,
    /// Done or failed.
    Closed,
}

/// Decides what to do with a candidate read (consistently) at wall time `now`.
pub fn decide(
    item: &VideoItem,
    now: EpochMs,
    t: &LeaseTimings,
    max_attempts: u32,
) -> ClaimDecision {
    match item.state {
        VideoState::Done | VideoState::Failed => ClaimDecision::Closed,
        VideoState::Pending if item.ready_at.unwrap_or(0) > now => ClaimDecision::NotReady,
        VideoState::InProgress if !t.may_take_over(item.lease_expires.unwrap_or(0), now) => {
            ClaimDecision::Held
        }
        _ if item.attempts >= max_attempts => ClaimDecision::Exhausted,
        _ => ClaimDecision::Claim,
    }
}

/// The version a successful claim by `holder` at `now` writes.
pub fn claimed(item: &VideoItem, holder: &str, now: EpochMs, t: &LeaseTimings) -> VideoItem {
    let expires = t.expiry_from(now);
    let took_over = item.state == VideoState::InProgress;
    VideoItem {
        lapsed: item.lapsed + u32::from(took_over),
        // Held, then back after a failure, a release or a lapse: from now on it waits in the
        // re-entry lane, ahead of fresh work.
        shard: Some(super::keys::reentry_shard(
            item.shard.as_deref().unwrap_or("s00"),
        )),
        state: VideoState::InProgress,
        rev: item.rev + 1,
        token: item.token + 1,
        attempts: item.attempts + 1,
        holder: Some(holder.to_string()),
        lease_expires: Some(expires),
        // No taker needs to look before the lease could possibly be taken over.
        ready_at: Some(t.takeover_at(expires)),
        claimed_at: Some(now),
        progress: None,
        ..item.clone()
    }
}

/// The version that gives up on a video whose attempts are used up and whose last lease
/// lapsed. The message says how the attempts ended: lapsed leases, and the last recorded
/// error of the others.
pub fn abandoned(item: &VideoItem, now: EpochMs) -> VideoItem {
    let lapsed = item.lapsed + u32::from(item.state == VideoState::InProgress);
    let others = item.attempts.saturating_sub(lapsed);
    let mut how = format!("{lapsed} ended with a lapsed lease (worker crashed, killed or stalled)");
    if others > 0 {
        let last = item.error.as_deref().unwrap_or("no error recorded");
        how.push_str(&format!(
            ", {others} failed or were given back (last error: {last})"
        ));
    }
    VideoItem {
        state: VideoState::Failed,
        rev: item.rev + 1,
        shard: None,
        ready_at: None,
        lease_expires: None,
        progress: None,
        finished_at: Some(now),
        error_kind: Some(FailureKind::Abandoned.as_str().to_string()),
        lapsed,
        error: Some(format!(
            "gave up after {} attempt{}: {how}",
            item.attempts,
            if item.attempts == 1 { "" } else { "s" }
        )),
        ..item.clone()
    }
}

/// Why a job failed, which decides whether it is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The source is not a usable video (corrupt, empty, not media): trying again cannot help,
    /// so it fails at once.
    InvalidInput,
    /// S3, DynamoDB or ffmpeg trouble that may pass: retried with backoff up to `max_attempts`.
    Transient,
    /// Every lease of the video lapsed: set only by claimers, never by a holder.
    Abandoned,
    /// Its output cannot be written (no such bucket, access denied): an operator's mistake
    /// that no retry mends, so it fails at once, and `seed --update-output` or a bucket
    /// policy fixes it. Never the machine's fault, so a worker keeps claiming.
    Output,
}

impl FailureKind {
    /// The word stored in `error_kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::Transient => "transient",
            Self::Abandoned => "abandoned",
            Self::Output => "output",
        }
    }
}

/// What a failed attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Back to `pending`, claimable from this wall time.
    RetryAt(EpochMs),
    /// `failed`, until an operator retries it.
    GiveUp,
}

/// Retry policy: how often and how patiently a failing video is tried again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Claims before a failing video is given up (default 3).
    pub max_attempts: u32,
    /// Delay after the first failure; doubles each time.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base: Duration::from_secs(30),
            cap: Duration::from_secs(15 * 60),
        }
    }
}

impl RetryPolicy {
    /// Where an attempt that failed with `kind`, as the `attempts`-th claim, leads.
    /// `jitter` in `[0.5, 1.0]` spreads retries of videos that failed together.
    pub fn after(
        &self,
        kind: FailureKind,
        attempts: u32,
        now: EpochMs,
        jitter: f64,
    ) -> AfterFailure {
        match kind {
            FailureKind::InvalidInput | FailureKind::Abandoned | FailureKind::Output => {
                AfterFailure::GiveUp
            }
            FailureKind::Transient if attempts >= self.max_attempts => AfterFailure::GiveUp,
            FailureKind::Transient => {
                AfterFailure::RetryAt(now + ms(retry_delay(attempts, self.base, self.cap, jitter)))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn pending(pk: &str) -> VideoItem {
        let src = crate::domain::keys::S3Uri::parse(pk).unwrap_or(crate::domain::keys::S3Uri {
            bucket: "in".into(),
            key: pk.into(),
        });
        seeded(&src, "out", "a", 10, 0, 16)
    }

    #[test]
    fn claim_bumps_token_rev_and_attempts() {
        let t = LeaseTimings::default();
        let c = claimed(&pending("v"), "w1", 1_000, &t);
        assert_eq!((c.token, c.rev, c.attempts), (1, 2, 1));
        let lane = |v: &VideoItem| v.shard.as_deref().map(|s| s[..1].to_string());
        assert_eq!(
            lane(&c),
            Some("r".into()),
            "a claimed video re-enters ahead of fresh work"
        );
        assert_eq!(c.lease_expires, Some(61_000));
        assert_eq!(c.ready_at, Some(66_000));
        assert_eq!(c.state, VideoState::InProgress);
        let c2 = claimed(&c, "w2", 70_000, &t);
        assert!(c2.token > c.token);
    }

    #[test]
    fn decisions() {
        let t = LeaseTimings::default();
        let p = pending("v");
        assert_eq!(decide(&p, 0, &t, 3), ClaimDecision::Claim);
        let later = VideoItem {
            ready_at: Some(5),
            ..p.clone()
        };
        assert_eq!(decide(&later, 4, &t, 3), ClaimDecision::NotReady);
        let held = claimed(&p, "w", 0, &t);
        assert_eq!(decide(&held, 60_000, &t, 3), ClaimDecision::Held);
        assert_eq!(decide(&held, 65_000, &t, 3), ClaimDecision::Held);
        assert_eq!(decide(&held, 65_001, &t, 3), ClaimDecision::Claim);
        assert_eq!(decide(&held, 65_001, &t, 1), ClaimDecision::Exhausted);
        let done = VideoItem {
            state: VideoState::Done,
            ..p.clone()
        };
        assert_eq!(decide(&done, 0, &t, 3), ClaimDecision::Closed);
        let ab = abandoned(&held, 9);
        assert_eq!(ab.state, VideoState::Failed);
        assert!(ab.shard.is_none() && ab.ready_at.is_none());
        assert_eq!(
            ab.error.as_deref(),
            Some(
                "gave up after 1 attempt: 1 ended with a lapsed lease (worker crashed, killed \
                 or stalled)"
            )
        );
    }

    #[test]
    fn a_given_up_video_says_how_each_attempt_ended() {
        // Two transient failures, then a third attempt whose worker was killed (spot).
        let t = LeaseTimings::default();
        let failed_twice = VideoItem {
            attempts: 2,
            error: Some("transient S3 failure on s3://in/a.mp4: connection reset".into()),
            ..pending("v")
        };
        let held = claimed(&failed_twice, "w", 0, &t);
        assert_eq!(held.attempts, 3);
        let ab = abandoned(&held, 9);
        assert_eq!(ab.lapsed, 1);
        assert_eq!(
            ab.error.as_deref(),
            Some(
                "gave up after 3 attempts: 1 ended with a lapsed lease (worker crashed, killed \
                 or stalled), 2 failed or were given back (last error: transient S3 failure on \
                 s3://in/a.mp4: connection reset)"
            )
        );
    }

    #[test]
    fn failures_are_bounded() {
        let r = RetryPolicy::default();
        assert_eq!(
            r.after(FailureKind::InvalidInput, 1, 0, 1.0),
            AfterFailure::GiveUp
        );
        assert_eq!(
            r.after(FailureKind::Transient, 1, 0, 1.0),
            AfterFailure::RetryAt(30_000)
        );
        assert_eq!(
            r.after(FailureKind::Transient, 2, 0, 1.0),
            AfterFailure::RetryAt(60_000)
        );
        assert_eq!(
            r.after(FailureKind::Transient, 3, 0, 1.0),
            AfterFailure::GiveUp
        );
    }

    #[test]
    fn item_round_trips_through_dynamodb_attributes() {
        let t = LeaseTimings::default();
        let mut c = claimed(&pending("s3://in/Kurs ü/a+b c.mp4"), "w", 5, &t);
        c.progress = Some(Progress {
            phase: "encode".into(),
            percent: Some(12.5),
            ..Default::default()
        });
        c.ffmpeg_args = Some(vec!["ffmpeg".into(), "-i".into()]);
        let item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
            serde_dynamo::to_item(&c).unwrap();
        assert!(
            !item.contains_key("output"),
            "None must not be stored as NULL"
        );
        let back: VideoItem = serde_dynamo::from_item(item).unwrap();
        assert_eq!(back, c);
    }
}
