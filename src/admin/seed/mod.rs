//! `seed`: one item per video under an S3 prefix, added with a conditional write so that a
//! second run changes nothing and never resets a video that is in progress, done or failed.
//! Caption files beside a video (`lesson.en.srt`) are attached to its item, not seeded; a
//! re-run that finds them changed queues a captions-only redo of a done video.
//!
//! Nothing is written until the input has matched at least one video and the output has
//! taken (and given back) a test object: see [`checks`].

pub mod checks;

use crate::blob;
use crate::domain::captions::sidecar;
use crate::domain::keys::{extension, output_prefix, S3Uri};
use crate::domain::language;
use crate::domain::video::seeded;
use crate::domain::VideoState;
use crate::error::{BlobError, StoreError};
use crate::store::dynamo::registry::Counter;
use crate::store::dynamo::CaptionUpdate;
use crate::store::dynamo::{DynamoStore, OutputUpdate};
use crate::store::schema::schema;
use futures::{StreamExt, TryStreamExt};

/// Extensions seeded by default: the containers of video files ffmpeg 5.1 reads that cameras,
/// phones, screen recorders and editors write (`.mts`/`.m2ts` from AVCHD cameras, `.3gp` from
/// phones, `.vob` from DVDs, `.ogv`, `.f4v`, `.asf`, `.dv`, ...).
pub const DEFAULT_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "qt", "mkv", "webm", "avi", "mpg", "mpeg", "m2v", "ts", "mts", "m2ts",
    "mxf", "wmv", "asf", "flv", "f4v", "3gp", "3g2", "ogv", "vob", "dv",
];

/// Conditional writes in flight.
pub const PARALLEL_WRITES: usize = 32;

/// What a seed run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeedSummary {
    /// Videos added.
    pub added: u64,
    /// Videos already in the table (left untouched).
    pub present: u64,
    /// Objects that are neither videos by extension nor caption files of a video (or folder
    /// markers).
    pub skipped: u64,
    /// Their keys, in listing order.
    pub skipped_keys: Vec<String>,
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
    /// With `update_output`: present videos now pointing at the new output.
    pub outputs_moved: u64,
    /// ... of which had failed because of their output, and are pending again.
    pub outputs_requeued: u64,
    /// ... done videos whose streams stay at their old output.
    pub outputs_done_kept: u64,
    /// ... videos a worker held: untouched (re-run once they end).
    pub outputs_busy: u64,
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The input bucket does not exist.
    #[error("input bucket {0} does not exist (check the URI)")]
    InputBucket(String),
    /// The input matched no video: a typo, the wrong case, the wrong extensions.
    #[error("{}", nothing_matched(input, others, nearest))]
    NothingMatched {
        /// The input as given.
        input: String,
        /// Objects found that are not videos by extension: (extension, count).
        others: Vec<(String, u64)>,
        /// Folders with names near the input's.
        nearest: Vec<String>,
    },
    /// The output cannot take a stream.
    #[error(transparent)]
    Output(#[from] checks::OutputProblem),
    /// Listing the input failed (denied, or S3 trouble).
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
    /// Point videos already in the table (not done, not in progress) at `output`.
    pub update_output: bool,
}

/// The one line for an input that matched no video.
fn nothing_matched(input: &str, others: &[(String, u64)], nearest: &[String]) -> String {
    let mut line = if others.is_empty() {
        format!("nothing under {input}")
    } else {
        let found: Vec<String> = others
            .iter()
            .map(|(ext, n)| format!("{n} .{ext}"))
            .collect();
        format!(
            "no video under {input}: {} found, none with a video extension (--include-ext to \
             add one)",
            found.join(", ")
        )
    };
    if !nearest.is_empty() {
        line.push_str(&format!("; did you mean {}?", nearest.join(" or ")));
    }
    line
}

/// One listed object.
#[derive(Clone)]
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
    let prepared = prepare(s3, plan, &mut progress).await?;
    write(store, plan, prepared, progress).await
}

/// A seed run checked and ready to write: its input matched videos, its output takes writes.
pub struct Prepared {
    input: S3Uri,
    output: S3Uri,
    videos: Vec<Listed>,
    attached: std::collections::HashMap<String, Vec<crate::domain::captions::CaptionFile>>,
    summary: SeedSummary,
}

/// The part of [`seed`] that writes nothing: lists the input, sorts videos from caption files
/// and the rest, and checks the output ([`checks`]).
pub async fn prepare(
    s3: &aws_sdk_s3::Client,
    plan: &SeedPlan<'_>,
    progress: &mut impl FnMut(&SeedSummary),
) -> Result<Prepared, SeedError> {
    let mut input = plan.input.as_prefix();
    let output = plan.output.as_prefix();
    let mut summary = SeedSummary::default();
    let mut listed = list(s3, &input, |n| {
        summary.listed = n;
        progress(&summary);
    })
    .await?;
    if listed.is_empty() {
        if let Some((one, folder)) = one_video(s3, plan.input).await? {
            summary.listed = one.len() as u64;
            listed = one;
            input = folder;
        }
    }
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
            if !o.key.ends_with('/') {
                summary.skipped_keys.push(o.key.clone());
            }
        }
    }
    if videos.is_empty() {
        return Err(SeedError::NothingMatched {
            input: plan.input.to_string(),
            others: by_extension(&listed),
            nearest: if listed.is_empty() {
                checks::nearest_prefixes(s3, plan.input).await
            } else {
                Vec::new()
            },
        });
    }
    checks::output_usable(s3, &output, plan.dry_run).await?;
    let keys: Vec<String> = videos.iter().map(|v| v.key.clone()).collect();
    let (attached, orphans) = sidecar::attach(
        &keys,
        &captions,
        &language::bcp47(plan.default_caption_language),
    );
    summary.unmatched_captions = orphans.len() as u64;
    summary.skipped += summary.unmatched_captions;
    summary.skipped_keys.extend(orphans.iter().cloned());
    summary.captions = attached.values().map(|v| v.len() as u64).sum();
    let videos = videos.into_iter().cloned().collect();
    Ok(Prepared {
        input,
        output,
        videos,
        attached,
        summary,
    })
}

/// The part of [`seed`] that writes: one conditional write per video.
pub async fn write(
    store: &DynamoStore,
    plan: &SeedPlan<'_>,
    prepared: Prepared,
    mut progress: impl FnMut(&SeedSummary),
) -> Result<SeedSummary, SeedError> {
    let Prepared {
        input,
        output,
        videos,
        mut attached,
        mut summary,
    } = prepared;
    let now = chrono::Utc::now().timestamp_millis();
    let shards = schema().ready_shards;
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
            let Some(mut old) = store.insert_or_get(&item).await? else {
                return Ok((Outcome::Added, obj.size));
            };
            let moved = if plan.update_output
                && (old.out_bucket != output.bucket || old.out_prefix != out)
            {
                let update = store.update_output(&old, &output.bucket, &out).await?;
                // What the write did, so that the captions write below, conditioned on the
                // version, needs no second read.
                if matches!(update, OutputUpdate::Moved | OutputUpdate::Requeued) {
                    old.rev += 1;
                    old.out_bucket.clone_from(&output.bucket);
                    old.out_prefix.clone_from(&out);
                }
                if update == OutputUpdate::Requeued {
                    old.state = VideoState::Pending;
                }
                Some(update)
            } else {
                None
            };
            if old.captions.clone().unwrap_or_default() == files {
                return Ok((Outcome::Present(moved, None), 0));
            }
            let captions = store.update_captions(&old, &files).await?;
            Ok((Outcome::Present(moved, Some(captions)), 0))
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
            Outcome::Skipped => summary.skipped += 1,
            Outcome::Present(output, captions) => {
                summary.present += 1;
                match output {
                    Some(OutputUpdate::Moved) => summary.outputs_moved += 1,
                    Some(OutputUpdate::Requeued) => {
                        summary.outputs_moved += 1;
                        summary.outputs_requeued += 1;
                    }
                    Some(OutputUpdate::DoneKept) => summary.outputs_done_kept += 1,
                    Some(OutputUpdate::Busy) => summary.outputs_busy += 1,
                    None => {}
                }
                match captions {
                    Some(CaptionUpdate::Redo) => summary.caption_redos += 1,
                    Some(CaptionUpdate::Updated) => summary.captions_updated += 1,
                    Some(CaptionUpdate::Busy) => summary.captions_busy += 1,
                    None => {}
                }
            }
        }
        progress(&summary);
    }
    store.count(Counter::Total, uncounted).await?;
    Ok(summary)
}

/// `s3://in/week1/intro.mp4`: one object named whole is a one-video seed, with its caption
/// files (`intro.en.srt`), mapped as if its folder had been seeded. Returns the video and its
/// sidecars, and the folder to map from; `None` when `input` names no object. Listed, not
/// HEAD-ed: the same right (ListBucket) as a folder, and the sidecars come in the same page.
async fn one_video(
    s3: &aws_sdk_s3::Client,
    input: &S3Uri,
) -> Result<Option<(Vec<Listed>, S3Uri)>, SeedError> {
    let key = input.key.as_str();
    if key.is_empty() || key.ends_with('/') {
        return Ok(None);
    }
    let (folder, file) = match key.rsplit_once('/') {
        Some((d, f)) => (format!("{d}/"), f),
        None => (String::new(), key),
    };
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let beside = S3Uri {
        bucket: input.bucket.clone(),
        key: format!("{folder}{stem}"),
    };
    let siblings = list(s3, &beside, |_| {}).await?;
    if !siblings.iter().any(|o| o.key == key) {
        return Ok(None);
    }
    let sidecar_of = format!("{folder}{stem}.");
    let one = siblings
        .into_iter()
        .filter(|o| o.key == key || (sidecar::is_caption(&o.key) && o.key.starts_with(&sidecar_of)))
        .collect();
    let folder = S3Uri {
        bucket: input.bucket.clone(),
        key: folder,
    };
    Ok(Some((one, folder)))
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
        let page = page.map_err(|e| match blob::classify(e, &input.bucket, &input.key) {
            e if e.is_missing_bucket() => SeedError::InputBucket(input.bucket.clone()),
            source => SeedError::List {
                prefix: input.to_string(),
                source,
            },
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

/// Objects per extension (`(none)` for a name without one), most common first.
fn by_extension(listed: &[Listed]) -> Vec<(String, u64)> {
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    for o in listed.iter().filter(|o| !o.key.ends_with('/')) {
        *counts
            .entry(extension(&o.key).unwrap_or_else(|| "(none)".into()))
            .or_default() += 1;
    }
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

enum Outcome {
    Added,
    /// Already seeded: what `--update-output` and changed caption files did to it.
    Present(Option<OutputUpdate>, Option<CaptionUpdate>),
    Skipped,
}
