//! Publishing the poster and the scrubbing thumbnails that ffmpeg wrote beside the stream: the
//! sprite sheets under the attempt's own `t<token>/thumbs/` (never changed, cached for good),
//! `poster.jpg` and `thumbnails.vtt` beside the master (replaced by a redo, like it).

use super::ctx::Job;
use super::ctx::{Encoded, Source};
use crate::blob;
use crate::domain::stream::{Poster, Thumbnails};
use crate::domain::thumbnails::{self, Tile};
use crate::error::JobError;
use crate::transcode::stills::{self, POSTER, THUMBS_DIR};
use std::path::Path;

/// The thumbnails file's name, beside the master.
pub const THUMBNAILS_VTT: &str = "thumbnails.vtt";

/// Whether a warning is about the stills (kept by a captions-only redo, which makes none).
pub fn is_stills_warning(w: &str) -> bool {
    w.starts_with("audio only: no poster")
        || w.starts_with("no thumbnails")
        || w.starts_with("no poster")
}

/// What was published.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The poster, if ffmpeg made one.
    pub poster: Option<Poster>,
    /// The thumbnails, if ffmpeg made any.
    pub thumbnails: Option<Thumbnails>,
    /// Why either is missing.
    pub warnings: Vec<String>,
    /// `thumbnails.vtt` and `poster.jpg`, to be written beside the master right after it
    /// (file name, bytes): written earlier, a job that then failed would leave them pointing
    /// at its own attempt while the master points at another.
    pub beside_master: Vec<(String, Vec<u8>)>,
}

/// Runs the keyframe-only ffmpeg into `local`; `Some(its last stderr line)` if it failed.
async fn make(
    job: &Job<'_>,
    source: &Source,
    s: &stills::Stills,
    local: &Path,
) -> Result<Option<String>, JobError> {
    let Some(index) = source.plan.video_index else {
        return Ok(None);
    };
    let chain = crate::transcode::command::picture_chain(&source.plan);
    let argv = stills::argv(s, &source.path, index, &chain, local);
    let ran = job
        .unless_cancelled(async {
            tokio::process::Command::new(&argv[0])
                .args(&argv[1..])
                .kill_on_drop(true)
                .output()
                .await
                .map_err(|e| JobError::local(format!("running ffmpeg for the stills: {e}")))
        })
        .await?;
    if ran.status.success() {
        return Ok(None);
    }
    let err = String::from_utf8_lossy(&ran.stderr);
    Ok(Some(
        err.trim().lines().last().unwrap_or("no detail").to_string(),
    ))
}

/// Makes the stills under `dir/stills` and uploads the sheets. Missing stills are a warning, never a failure:
/// the stream plays without them.
pub async fn publish(
    job: &Job<'_>,
    source: &Source,
    encoded: &Encoded,
    dir: &Path,
) -> Result<Published, JobError> {
    let mut out = Published::default();
    let Some(s) = &source.plan.stills else {
        if source.plan.renditions.is_empty() {
            out.warnings
                .push("audio only: no poster and no thumbnails".to_string());
        }
        return Ok(out);
    };
    let (v, cfg) = (&job.lease.video, &job.ctx.cfg);
    let local = dir.join("stills");
    tokio::fs::create_dir_all(local.join(THUMBS_DIR))
        .await
        .map_err(|e| JobError::local(format!("creating the stills folder: {e}")))?;
    if let Some(why) = make(job, source, s, &local).await? {
        out.warnings
            .push(format!("no poster and no thumbnails: ffmpeg failed: {why}"));
        return Ok(out);
    }
    let put = |key: String, bytes: Vec<u8>, cache: String| async move {
        blob::put_cached(
            &job.ctx.s3,
            &v.out_bucket,
            &key,
            bytes,
            blob::content_type(&key),
            Some(&cache),
        )
        .await
        .map_err(JobError::output)
    };
    // Sprite sheets: as many as ffmpeg wrote, in order.
    let mut sprites = Vec::new();
    while let Ok(bytes) = tokio::fs::read(
        local
            .join(THUMBS_DIR)
            .join(stills::sprite_name(sprites.len())),
    )
    .await
    {
        let rel = format!(
            "t{}/{THUMBS_DIR}/{}",
            job.lease.token,
            stills::sprite_name(sprites.len())
        );
        put(
            format!("{}/{rel}", v.out_prefix),
            bytes,
            cfg.cache.media.clone(),
        )
        .await?;
        sprites.push(rel);
    }
    let duration: f64 = encoded
        .renditions
        .first()
        .map(|r| r.duration())
        .unwrap_or_default();
    let tile = Tile {
        width: s.thumb.0,
        height: s.thumb.1,
        columns: s.columns,
        rows: s.rows,
    };
    let count = thumbnails::count(duration, s.interval_s);
    if !sprites.is_empty() && count > 0 {
        let listed = sprites.clone();
        let vtt = thumbnails::vtt(duration, s.interval_s, &tile, |n| {
            listed
                .get(n)
                .cloned()
                .unwrap_or_else(|| listed[listed.len() - 1].clone())
        });
        out.beside_master
            .push((THUMBNAILS_VTT.to_string(), vtt.into_bytes()));
        out.thumbnails = Some(Thumbnails {
            path: THUMBNAILS_VTT.into(),
            interval_s: s.interval_s,
            count,
            sprites,
            tile,
        });
    } else {
        out.warnings
            .push("no thumbnails: ffmpeg wrote no sprite sheet".to_string());
    }
    match tokio::fs::read(local.join(POSTER)).await {
        Ok(bytes) => {
            out.beside_master.push((POSTER.to_string(), bytes));
            out.poster = Some(Poster {
                path: POSTER.into(),
                width: s.poster.0,
                height: s.poster.1,
            });
        }
        Err(_) => out
            .warnings
            .push("no poster: ffmpeg wrote none".to_string()),
    }
    Ok(out)
}
