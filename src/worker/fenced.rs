//! Writes to the keys players and platforms read (the master, `stream.json`, the poster):
//! only while the lease is certainly ours, bounded by its deadline.

use super::ctx::Job;
use crate::blob;
use crate::error::JobError;
use std::time::Duration;
use tokio::time::Instant;

/// Writes the master playlist, only while the lease is certainly ours, bounded by the
/// deadline: a stale holder's master must never replace the winner's (and if it ever did, it
/// would point at its own complete set). Returns its `s3://` URI.
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

/// Writes a file that players or platforms read at a fixed key (the master, `stream.json`),
/// under the same rule as the master. Returns its `s3://` URI.
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
    let started_put = Instant::now();
    let put = blob::put_cached(
        &job.ctx.s3,
        &v.out_bucket,
        key,
        body,
        blob::content_type(key),
        Some(&job.ctx.cfg.cache.master),
    );
    // Past the deadline the PUT is dropped. If the lease was lost meanwhile, the heartbeat
    // says so and nothing is recorded; if it was not, S3 hung: an attempt that failed like
    // any other S3 trouble, retried with backoff, not a lease given up in silence.
    job.unless_cancelled(async {
        match tokio::time::timeout_at(deadline, put).await {
            Ok(r) => r.map_err(JobError::output),
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
