//! `seed`: one item per video under an S3 prefix, added with a conditional write so that a
//! second run changes nothing and never resets a video that is in progress, done or failed.
//! Listing and writing overlap: each page's writes start while the next page is listed.

use crate::blob;
use crate::domain::keys::{extension, output_prefix, S3Uri};
use crate::domain::video::seeded;
use crate::error::{BlobError, StoreError};
use crate::store::dynamo::registry::Counter;
use crate::store::dynamo::DynamoStore;
use crate::store::schema::schema;
use futures::TryStreamExt;

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
    /// Objects that are not videos by extension (or folder markers).
    pub skipped: u64,
    /// Source bytes of the videos added.
    pub added_bytes: u64,
    /// Objects listed so far (the total grows as listing pages arrive).
    pub listed: u64,
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

/// Seeds every video under `input` into the store, with streams going under `output`.
/// `progress` is called after each object with the running summary.
pub async fn seed(
    store: &DynamoStore,
    s3: &aws_sdk_s3::Client,
    input: &S3Uri,
    output: &S3Uri,
    extensions: &[String],
    dry_run: bool,
    mut progress: impl FnMut(&SeedSummary),
) -> Result<SeedSummary, SeedError> {
    let input = input.as_prefix();
    let output = output.as_prefix();
    let now = chrono::Utc::now().timestamp_millis();
    let shards = schema().ready_shards;
    let list_err = |e: BlobError| SeedError::List {
        prefix: input.to_string(),
        source: e,
    };
    let pages = s3
        .list_objects_v2()
        .bucket(&input.bucket)
        .prefix(&input.key)
        .into_paginator()
        .send();
    // The SDK's paginator is not a `futures::Stream`; adapt it so listing overlaps writing.
    let pages =
        futures::stream::unfold(pages, |mut p| async move { p.next().await.map(|r| (r, p)) });
    let listed = std::sync::atomic::AtomicU64::new(0);
    let objects = pages
        .map_err(|e| list_err(blob::classify(e, &input.bucket, &input.key)))
        .map_ok(|page| {
            let contents = page.contents.unwrap_or_default();
            listed.fetch_add(contents.len() as u64, std::sync::atomic::Ordering::Relaxed);
            futures::stream::iter(contents.into_iter().map(Ok))
        })
        .try_flatten();
    let mut summary = SeedSummary::default();
    let writes = objects
        .map_ok(|obj| {
            let key = obj.key.unwrap_or_default();
            let size = obj.size.unwrap_or(0).max(0) as u64;
            let (input, output) = (&input, &output);
            async move {
                let is_video = extension(&key).is_some_and(|e| extensions.iter().any(|x| x == &e));
                let out = output_prefix(&input.key, &key, &output.key);
                let Some(out) = out.filter(|_| is_video && !key.ends_with('/')) else {
                    return Ok::<_, SeedError>((Outcome::Skipped, 0));
                };
                if dry_run {
                    return Ok((Outcome::Added, size));
                }
                let src = S3Uri {
                    bucket: input.bucket.clone(),
                    key,
                };
                let item = seeded(&src, &output.bucket, &out, size, now, shards);
                Ok(if store.insert_new(&item).await? {
                    (Outcome::Added, size)
                } else {
                    (Outcome::Present, 0)
                })
            }
        })
        .try_buffer_unordered(PARALLEL_WRITES);
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
                if !dry_run {
                    uncounted += 1;
                    if uncounted >= 64 {
                        store.count(Counter::Total, uncounted).await?;
                        uncounted = 0;
                    }
                }
            }
            Outcome::Present => summary.present += 1,
            Outcome::Skipped => summary.skipped += 1,
        }
        summary.listed = listed.load(std::sync::atomic::Ordering::Relaxed);
        progress(&summary);
    }
    store.count(Counter::Total, uncounted).await?;
    Ok(summary)
}

enum Outcome {
    Added,
    Present,
    Skipped,
}
