//! `show <s3-uri>`: one video, whole.

use super::Ctx;
use anyhow::{bail, Result};
use fleet::admin::{require_table, show};
use fleet::domain::keys::S3Uri;
use std::fmt::Write;
use std::process::ExitCode;

pub async fn run(ctx: &Ctx, uri: &str, json: bool) -> Result<ExitCode> {
    let src = S3Uri::parse(uri)?;
    require_table(&ctx.ddb, &ctx.table).await?;
    let Some(v) = ctx.store.get(&src.to_string()).await? else {
        bail!("no video {src} in table {}", ctx.table);
    };
    let cmd = show::reproduce(&v, &ctx.aws_options);
    if json {
        let mut j = serde_json::to_value(&v)?;
        j["schema_version"] = serde_json::json!(fleet::admin::report::SCHEMA_VERSION);
        j["reproduce"] = serde_json::json!(cmd);
        if v.output.is_some() {
            j["description"] = serde_json::json!(format!(
                "s3://{}/{}/{}",
                v.out_bucket,
                v.out_prefix,
                fleet::domain::stream::FILE
            ));
        }
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut o = String::new();
    let ts = |ms: Option<i64>| {
        ms.and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_else(|| "-".into())
    };
    let _ = writeln!(o, "{}", v.pk);
    let _ = writeln!(
        o,
        "  state      {} (attempts {}, lapsed leases {})",
        v.state, v.attempts, v.lapsed
    );
    let _ = writeln!(o, "  source     {}", crate::output::bytes(v.size_bytes));
    let _ = writeln!(o, "  output     s3://{}/{}/", v.out_bucket, v.out_prefix);
    if let Some(m) = &v.output {
        let _ = writeln!(o, "  master     {m}");
        let _ = writeln!(
            o,
            "  described  s3://{}/{}/{}  (renditions, tracks, poster, thumbnails, warnings)",
            v.out_bucket,
            v.out_prefix,
            fleet::domain::stream::FILE
        );
    }
    if let Some(l) = &v.ladder {
        let _ = writeln!(o, "  ladder     {l}");
    }
    if let Some(d) = v.duration_s {
        let _ = writeln!(o, "  content    {}", crate::output::duration(d));
    }
    let _ = writeln!(o, "  seeded     {}", ts(Some(v.seeded_at)));
    let _ = writeln!(
        o,
        "  claimed    {}  by {}",
        ts(v.claimed_at),
        v.holder.as_deref().unwrap_or("-")
    );
    let _ = writeln!(o, "  finished   {}", ts(v.finished_at));
    if let Some(p) = &v.progress {
        let _ = writeln!(o, "  progress   {} {:?}%", p.phase, p.percent);
    }
    let captions = v.captions.clone().unwrap_or_default();
    if !captions.is_empty() {
        let _ = writeln!(o, "\ncaption files");
        for c in &captions {
            let mut flags = vec![c.language.clone()];
            flags.extend(c.sdh.then(|| "sdh".to_string()));
            flags.extend(c.forced.then(|| "forced".to_string()));
            let _ = writeln!(
                o,
                "  s3://{}/{}  ({})",
                v.src_bucket,
                c.key,
                flags.join(", ")
            );
        }
    }
    if let Some(r) = v.redo {
        let _ = writeln!(o, "  redo       {r:?} only (queued by seed)");
    }
    let warnings = v.warnings.clone().unwrap_or_default();
    if !warnings.is_empty() {
        let _ = writeln!(o, "\nwarnings (done, but something was left out)");
        for w in &warnings {
            let _ = writeln!(o, "  - {w}");
        }
    }
    let errors = v.errors.clone().unwrap_or_default();
    if !errors.is_empty() {
        let _ = writeln!(o, "\nerrors, oldest first");
        for e in &errors {
            let _ = writeln!(o, "  - {}", e.replace('\n', "\n    "));
        }
    } else if let Some(e) = &v.error {
        let _ = writeln!(
            o,
            "\nlast error ({})\n  {}",
            v.error_kind.as_deref().unwrap_or("-"),
            e.replace('\n', "\n  ")
        );
    }
    match cmd {
        Some(c) => {
            let _ = writeln!(o, "\nreproduce the last ffmpeg run (writes ./out):\n  {c}");
        }
        None => {
            let ext = fleet::domain::keys::extension(&v.src_key).unwrap_or_else(|| "bin".into());
            let _ = writeln!(
                o,
                "\nffmpeg never ran; what ffprobe says of the source:\n  {} && ffprobe -v error -show_format -show_streams source.{ext}",
                show::aws_cp(&ctx.aws_options, &src, &format!("source.{ext}"))
            );
        }
    }
    print!("{o}");
    Ok(ExitCode::SUCCESS)
}
