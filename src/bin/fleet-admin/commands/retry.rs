//! `retry`: failed (or named) videos back to `pending` with their attempts reset. A URI that
//! matches nothing fails the command before anything is written.

use super::Ctx;
use crate::args::RetryArgs;
use crate::output;
use anyhow::{bail, Result};
use fleet::admin::require_table;
use fleet::admin::retry::{self, Selector};
use fleet::domain::VideoState;
use std::process::ExitCode;

pub async fn run(ctx: &Ctx, a: RetryArgs) -> Result<ExitCode> {
    require_table(&ctx.ddb, &ctx.table).await?;
    let sel = if a.failed {
        Selector::Failed {
            kind: a.kind.map(|k| k.as_str().to_string()),
        }
    } else if a.uris.is_empty() {
        bail!("name videos (s3://bucket/key, or a prefix ending in /) or pass --failed");
    } else {
        for u in &a.uris {
            fleet::domain::keys::S3Uri::parse(u)?;
        }
        Selector::Uris {
            uris: a.uris,
            done: a.done,
        }
    };
    let plan = retry::plan(&ctx.store, &sel).await?;
    if plan.targets.is_empty() && !plan.nothing_to_requeue.is_empty() {
        bail!(nothing_to_requeue(&plan.nothing_to_requeue));
    }
    if !plan.unmatched.is_empty() {
        bail!(
            "no video in table {} matches {}; nothing was requeued",
            ctx.table,
            plan.unmatched.join(", ")
        );
    }
    if a.dry_run {
        let mut would = 0;
        for (pk, state) in &plan.targets {
            let requeued =
                *state == VideoState::Failed || (*state == VideoState::Done && !a.failed);
            would += usize::from(requeued);
            let what = if requeued {
                ""
            } else {
                "  (left alone: not failed or done)"
            };
            println!("{state:<11} {pk}{what}");
        }
        println!("dry run: would requeue {would} video(s)");
        return Ok(ExitCode::SUCCESS);
    }
    ctx.announce_write().await;
    let bar = output::Progress::new("requeueing");
    let total = plan.targets.len() as u64;
    let out = retry::apply(&ctx.store, &plan.targets, !a.failed, |n| {
        bar.update(n as u64, total, "")
    })
    .await;
    bar.finish();
    let out = out?;
    for pk in &out.left_alone {
        eprintln!("left alone (pending already, or held by a worker): {pk}");
    }
    if let Some(p) = ctx.events() {
        // One "Video Requeued" per video, keyed by the version the requeue wrote.
        let mut events = Vec::new();
        for pk in &out.requeued {
            if let Some(v) = ctx.store.get(pk).await? {
                let facts = fleet::events::Facts {
                    state: v.state.as_str().to_string(),
                    seq: v.rev,
                    ..Default::default()
                };
                events.push(fleet::events::event(
                    fleet::events::Kind::Requeued,
                    &v,
                    facts,
                ));
            }
        }
        let n = events.len();
        let sent = p.emit(events).await;
        // Printed after the events went out: a reader that closed the pipe ends fleet-admin
        // at its next print, and no event may be lost to that.
        println!("requeued {} of {}", out.requeued.len(), plan.targets.len());
        println!("events: {sent} of {n} sent (the rest are owed; workers send them later)");
    } else {
        println!("requeued {} of {}", out.requeued.len(), plan.targets.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// Prefixes whose videos are all done or still open: say so, and how to redo the done ones.
fn nothing_to_requeue(prefixes: &[(String, Vec<(VideoState, u64)>)]) -> String {
    let said: Vec<String> = prefixes
        .iter()
        .map(|(prefix, states)| {
            let counts: Vec<String> = states
                .iter()
                .map(|(s, n)| format!("{n} {}", s.as_str()))
                .collect();
            format!("{prefix} has no failed video ({})", counts.join(", "))
        })
        .collect();
    let done = prefixes
        .iter()
        .any(|(_, s)| s.iter().any(|(s, _)| *s == VideoState::Done));
    format!(
        "nothing to requeue: {}{}",
        said.join("; "),
        if done {
            "; pass --done to encode its done videos again"
        } else {
            ""
        }
    )
}
