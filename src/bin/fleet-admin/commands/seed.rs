//! `seed`: one item per video under a prefix, idempotent. A progress bar on a terminal whose
//! total grows as listing pages arrive; a line per thousand objects otherwise.

use super::{extensions, Ctx};
use crate::output;
use anyhow::Result;
use fleet::admin::{require_table, seed};
use fleet::domain::keys::S3Uri;
use std::process::ExitCode;

pub async fn run(
    ctx: &Ctx,
    input: &str,
    out: &str,
    include_ext: Option<Vec<String>>,
    dry_run: bool,
) -> Result<ExitCode> {
    let input = S3Uri::parse(input)?;
    let out = S3Uri::parse(out)?;
    let exts = extensions(include_ext);
    require_table(&ctx.ddb, &ctx.table).await?;
    let bar = output::Progress::new("seeding");
    let summary = seed::seed(&ctx.store, &ctx.s3(), &input, &out, &exts, dry_run, |s| {
        bar.update(
            s.added + s.present + s.skipped,
            s.listed,
            &format!(
                "{} added, {} present, {} skipped",
                s.added, s.present, s.skipped
            ),
        );
    })
    .await;
    bar.finish();
    let summary = summary?;
    println!(
        "{}added {}, already present {}, skipped (not video) {}; {} of source added",
        if dry_run { "dry run: would have " } else { "" },
        summary.added,
        summary.present,
        summary.skipped,
        output::bytes(summary.added_bytes),
    );
    Ok(ExitCode::SUCCESS)
}
