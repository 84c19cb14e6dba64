//! fleet-scaler: the Lambda that sizes the worker group from the backlog, once a minute.
//!
//! Settings come from the function's environment: `FLEET_TABLE`, `FLEET_ASG_NAME`,
//! `FLEET_SLOTS_PER_INSTANCE` (default 2), `FLEET_IDLE_MINUTES` (default 15),
//! `FLEET_SETTLE_MINUTES` (default 5), `FLEET_SCALE_OUT_STEP` (default 10),
//! `FLEET_METRIC_NAMESPACE` (default `fleet`). With `--once` it runs one tick outside Lambda
//! (a laptop, a test) and prints it as JSON.

use anyhow::{Context, Result};
use fleet::aws::asg::Asg;
use fleet::clock::Clock;
use fleet::domain::scaling::ScalePolicy;
use fleet::scaler::{self, Tick};
use fleet::store::dynamo::{DynamoStore, StoreConfig};
use fleet::telemetry::emf::Metrics;
use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;
use std::time::Duration;

struct Scaler {
    store: DynamoStore,
    asg: Asg,
    policy: ScalePolicy,
    metrics: Metrics,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|e| anyhow::anyhow!("{name}={v:?}: {e}")),
        Err(_) => Ok(default),
    }
}

impl Scaler {
    async fn from_env() -> Result<Self> {
        let table = std::env::var("FLEET_TABLE").context("FLEET_TABLE is not set")?;
        let group = std::env::var("FLEET_ASG_NAME").context("FLEET_ASG_NAME is not set")?;
        let slots: u32 = env_or("FLEET_SLOTS_PER_INSTANCE", 2)?;
        let idle: f64 = env_or("FLEET_IDLE_MINUTES", 15.0)?;
        anyhow::ensure!(slots >= 1, "FLEET_SLOTS_PER_INSTANCE must be at least 1");
        let idle = Duration::try_from_secs_f64(idle * 60.0)
            .context("FLEET_IDLE_MINUTES must be a non-negative number")?;
        let settle: f64 = env_or("FLEET_SETTLE_MINUTES", 5.0)?;
        let settle = Duration::try_from_secs_f64(settle * 60.0)
            .context("FLEET_SETTLE_MINUTES must be a non-negative number")?;
        let step: u32 = env_or("FLEET_SCALE_OUT_STEP", 10)?;
        anyhow::ensure!(step >= 1, "FLEET_SCALE_OUT_STEP must be at least 1");
        let namespace = std::env::var("FLEET_METRIC_NAMESPACE").unwrap_or_else(|_| "fleet".into());
        let sdk = fleet::aws::sdk_config().await;
        Ok(Self {
            store: DynamoStore::new(
                fleet::aws::dynamodb(&sdk, Duration::from_secs(20)),
                StoreConfig::new(table),
                fleet::clock::system(),
            ),
            asg: Asg::from_conf(&sdk, group),
            policy: ScalePolicy {
                settle,
                step,
                ..ScalePolicy::new(slots, idle)
            },
            metrics: Metrics::stdout(namespace),
        })
    }

    async fn tick(&self) -> Result<Tick> {
        let now = fleet::clock::SystemClock.now_ms();
        Ok(scaler::tick(&self.store, &self.asg, self.policy, &self.metrics, now).await?)
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Lambda captures stderr and stdout alike; the EMF lines go to stdout, logs to stderr.
    fleet::telemetry::init(fleet::telemetry::LogFormat::Json, "info");
    let scaler = Arc::new(Scaler::from_env().await?);
    if std::env::args().any(|a| a == "--once") {
        let t = scaler.tick().await?;
        println!("{}", serde_json::to_string(&t)?);
        return Ok(());
    }
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let scaler = scaler.clone();
        async move { scaler.tick().await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}
