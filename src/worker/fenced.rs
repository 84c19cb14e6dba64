//! Writes to the keys players and platforms read (the master, `stream.json`, the poster):
//! fenced in S3 itself by a compare-and-swap on the writer's token ([`crate::blob::cas`]), and
//! only while the lease is certainly ours, bounded by its deadline.

use super::ctx::Job;
use crate::blob::{self, cas};
use crate::error::{BlobError, JobError};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;
use tracing::warn;

/// Conditional PUTs a key is tried with before the attempt fails as transient: each retry
/// follows a write by an *older* token landing between our read and our write (a newer one
/// stops us at once), which cannot go on.
const SWAPS: usize = 4;

/// Whether each output bucket's store enforces conditional writes, probed once per bucket per
/// process ([`cas::enforces`]).
#[derive(Debug, Default)]
pub struct Conditional(tokio::sync::Mutex<HashMap<String, bool>>);

impl Conditional {
    /// The verdict for `bucket`, probing under `prefix` the first time. A probe that fails
    /// (S3 trouble) is not remembered: the write goes unconditioned this once.
    pub async fn of(&self, s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> bool {
        let mut known = self.0.lock().await;
        if let Some(v) = known.get(bucket) {
            return *v;
        }
        match cas::enforces(s3, bucket, prefix).await {
            Ok(v) => {
                if !v {
                    warn!(
                        bucket,
                        "the output store ignores conditional writes (If-Match, If-None-Match): \
                         the master is fenced by the writer token check and the lease deadline \
                         only, so a PUT delayed in the network past a newer holder's could \
                         still land (AWS S3 and MinIO enforce them; docs/DESIGN.md)"
                    );
                }
                known.insert(bucket.to_string(), v);
                v
            }
            Err(e) => {
                warn!(bucket, error = %e, "could not probe the output store for conditional writes");
                false
            }
        }
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
    let conditional = job
        .ctx
        .conditional
        .of(s3, &v.out_bucket, &v.out_prefix)
        .await;
    let token = job.lease.token;
    let started_put = Instant::now();
    let swap = async {
        for round in 0..SWAPS {
            let seen = cas::current(s3, &v.out_bucket, key)
                .await
                .map_err(JobError::output)?;
            match seen.token {
                Some(t) if t > token => {
                    warn!(
                        key,
                        ours = token,
                        theirs = t,
                        "a newer attempt published {what}: this one stops"
                    );
                    return Err(JobError::Cancelled);
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
                blob::content_type(key),
                Some(&job.ctx.cfg.cache.master),
                token,
                &seen,
                conditional,
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
