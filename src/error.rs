//! Typed errors, one enum per layer. Whether an error is worth retrying lives in the type
//! (`is_retryable`), never in string matching at the call site.

use crate::domain::video::FailureKind;
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
    /// The table exists but cannot be fleet's: no `ready` index, being deleted.
    #[error("DynamoDB table {table:?} cannot be used: {why}")]
    NotFleets {
        /// The table.
        table: String,
        /// What is wrong with it.
        why: String,
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
        /// Whose fault it is, read from its stderr by the adapter ([`crate::transcode::run`]).
        fault: Fault,
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
    /// ffmpeg's output time did not advance for the stall limit: killed.
    #[error("ffmpeg stalled: no progress for {seconds:.0} s (at {at:?} %)")]
    Stalled {
        /// The limit, seconds.
        seconds: f64,
        /// How far it had got, percent.
        at: Option<f64>,
        /// The argv.
        argv: Vec<String>,
    },
    /// Stopped because the job was cancelled (lease lost, shutdown).
    #[error("cancelled")]
    Cancelled,
}

/// Whose fault a failure is, which decides what happens to the video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The video's: it fails (at once when retrying cannot help, as for a corrupt source).
    Input,
    /// Nobody's in particular: retried with backoff within the attempt budget.
    Transient,
    /// This machine's (disk full, a program missing): the video is given back.
    Local,
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
    /// Access denied (a bucket policy, a KMS key without a grant, an object archived in
    /// Glacier): an operator must act.
    #[error("access to s3://{bucket}/{key} denied ({code})")]
    Denied {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// `AccessDenied`, `InvalidObjectState`, `KMS.…`, or the HTTP status.
        code: String,
        /// Cause.
        #[source]
        source: BoxError,
    },
    /// An invalid request: retrying will not help.
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

impl BlobError {
    /// The bucket itself is missing (not only the key).
    pub fn is_missing_bucket(&self) -> bool {
        matches!(self, Self::NotFound { code, .. } if code == "NoSuchBucket")
    }
}

/// Why one job stopped short of `done`, classed by what should happen to the video. Each
/// adapter's error converts into it in one place (below), next to the facts that decide it.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Cancelled: lease lost, deadline passed, or shutdown.
    #[error("cancelled")]
    Cancelled,
    /// The video's fault: recorded as a failure (at once for an unusable source, within the
    /// attempt budget otherwise).
    #[error("{message}")]
    Video {
        /// `invalid_input` or `output` fail at once, `transient` is retried.
        kind: FailureKind,
        /// Readable by an operator.
        message: String,
        /// The ffmpeg argv, if one ran.
        argv: Option<Vec<String>>,
    },
    /// May pass: retried with backoff, within the attempt budget.
    #[error("{message}")]
    Transient {
        /// Readable by an operator.
        message: String,
        /// The ffmpeg argv, if one ran.
        argv: Option<Vec<String>>,
    },
    /// This machine's trouble: the video is given back.
    #[error("{message}")]
    Local {
        /// Readable by an operator.
        message: String,
        /// The ffmpeg argv, if one ran.
        argv: Option<Vec<String>>,
    },
}

impl JobError {
    /// The source is not a usable video.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Video {
            kind: FailureKind::InvalidInput,
            message: message.into(),
            argv: None,
        }
    }

    /// This machine's trouble.
    pub fn local(message: impl Into<String>) -> Self {
        Self::Local {
            message: message.into(),
            argv: None,
        }
    }

    /// An error reading the source. A denied source is the video's problem (a policy, a KMS
    /// grant, Glacier), retried within the attempt budget in case an operator fixes it, never
    /// the worker's.
    pub fn source(e: BlobError) -> Self {
        match e {
            BlobError::NotFound { .. } => Self::invalid(format!("source missing: {e}")),
            BlobError::Denied { .. } => Self::Video {
                kind: FailureKind::Transient,
                message: format!(
                    "source not readable: {e} (check the bucket policy, the KMS key grant, or \
                     restore it from Glacier), then `fleet-admin retry`"
                ),
                argv: None,
            },
            BlobError::Transient { .. } => Self::Transient {
                message: chain(&e),
                argv: None,
            },
            BlobError::Fatal { .. } | BlobError::Local { .. } => Self::local(chain(&e)),
        }
    }

    /// An error writing the output. A missing or denied output bucket is where the video was
    /// told to go, so it is that video's failure (`output`, at once), never the machine's: a
    /// typo in `seed` must not stop every worker of the fleet.
    pub fn output(e: BlobError) -> Self {
        match e {
            BlobError::Transient { .. } => Self::Transient {
                message: chain(&e),
                argv: None,
            },
            BlobError::NotFound { ref bucket, .. } if e.is_missing_bucket() => Self::Video {
                kind: FailureKind::Output,
                message: format!(
                    "output bucket {bucket} does not exist: create it, or point the videos \
                         elsewhere with `fleet-admin seed <input> <output> --update-output`"
                ),
                argv: None,
            },
            BlobError::Denied { .. } => Self::Video {
                kind: FailureKind::Output,
                message: format!(
                    "output not writable: {} (check the bucket policy and the workers' role), \
                     then `fleet-admin retry --kind output`",
                    chain(&e)
                ),
                argv: None,
            },
            _ => Self::local(format!("cannot write the output: {}", chain(&e))),
        }
    }

    /// The same error, carrying `argv` if it carries none yet.
    pub fn with_argv(self, a: &[String]) -> Self {
        let set = |argv: Option<Vec<String>>| argv.or_else(|| Some(a.to_vec()));
        match self {
            Self::Video {
                kind,
                message,
                argv,
            } => Self::Video {
                kind,
                message,
                argv: set(argv),
            },
            Self::Transient { message, argv } => Self::Transient {
                message,
                argv: set(argv),
            },
            Self::Local { message, argv } => Self::Local {
                message,
                argv: set(argv),
            },
            Self::Cancelled => Self::Cancelled,
        }
    }
}

impl From<TranscodeError> for JobError {
    fn from(e: TranscodeError) -> Self {
        match e {
            TranscodeError::Cancelled => Self::Cancelled,
            TranscodeError::InvalidInput(m) => Self::invalid(m),
            TranscodeError::Local { .. } => Self::local(chain(&e)),
            TranscodeError::Stalled { ref argv, .. } => Self::Transient {
                argv: Some(argv.clone()),
                message: e.to_string(),
            },
            TranscodeError::Ffmpeg {
                fault, ref argv, ..
            } => {
                let argv = Some(argv.clone());
                let message = e.to_string();
                match fault {
                    Fault::Input => Self::Video {
                        kind: FailureKind::InvalidInput,
                        message,
                        argv,
                    },
                    Fault::Transient => Self::Transient { message, argv },
                    Fault::Local => Self::Local { message, argv },
                }
            }
        }
    }
}

/// An error with its causes, on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
