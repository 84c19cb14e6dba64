//! The attribute names the adapter writes by hand: in expressions, keys and projections.
//!
//! A video's attributes are `VideoItem`'s field names (serde writes whole items); these
//! consts are the same words for the writes that touch single attributes, and a test checks
//! that each one is a field `VideoItem` really has. Use them as `#NAME` placeholders in
//! expressions (`format!("#{STATE} = :done")`), never as bare words: several of them
//! (`state`, `token`, `output`, …) are DynamoDB reserved words.

/// Partition key: the source's `s3://bucket/key` (or `CONTROL_PK`).
pub(crate) const PK: &str = "pk";
/// `pending`, `in_progress`, `done` or `failed` (`VideoState::as_str`).
pub(crate) const STATE: &str = "state";
/// Version for compare-and-swap; every write but a heartbeat bumps it.
pub(crate) const REV: &str = "rev";
/// Fencing token of the current (or last) claim.
pub(crate) const TOKEN: &str = "token";
/// Claims so far.
pub(crate) const ATTEMPTS: &str = "attempts";
/// Attempts that ended with a lapsed lease (see `VideoItem::lapsed`).
pub(crate) const LAPSED: &str = "lapsed";
/// The slot holding the video.
pub(crate) const HOLDER: &str = "holder";
/// Wall time at which the lease ends unless heartbeated.
pub(crate) const LEASE_EXPIRES: &str = "lease_expires";
/// `ready` index sort key.
pub(crate) const READY_AT: &str = "ready_at";
/// `ready` index partition key; present only while the video is open.
pub(crate) const SHARD: &str = "shard";
/// Live progress, carried by heartbeats.
pub(crate) const PROGRESS: &str = "progress";
/// When the video reached `done` or `failed`.
pub(crate) const FINISHED_AT: &str = "finished_at";
/// The last error, readable by an operator.
pub(crate) const ERROR: &str = "error";
/// The class of the last error.
pub(crate) const ERROR_KIND: &str = "error_kind";
/// The argv of the last ffmpeg run.
pub(crate) const FFMPEG_ARGS: &str = "ffmpeg_args";
/// `s3://…/master.m3u8` of a done video.
pub(crate) const OUTPUT: &str = "output";
/// Content duration in seconds.
pub(crate) const DURATION_S: &str = "duration_s";
/// Every failed attempt's error, oldest first.
pub(crate) const ERRORS: &str = "errors";
/// Caption files attached by `seed`.
pub(crate) const CAPTIONS: &str = "captions";
/// What a done video's last attempt left out.
pub(crate) const WARNINGS: &str = "warnings";
/// How a done video's ladder was encoded.
pub(crate) const LADDER: &str = "ladder";
/// A pending narrower redo (`captions`).
pub(crate) const REDO: &str = "redo";
/// Where the stream goes: bucket.
pub(crate) const OUT_BUCKET: &str = "out_bucket";
/// Where the stream goes: prefix.
pub(crate) const OUT_PREFIX: &str = "out_prefix";

/// The control item's pause flag.
pub(crate) const PAUSED: &str = "paused";
/// When the control item was last written.
pub(crate) const UPDATED_AT: &str = "updated_at";
/// The scaler item's "backlog empty since" (epoch ms).
pub(crate) const IDLE_SINCE: &str = "idle_since";
/// The scaler item's "need below the desired capacity since" (epoch ms).
pub(crate) const LOW_SINCE: &str = "low_since";
/// The scaler item's largest need seen since [`LOW_SINCE`].
pub(crate) const LOW_PEAK: &str = "low_peak";
/// `#stats`: what the last exact count of the open videos found beyond the counters (open =
/// total - done - failed + this), so counters that drifted are corrected.
pub(crate) const OPEN_ADJUST: &str = "open_adjust";
/// `#stats`: when the open videos were last counted exactly (epoch ms).
pub(crate) const RECOUNTED_AT: &str = "recounted_at";
/// The `#stats` item's counters: videos seeded, done, failed for good.
pub(crate) const TOTAL: &str = "total";
/// See [`TOTAL`].
pub(crate) const DONE: &str = "done";
/// See [`TOTAL`].
pub(crate) const FAILED: &str = "failed";

/// An owed event's body (JSON), on `#event#<id>` items.
pub(crate) const EVENT: &str = "event";

/// Every video attribute above.
pub(crate) const VIDEO: [&str; 24] = [
    PK,
    STATE,
    REV,
    TOKEN,
    ATTEMPTS,
    LAPSED,
    HOLDER,
    LEASE_EXPIRES,
    READY_AT,
    SHARD,
    PROGRESS,
    FINISHED_AT,
    ERROR,
    ERROR_KIND,
    FFMPEG_ARGS,
    OUTPUT,
    DURATION_S,
    ERRORS,
    CAPTIONS,
    WARNINGS,
    LADDER,
    REDO,
    OUT_BUCKET,
    OUT_PREFIX,
];

/// Every attribute an expression may name.
pub(crate) fn is_known(name: &str) -> bool {
    VIDEO.contains(&name)
        || [
            PAUSED,
            UPDATED_AT,
            IDLE_SINCE,
            LOW_SINCE,
            LOW_PEAK,
            TOTAL,
            DONE,
            FAILED,
            EVENT,
            OPEN_ADJUST,
            RECOUNTED_AT,
        ]
        .contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::video::tests::pending;
    use crate::domain::{Progress, VideoState};

    #[test]
    fn video_attributes_are_the_items_field_names() {
        // Every optional field set, so that serde writes every attribute.
        let mut v = pending("s3://b/k");
        v.state = VideoState::Done;
        v.holder = Some("w-1".into());
        v.lease_expires = Some(1);
        v.progress = Some(Progress::default());
        v.finished_at = Some(2);
        v.error = Some("e".into());
        v.error_kind = Some("transient".into());
        v.ffmpeg_args = Some(vec!["-i".into()]);
        v.output = Some("s3://o/master.m3u8".into());
        v.duration_s = Some(1.5);
        v.errors = Some(vec!["attempt 1: e".into()]);
        v.captions = Some(vec![]);
        v.warnings = Some(vec!["w".into()]);
        v.ladder = Some("adaptive: 720p CRF 17".into());
        v.lapsed = 1; // skipped when zero
        v.redo = Some(crate::domain::video::Redo::Captions);
        let item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
            serde_dynamo::to_item(&v).unwrap();
        for name in VIDEO {
            assert!(item.contains_key(name), "VideoItem has no field {name:?}");
        }
        assert!(!is_known("nope"));
    }
}
