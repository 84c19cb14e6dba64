//! `/hls/<percent-encoded pk>/<path>`: a done video's stream, read from the output bucket and
//! streamed through. Only `done` videos are served, and only under their own output prefix.

use super::Dashboard;
use crate::blob;
use crate::domain::VideoState;
use crate::error::{BlobError, StoreError};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Why a stream request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No such video, or it is not `done`: there is no stream to show.
    #[error("no done video {pk}")]
    NotDone {
        /// The pk asked for.
        pk: String,
    },
    /// A path that would leave the video's output prefix (`..`), or an empty part.
    #[error("bad stream path {path:?}")]
    BadPath {
        /// The path asked for.
        path: String,
    },
    /// Reading the item failed.
    #[error("reading {pk}")]
    Store {
        /// The pk asked for.
        pk: String,
        /// Cause.
        #[source]
        source: StoreError,
    },
    /// Reading the object failed (or it is not there).
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::NotDone { .. } | Self::Blob(BlobError::NotFound { .. }) => StatusCode::NOT_FOUND,
            Self::BadPath { .. } => StatusCode::BAD_REQUEST,
            Self::Blob(BlobError::Denied { .. }) => StatusCode::FORBIDDEN,
            Self::Store { .. } | Self::Blob(_) => StatusCode::BAD_GATEWAY,
        };
        (status, crate::error::chain(&self)).into_response()
    }
}

/// The content type a player expects for a file of the stream (S3's own may be generic).
pub(super) fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("ts") => "video/mp2t",
        Some("m4s") => "video/iso.segment",
        Some("mp4") => "video/mp4",
        Some("aac") => "audio/aac",
        Some("vtt") => "text/vtt",
        Some("jpg") => "image/jpeg",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// `path` if it stays below the prefix: no `..`, `.`, empty or backslashed parts.
fn checked(path: &str) -> Result<&str, ProxyError> {
    let bad = path
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == ".." || p.contains('\\'));
    if bad {
        return Err(ProxyError::BadPath { path: path.into() });
    }
    Ok(path)
}

pub(super) async fn proxy(
    State(d): State<Arc<Dashboard>>,
    Path((pk, path)): Path<(String, String)>,
) -> Result<Response, ProxyError> {
    let path = checked(&path)?;
    let (bucket, prefix) = locate(&d, &pk).await?;
    let key = format!("{prefix}/{path}");
    let out =
        d.s3.get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| blob::classify(e, &bucket, &key))?;
    let mut res = Response::builder()
        .header(header::CONTENT_TYPE, content_type(path))
        // A playlist of a done video does not change, but a retried video republishes it.
        .header(header::CACHE_CONTROL, "no-cache");
    if let Some(n) = out.content_length.filter(|n| *n >= 0) {
        res = res.header(header::CONTENT_LENGTH, n);
    }
    let chunks = futures::stream::unfold(out.body, |mut body| async move {
        body.next().await.map(|chunk| (chunk, body))
    });
    Ok(res
        .body(Body::from_stream(chunks))
        .expect("valid response headers"))
}

/// The done video's output bucket and prefix: from the last snapshot, else (done since) from
/// its item.
async fn locate(d: &Dashboard, pk: &str) -> Result<(String, String), ProxyError> {
    let cached = d
        .live
        .read()
        .expect("not poisoned")
        .streams
        .get(pk)
        .cloned();
    if let Some(s) = cached {
        return Ok(s);
    }
    match d.store.get(pk).await {
        Ok(Some(v)) if v.state == VideoState::Done => Ok((v.out_bucket, v.out_prefix)),
        Ok(_) => Err(ProxyError::NotDone { pk: pk.into() }),
        Err(source) => Err(ProxyError::Store {
            pk: pk.into(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_prefix_are_refused() {
        for bad in [
            "../x.m3u8",
            "a/../../b.ts",
            "./master.m3u8",
            "a//b.ts",
            "a\\..\\b",
            "",
        ] {
            assert!(checked(bad).is_err(), "{bad}");
        }
        for ok in [
            "master.m3u8",
            "360p/index.m3u8",
            "360p/seg_00001.ts",
            "a..b.ts",
        ] {
            assert_eq!(checked(ok).unwrap(), ok);
        }
    }

    #[test]
    fn stream_files_get_the_types_players_expect() {
        assert_eq!(content_type("master.m3u8"), "application/vnd.apple.mpegurl");
        assert_eq!(content_type("360p/seg_1.ts"), "video/mp2t");
        assert_eq!(content_type("360p/seg_1.m4s"), "video/iso.segment");
        assert_eq!(content_type("audio/seg.aac"), "audio/aac");
        assert_eq!(content_type("x"), "application/octet-stream");
    }
}
