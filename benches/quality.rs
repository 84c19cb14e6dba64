//! Quality per bit (`cargo bench --bench quality`; needs only ffmpeg): every title of the
//! corpus (slides, a screen recording, a talking head, fast motion, a fade, slides upscaled
//! from a smaller original), encoded through the worker's plan, analysis and command at the
//! ladder's fixed bitrates and adaptively, every rung scored against the source. Prints one
//! table row per title and rung, the gate's verdict, the bytes across each ladder, and CPU.
//!
//! `FLEET_QUALITY_SIZE` (default `1920x1080`), `FLEET_QUALITY_SECONDS` (default 30),
//! `FLEET_QUALITY_TITLES` (comma-separated names, default all) change the corpus.
//!
//! Under `cargo test` it does nothing.

#[allow(dead_code)]
#[path = "support/common.rs"]
mod common;
#[path = "support/corpus.rs"]
mod corpus;

use corpus::Title;

fn main() {
    common::bench_main("quality", run);
}

async fn run() {
    let size = std::env::var("FLEET_QUALITY_SIZE").unwrap_or_else(|_| "1920x1080".into());
    let (w, h) = size
        .split_once('x')
        .map(|(w, h)| (w.parse().unwrap(), h.parse().unwrap()))
        .expect("FLEET_QUALITY_SIZE is WxH");
    let secs: u32 = std::env::var("FLEET_QUALITY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let only = std::env::var("FLEET_QUALITY_TITLES").ok();
    let corpus_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("quality-corpus");
    println!("quality bench: {w}x{h}, {secs} s per title, x264 veryfast, default ladder\n");
    println!(
        "| title | rung | fixed kb/s | adaptive kb/s | bytes | CRF | PSNR fixed → adaptive (dB) | \
         SSIM p1 fixed → adaptive | fixed vs fixed again | gate |"
    );
    println!("|---|---|---:|---:|---:|---:|---|---|---|---|");
    let mut failures = Vec::new();
    let mut totals = Vec::new();
    for t in Title::ALL {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|n| n == t.name()))
        {
            continue;
        }
        let src = corpus::make(&corpus_dir, t, (w, h), secs);
        let work = tempfile::tempdir().unwrap();
        let r = corpus::compare(&src, work.path(), "veryfast").await;
        for row in &r.rows {
            let kbps = |b: u64| b as f64 * 8.0 / r.duration_s / 1000.0;
            let verdict = r.gate(row);
            let (a_kbps, bytes) = match &row.adaptive {
                Some(m) => (
                    format!("{:.0}", kbps(m.bytes)),
                    format!(
                        "{:+.0}%",
                        (m.bytes as f64 / row.fixed.bytes as f64 - 1.0) * 100.0
                    ),
                ),
                None => (
                    format!(
                        "left out ({} plays)",
                        row.served_by.as_deref().unwrap_or("?")
                    ),
                    "−100%".into(),
                ),
            };
            println!(
                "| {} | {} | {:.0} | {a_kbps} | {bytes} | {} | {:.2} → {:.2} (raw {:.2} → {:.2}) | \
                 {:.4} → {:.4} | {:.2} dB, {:.4} | {} |",
                t.name(),
                row.rung,
                kbps(row.fixed.bytes),
                row.crf.map_or("fixed".into(), |c| c.to_string()),
                row.fixed.score.psnr,
                row.adaptive_score.psnr,
                row.fixed.score.psnr_raw,
                row.adaptive_score.psnr_raw,
                row.fixed.score.ssim_p1,
                row.adaptive_score.ssim_p1,
                row.noise().0,
                row.noise().1,
                match (&verdict, row.unchanged()) {
                    (Some(_), _) => "FAIL",
                    (None, true) => "same options",
                    (None, false) => "ok",
                }
            );
            if let Some(v) = verdict {
                failures.push(format!("{}: {v}", t.name()));
            }
        }
        totals.push((t, r));
    }
    println!("\n| title | ladder bytes fixed | adaptive | saved | CPU fixed (s) | CPU adaptive (s) | of which analysis |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (t, r) in &totals {
        let (f, a) = r.ladder_bytes();
        println!(
            "| {} | {f} | {a} | {:.1}% | {:.1} | {:.1} | {:.1} |",
            t.name(),
            (1.0 - a as f64 / f as f64) * 100.0,
            r.cpu_fixed_s,
            r.cpu_adaptive_s,
            r.cpu_analysis_s
        );
    }
    if failures.is_empty() {
        println!(
            "\ngate: every title and rung within {} dB mean PSNR and {} SSIM p1 of fixed",
            fleet::domain::quality::GATE_PSNR_DB,
            fleet::domain::quality::GATE_SSIM
        );
    } else {
        println!("\ngate FAILED:\n{}", failures.join("\n"));
        std::process::exit(1);
    }
}
