//! `stream.json`, assembled from what the job measured and published, and written last,
//! fenced like the master (only while the lease is certainly ours, bounded by its deadline).

use super::ctx::Job;
use super::fenced::put_fenced;
use super::stills;
use crate::domain::stream::{self, Attempt, AudioTrack, IFrames, Location, StreamJson, TextTrack};
use crate::error::JobError;
use crate::transcode::playlist::{self, AudioMedia, IFrameVariant, SubtitleMedia, Variant};
use crate::transcode::probe::Probe;

/// What the master lists, and the stills.
#[derive(Debug)]
pub struct Parts<'a> {
    /// Variants, as measured and declared.
    pub variants: &'a [Variant],
    /// Alternate audio.
    pub audio: &'a [AudioMedia],
    /// Subtitle renditions.
    pub subtitles: &'a [SubtitleMedia],
    /// I-frame playlists.
    pub iframes: &'a [IFrameVariant],
    /// Poster and thumbnails.
    pub stills: &'a stills::Published,
    /// Everything left out.
    pub warnings: &'a [String],
    /// The plan as published: its rate control, the rungs left out.
    pub plan: &'a crate::transcode::command::Plan,
}

/// The document for a full job.
pub fn describe(job: &Job<'_>, probe: &Probe, parts: Parts<'_>) -> StreamJson {
    let v = &job.lease.video;
    StreamJson {
        schema_version: stream::SCHEMA_VERSION,
        video: v.pk.clone(),
        source: stream::Source {
            uri: format!("s3://{}/{}", v.src_bucket, v.src_key),
            size_bytes: v.size_bytes,
            duration_s: probe.duration_s,
            video_codec: probe.video.as_ref().map(|s| s.codec.clone()),
            audio_codecs: probe.audio.iter().map(|a| a.codec.clone()).collect(),
        },
        master: master(job),
        renditions: playlist::listing_order(parts.variants)
            .into_iter()
            .map(|x| stream::Rendition {
                playlist: x.uri,
                width: x.resolution.map(|r| r.0),
                height: x.resolution.map(|r| r.1),
                frame_rate: x.frame_rate,
                bandwidth: x.bandwidth,
                average_bandwidth: x.average_bandwidth,
                codecs: x.codecs,
            })
            .collect(),
        audio: parts
            .audio
            .iter()
            .map(|a| AudioTrack {
                playlist: a.uri.clone(),
                name: a.name.clone(),
                language: a.language.clone(),
                default: a.default,
            })
            .collect(),
        text: text_tracks(parts.subtitles),
        iframes: parts
            .iframes
            .iter()
            .map(|i| IFrames {
                playlist: i.uri.clone(),
                width: i.resolution.0,
                height: i.resolution.1,
                bandwidth: i.bandwidth,
            })
            .collect(),
        poster: parts.stills.poster.clone(),
        thumbnails: parts.stills.thumbnails.clone(),
        warnings: parts.warnings.to_vec(),
        attempt: attempt(job, "full"),
        encoding: (!parts.plan.renditions.is_empty()).then(|| encoding(parts.plan)),
    }
}

/// The ladder as encoded: rate control, each rendition's CRF, what was left out.
fn encoding(plan: &crate::transcode::command::Plan) -> stream::Encoding {
    stream::Encoding {
        rate_control: plan.rate_control,
        crf: plan
            .renditions
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((r.name.clone(), plan.crf(i)?)))
            .collect(),
        left_out: plan.pruned.clone(),
    }
}

/// The master's location.
fn master(job: &Job<'_>) -> Location {
    let v = &job.lease.video;
    let key = format!("{}/master.m3u8", v.out_prefix);
    Location {
        path: "master.m3u8".into(),
        uri: format!("s3://{}/{key}", v.out_bucket),
        key,
    }
}

/// The subtitle renditions as `stream.json` lists them.
pub fn text_tracks(subs: &[SubtitleMedia]) -> Vec<TextTrack> {
    subs.iter()
        .map(|s| TextTrack {
            playlist: s.uri.clone(),
            name: s.name.clone(),
            language: s.language.clone(),
            default: s.default,
            forced: s.forced,
            sdh: s.sdh,
        })
        .collect()
}

/// The attempt publishing now.
pub fn attempt(job: &Job<'_>, kind: &str) -> Attempt {
    let v = &job.lease.video;
    let rfc3339 = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    };
    Attempt {
        token: job.lease.token,
        holder: job.lease.holder.clone(),
        attempts: v.attempts,
        kind: kind.into(),
        claimed_at: v.claimed_at.and_then(rfc3339),
        published_at: rfc3339(chrono::Utc::now().timestamp_millis()).unwrap_or_default(),
        job_seconds: job.started.elapsed().as_secs_f64(),
    }
}

/// Writes `stream.json` beside the master.
pub async fn put(job: &Job<'_>, doc: &StreamJson, argv: &[String]) -> Result<(), JobError> {
    let key = format!("{}/{}", job.lease.video.out_prefix, stream::FILE);
    let body = serde_json::to_vec_pretty(doc)
        .map_err(|e| JobError::local(format!("cannot write stream.json: {e}")))?;
    put_fenced(job, ("the stream description", &key), body, argv)
        .await
        .map(|_| ())
}
