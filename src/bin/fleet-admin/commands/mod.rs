//! One module per subcommand. Each takes the shared [`Ctx`] and its own arguments, calls the
//! library and prints; the logic lives in `fleet::admin`.

pub mod audit;
pub mod dashboard;
pub mod dev_upload;
pub mod estimate;
pub mod events;
pub mod init;
pub mod pause;
pub mod report;
pub mod retry;
pub mod seed;
pub mod show;
pub mod wait;

use crate::args::Command;
use anyhow::Result;
use fleet::store::dynamo::DynamoStore;
use std::process::ExitCode;

/// What every command may use: the SDK configuration (region, credentials, endpoints) and the
/// table.
pub struct Ctx {
    /// The loaded SDK configuration.
    pub sdk: aws_config::SdkConfig,
    /// DynamoDB.
    pub ddb: aws_sdk_dynamodb::Client,
    /// The claim engine's admin side.
    pub store: DynamoStore,
    /// The table's name.
    pub table: String,
    /// The AWS CLI options matching fleet-admin's own (`--profile`, `--region`,
    /// `--endpoint-url`), for the commands it prints.
    pub aws_options: Vec<String>,
    /// The EventBridge bus, if events are wanted.
    pub event_bus: Option<String>,
    /// `--profile`, if given.
    pub profile: Option<String>,
}

impl Ctx {
    /// A publisher on `--event-bus`, if one was given: what it cannot send is owed in the
    /// table, where the workers send it later.
    pub fn events(&self) -> Option<fleet::events::publisher::Publisher> {
        let bus = self.event_bus.as_deref().filter(|b| !b.is_empty())?;
        Some(fleet::events::publisher::Publisher::new(
            std::sync::Arc::new(fleet::events::bridge::EventBridge::new(&self.sdk, bus)),
            std::sync::Arc::new(self.store.clone()),
        ))
    }

    /// Says on stderr, before a command writes, where it writes and as whom: the table, the
    /// region, the account (when STS answers within two seconds; not asked when any service
    /// has a custom endpoint) and the credentials' source with the last four characters of the key, as
    /// `aws configure list` shows them.
    pub async fn announce_write(&self) {
        let line = self.write_line().await;
        eprintln!("{line}");
    }

    /// The line [`Ctx::announce_write`] prints.
    pub async fn write_line(&self) -> String {
        use aws_credential_types::provider::ProvideCredentials;
        let region = self.sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let account = crate::account(&self.sdk)
            .await
            .map(|a| format!("account {a}"))
            .unwrap_or_else(|| "account not known (custom endpoint, or STS did not answer)".into());
        let key = match self.sdk.credentials_provider() {
            Some(p) => p
                .provide_credentials()
                .await
                .map(|c| {
                    let id = c.access_key_id();
                    format!("****{}", &id[id.len().saturating_sub(4)..])
                })
                .unwrap_or_default(),
            None => String::new(),
        };
        let source = match (&self.profile, std::env::var_os("AWS_ACCESS_KEY_ID")) {
            (Some(p), _) => format!("profile {p}"),
            (None, Some(_)) => "the environment".into(),
            (None, None) => match std::env::var("AWS_PROFILE") {
                Ok(p) if !p.is_empty() => format!("profile {p}"),
                _ => "the default chain".into(),
            },
        };
        format!(
            "fleet-admin: writing to table {} in region {region}, {account}, with key {key} \
             from {source}",
            self.table
        )
    }

    /// An S3 client from the same configuration.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        fleet::aws::s3(&self.sdk)
    }
}

/// Runs `cmd`.
pub async fn run(ctx: &Ctx, cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Init => init::run(ctx).await,
        Command::Events(c) => events::run(ctx, c).await,
        Command::Seed(a) => seed::run(ctx, a).await,
        Command::Report(a) => report::run(ctx, a).await,
        Command::Estimate(a) => estimate::run(ctx, a).await,
        Command::Retry(a) => retry::run(ctx, a).await,
        Command::Dashboard {
            port,
            bind,
            refresh,
            price_per_hour,
            slots_per_instance,
        } => {
            dashboard::run(
                ctx,
                &bind,
                port,
                refresh,
                price_per_hour,
                slots_per_instance,
            )
            .await
        }
        Command::DevUpload { dir, dest, create } => {
            dev_upload::run(ctx, &dir, &dest, &create).await
        }
        Command::Audit {
            input,
            output,
            include_ext,
            fix,
            json,
        } => audit::run(ctx, &input, output.as_deref(), include_ext, fix, json).await,
        Command::Show { uri, json } => show::run(ctx, &uri, json).await,
        Command::Wait { timeout, interval } => wait::run(ctx, timeout, interval).await,
        Command::Pause => pause::run(ctx, true).await,
        Command::Resume => pause::run(ctx, false).await,
    }
}

/// The extensions to treat as videos: the flag's, normalised, or the defaults.
pub fn extensions(flag: Option<Vec<String>>) -> Vec<String> {
    flag.unwrap_or_else(|| {
        fleet::admin::seed::DEFAULT_EXTENSIONS
            .iter()
            .map(|s| s.to_string())
            .collect()
    })
    .into_iter()
    .map(|e| e.trim().trim_start_matches('.').to_lowercase())
    .collect()
}
