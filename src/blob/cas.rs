//! Compare-and-swap on one S3 key: the fencing of the keys players read (the master playlist,
//! `stream.json`, the poster). A holder reads the object's ETag and the fencing token stored in
//! its metadata, refuses to replace a newer token's object, and PUTs conditioned on the ETag it
//! read (`If-Match`, or `If-None-Match: *` when there was none). S3 evaluates the condition
//! when the request arrives, so a PUT held in the network and delivered after a newer holder
//! published is refused, however late it lands.
//!
//! AWS S3 honours both headers on PutObject (since August and November 2024), MinIO documents
//! them, moto enforces them; Garage 2.5 ignores them (measured: `docs/DESIGN.md`). [`enforces`]
//! tells them apart with a probe, so a worker knows which guarantee it has.

use super::classify;
use crate::error::BlobError;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

/// The user-metadata name (`x-amz-meta-fleet-token`) carrying the writer's fencing token.
pub const TOKEN_META: &str = "fleet-token";

/// What a fenced key holds now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    /// Its ETag, `None` when there is no object.
    pub etag: Option<String>,
    /// The fencing token of its writer; `None` for an object written without one (before
    /// fencing, or by hand), which any holder may replace.
    pub token: Option<u64>,
}

/// The outcome of a conditional PUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// Stored.
    Stored,
    /// The object changed since it was read (412 `PreconditionFailed`, or 409
    /// `ConditionalRequestConflict` when a concurrent write raced it).
    Changed,
}

/// The object's ETag and writer token, or an empty [`Current`] when the key is absent.
pub async fn current(client: &Client, bucket: &str, key: &str) -> Result<Current, BlobError> {
    match client.head_object().bucket(bucket).key(key).send().await {
        Ok(h) => Ok(Current {
            etag: h.e_tag().map(str::to_owned),
            token: h
                .metadata()
                .and_then(|m| m.get(TOKEN_META))
                .and_then(|t| t.parse().ok()),
        }),
        Err(e) => match classify(e, bucket, key) {
            BlobError::NotFound { .. } => Ok(Current::default()),
            e => Err(e),
        },
    }
}

/// Writes `bytes` under `key` with the writer's `token` in its metadata, only if the key still
/// holds what `seen` describes. Always sent with the condition: a store that ignores it stores
/// the object anyway, which is all an unconditional PUT would do.
pub async fn put_if(
    client: &Client,
    (bucket, key): (&str, &str),
    bytes: Vec<u8>,
    (content_type, cache_control): (&str, Option<&str>),
    token: u64,
    seen: &Current,
) -> Result<Swap, BlobError> {
    let mut put = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .set_cache_control(cache_control.map(str::to_owned))
        .metadata(TOKEN_META, token.to_string())
        .body(ByteStream::from(bytes));
    put = match &seen.etag {
        Some(etag) => put.if_match(etag),
        None => put.if_none_match("*"),
    };
    let h = crate::telemetry::history::invoke();
    let r = match put.send().await {
        Ok(_) => Ok(Swap::Stored),
        Err(e) if refused(&e) => Ok(Swap::Changed),
        Err(e) => Err(classify(e, bucket, key)),
    };
    h.done(
        "s3_put_fenced",
        matches!(r, Ok(Swap::Stored)),
        serde_json::json!({"bucket": bucket, "key": key, "token": token}),
    );
    r
}

/// Whether S3 refused a conditional write because the object changed.
fn refused<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    let status = match e {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        _ => None,
    };
    matches!(
        e.code(),
        Some("PreconditionFailed" | "ConditionalRequestConflict")
    ) || status == Some(412)
}

/// Whether the store behind `bucket` enforces `If-None-Match` and `If-Match` on PutObject:
/// writes an empty probe object under `prefix`, asks twice for writes whose conditions
/// cannot hold, and deletes it. A store that accepts either one ignores conditions.
pub async fn enforces(client: &Client, bucket: &str, prefix: &str) -> Result<bool, BlobError> {
    let key = format!("{prefix}/.fleet-cas-probe-{}", uuid::Uuid::new_v4());
    let absent = Current::default();
    let bogus = Current {
        etag: Some("\"00000000000000000000000000000000\"".into()),
        token: None,
    };
    let key = key.as_str();
    let probe = |seen: Current| async move {
        put_if(
            client,
            (bucket, key),
            Vec::new(),
            ("application/octet-stream", None),
            0,
            &seen,
        )
        .await
    };
    let first = probe(absent.clone()).await;
    let verdict = match first {
        Ok(_) => {
            let again = probe(absent.clone()).await;
            let wrong = probe(bogus).await;
            match (again, wrong) {
                (Ok(Swap::Changed), Ok(Swap::Changed)) => Ok(true),
                (Ok(_), Ok(_)) => Ok(false),
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    let _ = client.delete_object().bucket(bucket).key(key).send().await;
    verdict
}
