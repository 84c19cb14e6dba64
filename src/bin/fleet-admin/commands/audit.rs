//! `audit`: reconcile a source prefix, the table and the outputs. Exit code 3 when something is
//! out of line and not repaired.

use super::{extensions, Ctx};
use crate::output;
use anyhow::Result;
use fleet::admin::{audit, require_table};
use fleet::domain::keys::S3Uri;
use std::process::ExitCode;

pub async fn run(
    ctx: &Ctx,
    input: &str,
    out: Option<&str>,
    include_ext: Option<Vec<String>>,
    fix: bool,
    json: bool,
) -> Result<ExitCode> {
    let input = S3Uri::parse(input)?;
    let out = out.map(S3Uri::parse).transpose()?;
    require_table(&ctx.ddb, &ctx.table).await?;
    if fix {
        ctx.announce_write().await;
    }
    let exts = extensions(include_ext);
    let bar = output::Progress::new("checking streams");
    let r = audit::audit(
        &ctx.store,
        &ctx.s3(),
        &input,
        out.as_ref(),
        &exts,
        fix,
        |n, of| bar.update(n, of, ""),
    )
    .await;
    bar.finish();
    let r = r?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        print!("{}", output::audit_text(&r, fix));
    }
    Ok(if r.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
