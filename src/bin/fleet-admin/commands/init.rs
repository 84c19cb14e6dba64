//! `init`: create the table and its index if missing.

use super::Ctx;
use anyhow::Result;
use fleet::store::dynamo::{create_table, TableStatus};
use std::process::ExitCode;

pub async fn run(ctx: &Ctx) -> Result<ExitCode> {
    ctx.announce_write().await;
    let status = create_table(&ctx.ddb, &ctx.table).await?;
    println!(
        "table {} {}",
        ctx.table,
        if status == TableStatus::Created {
            "created"
        } else {
            "already exists"
        }
    );
    Ok(ExitCode::SUCCESS)
}
