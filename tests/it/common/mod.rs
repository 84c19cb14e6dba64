//! Helpers shared by the integration tests: the local stack's clients, unique names, seeding.

pub mod checks;
pub mod ec2;
pub mod faults;
pub mod group;
pub mod history;
pub mod hostile;
pub mod media;
pub mod moto;
pub mod proxy;
pub mod published;
pub mod servers;
pub mod stage;

use aws_config::SdkConfig;
use fleet::clock::{self, SharedClock};
use fleet::domain::keys::S3Uri;
use fleet::domain::video::seeded;
use fleet::domain::{LeaseTimings, RetryPolicy};
use fleet::store::dynamo::{create_table, DynamoStore, StoreConfig};
use fleet::store::schema::schema;
use futures::{stream, StreamExt, TryStreamExt};
use std::time::Duration;

/// The SDK config for the local stack; fails with a hint when it is not running.
pub async fn sdk() -> SdkConfig {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        "the local stack is not configured: run `scripts/local-stack start` and \
         `eval \"$(scripts/local-stack env)\"` (or use scripts/test)"
    );
    fleet::aws::sdk_config().await
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "fleet-it-{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// A fresh table with fleet's schema.
pub async fn fresh_table(cfg: &SdkConfig, prefix: &str) -> String {
    let table = unique(prefix);
    let client = fleet::aws::dynamodb(cfg, Duration::from_secs(30));
    create_table(&client, &table).await.unwrap_or_else(|e| {
        panic!("creating table {table} failed: {e:?} (is DynamoDB Local up? scripts/local-stack start)")
    });
    table
}

/// Short leases so that expiry tests take seconds, not minutes.
pub fn fast_timings() -> LeaseTimings {
    LeaseTimings::new(
        Duration::from_millis(3000),
        Duration::from_millis(1000),
        Duration::from_millis(500),
        Duration::from_millis(300),
    )
    .unwrap()
}

/// A store on `table` with `timings`, retrying at once (no backoff) so tests stay fast.
pub fn store_with(
    cfg: &SdkConfig,
    table: &str,
    timings: LeaseTimings,
    max_attempts: u32,
    clock: SharedClock,
    client: Option<aws_sdk_dynamodb::Client>,
) -> DynamoStore {
    let client = client.unwrap_or_else(|| fleet::aws::dynamodb(cfg, Duration::from_secs(10)));
    let mut c = StoreConfig::new(table);
    c.timings = timings;
    c.retry = RetryPolicy {
        max_attempts,
        base: Duration::ZERO,
        cap: Duration::ZERO,
    };
    DynamoStore::new(client, c, clock)
}

/// A store with default test settings.
pub fn store(cfg: &SdkConfig, table: &str) -> DynamoStore {
    store_with(cfg, table, fast_timings(), 3, clock::system(), None)
}

/// Seeds `n` pending videos (`s3://in/<prefix>/video-<i>.mp4`), returning their keys.
pub async fn seed(store: &DynamoStore, n: usize, prefix: &str) -> Vec<String> {
    let now = chrono::Utc::now().timestamp_millis();
    stream::iter(0..n)
        .map(|i| {
            let src = S3Uri {
                bucket: "in".into(),
                key: format!("{prefix}/video {i} ü.mp4"),
            };
            let item = seeded(
                &src,
                "out",
                &format!("hls/{i}"),
                1000,
                now,
                schema().ready_shards,
            );
            async move {
                assert!(store.insert_new(&item).await?, "{} seeded twice", item.pk);
                Ok::<_, fleet::error::StoreError>(item.pk)
            }
        })
        .buffer_unordered(16)
        .try_collect()
        .await
        .expect("seeding")
}

/// Polls `check` until it returns `Some`, failing after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
