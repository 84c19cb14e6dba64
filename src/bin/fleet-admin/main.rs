//! fleet-admin: parse, load the AWS configuration the way the AWS CLI does (`--profile`,
//! `--region`, `--endpoint-url`, then the environment and profile), run one command from
//! `commands/`, and print any error on one line naming the region and account.

mod args;
mod commands;
mod output;

use anyhow::Result;
use args::Args;
use clap::Parser;
use commands::Ctx;
use fleet::store::dynamo::{DynamoStore, StoreConfig};
use std::process::ExitCode;
use std::time::Duration;

/// As the AWS CLI: `--profile` names where the credentials come from, ahead of
/// `AWS_ACCESS_KEY_ID` in the environment (the SDK's default chain would take the
/// environment's keys first, and an operator would act in the wrong account).
async fn sdk_config(a: &Args) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(p) = &a.profile {
        loader = loader.profile_name(p).credentials_provider(
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(p)
                .build(),
        );
    }
    if let Some(r) = &a.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(u) = &a.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    loader.load().await
}

/// The account the credentials belong to, if STS answers within two seconds. Not asked when
/// any service goes to a custom endpoint (a local stack, MinIO): the table is not in an AWS
/// account then, and STS would be the real one, or unreachable.
pub(crate) async fn account(sdk: &aws_config::SdkConfig) -> Option<String> {
    let custom = std::env::vars_os()
        .any(|(k, v)| k.to_string_lossy().starts_with("AWS_ENDPOINT_URL") && !v.is_empty());
    if custom || sdk.endpoint_url().is_some() {
        return None;
    }
    let sts = aws_sdk_sts::Client::new(sdk);
    tokio::time::timeout(Duration::from_secs(2), sts.get_caller_identity().send())
        .await
        .ok()?
        .ok()?
        .account
}

async fn exec(a: Args) -> Result<ExitCode> {
    let sdk = sdk_config(&a).await;
    // Credentials first: a misspelt --profile is then reported as such, not as "no region".
    fleet::aws::require_credentials(&sdk, a.profile.as_deref()).await?;
    anyhow::ensure!(
        sdk.region().is_some(),
        "no AWS region: pass --region, set AWS_REGION, or give the profile a region"
    );
    let ddb = fleet::aws::dynamodb(&sdk, Duration::from_secs(30));
    let ctx = Ctx {
        store: DynamoStore::new(
            ddb.clone(),
            StoreConfig::new(&a.table),
            fleet::clock::system(),
        ),
        ddb,
        table: a.table.clone(),
        aws_options: [
            ("--profile", &a.profile),
            ("--region", &a.region),
            ("--endpoint-url", &a.endpoint_url),
        ]
        .into_iter()
        .filter_map(|(flag, v)| v.as_ref().map(|v| [flag.to_string(), v.clone()]))
        .flatten()
        .collect(),
        event_bus: a.event_bus.clone(),
        profile: a.profile.clone(),
        sdk,
    };
    match commands::run(&ctx, a.command).await {
        Ok(code) => Ok(code),
        // A URI typo is not about any place; anything else says where it happened, after the
        // cause and its fix.
        Err(e) if e.downcast_ref::<fleet::domain::keys::BadS3Uri>().is_some() => Err(e),
        Err(e) => {
            let region = ctx.sdk.region().map(|r| r.to_string()).unwrap_or_default();
            let place = match account(&ctx.sdk).await {
                Some(acct) => format!("region {region}, account {acct}"),
                None => format!("region {region}"),
            };
            Err(anyhow::anyhow!("{} ({place})", output::one_line(&e)))
        }
    }
}

/// A reader that stops reading (`| head`, `| grep -m1`) closes the pipe; `println!` then
/// panics on EPIPE. fleet-admin then stops quietly with exit 0 instead of a panic and 101
/// (`cat` would die of SIGPIPE, 141; a script that pipes a report into `head` wants 0).
/// Commands print their result after their writes and events, so stopping loses nothing.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

#[tokio::main]
async fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let args = Args::parse();
    // fleet's own warnings only: the SDK's (retries, IMDS probes) would come before the one
    // line that says what failed. RUST_LOG still shows them.
    fleet::telemetry::init(
        fleet::telemetry::LogFormat::Text,
        "fleet=warn,fleet_admin=warn",
    );
    match exec(args).await {
        Ok(code) => code,
        Err(e) => {
            // One line, whatever the error chain holds: scripts grep it, people read it.
            eprintln!("fleet-admin: {}", output::one_line(&e));
            ExitCode::FAILURE
        }
    }
}
