//! `events replay <s3-uri>`: the event of every done or failed video under a prefix, sent
//! again with the ids its first sends had.

use super::Ctx;
use crate::args::EventsCommand;
use anyhow::{bail, Result};
use fleet::admin::require_table;
use fleet::domain::keys::S3Uri;
use std::process::ExitCode;

pub async fn run(ctx: &Ctx, cmd: EventsCommand) -> Result<ExitCode> {
    let EventsCommand::Replay { uri } = cmd;
    let src = S3Uri::parse(&uri)?;
    let Some(p) = ctx.events() else {
        bail!("no bus: pass --event-bus NAME (or set FLEET_EVENT_BUS)");
    };
    require_table(&ctx.ddb, &ctx.table).await?;
    let (items, _) = fleet::admin::report::scan_all(&ctx.ddb, &ctx.table).await?;
    let prefix = src.to_string();
    let events: Vec<fleet::events::Event> = items
        .iter()
        .filter(|v| v.pk.starts_with(&prefix))
        .filter_map(fleet::events::of_item)
        .collect();
    if events.is_empty() {
        bail!(
            "no done or failed video under {prefix} in table {}",
            ctx.table
        );
    }
    let n = events.len();
    let sent = p.emit(events).await;
    println!("replayed {sent} of {n} event(s) (same ids as their first sends); the rest are owed");
    Ok(ExitCode::SUCCESS)
}
