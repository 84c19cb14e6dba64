//! A captions-only redo: a done video whose caption files changed (`seed` noticed) gets new
//! subtitle renditions and a new master, under a new fencing token like any job, while its
//! published video and audio stay as they are. No encode runs: the source is downloaded for
//! its own text tracks and timeline, and the published rendition's first segment is read for
//! the clock the captions are tied to.

use super::captions::{self, Timeline};
use super::ctx::Job;
use super::ctx::Moved;
use super::phases;
use super::{describe, stills};
use crate::blob;
use crate::domain::stream::{self, StreamJson};
use crate::error::{BlobError, JobError};
use crate::store::Completion;
use crate::transcode::playlist;
use std::path::Path;
use tracing::info;

/// Runs the redo. `Ok(None)`: the published master is gone, so there is nothing to add
/// captions to and the caller runs a full job instead.
pub async fn captions_only(
    job: &Job<'_>,
    dir: &Path,
) -> Result<Option<(Completion, Moved)>, JobError> {
    let (v, s3) = (&job.lease.video, &job.ctx.s3);
    let master_key = format!("{}/master.m3u8", v.out_prefix);
    let master = match blob::get_bytes(s3, &v.out_bucket, &master_key).await {
        Ok(m) => String::from_utf8_lossy(&m).into_owned(),
        Err(BlobError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(JobError::output(e)),
    };
    // The clock: the first rendition the master lists (a variant, else the audio).
    let media_uri = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| JobError::invalid("the published master lists no variant"))?;
    let media_key = format!("{}/{media_uri}", v.out_prefix);
    let media = blob::get_bytes(s3, &v.out_bucket, &media_key)
        .await
        .map_err(JobError::output)?;
    let media = String::from_utf8_lossy(&media);
    let segments = playlist::segments(&media);
    let first = segments
        .first()
        .ok_or_else(|| JobError::invalid(format!("{media_key} lists no segment")))?;
    let folder = media_key.rsplit_once('/').map_or("", |(d, _)| d);
    let first_key = format!("{folder}/{}", first.uri);
    let first_path = dir.join("published-first.ts");
    let bytes = blob::get_bytes(s3, &v.out_bucket, &first_key)
        .await
        .map_err(JobError::output)?;
    tokio::fs::write(&first_path, bytes)
        .await
        .map_err(|e| JobError::local(format!("writing {}: {e}", first_path.display())))?;
    let source = phases::fetch_source(job, dir).await?;
    job.phase("captions", None);
    let texts = captions::read(job, &source, dir).await?;
    let timeline = Timeline::read(
        &first_path,
        segments.iter().map(|s| s.duration).collect(),
        playlist::target_duration(&media).unwrap_or(6.0),
        &source.probe,
    )
    .await?;
    let rel = format!("t{}", job.lease.token);
    let remote = format!("{}/{rel}", v.out_prefix);
    let mut warnings = texts.warnings;
    let (subs, more) = job
        .unless_cancelled(captions::publish(
            job.ctx,
            v,
            (&remote, &rel),
            texts.tracks,
            captions::audio_language(&source.probe).as_deref(),
            &timeline,
        ))
        .await?;
    warnings.extend(more);
    let argv = v.ffmpeg_args.clone().unwrap_or_default();
    let output =
        super::fenced::put_master(job, playlist::with_subtitles(&master, &subs), &argv).await?;
    // stream.json: the same document with the new text tracks, warnings and attempt.
    let doc_key = format!("{}/{}", v.out_prefix, stream::FILE);
    match blob::get_bytes(s3, &v.out_bucket, &doc_key).await {
        Ok(bytes) => match serde_json::from_slice::<StreamJson>(&bytes) {
            Ok(mut doc) => {
                let kept: Vec<String> = doc
                    .warnings
                    .iter()
                    .filter(|w| stills::is_stills_warning(w))
                    .cloned()
                    .collect();
                warnings.extend(kept);
                doc.text = describe::text_tracks(&subs);
                doc.warnings = warnings.clone();
                doc.attempt = describe::attempt(job, "captions");
                describe::put(job, &doc, &argv).await?;
            }
            Err(e) => warnings.push(format!("stream.json not updated: it cannot be read ({e})")),
        },
        Err(BlobError::NotFound { .. }) => warnings.push(
            "stream.json not written: the stream was published before fleet wrote one; \
             `fleet-admin retry` the video for a full encode"
                .into(),
        ),
        Err(e) => return Err(JobError::output(e)),
    }
    info!(tracks = subs.len(), "captions-only redo published");
    let bytes_in = std::fs::metadata(&source.path)
        .map(|m| m.len())
        .unwrap_or(0);
    Ok(Some((
        Completion {
            output,
            ffmpeg_args: argv,
            duration_s: v.duration_s.or(source.probe.duration_s),
            warnings,
            // The video is not re-encoded: its ladder stays as it was.
            ladder: v.ladder.clone(),
        },
        Moved {
            bytes_in,
            bytes_out: 0,
        },
    )))
}
