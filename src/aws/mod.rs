//! SDK clients, built once per process from the default credential chain and the SDK's own
//! endpoint variables (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`),
//! so that the same binary talks to AWS, to docker-compose's MinIO/DynamoDB Local, or to the
//! local stack without a flag of its own.

pub mod asg;
pub mod imds;
pub mod ops;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_types::timeout::TimeoutConfig;
use std::time::Duration;

/// Loads region, credentials and endpoints from the environment, profile or instance role.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// No request can be signed: the credential chain found nothing usable.
#[derive(Debug, thiserror::Error)]
#[error("no usable AWS credentials{whose}: {cause}; {fix}")]
pub struct NoCredentials {
    whose: String,
    cause: String,
    fix: String,
}

/// Resolves credentials once, before any request, so that a machine without them stops with
/// one line naming the provider's own reason (an expired SSO token says so) and the fix that
/// fits, instead of retrying every call as if the network were down.
pub async fn require_credentials(
    sdk: &SdkConfig,
    profile: Option<&str>,
) -> Result<(), NoCredentials> {
    use aws_credential_types::provider::ProvideCredentials;
    let profile = profile
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    let whose = profile
        .as_deref()
        .map(|p| format!(" for profile {p}"))
        .unwrap_or_default();
    let cause = match sdk.credentials_provider() {
        None => "no credentials provider configured".to_string(),
        Some(provider) => match provider.provide_credentials().await {
            Ok(_) => return Ok(()),
            // The chain lists every provider it tried on lines of their own.
            Err(e) => crate::error::chain(&e)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        },
    };
    // Only SSO has a login to suggest; an expired session token from elsewhere does not.
    let fix = if cause.contains("SSO") || cause.contains("sso") {
        format!(
            "run `aws sso login{}`",
            profile
                .as_deref()
                .map(|p| format!(" --profile {p}"))
                .unwrap_or_default()
        )
    } else {
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name a profile (AWS_PROFILE, or \
         fleet-admin's --profile), or run with an instance role"
            .to_string()
    };
    Err(NoCredentials { whose, cause, fix })
}

/// Timeouts for DynamoDB calls that must finish within `budget` (for a worker, its heartbeat
/// period: a heartbeat that hangs longer than that has already failed).
pub fn dynamodb_timeouts(budget: Duration) -> TimeoutConfig {
    let attempt = (budget / 3).clamp(Duration::from_millis(500), Duration::from_secs(5));
    TimeoutConfig::builder()
        .connect_timeout(attempt)
        .operation_attempt_timeout(attempt)
        .operation_timeout(budget)
        .build()
}

/// A DynamoDB client whose calls finish within `budget`.
pub fn dynamodb(cfg: &SdkConfig, budget: Duration) -> aws_sdk_dynamodb::Client {
    dynamodb_with(cfg, budget, |b| b)
}

/// A DynamoDB client with extra configuration (tests add interceptors here).
pub fn dynamodb_with(
    cfg: &SdkConfig,
    budget: Duration,
    customize: impl FnOnce(aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder,
) -> aws_sdk_dynamodb::Client {
    let b = aws_sdk_dynamodb::config::Builder::from(cfg).timeout_config(dynamodb_timeouts(budget));
    aws_sdk_dynamodb::Client::from_conf(customize(b).build())
}

/// Whether S3 is reached through a custom endpoint (MinIO, Garage), which needs path-style
/// addressing; AWS itself uses virtual-hosted style.
pub fn s3_custom_endpoint(cfg: &SdkConfig) -> bool {
    cfg.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.is_empty())
}

/// Least tries per S3 request. A video's upload is hundreds of PUTs and any one that fails costs
/// the whole attempt, so the SDK's default of 3 turns a network that resets a connection now
/// and then into failed videos (the resets test showed it). Between tries the SDK backs off
/// (jittered, doubling from 1 s, capped at 20 s: at most about 70 s of waiting), on top of each
/// try's own connect and read timeouts; its retry quota may still refuse a retry in a burst of
/// failures. A higher `AWS_MAX_ATTEMPTS` or profile setting is kept.
pub const S3_MIN_ATTEMPTS: u32 = 8;

/// An S3 client. No operation timeout (a large object takes as long as it takes); a read that
/// stalls for 30 s is a failure.
pub fn s3(cfg: &SdkConfig) -> aws_sdk_s3::Client {
    let retry = cfg
        .retry_config()
        .cloned()
        .unwrap_or_else(aws_config::retry::RetryConfig::standard);
    let retry = if retry.max_attempts() < S3_MIN_ATTEMPTS {
        retry.with_max_attempts(S3_MIN_ATTEMPTS)
    } else {
        retry
    };
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(30))
        .build();
    let custom = s3_custom_endpoint(cfg);
    let mut conf = aws_sdk_s3::config::Builder::from(cfg)
        .force_path_style(custom)
        .retry_config(retry)
        .timeout_config(timeouts);
    if custom {
        // The SDK's default sends streaming bodies `aws-chunked` with a CRC trailer, which not
        // every S3-compatible server accepts (Garage answers "Invalid payload signature").
        // AWS itself keeps the default.
        conf = conf.request_checksum_calculation(
            aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
        );
    }
    let conf = conf.build();
    aws_sdk_s3::Client::from_conf(conf)
}
