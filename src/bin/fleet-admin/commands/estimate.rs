//! `estimate`: what the open videos will cost and how long they take, from one Scan.

use super::Ctx;
use crate::args::EstimateArgs;
use crate::output;
use anyhow::Result;
use fleet::admin::estimate::batch_of;
use fleet::admin::report::scan_all;
use fleet::domain::estimate::{estimate, mediaconvert, Fleet, Prices};
use fleet::domain::ladder::Ladder;
use fleet::transcode::command::SEGMENT_SECONDS;
use std::process::ExitCode;

pub async fn run(ctx: &Ctx, a: EstimateArgs) -> Result<ExitCode> {
    anyhow::ensure!(
        a.instances >= 1 && a.vcpus >= 1 && a.slots_per_instance >= 1,
        "--instances, --vcpus and --slots-per-instance must be at least 1"
    );
    anyhow::ensure!(
        a.cpu_per_content_second > 0.0 && a.source_mbps > 0.0 && a.price_per_hour >= 0.0,
        "--cpu-per-content-second and --source-mbps must be above 0, --price-per-hour not negative"
    );
    let (items, _) = scan_all(&ctx.ddb, &ctx.table).await?;
    let found = batch_of(&items, a.source_mbps);
    let ladder = Ladder::default();
    let output_kbps: f64 = ladder
        .rungs
        .iter()
        .map(|r| f64::from(r.video_kbps + r.audio_kbps.unwrap_or(ladder.audio_kbps)))
        .sum();
    let fleet = Fleet {
        instances: a.instances,
        vcpus: a.vcpus,
        slots: a.slots_per_instance,
        price_per_hour: a.price_per_hour,
        cpu_per_content_s: a.cpu_per_content_second,
        analysis_share: if a.rate_control == "adaptive" {
            0.18
        } else {
            0.0
        },
        boot_s: a.boot_seconds,
        idle_tail_s: a.idle_minutes * 60.0,
        nat: a.network == "nat",
        output_kbps,
        renditions: u32::try_from(ladder.rungs.len()).unwrap_or(u32::MAX),
        segment_s: f64::from(SEGMENT_SECONDS),
    };
    let e = estimate(found.batch, fleet, Prices::default());
    let managed = mediaconvert(&ladder, found.batch.content_s);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "schema_version": 1, "found": found, "fleet": fleet, "estimate": e,
                "mediaconvert": { "normalized_minutes_per_content_hour": managed.0, "tiers": managed.1 },
            })
        );
    } else {
        print!("{}", output::estimate_text(&found, &fleet, &e, &managed));
    }
    Ok(ExitCode::SUCCESS)
}
