//! `wait`: blocks until the queue is drained, for scripts (`seed && wait && publish`). Each
//! check is the workers' own "is anything open" probe (one item per index shard at most); the
//! outcome is counted once, at the end.

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
    loop {
        match ctx.store.has_open_work().await {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => eprintln!("wait: check failed, trying again: {e}"),
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
    }
    let (items, _) = report::scan_all(&ctx.ddb, &ctx.table).await?;
    let failed = items
        .iter()
        .filter(|v| v.state == VideoState::Failed)
        .count();
    let done = items.iter().filter(|v| v.state == VideoState::Done).count();
    println!("drained: {done} done, {failed} failed");
    Ok(if failed > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
