//! `seed`: one item per video under an S3 prefix, added with a conditional write so that a
//! second run changes nothing and never resets a video that is in progress, done or failed.
//! Caption files beside a video (`lesson.en.srt`) are attached to its item, not seeded; a
//! re-run that finds them changed queues a captions-only redo of a done video.

use crate::blob;
use crate::domain::captions::sidecar;
use crate::domain::keys::{extension, output_prefix, S3Uri};
use crate::domain::language;
use crate::domain::video::seeded;
use crate::error::{BlobError, StoreError};
use crate::store::dynamo::registry::Counter;
use crate::store::dynamo::CaptionUpdate;
use crate::store::dynamo::DynamoStore;
use crate::store::schema::schema;
use futures::{StreamExt, TryStreamExt};

/// Extensions seeded by default.
pub const DEFAULT_EXTENSIONS: &[&str] = &[
    "mp4", "mov", "mkv", "m4v", "webm", "avi", "mpg", "mpeg", "ts", "mxf", "wmv", "flv",
];

/// Conditional writes in flight.
pub const PARALLEL_WRITES: usize = 32;

/// What a seed run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SeedSummary {
    /// Videos added.
    pub added: u64,
    /// Videos already in the table (left untouched).
    pub present: u64,
    /// Objects that are neither videos by extension nor caption files of a video (or folder
    /// markers).
    pub skipped: u64,
    /// Source bytes of the videos added.
    pub added_bytes: u64,
    /// Objects listed so far.
    pub listed: u64,
    /// Caption files attached to the videos of this run (sidecars: `lesson.en.srt`).
    pub captions: u64,
    /// Caption files that match no video by name (counted in `skipped` too).
    pub unmatched_captions: u64,
    /// Done videos whose caption files changed, queued for a captions-only redo.
    pub caption_redos: u64,
    /// Pending or failed videos whose caption files changed (their next attempt reads them).
    pub captions_updated: u64,
    /// Videos whose caption files changed while a worker held them: left as they are
    /// (re-run `seed` once they are done).
    pub captions_busy: u64,
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Listing the input failed (missing bucket, denied).
    #[error("listing {prefix}: {source}")]
    List {
        /// The prefix.
        prefix: String,
        /// Cause.
        #[source]
        source: BlobError,
    },
    /// Writing the table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to seed and how.
#[derive(Debug, Clone)]
pub struct SeedPlan<'a> {
    /// The source prefix.
    pub input: &'a S3Uri,
    /// Where streams go.
    pub output: &'a S3Uri,
    /// Extensions that are videos.
    pub extensions: &'a [String],
    /// The language of a caption file whose name carries no tag (RFC 5646; `und`).
    pub default_caption_language: &'a str,
    /// Count without writing.
    pub dry_run: bool,
}

/// One listed object.
struct Listed {
    key: String,
    size: u64,
    etag: String,
}

/// Seeds every video under `input` into the store, with streams going under `output` and
/// the caption files beside each video attached to its item. The whole listing is read first:
/// a video's caption files may sort before or after it, or on another listing page (a million
/// keys take about 100 MB). `progress` is called as objects are listed and written.
pub async fn seed(
    store: &DynamoStore,
    s3: &aws_sdk_s3::Client,
    plan: &SeedPlan<'_>,
    mut progress: impl FnMut(&SeedSummary),
) -> Result<SeedSummary, SeedError> {
    let input = plan.input.as_prefix();
    let output = plan.output.as_prefix();
    let now = chrono::Utc::now().timestamp_millis();
    let shards = schema().ready_shards;
    let mut summary = SeedSummary::default();
    let listed = list(s3, &input, |n| {
        summary.listed = n;
        progress(&summary);
    })
    .await?;
    let is_video = |k: &str| {
        !k.ends_with('/') && extension(k).is_some_and(|e| plan.extensions.iter().any(|x| x == &e))
    };
    let (mut videos, mut captions) = (Vec::new(), Vec::new());
    for o in &listed {
        if is_video(&o.key) {
            videos.push(o);
        } else if !o.key.ends_with('/') && sidecar::is_caption(&o.key) {
            captions.push((o.key.clone(), o.etag.clone()));
        } else {
            summary.skipped += 1;
        }
    }
    let keys: Vec<String> = videos.iter().map(|v| v.key.clone()).collect();
    let (mut attached, orphans) = sidecar::attach(
        &keys,
        &captions,
        &language::bcp47(plan.default_caption_language),
    );
    summary.unmatched_captions = orphans.len() as u64;
    summary.skipped += summary.unmatched_captions;
    summary.captions = attached.values().map(|v| v.len() as u64).sum();
    let writes = futures::stream::iter(videos.into_iter().map(|obj| {
        let files = attached.remove(&obj.key).unwrap_or_default();
        let (input, output) = (&input, &output);
        async move {
            let Some(out) = output_prefix(&input.key, &obj.key, &output.key) else {
                return Ok::<_, SeedError>((Outcome::Skipped, 0));
            };
            if plan.dry_run {
                return Ok((Outcome::Added, obj.size));
            }
            let src = S3Uri {
                bucket: input.bucket.clone(),
                key: obj.key.clone(),
            };
            let mut item = seeded(&src, &output.bucket, &out, obj.size, now, shards);
            item.captions = (!files.is_empty()).then(|| files.clone());
            let Some(old) = store.insert_or_get(&item).await? else {
                return Ok((Outcome::Added, obj.size));
            };
            if old.captions.clone().unwrap_or_default() == files {
                return Ok((Outcome::Present, 0));
            }
            Ok((
                Outcome::Captions(store.update_captions(&old, &files).await?),
                0,
            ))
        }
    }))
    .buffer_unordered(PARALLEL_WRITES);
    futures::pin_mut!(writes);
    // The `total` counter grows in steps of 64: one extra write per 64 videos added.
    let mut uncounted = 0i64;
    loop {
        let next = match writes.try_next().await {
            Ok(Some(n)) => n,
            Ok(None) => break,
            Err(e) => {
                // What was added is counted even when the run stops short: a re-run sees
                // those items as present and would never count them.
                store.count(Counter::Total, uncounted).await?;
                return Err(e);
            }
        };
        let (outcome, bytes) = next;
        match outcome {
            Outcome::Added => {
                summary.added += 1;
                summary.added_bytes += bytes;
                if !plan.dry_run {
                    uncounted += 1;
                    if uncounted >= 64 {
                        store.count(Counter::Total, uncounted).await?;
                        uncounted = 0;
                    }
                }
            }
            Outcome::Present => summary.present += 1,
            Outcome::Skipped => summary.skipped += 1,
            Outcome::Captions(u) => {
                summary.present += 1;
                match u {
                    CaptionUpdate::Redo => summary.caption_redos += 1,
                    CaptionUpdate::Updated => summary.captions_updated += 1,
                    CaptionUpdate::Busy => summary.captions_busy += 1,
                }
            }
        }
        progress(&summary);
    }
    store.count(Counter::Total, uncounted).await?;
    Ok(summary)
}

/// Lists every object under `input`, reporting the count as pages arrive.
async fn list(
    s3: &aws_sdk_s3::Client,
    input: &S3Uri,
    mut progress: impl FnMut(u64),
) -> Result<Vec<Listed>, SeedError> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(&input.bucket)
        .prefix(&input.key)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| SeedError::List {
            prefix: input.to_string(),
            source: blob::classify(e, &input.bucket, &input.key),
        })?;
        for o in page.contents.unwrap_or_default() {
            out.push(Listed {
                key: o.key.unwrap_or_default(),
                size: o.size.unwrap_or(0).max(0) as u64,
                etag: o.e_tag.unwrap_or_default(),
            });
        }
        progress(out.len() as u64);
    }
    Ok(out)
}

enum Outcome {
    Added,
    Present,
    Skipped,
    Captions(CaptionUpdate),
}
