//! `seed`: one item per video under a prefix, idempotent, with the caption files beside each
//! video attached. A progress bar on a terminal; a line per thousand objects otherwise.

use super::{extensions, Ctx};
use crate::args::SeedArgs;
use crate::output;
use anyhow::{bail, Result};
use fleet::admin::{require_table, seed};
use fleet::domain::keys::S3Uri;
use fleet::domain::language;
use std::fmt::Write;
use std::process::ExitCode;

/// Skipped keys named in the text summary (`--json` has them all).
const SHOWN_SKIPPED: usize = 10;

pub async fn run(ctx: &Ctx, a: SeedArgs) -> Result<ExitCode> {
    let input = S3Uri::parse(&a.input)?;
    let out = S3Uri::parse(&a.output)?;
    if !language::is_tag(&a.default_caption_language) {
        bail!(
            "--default-caption-language {:?} is not a language tag (RFC 5646: en, pt-BR, und)",
            a.default_caption_language
        );
    }
    let exts = extensions(a.include_ext.clone());
    require_table(&ctx.ddb, &ctx.table).await?;
    let bar = output::Progress::new("seeding");
    let plan = seed::SeedPlan {
        input: &input,
        output: &out,
        extensions: &exts,
        default_caption_language: &a.default_caption_language,
        dry_run: a.dry_run,
        update_output: a.update_output,
    };
    let mut show = |s: &seed::SeedSummary| {
        bar.update(
            s.added + s.present + s.skipped + s.captions,
            s.listed,
            &format!(
                "{} added, {} present, {} skipped",
                s.added, s.present, s.skipped
            ),
        );
    };
    // Said once the input and output have passed their checks, just before the first write.
    let summary = match seed::prepare(&ctx.s3(), &plan, &mut show).await {
        Ok(prepared) => {
            if !a.dry_run {
                let line = ctx.write_line().await;
                bar.suspend(|| eprintln!("{line}"));
            }
            seed::write(&ctx.store, &plan, prepared, show).await
        }
        Err(e) => Err(e),
    };
    bar.finish();
    let s = summary?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", summary_text(&s, &a, &out));
    Ok(ExitCode::SUCCESS)
}

/// The summary as text: the counts, the skipped keys (the first few), captions, outputs.
fn summary_text(s: &seed::SeedSummary, a: &SeedArgs, out: &S3Uri) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}added {}, already present {}, skipped (not video) {}; {} of source added",
        if a.dry_run {
            "dry run: would have "
        } else {
            ""
        },
        s.added,
        s.present,
        s.skipped,
        output::bytes(s.added_bytes),
    );
    if !s.skipped_keys.is_empty() {
        let shown: Vec<&str> = s
            .skipped_keys
            .iter()
            .take(SHOWN_SKIPPED)
            .map(String::as_str)
            .collect();
        let more = s.skipped_keys.len().saturating_sub(SHOWN_SKIPPED);
        let _ = writeln!(
            o,
            "skipped: {}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more (--json lists them all)")
            } else {
                String::new()
            }
        );
    }
    let _ = writeln!(
        o,
        "captions: {} file(s) attached{}",
        s.captions,
        if s.unmatched_captions > 0 {
            format!(
                ", {} matching no video by name (counted as skipped)",
                s.unmatched_captions
            )
        } else {
            String::new()
        }
    );
    if s.caption_redos + s.captions_updated + s.captions_busy > 0 {
        let _ = writeln!(
            o,
            "captions changed: {} done video(s) queued for a captions-only redo, {} waiting \
             video(s) updated, {} being encoded now (re-run seed once they are done)",
            s.caption_redos, s.captions_updated, s.captions_busy
        );
    }
    if a.update_output {
        let _ = writeln!(
            o,
            "output: {} video(s) now go to {} ({} of them failed for their output and are \
             pending again); {} done video(s) keep their streams at the old output; {} held by \
             a worker left as they are (re-run once they end)",
            s.outputs_moved, out, s.outputs_requeued, s.outputs_done_kept, s.outputs_busy
        );
    }
    o
}
