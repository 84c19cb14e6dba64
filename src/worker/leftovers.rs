//! What attempts leave in the output bucket. A failed attempt's own uploads go at once (no
//! master points at them, unless its master PUT may still land: then they stay); after `done`, what earlier attempts uploaded that the new master
//! does not point into goes too, except what the *previous* master pointed into: viewers who
//! loaded it keep fetching its segments, so that stays readable for `--redo-grace-seconds`
//! after the new master is published, then goes.

use super::ctx::JobCtx;
use super::stills::THUMBNAILS_VTT;
use crate::blob;
use crate::domain::VideoItem;
use crate::error::{BlobError, JobError};
use crate::store::Lease;
use crate::transcode::playlist;
use crate::transcode::stills::THUMBS_DIR;
use std::collections::HashSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How long a cleanup step may take: S3 calls without a deadline of their own must not hold a
/// slot (a hung GET once held a job past its lease deadline).
const STEP: std::time::Duration = std::time::Duration::from_secs(10);

/// `fut`, or `None` if it takes longer than [`STEP`] (then nothing is removed: garbage, never
/// a broken stream).
pub async fn bounded<T>(fut: impl std::future::Future<Output = T>) -> Option<T> {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => Some(v),
        Err(_) => {
            warn!("cleanup of earlier attempts timed out; left for the next job");
            None
        }
    }
}

/// The `t<N>/<folder>` folders the published master and thumbnails point into: what players
/// fetch. `None` when they cannot be read (then nothing may be removed); empty when nothing
/// is published.
pub async fn published_folders(
    ctx: &JobCtx,
    v: &VideoItem,
) -> Result<Option<HashSet<String>>, JobError> {
    let master_key = format!("{}/master.m3u8", v.out_prefix);
    let mut keep = match blob::get_bytes(&ctx.s3, &v.out_bucket, &master_key).await {
        Ok(m) => playlist::referenced_folders(&String::from_utf8_lossy(&m)),
        // Learnt here, before the download and the encode, instead of at the first upload.
        Err(e @ BlobError::NotFound { .. }) if e.is_missing_bucket() => {
            return Err(JobError::output(e))
        }
        Err(BlobError::NotFound { .. }) => HashSet::new(),
        Err(e) => {
            warn!(error = %e, "could not read the master back");
            return Ok(None);
        }
    };
    // The thumbnails file names its sprite sheets' folder (a captions-only redo keeps them).
    let thumbs_key = format!("{}/{THUMBNAILS_VTT}", v.out_prefix);
    match blob::get_bytes(&ctx.s3, &v.out_bucket, &thumbs_key).await {
        Ok(t) => keep.extend(
            String::from_utf8_lossy(&t)
                .lines()
                .filter_map(|l| l.split_once("/thumbs/").map(|(t, _)| format!("{t}/thumbs"))),
        ),
        Err(BlobError::NotFound { .. }) => {}
        Err(e) => {
            warn!(error = %e, "could not read the thumbnails back");
            return Ok(None);
        }
    }
    Ok(Some(keep))
}

/// The folder (`t<N>/<folder>`) of a key below a video's output prefix.
fn folder_of(rest: &str) -> Option<String> {
    let mut parts = rest.splitn(3, '/');
    Some(format!("{}/{}", parts.next()?, parts.next()?))
}

/// Keys of older attempts no published file points into, below `v`'s prefix.
async fn unreferenced(ctx: &JobCtx, v: &VideoItem, token: u64) -> Option<Vec<String>> {
    let keep = published_folders(ctx, v).await.ok()??;
    let keys = match blob::list_keys(&ctx.s3, &v.out_bucket, &format!("{}/t", v.out_prefix)).await {
        Ok(k) => k,
        Err(e) => {
            warn!(error = %e, "could not list earlier attempts");
            return None;
        }
    };
    let base = format!("{}/", v.out_prefix);
    Some(
        keys.into_iter()
            .map(|(k, _)| k)
            .filter(|k| {
                k.strip_prefix(&base)
                    .is_some_and(|r| superseded(r, token, &keep))
            })
            .collect(),
    )
}

async fn delete(ctx: &JobCtx, v: &VideoItem, keys: &[String], what: &str) {
    if keys.is_empty() {
        return;
    }
    match blob::delete_keys(&ctx.s3, &v.out_bucket, keys).await {
        Ok(n) => info!(deleted = n, "removed {what}"),
        Err(e) => warn!(error = %e, "could not remove {what}"),
    }
}

/// After `done`: removes earlier attempts' files the new master does not point into, at once
/// unless `previous` (what the master before this job pointed into) names their folder; those
/// are removed after `ctx.cfg.redo_grace`, unless `stop` fires first (then they stay until the
/// video's next job). Best effort: a failure leaves garbage, never a broken stream.
pub async fn after_done(
    ctx: &JobCtx,
    lease: &Lease,
    previous: HashSet<String>,
    stop: &CancellationToken,
) {
    let v = &lease.video;
    let Some(old) = unreferenced(ctx, v, lease.token).await else {
        return;
    };
    let base = format!("{}/", v.out_prefix);
    let viewed = |k: &String| {
        k.strip_prefix(&base)
            .and_then(folder_of)
            .is_some_and(|f| previous.contains(&f))
    };
    let grace = ctx.cfg.redo_grace;
    let (later, now): (Vec<String>, Vec<String>) = if grace.is_zero() {
        (Vec::new(), old)
    } else {
        old.into_iter().partition(viewed)
    };
    delete(ctx, v, &now, "earlier attempts' files").await;
    if later.is_empty() {
        return;
    }
    info!(
        files = later.len(),
        grace_s = grace.as_secs_f64(),
        "the replaced attempt stays readable for the grace period"
    );
    let (ctx, lease, stop) = (ctx.clone(), lease.clone(), stop.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(grace) => {}
        }
        // Still unreferenced? A later job may have published again meanwhile.
        let Some(still) = unreferenced(&ctx, &lease.video, lease.token).await else {
            return;
        };
        let due: Vec<String> = still.into_iter().filter(|k| later.contains(k)).collect();
        delete(
            &ctx,
            &lease.video,
            &due,
            "the replaced attempt after its grace period",
        )
        .await;
    });
}

/// After a failed attempt (retried or not): removes what it uploaded, unless the published
/// master points into it: a failure after the master was written leaves the stream it names,
/// and a redo that fails leaves the previous stream whole. Earlier attempts' uploads stay
/// until the video is done: one of them may have a master PUT still in flight (sent, never
/// answered), which would name them if it landed (the model in `tests/protocol` found this).
pub async fn after_failure(ctx: &JobCtx, lease: &Lease) {
    let Some(mut old) = unreferenced(ctx, &lease.video, lease.token + 1).await else {
        return;
    };
    let own = format!("{}/t{}/", lease.video.out_prefix, lease.token);
    old.retain(|k| k.starts_with(&own));
    delete(ctx, &lease.video, &old, "the failed attempt's uploads").await;
}

/// Whether `rest` (a key below a video's output prefix) is a rendition file of an attempt
/// older than `token` that the published master no longer points into: `t<N>/<folder>/`
/// followed by `index.m3u8`, `iframes.m3u8`, `seg_NNNNN.ts` or `seg_NNNNN.vtt`, N < token,
/// `t<N>/<folder>` not in `keep`. A captions-only redo publishes new subtitle folders under
/// its own token and keeps the older attempt's video: those are in `keep`.
/// Anything else under the prefix (another video's stream nested below it) is left alone.
pub fn superseded(rest: &str, token: u64, keep: &HashSet<String>) -> bool {
    let parts: Vec<&str> = rest.split('/').collect();
    let [t, folder, file] = parts.as_slice() else {
        return false;
    };
    let older = t
        .strip_prefix('t')
        .and_then(|n| n.parse::<u64>().ok())
        .is_some_and(|n| n < token);
    let numbered = |prefix: &str, suffix: &str, digits: usize| {
        file.strip_prefix(prefix)
            .and_then(|f| f.strip_suffix(suffix))
            .is_some_and(|n| n.len() == digits && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let seg = numbered("seg_", ".ts", 5)
        || numbered("seg_", ".vtt", 5)
        || (*folder == THUMBS_DIR && numbered("sprite_", ".jpg", 3));
    older
        && !folder.is_empty()
        && !keep.contains(&format!("{t}/{folder}"))
        && (*file == "index.m3u8" || *file == "iframes.m3u8" || seg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_older_attempts_renditions_are_superseded() {
        let none = HashSet::new();
        let superseded = |r: &str, t: u64| super::superseded(r, t, &none);
        assert!(superseded("t1/720p/seg_00000.ts", 3));
        assert!(superseded("t1/sub_0/seg_00000.vtt", 3));
        assert!(superseded("t1/thumbs/sprite_000.jpg", 3));
        assert!(!superseded("t1/720p/sprite_000.jpg", 3));
        assert!(superseded("t2/audio_0/index.m3u8", 3));
        assert!(superseded("t2/720p/iframes.m3u8", 3));
        assert!(!superseded("t3/720p/seg_00000.ts", 3), "our own");
        assert!(!superseded("t4/720p/index.m3u8", 3), "never a newer one");
        // Another video's stream nested under this prefix (source "a/t1/x.mp4").
        assert!(!superseded("t1/master.m3u8", 3));
        assert!(!superseded("t1/x/master.m3u8", 3));
        assert!(!superseded("t1/x/t2/720p/seg_00000.ts", 3));
        assert!(!superseded("t1/720p/notes.txt", 3));
        assert!(!superseded("tx/720p/index.m3u8", 3));
        // A captions-only redo at token 4 keeps the video of attempt 2 its master points at.
        let keep: HashSet<String> = ["t2/720p".to_string(), "t4/sub_0".to_string()].into();
        assert!(!super::superseded("t2/720p/seg_00003.ts", 4, &keep));
        assert!(super::superseded("t2/sub_0/seg_00000.vtt", 4, &keep));
    }

    #[test]
    fn keys_fold_to_their_attempt_folder() {
        assert_eq!(
            folder_of("t3/720p/seg_00001.ts").as_deref(),
            Some("t3/720p")
        );
        assert_eq!(
            folder_of("t3/thumbs/sprite_001.jpg").as_deref(),
            Some("t3/thumbs")
        );
        assert_eq!(folder_of("master.m3u8"), None);
    }
}
