//! `wait`: blocks until the queue is drained, for scripts (`seed && wait && publish`). Each
//! check is the workers' own "is anything open" probe (one item per index shard at most); when
//! it finds nothing, one Scan confirms it and counts the outcome. Exit 3 means some video of
//! the table is `failed` (this run's or an earlier one's: `report` tells which).
//!
//! While it waits it shows how far the table is (a bar on a terminal, a line a minute
//! otherwise, from the counters: one GetItem) and why nothing may move: the fleet is paused,
//! or no worker is alive.

use super::Ctx;
use crate::output;
use anyhow::Result;
use fleet::admin::{report, require_table};
use fleet::domain::VideoState;
use fleet::store::VideoStore;
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub async fn run(ctx: &Ctx, timeout: Option<Duration>, interval: Duration) -> Result<ExitCode> {
    require_table(&ctx.ddb, &ctx.table).await?;
    let started = Instant::now();
    let bar = output::Progress::every("wait", Duration::from_secs(60));
    let mut said_why = None;
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
        let why = stalled(ctx).await;
        if why.is_some() && why != said_why {
            bar.suspend(|| eprintln!("wait: nothing moves: {}", why.as_deref().unwrap_or("")));
        }
        said_why = why.clone();
        if let Ok((c, _)) = ctx.store.counters().await {
            let finished = (c.done + c.failed).max(0) as u64;
            bar.update(
                finished,
                c.total.max(0) as u64,
                &format!(
                    "{} done, {} failed, waited {}{}",
                    c.done,
                    c.failed,
                    output::duration(started.elapsed().as_secs_f64()),
                    why.map(|w| format!(" ({w})")).unwrap_or_default()
                ),
            );
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            bar.finish();
            eprintln!(
                "wait: videos still open after {}",
                output::duration(started.elapsed().as_secs_f64())
            );
            return Ok(ExitCode::from(124));
        }
        tokio::time::sleep(interval.max(Duration::from_secs(1))).await;
    };
    bar.finish();
    println!("drained: {done} done, {failed} failed");
    Ok(if failed > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Why no video can finish now, if that is so: the pause flag, or no live worker in the
/// registry (each a single small read).
async fn stalled(ctx: &Ctx) -> Option<String> {
    if let Ok((true, _)) = ctx.store.paused().await {
        return Some("the fleet is paused; `fleet-admin resume` lets workers claim again".into());
    }
    let now = chrono::Utc::now().timestamp_millis();
    match report::workers(&ctx.store, now).await {
        Ok(w) if !w.iter().any(|w| matches!(w.status, "busy" | "idle")) => {
            Some("no live worker: start fleet-worker, or check the autoscaling group".into())
        }
        _ => None,
    }
}
