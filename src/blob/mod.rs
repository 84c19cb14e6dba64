//! S3: parallel ranged downloads to local disk, uploads, listing. Keys are passed to the SDK
//! exactly as they are (spaces, unicode, `+`): the SDK encodes them on the wire.

pub mod cas;

use crate::error::{BlobError, BoxError};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use futures::{StreamExt, TryStreamExt};
use std::path::Path;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// Size of one ranged GET. Large enough to amortise a request, small enough that 8 in flight
/// keep a c6g's network busy without much memory.
pub const PART: u64 = 16 * 1024 * 1024;
/// Ranged GETs in flight per download.
pub const PARALLEL_GETS: usize = 8;

/// Types an S3 SDK error.
pub fn classify<E>(err: SdkError<E, HttpResponse>, bucket: &str, key: &str) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (bucket, key) = (bucket.to_string(), key.to_string());
    let status = match &err {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        SdkError::ResponseError(r) => Some(r.raw().status().as_u16()),
        _ => None,
    };
    let code = err.code().map(str::to_owned);
    let source: BoxError = Box::new(err);
    match (code.as_deref(), status) {
        (Some(c @ ("NoSuchKey" | "NoSuchBucket" | "NotFound")), _) | (Some(c), Some(404)) => {
            BlobError::NotFound {
                bucket,
                key,
                code: c.to_string(),
            }
        }
        (None, Some(404)) => BlobError::NotFound {
            bucket,
            key,
            code: "NotFound".into(),
        },
        (Some(c), _)
            if c == "AccessDenied" || c == "InvalidObjectState" || c.starts_with("KMS.") =>
        {
            BlobError::Denied {
                bucket,
                key,
                code: c.to_string(),
                source,
            }
        }
        (c, Some(403)) => BlobError::Denied {
            bucket,
            key,
            code: c.unwrap_or("403 Forbidden").to_string(),
            source,
        },
        (Some("SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable"), _) => {
            BlobError::Transient {
                bucket,
                key,
                source,
            }
        }
        (_, Some(s)) if s >= 500 || s == 429 => BlobError::Transient {
            bucket,
            key,
            source,
        },
        (_, None) => BlobError::Transient {
            bucket,
            key,
            source,
        },
        _ => BlobError::Fatal {
            bucket,
            key,
            source,
        },
    }
}

/// The size of an object.
pub async fn size(client: &Client, bucket: &str, key: &str) -> Result<u64, BlobError> {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| classify(e, bucket, key))?;
    Ok(head.content_length().unwrap_or(0).max(0) as u64)
}

/// Downloads `size` bytes of an object to `dest` with parallel ranged GETs, each written at
/// its offset. Returns the bytes written.
pub async fn download(
    client: &Client,
    bucket: &str,
    key: &str,
    size: u64,
    dest: &Path,
) -> Result<u64, BlobError> {
    let local = |source| BlobError::Local {
        path: dest.display().to_string(),
        source,
    };
    let file = tokio::fs::File::create(dest).await.map_err(local)?;
    file.set_len(size).await.map_err(local)?;
    drop(file);
    let parts = size.div_ceil(PART);
    futures::stream::iter(0..parts)
        .map(|i| async move {
            let start = i * PART;
            let end = (start + PART).min(size) - 1;
            fetch_part(client, bucket, key, dest, start, end).await
        })
        .buffer_unordered(PARALLEL_GETS)
        .try_fold(0u64, |acc, n| async move { Ok(acc + n) })
        .await
}

/// Tries in a row that bring no new byte before a part gives up.
const PART_ATTEMPTS: u32 = 4;

/// Fetches bytes `start..=end` into `dest`. The SDK retries a request that fails; a body cut
/// off mid-stream (a reset connection) it cannot. So a cut-off part resumes with a GET from
/// the first byte it lacks: every try that brings bytes starts the count of tries afresh, and
/// a connection that resets now and then (as one of thousands on a busy network does) slows a
/// download instead of failing the video. Only [`PART_ATTEMPTS`] tries in a row with no
/// progress give up.
async fn fetch_part(
    client: &Client,
    bucket: &str,
    key: &str,
    dest: &Path,
    start: u64,
    end: u64,
) -> Result<u64, BlobError> {
    let mut from = start;
    let mut barren = 0;
    let mut pause = std::time::Duration::from_millis(200);
    loop {
        let (got, result) = get_range(client, bucket, key, dest, from, end).await;
        from += got;
        if result.is_err() && from > end {
            // Every byte came and then the body failed (a checksum, a trailer): the bytes
            // cannot be trusted, so the part starts over.
            from = start;
        }
        match result {
            Ok(()) => return Ok(end - start + 1),
            Err(BlobError::Transient { .. }) if got > 0 && from > start => {
                barren = 0;
                pause = std::time::Duration::from_millis(200);
            }
            Err(BlobError::Transient { .. }) if barren + 1 < PART_ATTEMPTS => {
                barren += 1;
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            Err(e) => return Err(e),
        }
        tracing::debug!(bucket, key, from, end, "part cut off, resuming");
    }
}

/// One ranged GET of `start..=end`, written at its offset of `dest`. Returns the bytes it
/// wrote even when it fails, so that the caller can resume after them.
async fn get_range(
    client: &Client,
    bucket: &str,
    key: &str,
    dest: &Path,
    start: u64,
    end: u64,
) -> (u64, Result<(), BlobError>) {
    let local = |source| BlobError::Local {
        path: dest.display().to_string(),
        source,
    };
    let transient = |source: BoxError| BlobError::Transient {
        bucket: bucket.to_string(),
        key: key.to_string(),
        source,
    };
    let out = match client
        .get_object()
        .bucket(bucket)
        .key(key)
        .range(format!("bytes={start}-{end}"))
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => return (0, Err(classify(e, bucket, key))),
    };
    // A server that ignores Range answers with the whole object (or another range): written
    // at this offset, it would corrupt the file while every byte count looked right.
    let asked = format!("bytes {start}-{end}/");
    if !out.content_range().is_some_and(|r| r.starts_with(&asked)) {
        return (
            0,
            Err(BlobError::Fatal {
                bucket: bucket.to_string(),
                key: key.to_string(),
                source: format!(
                    "asked for {asked}…, the server answered Content-Range {:?}: it does not \
                     serve byte ranges",
                    out.content_range()
                )
                .into(),
            }),
        );
    }
    let mut body = out.body;
    let mut f = match tokio::fs::OpenOptions::new().write(true).open(dest).await {
        Ok(f) => f,
        Err(e) => return (0, Err(local(e))),
    };
    if let Err(e) = f.seek(std::io::SeekFrom::Start(start)).await {
        return (0, Err(local(e)));
    }
    let mut written = 0u64;
    let result = loop {
        match body.try_next().await {
            Ok(Some(chunk)) => {
                // More than the range asked for would overrun the next part.
                let room = end + 1 - start - written;
                if chunk.len() as u64 > room {
                    break Err(transient(
                        format!("range {start}-{end} sent more than {room} bytes").into(),
                    ));
                }
                if let Err(e) = f.write_all(&chunk).await {
                    break Err(local(e));
                }
                written += chunk.len() as u64;
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(transient(Box::new(e))),
        }
    };
    // Bytes count as written only once they are in the file.
    if let Err(e) = f.flush().await {
        return (0, Err(local(e)));
    }
    match result {
        Ok(()) if written != end - start + 1 => (
            written,
            Err(transient(
                format!("range {start}-{end} returned {written} bytes").into(),
            )),
        ),
        r => (written, r),
    }
}

/// Uploads a local file.
pub async fn upload(
    client: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    content_type: &str,
) -> Result<(), BlobError> {
    upload_cached(client, bucket, key, path, content_type, None).await
}

/// Uploads every file directly in `dir` under `dest` (a prefix), keeping their names; returns
/// how many. For demos and tests: a real library is already in S3.
pub async fn upload_dir(
    client: &Client,
    dir: &Path,
    dest: &crate::domain::keys::S3Uri,
) -> Result<usize, BlobError> {
    let io = |e: std::io::Error| BlobError::Local {
        path: dir.display().to_string(),
        source: e,
    };
    let mut n = 0;
    for e in std::fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        if e.file_type().map_err(io)?.is_file() {
            let key = format!("{}{}", dest.key, e.file_name().to_string_lossy());
            upload(
                client,
                &dest.bucket,
                &key,
                &e.path(),
                "application/octet-stream",
            )
            .await?;
            n += 1;
        }
    }
    Ok(n)
}

/// Uploads a local file with a `Cache-Control` header for the CDN and players.
pub async fn upload_cached(
    client: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    content_type: &str,
    cache_control: Option<&str>,
) -> Result<(), BlobError> {
    let body = ByteStream::from_path(path)
        .await
        .map_err(|e| BlobError::Local {
            path: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
    put(client, bucket, key, body, content_type, cache_control).await
}

/// Uploads bytes.
pub async fn put_bytes(
    client: &Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> Result<(), BlobError> {
    put_cached(client, bucket, key, bytes, content_type, None).await
}

/// Uploads bytes with a `Cache-Control` header.
pub async fn put_cached(
    client: &Client,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    content_type: &str,
    cache_control: Option<&str>,
) -> Result<(), BlobError> {
    put(
        client,
        bucket,
        key,
        ByteStream::from(bytes),
        content_type,
        cache_control,
    )
    .await
}

async fn put(
    client: &Client,
    bucket: &str,
    key: &str,
    body: ByteStream,
    content_type: &str,
    cache_control: Option<&str>,
) -> Result<(), BlobError> {
    let h = crate::telemetry::history::invoke();
    let r = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .set_cache_control(cache_control.map(str::to_owned))
        .body(body)
        .send()
        .await
        .map_err(|e| classify(e, bucket, key));
    h.done(
        "s3_put",
        r.is_ok(),
        serde_json::json!({"bucket": bucket, "key": key}),
    );
    r.map(|_| ())
}

/// Deletes `keys` (up to 1,000 per request, as S3 allows). Returns how many were deleted.
pub async fn delete_keys(
    client: &Client,
    bucket: &str,
    keys: &[String],
) -> Result<usize, BlobError> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let mut n = 0;
    for chunk in keys.chunks(1000) {
        let ids = chunk
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BlobError::Fatal {
                bucket: bucket.to_string(),
                key: chunk[0].clone(),
                source: Box::new(e),
            })?;
        let delete = Delete::builder()
            .set_objects(Some(ids))
            .quiet(true)
            .build()
            .map_err(|e| BlobError::Fatal {
                bucket: bucket.to_string(),
                key: chunk[0].clone(),
                source: Box::new(e),
            })?;
        let out = client
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| classify(e, bucket, &chunk[0]))?;
        n += chunk.len() - out.errors().len();
    }
    Ok(n)
}

/// The content type S3 should serve a file of the stream with.
pub fn content_type(name: &str) -> &'static str {
    if name.ends_with(".m3u8") {
        "application/vnd.apple.mpegurl"
    } else if name.ends_with(".ts") {
        "video/mp2t"
    } else if name.ends_with(".vtt") {
        "text/vtt; charset=utf-8"
    } else if name.ends_with(".jpg") {
        "image/jpeg"
    } else if name.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    }
}

/// Creates `bucket` unless it exists (demo and tests; production buckets come from Terraform).
pub async fn ensure_bucket(client: &Client, bucket: &str) -> Result<(), BlobError> {
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(classify(e, bucket, "")),
    }
}

/// Lists every key under `prefix` (pagination included).
pub async fn list_keys(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<(String, u64)>, BlobError> {
    let mut out = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify(e, bucket, prefix))?;
        for o in page.contents.unwrap_or_default() {
            out.push((o.key.unwrap_or_default(), o.size.unwrap_or(0).max(0) as u64));
        }
    }
    Ok(out)
}

/// Reads a whole (small) object: playlists.
pub async fn get_bytes(client: &Client, bucket: &str, key: &str) -> Result<Vec<u8>, BlobError> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| classify(e, bucket, key))?;
    let data = out.body.collect().await.map_err(|e| BlobError::Transient {
        bucket: bucket.to_string(),
        key: key.to_string(),
        source: Box::new(e),
    })?;
    Ok(data.into_bytes().to_vec())
}
