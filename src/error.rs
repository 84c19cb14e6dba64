//! Typed errors, one enum per layer. Whether an error is worth retrying lives in the type
//! (`is_retryable`), never in string matching at the call site.

use crate::domain::VideoState;

/// Errors of the table adapter.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else holds the video now (or it was finished or released): the holder must stop
    /// and publish nothing. An outcome of the protocol, not a crash.
    #[error("lease on {video} (token {token}) lost: now {state:?} held by {holder:?} with token {now_token:?}")]
    LeaseLost {
        /// The video.
        video: String,
        /// The token we held.
        token: u64,
        /// The item's state now, if it still exists.
        state: Option<VideoState>,
        /// Who holds it now.
        holder: Option<String>,
        /// Its token now.
        now_token: Option<u64>,
    },
    /// DynamoDB throttled the request beyond the SDK's own retries. Never cancels work by
    /// itself: only the local lease deadline does.
    #[error("DynamoDB throttled {op} on table {table}")]
    Throttled {
        /// The operation.
        op: &'static str,
        /// The table.
        table: String,
        /// The SDK's error.
        #[source]
        source: BoxError,
    },
    /// A timeout, a dropped connection or a 5xx: the write may or may not have been applied.
    #[error("transient DynamoDB failure in {op} on table {table}")]
    Transient {
        /// The operation.
        op: &'static str,
        /// The table.
        table: String,
        /// The SDK's error.
        #[source]
        source: BoxError,
    },
    /// The table is not there.
    #[error("DynamoDB table {table:?} does not exist (create it with `fleet-admin init --table {table}`)")]
    TableMissing {
        /// The table.
        table: String,
    },
    /// Anything retrying cannot fix: bad credentials, access denied, validation errors.
    #[error("DynamoDB {op} on table {table} failed")]
    Fatal {
        /// The operation.
        op: &'static str,
        /// The table.
        table: String,
        /// The SDK's error.
        #[source]
        source: BoxError,
    },
    /// An item that does not have the shape this version of fleet writes.
    #[error("item {video} in table {table} is malformed")]
    Malformed {
        /// The item's key.
        video: String,
        /// The table.
        table: String,
        /// The decoding error.
        #[source]
        source: serde_dynamo::Error,
    },
}

/// A boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl StoreError {
    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Transient { .. })
    }
}

/// Errors of the ffmpeg/ffprobe adapter.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    /// The source is not a usable video: trying again cannot help.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// ffmpeg failed on a source ffprobe accepted.
    #[error("ffmpeg exited with {status}: {stderr_tail}")]
    Ffmpeg {
        /// Exit status as text.
        status: String,
        /// The last lines of its stderr.
        stderr_tail: String,
        /// The argv, for reproducing by hand.
        argv: Vec<String>,
    },
    /// ffmpeg or ffprobe is not installed, or the machine is in trouble (disk, fork).
    #[error("local trouble running {program}: {source}")]
    Local {
        /// The program.
        program: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Stopped because the job was cancelled (lease lost, shutdown).
    #[error("cancelled")]
    Cancelled,
}

/// Errors of the S3 adapter.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The object (or its bucket) is not there.
    #[error("s3://{bucket}/{key} not found ({code})")]
    NotFound {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// `NoSuchKey` or `NoSuchBucket`.
        code: String,
    },
    /// A failure that may pass: throttling (`SlowDown`), 5xx, timeouts, resets.
    #[error("transient S3 failure on s3://{bucket}/{key}")]
    Transient {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// Denied, invalid request: retrying will not help.
    #[error("S3 request on s3://{bucket}/{key} failed")]
    Fatal {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// Writing or reading the local copy failed (disk full, permissions).
    #[error("local file {path}: {source}")]
    Local {
        /// File.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}
