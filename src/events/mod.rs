//! Completion events: when a video reaches `done` or `failed`, is retried, or is requeued, an
//! event goes on an Amazon EventBridge bus, so a course platform learns of it without polling
//! S3 or the table.
//!
//! - Sent only after the state change is durably written (the caller's order).
//! - At least once: each event carries an `event_id` that is the same for every send of the
//!   same transition (a UUID v5 of the video, the kind and the attempt's fencing token, or for
//!   a requeue the item's version), so consumers can drop repeats.
//! - A `PutEvents` answered with `FailedEntryCount > 0` is re-sent with exactly the failed
//!   entries; what still fails after a few tries is recorded as owed in the table
//!   ([`crate::store::VideoStore::owe_event`]) and re-sent later by any worker. A bus that
//!   stays unreachable costs neither the video's state nor the worker's time beyond a bound.

pub mod bridge;
pub mod publisher;

use crate::domain::VideoItem;
use serde::{Deserialize, Serialize};

/// The events' `source` (EventBridge reserves the `aws.` prefix).
pub const SOURCE: &str = "fleet";
/// Bumped on any change of the detail a consumer could trip over.
pub const DETAIL_VERSION: u32 = 1;

/// Which transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Published and marked `done`.
    Done,
    /// Marked `failed` for good (attempts used up, or the video's own fault).
    Failed,
    /// An attempt failed and the video waits for another.
    Retrying,
    /// An operator put it back to `pending` (`fleet-admin retry`).
    Requeued,
}

impl Kind {
    /// The event's `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            Self::Done => "Video Done",
            Self::Failed => "Video Failed",
            Self::Retrying => "Video Retrying",
            Self::Requeued => "Video Requeued",
        }
    }

    fn word(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Retrying => "retrying",
            Self::Requeued => "requeued",
        }
    }
}

/// One event: its detail-type and its detail (a JSON object carrying `event_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Which transition.
    pub kind: Kind,
    /// The detail.
    pub detail: serde_json::Value,
}

impl Event {
    /// The idempotency key.
    pub fn id(&self) -> &str {
        self.detail["event_id"].as_str().unwrap_or_default()
    }
}

/// Namespace of fleet's event ids (a fixed random UUID).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6b1f_1d2e_6c4f_4e0a_9b7e_2f5d_3c8a_41e7);

/// The idempotency key of `kind` for `video` at `seq` (the attempt's token, or the item's
/// version for a requeue): the same inputs give the same key on every send.
pub fn event_id(video: &str, kind: Kind, seq: u64) -> String {
    uuid::Uuid::new_v5(
        &NAMESPACE,
        format!("{video}\n{}\n{seq}", kind.word()).as_bytes(),
    )
    .to_string()
}

/// What an event says of the video after its transition.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The state it is in now (`done`, `failed`, `pending`).
    pub state: String,
    /// The fencing token of the attempt (or the item's version, for a requeue).
    pub seq: u64,
    /// The master's `s3://` URI, for `done`.
    pub output: Option<String>,
    /// What was left out, for `done`.
    pub warnings: Vec<String>,
    /// The error, for `failed` and `retrying`.
    pub error: Option<String>,
    /// Its kind (`invalid_input`, `transient`, `abandoned`, `output`).
    pub error_kind: Option<String>,
}

/// The event for `kind` of `v` (the item as the claim or a scan read it) with `facts`
/// overriding what changed since.
pub fn event(kind: Kind, v: &VideoItem, facts: Facts) -> Event {
    let prefix = format!("s3://{}/{}/", v.out_bucket, v.out_prefix);
    let mut detail = serde_json::json!({
        "event_id": event_id(&v.pk, kind, facts.seq),
        "detail_version": DETAIL_VERSION,
        "video": v.pk,
        "state": facts.state,
        "source": { "bucket": v.src_bucket, "key": v.src_key },
        "attempts": v.attempts,
        "token": facts.seq,
        "at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    if kind == Kind::Done {
        detail["output"] = serde_json::json!({
            "prefix": prefix,
            "master": facts.output.unwrap_or_else(|| format!("{prefix}master.m3u8")),
            "stream_json": format!("{prefix}{}", crate::domain::stream::FILE),
            "poster": format!("{prefix}poster.jpg"),
            "thumbnails": format!("{prefix}thumbnails.vtt"),
        });
        detail["warnings"] = serde_json::json!(facts.warnings);
    }
    if let Some(e) = facts.error {
        // The first line: the reason. ffmpeg's stderr tail stays on the item (`show`).
        detail["error"] = serde_json::json!(e.lines().next().unwrap_or_default());
        detail["error_kind"] = serde_json::json!(facts.error_kind);
    }
    Event { kind, detail }
}

/// The event a stored item stands for now (`fleet-admin events replay`): `done` and `failed`
/// videos, with the same ids their first sends had.
pub fn of_item(v: &VideoItem) -> Option<Event> {
    use crate::domain::VideoState;
    let kind = match v.state {
        VideoState::Done => Kind::Done,
        VideoState::Failed => Kind::Failed,
        _ => return None,
    };
    Some(event(
        kind,
        v,
        Facts {
            state: v.state.as_str().to_string(),
            seq: v.token,
            output: v.output.clone(),
            warnings: v.warnings.clone().unwrap_or_default(),
            error: v.error.clone().filter(|_| kind == Kind::Failed),
            error_kind: v.error_kind.clone().filter(|_| kind == Kind::Failed),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::video::tests::pending;

    #[test]
    fn ids_are_stable_per_transition_and_differ_between_them() {
        let a = event_id("s3://in/a.mp4", Kind::Done, 3);
        assert_eq!(a, event_id("s3://in/a.mp4", Kind::Done, 3));
        assert_ne!(a, event_id("s3://in/a.mp4", Kind::Done, 4));
        assert_ne!(a, event_id("s3://in/a.mp4", Kind::Failed, 3));
        assert_ne!(a, event_id("s3://in/b.mp4", Kind::Done, 3));
    }

    #[test]
    fn a_replayed_event_is_the_one_first_sent() {
        let mut v = pending("s3://in/a.mp4");
        v.state = crate::domain::VideoState::Done;
        v.token = 2;
        v.output = Some("s3://out/a/master.m3u8".into());
        let sent = event(
            Kind::Done,
            &v,
            Facts {
                state: "done".into(),
                seq: 2,
                output: v.output.clone(),
                ..Default::default()
            },
        );
        let replayed = of_item(&v).unwrap();
        assert_eq!(sent.id(), replayed.id());
        assert_eq!(
            replayed.detail["output"]["stream_json"],
            "s3://out/a/stream.json"
        );
        assert!(
            serde_json::to_vec(&replayed.detail).unwrap().len() < 2048,
            "a few KB at most"
        );
        v.state = crate::domain::VideoState::Pending;
        assert!(of_item(&v).is_none());
    }
}
