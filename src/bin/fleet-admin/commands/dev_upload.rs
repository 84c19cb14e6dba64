//! `dev-upload` (hidden): the demo's way to put generated clips in a bucket.

use super::Ctx;
use anyhow::{Context, Result};
use fleet::domain::keys::S3Uri;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(ctx: &Ctx, dir: &Path, dest: &str, create: &[String]) -> Result<ExitCode> {
    let dest = S3Uri::parse(dest)?.as_prefix();
    let s3 = ctx.s3();
    for b in create.iter().chain([&dest.bucket]) {
        fleet::blob::ensure_bucket(&s3, b)
            .await
            .with_context(|| format!("creating bucket {b}"))?;
    }
    let n = fleet::blob::upload_dir(&s3, dir, &dest)
        .await
        .with_context(|| format!("uploading {}", dir.display()))?;
    println!("uploaded {n} files to {dest}");
    Ok(ExitCode::SUCCESS)
}
