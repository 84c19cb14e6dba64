//! `wait`: blocks until the queue is drained, for scripts (`seed && wait && publish`). Each
//! check is the workers' own "is anything open" probe (one item per index shard at most); when
//! it finds nothing, one Scan confirms it and counts the outcome. Exit 3 means some video of
//! the table is `failed` (this run's or an earlier one's: `report` tells which).

use super::Ctx;
use anyhow::Result;
use fleet::admin::{report, require_table};
use fleet::domain::VideoState;
use fleet::store::VideoStore;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub async fn run(ctx: &Ctx, timeout: Option<u64>, interval: u64) -> Result<ExitCode> {
    require_table(&ctx.ddb, &ctx.table).await?;
    let started = Instant::now();
    let mut last_note = Instant::now();
    let (done, failed) = loop {
        match ctx.store.has_open_work().await {
            Ok(false) => {
                // The index lags the table (right after a seed it may not list every new
                // video yet): the table itself decides.
                let (items, _) = report::scan_all(&ctx.ddb, &ctx.table).await?;
                let open = items
                    .iter()
                    .filter(|v| matches!(v.state, VideoState::Pending | VideoState::InProgress))
                    .count();
                if open == 0 {
                    let count = |s| items.iter().filter(|v| v.state == s).count();
                    break (count(VideoState::Done), count(VideoState::Failed));
                }
            }
            Ok(true) => {}
            Err(e) if e.is_retryable() => eprintln!("wait: check failed, trying again: {e}"),
            Err(e) => return Err(e.into()),
        }
        if timeout.is_some_and(|t| started.elapsed() >= Duration::from_secs(t)) {
            eprintln!(
                "wait: videos still open after {} s",
                started.elapsed().as_secs()
            );
            return Ok(ExitCode::from(124));
        }
        if last_note.elapsed() >= Duration::from_secs(60) {
            last_note = Instant::now();
            if let Ok((c, _)) = ctx.store.counters().await {
                eprintln!(
                    "wait: {} of {} done, {} failed ({} s)",
                    c.done,
                    c.total,
                    c.failed,
                    started.elapsed().as_secs()
                );
            }
        }
        tokio::time::sleep(Duration::from_secs(interval.max(1))).await;
    };
    println!("drained: {done} done, {failed} failed");
    Ok(if failed > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
