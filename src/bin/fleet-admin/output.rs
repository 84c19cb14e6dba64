//! Printing: reports as tables for people, JSON for scripts; progress lines.

use fleet::admin::report::Report;
use fleet::domain::VideoState;
use std::fmt::Write;

fn gib(b: u64) -> String {
    format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
}

/// The report as text tables.
pub fn report_text(r: &Report) -> String {
    let mut o = String::new();
    let c = &r.counts;
    let _ = writeln!(
        o,
        "table {}{}",
        r.table,
        if r.paused { "   ** PAUSED **" } else { "" }
    );
    let _ = writeln!(o, "{:<12} {:>8} {:>12}", "state", "videos", "source");
    for (name, n, b) in [
        ("pending", c.pending, r.bytes.pending),
        ("in_progress", c.in_progress, r.bytes.in_progress),
        ("done", c.done, r.bytes.done),
        ("failed", c.failed, r.bytes.failed),
        ("total", c.total, r.bytes.total),
    ] {
        let _ = writeln!(o, "{name:<12} {n:>8} {:>12}", gib(b));
    }
    let live: Vec<_> = r
        .videos
        .iter()
        .filter(|v| v.state == VideoState::InProgress)
        .collect();
    if !live.is_empty() {
        let _ = writeln!(o, "\nworkers");
        for v in live {
            let p = v.progress.clone().unwrap_or_default();
            let expires = v.lease_expires.map(|e| (e - r.generated_at) / 1000);
            let _ = writeln!(
                o,
                "  {:<40} {:<8} {:>6} fps {:>5} x{:>5}  lease {:>4}s  {}",
                v.worker.as_deref().unwrap_or("?"),
                if p.phase.is_empty() {
                    "claimed"
                } else {
                    &p.phase
                },
                p.percent.map(|x| format!("{x:.0}%")).unwrap_or_default(),
                p.fps.map(|x| format!("{x:.0}")).unwrap_or_default(),
                p.speed.map(|x| format!("{x:.1}")).unwrap_or_default(),
                expires.map(|e| e.to_string()).unwrap_or_default(),
                v.key
            );
        }
    }
    let failed: Vec<_> = r
        .videos
        .iter()
        .filter(|v| v.state == VideoState::Failed)
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(o, "\nfailed");
        for v in failed {
            let _ = writeln!(
                o,
                "  {} (attempts {}): {}",
                v.key,
                v.attempts,
                v.error
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            );
        }
    }
    let h = &r.last_hour;
    let _ = writeln!(
        o,
        "\nlast hour: {} videos, {}, {:.0} s of content; ETA {}",
        h.videos,
        gib(h.bytes),
        h.content_seconds,
        r.eta_seconds
            .map(|s| format!("{:.0} min", s / 60.0))
            .unwrap_or_else(|| "unknown".into())
    );
    o
}

/// An audit as text: one section per finding, then what was repaired.
pub fn audit_text(r: &fleet::admin::audit::AuditReport, fix: bool) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} videos under the prefix, {} items seeded from it",
        r.source_videos, r.items
    );
    for (title, list) in [
        ("never seeded", &r.unseeded),
        ("source gone (item not done)", &r.source_missing),
        ("done but master.m3u8 gone", &r.output_missing),
    ] {
        let _ = writeln!(o, "{title}: {}", list.len());
        for k in list {
            let _ = writeln!(o, "  {k}");
        }
    }
    if r.done_source_gone > 0 {
        let _ = writeln!(
            o,
            "done, source deleted since (fine): {}",
            r.done_source_gone
        );
    }
    if fix {
        let f = &r.fixed;
        let _ = writeln!(
            o,
            "fixed: seeded {}, deleted {}, requeued {}",
            f.seeded, f.deleted, f.requeued
        );
        for l in &r.left_alone {
            let _ = writeln!(o, "  left alone: {l}");
        }
    }
    let _ = writeln!(
        o,
        "{}",
        if r.clean() {
            "clean"
        } else if fix {
            "NOT CLEAN: see above"
        } else {
            "NOT CLEAN: run again with --fix to repair"
        }
    );
    o
}
