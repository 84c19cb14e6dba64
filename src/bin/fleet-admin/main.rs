//! fleet-admin: each subcommand parses its arguments, calls library code and prints.

mod args;
mod output;

use anyhow::{bail, Context, Result};
use args::{Args, Command};
use clap::Parser;
use fleet::admin::{audit, report, require_table, seed};
use fleet::domain::keys::S3Uri;
use fleet::store::dynamo::{create_table, DynamoStore, StoreConfig, TableStatus};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

async fn exec(args: Args) -> Result<ExitCode> {
    let sdk = fleet::aws::sdk_config().await;
    anyhow::ensure!(
        sdk.region().is_some(),
        "no AWS region: set AWS_REGION (or a profile's region)"
    );
    require_credentials(&sdk).await?;
    let ddb = fleet::aws::dynamodb(&sdk, Duration::from_secs(30));
    let table = args.table.clone();
    let store = DynamoStore::new(
        ddb.clone(),
        StoreConfig::new(&table),
        fleet::clock::system(),
    );
    match args.command {
        Command::Init => {
            let status = create_table(&ddb, &table).await?;
            println!(
                "table {table} {}",
                if status == TableStatus::Created {
                    "created"
                } else {
                    "already exists"
                }
            );
        }
        Command::Seed {
            input,
            output,
            include_ext,
            dry_run,
        } => {
            let input = S3Uri::parse(&input)?;
            let output = S3Uri::parse(&output)?;
            let exts = extensions(include_ext);
            require_table(&ddb, &table).await?;
            let s3 = fleet::aws::s3(&sdk);
            let tty = std::io::stderr().is_terminal();
            let mut seen = 0u64;
            let summary = seed::seed(&store, &s3, &input, &output, &exts, dry_run, |s| {
                seen += 1;
                if tty && seen.is_multiple_of(50) {
                    eprint!(
                        "\rseeding: {} added, {} present, {} skipped",
                        s.added, s.present, s.skipped
                    );
                } else if !tty && seen.is_multiple_of(1000) {
                    eprintln!(
                        "seeding: {} added, {} present, {} skipped",
                        s.added, s.present, s.skipped
                    );
                }
            })
            .await?;
            if tty {
                eprintln!();
            }
            println!(
                "{}added {}, already present {}, skipped (not video) {}",
                if dry_run { "dry run: would have " } else { "" },
                summary.added,
                summary.present,
                summary.skipped
            );
        }
        Command::Report { json, watch } => loop {
            let (items, paused) = report::scan_all(&ddb, &table).await?;
            let r = report::build(&table, items, paused, chrono::Utc::now().timestamp_millis());
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                if watch.is_some() && std::io::stdout().is_terminal() {
                    print!("\x1b[2J\x1b[H");
                }
                print!("{}", output::report_text(&r));
            }
            match watch {
                Some(s) => tokio::time::sleep(Duration::from_secs(s.max(1))).await,
                None => break,
            }
        },
        Command::Retry { failed, keys } => {
            require_table(&ddb, &table).await?;
            let targets: Vec<String> = if failed {
                let (items, _) = report::scan_all(&ddb, &table).await?;
                items
                    .into_iter()
                    .filter(|v| v.state == fleet::domain::VideoState::Failed)
                    .map(|v| v.pk)
                    .collect()
            } else if keys.is_empty() {
                bail!("name videos (s3://bucket/key) or pass --failed");
            } else {
                keys
            };
            let mut requeued = 0;
            for k in &targets {
                if store
                    .requeue(k, !failed)
                    .await
                    .with_context(|| format!("requeueing {k}"))?
                {
                    requeued += 1;
                } else {
                    eprintln!("left alone (missing, pending or in progress): {k}");
                }
            }
            println!("requeued {requeued} of {}", targets.len());
        }
        Command::DevUpload { dir, dest, create } => {
            let dest = S3Uri::parse(&dest)?.as_prefix();
            let s3 = fleet::aws::s3(&sdk);
            for b in create.iter().chain([&dest.bucket]) {
                fleet::blob::ensure_bucket(&s3, b)
                    .await
                    .with_context(|| format!("creating bucket {b}"))?;
            }
            let mut n = 0;
            for e in
                std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
            {
                let e = e?;
                if e.file_type()?.is_file() {
                    let key = format!("{}{}", dest.key, e.file_name().to_string_lossy());
                    fleet::blob::upload(
                        &s3,
                        &dest.bucket,
                        &key,
                        &e.path(),
                        "application/octet-stream",
                    )
                    .await?;
                    n += 1;
                }
            }
            println!("uploaded {n} files to {dest}");
        }
        Command::Audit {
            input,
            output,
            include_ext,
            fix,
            json,
        } => {
            let input = S3Uri::parse(&input)?;
            let output = output.as_deref().map(S3Uri::parse).transpose()?;
            require_table(&ddb, &table).await?;
            let s3 = fleet::aws::s3(&sdk);
            let exts = extensions(include_ext);
            let r = audit::audit(&store, &s3, &input, output.as_ref(), &exts, fix).await?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                print!("{}", output::audit_text(&r, fix));
            }
            if !r.clean() {
                return Ok(ExitCode::from(3));
            }
        }
        Command::Pause | Command::Resume => {
            require_table(&ddb, &table).await?;
            let pause = matches!(args.command, Command::Pause);
            store.set_paused(pause).await?;
            println!(
                "fleet {}",
                if pause {
                    "paused: workers finish what they hold and claim nothing new"
                } else {
                    "resumed"
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Fails with one clear line when the default chain finds no credentials, before any request
/// (the SDK's own error lists every provider it tried, over several lines).
async fn require_credentials(sdk: &aws_config::SdkConfig) -> Result<()> {
    use aws_credential_types::provider::ProvideCredentials;
    let provider = sdk
        .credentials_provider()
        .context("no AWS credentials provider configured")?;
    provider.provide_credentials().await.map_err(|e| {
        anyhow::anyhow!(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, \
             or run with an instance role ({e})"
        )
    })?;
    Ok(())
}

/// The extensions to treat as videos: the flag's, normalised, or the defaults.
fn extensions(flag: Option<Vec<String>>) -> Vec<String> {
    flag.unwrap_or_else(|| {
        seed::DEFAULT_EXTENSIONS
            .iter()
            .map(|s| s.to_string())
            .collect()
    })
    .into_iter()
    .map(|e| e.trim().trim_start_matches('.').to_lowercase())
    .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    fleet::telemetry::init(fleet::telemetry::LogFormat::Text, "warn");
    match exec(args).await {
        Ok(code) => code,
        Err(e) => {
            // One line, whatever the error chain holds: scripts grep it, people read it.
            let msg = format!("{e:#}");
            eprintln!(
                "fleet-admin: {}",
                msg.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::FAILURE
        }
    }
}
