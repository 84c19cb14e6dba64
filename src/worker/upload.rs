//! Uploading a stream while ffmpeg writes it. A segment is uploaded once its rendition's
//! playlist lists it (ffmpeg rewrites the playlist, atomically with `temp_file`, only after a
//! segment is closed); playlists go up after all their segments; the master goes up last, from
//! the job.

use super::job::JobError;
use crate::blob;
use crate::transcode::playlist::{self, Segment};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Uploads in flight per job.
const PARALLEL_PUTS: usize = 8;

/// Follows one job's output folder.
#[derive(Debug)]
pub struct Uploader {
    s3: aws_sdk_s3::Client,
    bucket: String,
    /// Key prefix of this attempt's renditions: `<out prefix>/t<token>`.
    remote: String,
    local: PathBuf,
    variants: Vec<String>,
    uploaded: HashSet<(String, String)>,
}

impl Uploader {
    /// An uploader of `local/<variant>/…` to `s3://bucket/remote/<variant>/…`.
    pub fn new(
        s3: aws_sdk_s3::Client,
        bucket: String,
        remote: String,
        local: PathBuf,
        variants: Vec<String>,
    ) -> Self {
        Self {
            s3,
            bucket,
            remote,
            local,
            variants,
            uploaded: HashSet::new(),
        }
    }

    /// Uploads finished segments every half second until `encoded` fires.
    pub async fn follow(
        &mut self,
        encoded: &CancellationToken,
        job: &CancellationToken,
    ) -> Result<(), JobError> {
        loop {
            tokio::select! {
                _ = encoded.cancelled() => return Ok(()),
                _ = job.cancelled() => return Err(JobError::Cancelled),
                _ = tokio::time::sleep(Duration::from_millis(500)) => self.sweep().await?,
            }
        }
    }

    async fn playlist(&self, variant: &str) -> Option<String> {
        tokio::fs::read_to_string(self.local.join(variant).join("index.m3u8"))
            .await
            .ok()
    }

    /// Uploads every listed segment not uploaded yet.
    async fn sweep(&mut self) -> Result<(), JobError> {
        let mut todo = Vec::new();
        for v in &self.variants {
            if let Some(p) = self.playlist(v).await {
                for s in playlist::segments(&p) {
                    if !self.uploaded.contains(&(v.clone(), s.uri.clone())) {
                        todo.push((v.clone(), s.uri));
                    }
                }
            }
        }
        let this = &*self;
        let done: Vec<(String, String)> = futures::stream::iter(todo)
            .map(|(v, uri)| async move {
                let key = format!("{}/{v}/{uri}", this.remote);
                let path = this.local.join(&v).join(&uri);
                blob::upload(
                    &this.s3,
                    &this.bucket,
                    &key,
                    &path,
                    blob::content_type(&uri),
                )
                .await
                .map_err(JobError::output)?;
                Ok::<_, JobError>((v, uri))
            })
            .buffer_unordered(PARALLEL_PUTS)
            .try_collect()
            .await?;
        self.uploaded.extend(done);
        Ok(())
    }

    /// After ffmpeg exited: uploads what is left, then each complete playlist. Returns every
    /// variant's segments with their local sizes, for the master playlist.
    pub async fn finish(&mut self) -> Result<Vec<(String, Vec<(Segment, u64)>)>, JobError> {
        self.sweep().await?;
        let mut out = Vec::new();
        for v in self.variants.clone() {
            let p = self.playlist(&v).await.unwrap_or_default();
            let segs = playlist::segments(&p);
            if !playlist::is_complete(&p) || segs.is_empty() {
                return Err(JobError::Transient(
                    format!("ffmpeg left an incomplete playlist for {v}"),
                    None,
                ));
            }
            let mut sized = Vec::with_capacity(segs.len());
            for s in segs {
                let len = tokio::fs::metadata(self.local.join(&v).join(&s.uri))
                    .await
                    .map_err(|e| JobError::Local(format!("reading segment {}: {e}", s.uri), None))?
                    .len();
                sized.push((s, len));
            }
            let key = format!("{}/{v}/index.m3u8", self.remote);
            blob::put_bytes(
                &self.s3,
                &self.bucket,
                &key,
                p.into_bytes(),
                blob::content_type(&key),
            )
            .await
            .map_err(JobError::output)?;
            out.push((v, sized));
        }
        Ok(out)
    }
}
