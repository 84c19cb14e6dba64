//! `audit`: reconciles a source prefix, the table and the published streams. Read-only unless
//! asked to fix. Three findings, each with its repair:
//!
//! | finding | meaning | `--fix` |
//! |---|---|---|
//! | `unseeded` | a video under the prefix with no item | seeds it |
//! | `source_missing` | an item (not `done`) whose source object is gone | deletes the item, unless a worker holds it |
//! | `output_missing` | a `done` item whose `master.m3u8` is gone | requeues it |
//!
//! A `done` video whose source was deleted afterwards is counted (`done_source_gone`) but is
//! not a finding: deleting sources once transcoded is a normal way to save storage.

use crate::admin::report::scan_all;
use crate::admin::seed::PARALLEL_WRITES;
use crate::blob;
use crate::domain::keys::{extension, output_prefix, S3Uri};
use crate::domain::video::seeded;
use crate::domain::{VideoItem, VideoState};
use crate::error::{BlobError, StoreError};
use crate::store::dynamo::registry::Counter;
use crate::store::dynamo::DynamoStore;
use crate::store::schema::schema;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// What an audit found (and, with `fix`, what it repaired).
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct AuditReport {
    /// Videos under the prefix.
    pub source_videos: u64,
    /// Items whose source is under the prefix.
    pub items: u64,
    /// Source URIs of videos never seeded.
    pub unseeded: Vec<String>,
    /// Items (not `done`) whose source object is gone.
    pub source_missing: Vec<String>,
    /// `done` items whose master playlist is gone.
    pub output_missing: Vec<String>,
    /// `done` items whose source was deleted after the stream was published (not a problem).
    pub done_source_gone: u64,
    /// Repairs made by `fix`.
    pub fixed: Fixed,
    /// Findings `fix` left alone, with why.
    pub left_alone: Vec<String>,
}

impl AuditReport {
    /// Whether nothing is out of line (after repairs, when fixing).
    pub fn clean(&self) -> bool {
        let found = self.unseeded.len() + self.source_missing.len() + self.output_missing.len();
        found as u64 == self.fixed.total() && self.left_alone.is_empty()
    }
}

/// Repairs made.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Fixed {
    /// Videos seeded.
    pub seeded: u64,
    /// Items deleted because their source is gone.
    pub deleted: u64,
    /// Done videos put back to pending because their stream is gone.
    pub requeued: u64,
}

impl Fixed {
    fn total(&self) -> u64 {
        self.seeded + self.deleted + self.requeued
    }
}

/// Why an audit could not run.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Listing the source or reading an output failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Reading or writing the table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Unseeded videos to fix, and no way to know where their streams go.
    #[error(
        "cannot tell where the streams of unseeded videos go: pass the output prefix \
         (s3://output-bucket/prefix/) as in `seed`"
    )]
    NoOutput,
    /// Neither a video under the prefix nor an item seeded from it: a typo, not a clean bill.
    #[error("nothing under {input} and no video seeded from it{}", near(nearest))]
    NothingMatched {
        /// The prefix.
        input: String,
        /// Folders with names near it.
        nearest: Vec<String>,
    },
}

fn near(nearest: &[String]) -> String {
    if nearest.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", nearest.join(" or "))
    }
}

/// Audits `input` against the table and the outputs; with `fix`, repairs what it found.
/// `output` is where unseeded videos' streams go; without it, it is inferred from the items
/// already seeded from this prefix. `progress` gets (checked, total) as done streams are checked.
pub async fn audit(
    store: &DynamoStore,
    s3: &aws_sdk_s3::Client,
    input: &S3Uri,
    output: Option<&S3Uri>,
    extensions: &[String],
    fix: bool,
    mut progress: impl FnMut(u64, u64),
) -> Result<AuditReport, AuditError> {
    let input = input.as_prefix();
    let listed = blob::list_keys(s3, &input.bucket, &input.key).await?;
    let videos: HashMap<String, u64> = listed
        .into_iter()
        .filter(|(k, _)| {
            !k.ends_with('/') && extension(k).is_some_and(|e| extensions.iter().any(|x| x == &e))
        })
        .collect();
    let (all, _) = scan_all(store.client(), &store.config().table).await?;
    let items: Vec<VideoItem> = all
        .into_iter()
        .filter(|v| v.src_bucket == input.bucket && v.src_key.starts_with(&input.key))
        .collect();
    if videos.is_empty() && items.is_empty() {
        return Err(AuditError::NothingMatched {
            input: input.to_string(),
            nearest: crate::admin::seed::checks::nearest_prefixes(s3, &input).await,
        });
    }
    let seeded_keys: HashSet<&str> = items.iter().map(|v| v.src_key.as_str()).collect();

    let mut r = AuditReport {
        source_videos: videos.len() as u64,
        items: items.len() as u64,
        ..Default::default()
    };
    let mut unseeded: Vec<(&String, u64)> = videos
        .iter()
        .filter(|(k, _)| !seeded_keys.contains(k.as_str()))
        .map(|(k, s)| (k, *s))
        .collect();
    unseeded.sort();
    r.unseeded = unseeded
        .iter()
        .map(|(k, _)| format!("s3://{}/{k}", input.bucket))
        .collect();
    for v in &items {
        if !videos.contains_key(&v.src_key) {
            if v.state == VideoState::Done {
                r.done_source_gone += 1;
            } else {
                r.source_missing.push(v.pk.clone());
            }
        }
    }
    r.source_missing.sort();
    // One HEAD per done stream, in parallel: cheaper than listing every segment of the output.
    let done: Vec<&VideoItem> = items
        .iter()
        .filter(|v| v.state == VideoState::Done)
        .collect();
    let total = done.len() as u64;
    let mut checked = 0u64;
    let missing: Vec<Option<String>> = futures::stream::iter(done)
        .map(|v| async move {
            let key = format!("{}/master.m3u8", v.out_prefix);
            match blob::size(s3, &v.out_bucket, &key).await {
                Ok(_) => Ok(None),
                Err(BlobError::NotFound { .. }) => Ok(Some(v.pk.clone())),
                Err(e) => Err(e),
            }
        })
        .buffer_unordered(PARALLEL_WRITES)
        .inspect_ok(|_| {
            checked += 1;
            progress(checked, total);
        })
        .try_collect()
        .await?;
    r.output_missing = missing.into_iter().flatten().collect();
    r.output_missing.sort();

    if fix {
        repair(store, &input, output, &items, &unseeded, &mut r).await?;
    }
    Ok(r)
}

async fn repair(
    store: &DynamoStore,
    input: &S3Uri,
    output: Option<&S3Uri>,
    items: &[VideoItem],
    unseeded: &[(&String, u64)],
    r: &mut AuditReport,
) -> Result<(), AuditError> {
    if !unseeded.is_empty() {
        let out = match output {
            Some(o) => o.as_prefix(),
            None => infer_output(&input.key, items).ok_or(AuditError::NoOutput)?,
        };
        let now = chrono::Utc::now().timestamp_millis();
        for (key, size) in unseeded {
            let src = S3Uri {
                bucket: input.bucket.clone(),
                key: (*key).clone(),
            };
            let Some(prefix) = output_prefix(&input.key, key, &out.key) else {
                r.left_alone.push(format!("{src}: no output name"));
                continue;
            };
            let item = seeded(
                &src,
                &out.bucket,
                &prefix,
                *size,
                now,
                schema().ready_shards,
            );
            if store.insert_new(&item).await? {
                r.fixed.seeded += 1;
                store.count(Counter::Total, 1).await?;
            } else {
                r.left_alone.push(format!("{src}: seeded meanwhile"));
            }
        }
    }
    let by_pk: HashMap<&str, &VideoItem> = items.iter().map(|v| (v.pk.as_str(), v)).collect();
    for pk in &r.source_missing {
        let gone = by_pk[pk.as_str()];
        if store.forget(pk, gone.rev).await? {
            r.fixed.deleted += 1;
            store.count(Counter::Total, -1).await?;
            match gone.state {
                VideoState::Failed => store.count(Counter::Failed, -1).await?,
                VideoState::Done => store.count(Counter::Done, -1).await?,
                _ => {}
            }
        } else {
            r.left_alone
                .push(format!("{pk}: held by a worker or changed meanwhile"));
        }
    }
    for pk in &r.output_missing {
        if store.requeue(pk, true).await?.is_some() {
            r.fixed.requeued += 1;
        } else {
            r.left_alone.push(format!("{pk}: changed meanwhile"));
        }
    }
    Ok(())
}

/// The output root the items of `input_prefix` were seeded with, if they all agree: each
/// item's stream prefix is that root followed by its source key's relative path.
pub fn infer_output(input_prefix: &str, items: &[VideoItem]) -> Option<S3Uri> {
    let mut root: Option<(String, String)> = None;
    for v in items {
        let rel = output_prefix(input_prefix, &v.src_key, "")?;
        let r = v.out_prefix.strip_suffix(&rel)?.trim_end_matches('/');
        let this = (v.out_bucket.clone(), r.to_string());
        match &root {
            None => root = Some(this),
            Some(x) if *x == this => {}
            Some(_) => return None,
        }
    }
    let (bucket, key) = root?;
    Some(S3Uri {
        bucket,
        key: if key.is_empty() {
            key
        } else {
            format!("{key}/")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(src_key: &str, out_bucket: &str, out_prefix: &str) -> VideoItem {
        let src = S3Uri {
            bucket: "in".into(),
            key: src_key.into(),
        };
        seeded(&src, out_bucket, out_prefix, 1, 0, 16)
    }

    #[test]
    fn the_output_root_is_inferred_when_every_item_agrees() {
        let items = [
            item("AI CERTs/Videos/a.mp4", "out", "hls/a"),
            item("AI CERTs/Videos/sub/b ü.mov", "out", "hls/sub/b ü"),
        ];
        let root = infer_output("AI CERTs/Videos/", &items).unwrap();
        assert_eq!((root.bucket.as_str(), root.key.as_str()), ("out", "hls/"));
        let flat = [item("v/a.mp4", "out", "a")];
        assert_eq!(infer_output("v/", &flat).unwrap().key, "");
    }

    #[test]
    fn no_output_root_is_guessed_when_items_disagree_or_are_absent() {
        let items = [
            item("v/a.mp4", "out", "hls/a"),
            item("v/b.mp4", "other", "hls/b"),
        ];
        assert!(infer_output("v/", &items).is_none());
        assert!(infer_output("v/", &[]).is_none());
    }
}
