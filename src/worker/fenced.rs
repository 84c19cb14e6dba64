//! Writes to the keys players and platforms read (the master, `stream.json`, the poster):
//! fenced in S3 itself by a compare-and-swap on the writer's token ([`crate::blob::cas`]), and
//! only while the lease is certainly ours, bounded by its deadline.

use super::ctx::Job;
use crate::blob::{self, cas};
use crate::error::{BlobError, JobError, StoreError};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;
use tracing::warn;

/// Conditional PUTs a key is tried with before the attempt fails as transient: each retry
/// follows a write by an *older* token landing between our read and our write (a newer one
/// stops us at once), which cannot go on.
const SWAPS: usize = 4;

/// Which output buckets were probed for conditional writes ([`cas::enforces`]), once each per
/// process, in the background: the writes carry their conditions either way, and the probe
/// only tells an operator whether the store honours them.
#[derive(Debug, Default)]
pub struct Conditional(std::sync::Mutex<std::collections::HashSet<String>>);

impl Conditional {
    /// Probes `bucket` (under `prefix`) the first time it is named, without waiting for it.
    pub fn probe_once(&self, s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) {
        let first = self
            .0
            .lock()
            .map(|mut seen| seen.insert(bucket.to_string()))
            .unwrap_or(false);
        if !first {
            return;
        }
        let (s3, bucket, prefix) = (s3.clone(), bucket.to_string(), prefix.to_string());
        tokio::spawn(async move {
            match cas::enforces(&s3, &bucket, &prefix).await {
                Ok(true) => {}
                Ok(false) => warn!(
                    bucket,
                    "the output store ignores conditional writes (If-Match, If-None-Match): \
                     the master is fenced by the writer token check and the lease deadline \
                     only, so a PUT delayed in the network past a newer holder's could still \
                     land (AWS S3 and MinIO enforce them; docs/DESIGN.md)"
                ),
                Err(e) => {
                    warn!(bucket, error = %e, "could not probe the output store for conditional writes")
                }
            }
        });
    }
}

/// Writes the master playlist under the fencing rule of [`put_fenced`]. Returns its `s3://` URI.
pub async fn put_master(
    job: &Job<'_>,
    master: String,
    argv: &[String],
) -> Result<String, JobError> {
    let key = format!("{}/master.m3u8", job.lease.video.out_prefix);
    put_fenced(
        job,
        ("the master playlist", &key),
        master.into_bytes(),
        argv,
    )
    .await
}

/// Writes a file that players or platforms read at a fixed key (the master, `stream.json`).
/// It replaces only an object written by an older token, conditioned on the ETag it read, so
/// a stale holder's write, however late S3 receives it, never replaces a newer holder's (and
/// a newer token found there stops this attempt: someone took the video over). Returns its
/// `s3://` URI.
pub async fn put_fenced(
    job: &Job<'_>,
    (what, key): (&str, &str),
    body: Vec<u8>,
    argv: &[String],
) -> Result<String, JobError> {
    let v = &job.lease.video;
    let deadline = job.hb.deadline();
    if job.cancel.is_cancelled() || Instant::now() + Duration::from_millis(200) >= deadline {
        return Err(JobError::Cancelled);
    }
    let s3 = &job.ctx.s3;
    job.ctx
        .conditional
        .probe_once(s3, &v.out_bucket, &v.out_prefix);
    let token = job.lease.token;
    let started_put = Instant::now();
    let swap = async {
        // The ETag of an object with a higher token that the table confirmed is not this
        // video's (any other object with a higher token is checked again).
        let mut foreign: Option<String> = None;
        for round in 0..SWAPS {
            let seen = cas::current(s3, &v.out_bucket, key)
                .await
                .map_err(JobError::output)?;
            match seen.token {
                // A newer attempt wrote it, or another table did (a table recreated over the
                // same output starts its tokens again): the table decides. A heartbeat is a
                // fenced write, refused unless our token is still the video's newest.
                Some(t) if t > token && (foreign.is_none() || foreign != seen.etag) => {
                    match job.ctx.store.heartbeat(job.lease, None).await {
                        Ok(_) => {
                            warn!(
                                key,
                                ours = token,
                                theirs = t,
                                "{what} carries a token this table never gave: replacing it"
                            );
                            foreign.clone_from(&seen.etag);
                        }
                        Err(StoreError::LeaseLost { .. }) => {
                            warn!(
                                key,
                                ours = token,
                                theirs = t,
                                "a newer attempt published {what}: this one stops"
                            );
                            return Err(JobError::Cancelled);
                        }
                        Err(e) => {
                            return Err(JobError::Transient {
                                message: format!(
                                    "{what}: could not confirm the lease before replacing a \
                                     newer token's object: {}",
                                    crate::error::chain(&e)
                                ),
                                argv: Some(argv.to_vec()),
                            })
                        }
                    }
                }
                // Our own PUT, applied, whose answer was lost (the SDK's retry then failed
                // the condition against it).
                Some(t) if t == token && round > 0 => return Ok(()),
                _ => {}
            }
            let put = cas::put_if(
                s3,
                (&v.out_bucket, key),
                body.clone(),
                (blob::content_type(key), Some(&job.ctx.cfg.cache.master)),
                token,
                &seen,
            );
            // Unsure from the moment it is sent: a future dropped at the deadline, or an
            // error that may follow an applied write, leaves it set.
            job.publish_unsure.store(true, Ordering::Relaxed);
            let r = put.await;
            if !matches!(r, Err(BlobError::Transient { .. })) {
                job.publish_unsure.store(false, Ordering::Relaxed);
            }
            match r.map_err(JobError::output)? {
                cas::Swap::Stored => return Ok(()),
                cas::Swap::Changed => continue,
            }
        }
        Err(JobError::Transient {
            message: format!(
                "{what} s3://{}/{key} kept changing under {SWAPS} conditional writes",
                v.out_bucket
            ),
            argv: Some(argv.to_vec()),
        })
    };
    // Past the deadline the PUT is dropped. If the lease was lost meanwhile, the heartbeat
    // says so and nothing is recorded; if it was not, S3 hung: an attempt that failed like
    // any other S3 trouble, retried with backoff, not a lease given up in silence.
    job.unless_cancelled(async {
        match tokio::time::timeout_at(deadline, swap).await {
            Ok(r) => r,
            Err(_) => Err(JobError::Transient {
                message: format!(
                    "{what} s3://{}/{key} was not stored before the lease's deadline (S3 \
                     did not answer in {:.0} s)",
                    v.out_bucket,
                    deadline
                        .saturating_duration_since(started_put)
                        .as_secs_f64()
                ),
                argv: Some(argv.to_vec()),
            }),
        }
    })
    .await?;
    Ok(format!("s3://{}/{key}", v.out_bucket))
}
