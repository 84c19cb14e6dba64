//! `report`: the fleet at a glance. `--watch` redraws with the time and keeps going through
//! transient errors; `--summary` reads only the counters and the worker registry, so it costs
//! the same at any table size.

use super::Ctx;
use crate::args::ReportArgs;
use crate::output;
use anyhow::Result;
use fleet::admin::report::{self, Pricing};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

pub async fn run(ctx: &Ctx, a: ReportArgs) -> Result<ExitCode> {
    let pricing = Pricing {
        per_instance_hour: a.price_per_hour,
        slots_per_instance: a.slots_per_instance,
    };
    loop {
        let res = once(ctx, &a, pricing).await;
        match (&res, a.watch) {
            (Ok(text), Some(_)) => {
                if std::io::stdout().is_terminal() {
                    print!("\x1b[2J\x1b[H");
                }
                print!("{text}");
            }
            (Ok(text), None) => print!("{text}"),
            (Err(e), Some(_)) => eprintln!(
                "{} report failed, trying again: {}",
                chrono::Local::now().format("%H:%M:%S"),
                output::one_line(e)
            ),
            (Err(_), None) => return res.map(|_| ExitCode::SUCCESS),
        }
        match a.watch {
            Some(s) => tokio::time::sleep(Duration::from_secs(s.max(1))).await,
            None => return Ok(ExitCode::SUCCESS),
        }
    }
}

async fn once(ctx: &Ctx, a: &ReportArgs, pricing: Pricing) -> Result<String> {
    let now = chrono::Utc::now().timestamp_millis();
    let stamp = chrono::Local::now()
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string();
    if a.summary {
        let s = report::summary(&ctx.store, now).await?;
        return Ok(if a.json {
            format!("{}\n", serde_json::to_string(&s)?)
        } else {
            format!("{stamp}\n{}", output::summary_text(&s))
        });
    }
    let (items, paused) = report::scan_all(&ctx.ddb, &ctx.table).await?;
    if a.recount {
        report::recount(&ctx.store, &items).await?;
    }
    let workers = report::workers(&ctx.store, now).await?;
    let mut r = report::build(&ctx.table, items, paused, now, pricing);
    r.workers = workers;
    r.hold_eta();
    r.owed_events = ctx.store.owed_count().await?;
    if let Some(states) = &a.state {
        r.videos.retain(|v| states.contains(&v.state));
    }
    Ok(if a.json {
        format!("{}\n", serde_json::to_string(&r)?)
    } else {
        let mut text = format!("{stamp}\n{}", output::report_text(&r, a.all));
        if let Some(states) = &a.state {
            text.push_str(&output::state_listing(&r, states));
        }
        text
    })
}
