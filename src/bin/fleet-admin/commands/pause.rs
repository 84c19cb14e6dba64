//! `pause` / `resume`: the fleet-wide flag workers read before each claim.

use super::Ctx;
use anyhow::Result;
use fleet::admin::require_table;
use std::process::ExitCode;

pub async fn run(ctx: &Ctx, pause: bool) -> Result<ExitCode> {
    require_table(&ctx.ddb, &ctx.table).await?;
    ctx.announce_write().await;
    ctx.store.set_paused(pause).await?;
    println!(
        "fleet {}",
        if pause {
            "paused: workers finish what they hold and claim nothing new"
        } else {
            "resumed"
        }
    );
    Ok(ExitCode::SUCCESS)
}
