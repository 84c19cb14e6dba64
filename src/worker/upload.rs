//! Uploading a stream while ffmpeg writes it. ffmpeg writes EVENT playlists, rewritten
//! (atomically, with `temp_file`) after every segment it closes, and renames a segment into
//! place before listing it; so a segment is uploaded as soon as its rendition's playlist lists
//! it, and deleted from local disk once uploaded (all but each rendition's first, kept for the
//! CODECS reading). Local disk holds the source plus a few segments per rendition, whatever the
//! video's length. Playlists go up, marked VOD, after ffmpeg exits; the master goes up last,
//! from the job.

use crate::blob;
use crate::error::JobError;
use crate::transcode::iframes::{self, Entry, SegmentKeyframes};
use crate::transcode::playlist;
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Uploads in flight per job.
const PARALLEL_PUTS: usize = 8;
/// How often the output folder is swept while ffmpeg runs.
const SWEEP: Duration = Duration::from_millis(250);

/// `Cache-Control` of what is published.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheControl {
    /// Segments and media playlists: written once under an attempt's own `t<token>/` prefix
    /// and never changed, so cacheable for good.
    pub media: String,
    /// The master playlist: replaced when a video is redone (`fleet-admin retry`, audit).
    pub master: String,
}

impl Default for CacheControl {
    fn default() -> Self {
        Self {
            media: "public, max-age=31536000, immutable".into(),
            master: "public, max-age=60".into(),
        }
    }
}

/// One rendition as published: what the master needs.
#[derive(Debug, Clone)]
pub struct Published {
    /// Folder name.
    pub folder: String,
    /// Segments in order: (bytes, seconds).
    pub segments: Vec<(u64, f64)>,
    /// EXT-X-TARGETDURATION, seconds.
    pub target: f64,
    /// The first segment, still on local disk, for reading its CODECS.
    pub first_segment: PathBuf,
    /// For a video rendition: its I-frame playlist's entries as (bytes, seconds), published
    /// as `iframes.m3u8` beside `index.m3u8`.
    pub iframes: Option<Vec<(u64, f64)>>,
}

impl Published {
    /// Total duration, seconds.
    pub fn duration(&self) -> f64 {
        self.segments.iter().map(|(_, d)| d).sum()
    }
}

/// Follows one job's output folder.
#[derive(Debug)]
pub struct Uploader {
    s3: aws_sdk_s3::Client,
    bucket: String,
    /// Key prefix of this attempt's renditions: `<out prefix>/t<token>`.
    remote: String,
    local: PathBuf,
    folders: Vec<String>,
    /// The folders holding video, whose keyframes are read for the I-frame playlists.
    video: HashSet<String>,
    cache: CacheControl,
    /// Uploaded segments, by folder: file name → size.
    uploaded: HashMap<String, HashMap<String, u64>>,
    /// Keyframes of the video folders' segments, by folder and segment number.
    keyframes: HashMap<String, BTreeMap<usize, (String, SegmentKeyframes)>>,
    /// Most segment files seen on local disk at once, across folders (for the benchmark).
    peak_local_segments: usize,
}

impl Uploader {
    /// An uploader of `local/<folder>/…` to `s3://bucket/remote/<folder>/…`; `video` names
    /// the folders that hold video.
    pub fn new(
        s3: aws_sdk_s3::Client,
        bucket: String,
        remote: String,
        local: PathBuf,
        (folders, video): (Vec<String>, Vec<String>),
        cache: CacheControl,
    ) -> Self {
        Self {
            s3,
            bucket,
            remote,
            local,
            folders,
            video: video.into_iter().collect(),
            cache,
            uploaded: HashMap::new(),
            keyframes: HashMap::new(),
            peak_local_segments: 0,
        }
    }

    /// Most segment files that were on local disk at once.
    pub fn peak_local_segments(&self) -> usize {
        self.peak_local_segments
    }

    /// Uploads finished segments as they are listed until `encoded` fires.
    pub async fn follow(
        &mut self,
        encoded: &CancellationToken,
        job: &CancellationToken,
    ) -> Result<(), JobError> {
        loop {
            tokio::select! {
                _ = encoded.cancelled() => return Ok(()),
                _ = job.cancelled() => return Err(JobError::Cancelled),
                _ = tokio::time::sleep(SWEEP) => self.sweep().await?,
            }
        }
    }

    async fn playlist(&self, folder: &str) -> Option<String> {
        tokio::fs::read_to_string(self.local.join(folder).join("index.m3u8"))
            .await
            .ok()
    }

    /// Uploads every listed segment not uploaded yet, then deletes it locally.
    async fn sweep(&mut self) -> Result<(), JobError> {
        let mut todo = Vec::new();
        let mut on_disk = 0;
        for f in &self.folders {
            let Some(p) = self.playlist(f).await else {
                continue;
            };
            let done = self.uploaded.get(f);
            let segs = playlist::segments(&p);
            for (i, s) in segs.iter().enumerate() {
                if done.is_none_or(|d| !d.contains_key(&s.uri)) {
                    todo.push((f.clone(), s.uri.clone(), i));
                }
            }
            // Listed and not uploaded, plus the one ffmpeg is writing.
            on_disk += segs.len() - done.map_or(0, |d| d.len()) + 1;
        }
        self.peak_local_segments = self.peak_local_segments.max(on_disk);
        let this = &*self;
        type Done = (String, String, u64, usize, Option<SegmentKeyframes>);
        let done: Vec<Done> = futures::stream::iter(todo)
            .map(|(f, uri, n)| async move {
                let key = format!("{}/{f}/{uri}", this.remote);
                let path = this.local.join(&f).join(&uri);
                let len = tokio::fs::metadata(&path)
                    .await
                    .map_err(|e| JobError::local(format!("reading segment {uri}: {e}")))?
                    .len();
                // Keyframe positions, for the I-frame playlist, before the file goes.
                let kf = if this.video.contains(&f) {
                    Some(iframes::of_segment(&path).await?)
                } else {
                    None
                };
                blob::upload_cached(
                    &this.s3,
                    &this.bucket,
                    &key,
                    &path,
                    blob::content_type(&uri),
                    Some(&this.cache.media),
                )
                .await
                .map_err(JobError::output)?;
                if n > 0 {
                    // ffmpeg never reads a closed segment again.
                    let _ = tokio::fs::remove_file(&path).await;
                }
                Ok::<_, JobError>((f, uri, len, n, kf))
            })
            .buffer_unordered(PARALLEL_PUTS)
            .try_collect()
            .await?;
        for (f, uri, len, n, kf) in done {
            if let Some(kf) = kf {
                self.keyframes
                    .entry(f.clone())
                    .or_default()
                    .insert(n, (uri.clone(), kf));
            }
            self.uploaded.entry(f).or_default().insert(uri, len);
        }
        Ok(())
    }

    /// After ffmpeg exited: uploads what is left, then each complete playlist, marked VOD.
    pub async fn finish(&mut self) -> Result<Vec<Published>, JobError> {
        self.sweep().await?;
        let mut out = Vec::new();
        for f in self.folders.clone() {
            let p = self.playlist(&f).await.unwrap_or_default();
            let segs = playlist::segments(&p);
            if !playlist::is_complete(&p) || segs.is_empty() {
                return Err(JobError::Transient {
                    message: format!("ffmpeg left an incomplete playlist for {f}"),
                    argv: None,
                });
            }
            let sizes = self.uploaded.get(&f);
            let segments = segs
                .iter()
                .map(|s| {
                    let size = sizes.and_then(|m| m.get(&s.uri)).copied();
                    size.map(|b| (b, s.duration)).ok_or_else(|| {
                        JobError::local(format!("segment {f}/{} was never uploaded", s.uri))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let key = format!("{}/{f}/index.m3u8", self.remote);
            blob::put_cached(
                &self.s3,
                &self.bucket,
                &key,
                playlist::as_vod(&p).into_bytes(),
                blob::content_type(&key),
                Some(&self.cache.media),
            )
            .await
            .map_err(JobError::output)?;
            let iframes = match self.keyframes.get(&f) {
                Some(kf) => Some(self.publish_iframes(&f, kf, &segments).await?),
                None => None,
            };
            out.push(Published {
                target: playlist::target_duration(&p).unwrap_or(6.0),
                first_segment: self.local.join(&f).join(&segs[0].uri),
                folder: f,
                segments,
                iframes,
            });
        }
        Ok(out)
    }

    /// Writes a video folder's `iframes.m3u8`; returns its entries as (bytes, seconds).
    async fn publish_iframes(
        &self,
        f: &str,
        kf: &BTreeMap<usize, (String, SegmentKeyframes)>,
        segments: &[(u64, f64)],
    ) -> Result<Vec<(u64, f64)>, JobError> {
        let entries: Vec<Entry> = kf
            .values()
            .flat_map(|(uri, s)| {
                s.keyframes.iter().map(|k| Entry {
                    uri: uri.clone(),
                    keyframe: k.clone(),
                })
            })
            .collect();
        let (Some(first), Some((uri0, seg0))) = (entries.first(), kf.values().next()) else {
            return Err(JobError::Transient {
                message: format!("no keyframe found in rendition {f}"),
                argv: None,
            });
        };
        let end = first.keyframe.pts + segments.iter().map(|(_, d)| d).sum::<f64>();
        let (text, sizes) = iframes::playlist(&entries, (uri0, seg0.header), end);
        let key = format!("{}/{f}/iframes.m3u8", self.remote);
        blob::put_cached(
            &self.s3,
            &self.bucket,
            &key,
            text.into_bytes(),
            blob::content_type(&key),
            Some(&self.cache.media),
        )
        .await
        .map_err(JobError::output)?;
        Ok(sizes)
    }
}
