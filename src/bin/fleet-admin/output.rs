//! Printing: tables (comfy-table) for people, JSON for scripts, progress bars (indicatif) on a
//! terminal. Colour and bars only when the stream is a terminal: redirected to a file or
//! journald, the output is plain.

use comfy_table::presets::{NOTHING, UTF8_FULL_CONDENSED};
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use fleet::admin::report::{Report, Summary, WorkerLine};
use fleet::domain::VideoState;
use indicatif::{ProgressBar, ProgressStyle};
use std::fmt::Write;
use std::io::IsTerminal;
use std::time::Duration;

/// Bytes for people: 1.23 GiB.
pub fn bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.2} {}", units[u])
    }
}

/// Seconds for people: 1h 2m, 3m 4s, 5s.
pub fn duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "?".into();
    }
    let secs = s.round() as u64;
    let rounded = if secs >= 3600 { secs / 60 * 60 } else { secs };
    humantime::format_duration(Duration::from_secs(rounded)).to_string()
}

/// An error chain on one line.
pub fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A progress bar on a terminal (stderr), a line every 10 s otherwise (none in the first 10 s).
pub struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    last: std::cell::Cell<Option<std::time::Instant>>,
    period: Duration,
}

impl Progress {
    pub fn new(what: &'static str) -> Self {
        Self::every(what, Duration::from_secs(10))
    }

    /// Off a terminal, a line every `period` (none in the first).
    pub fn every(what: &'static str, period: Duration) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(what);
            b
        });
        // Off a terminal the first line comes after 10 s: a quick run (or one that fails at
        // once) prints only its result.
        Self {
            bar,
            what,
            last: std::cell::Cell::new(Some(std::time::Instant::now())),
            period,
        }
    }

    /// `done` of `total` so far (the total may still grow).
    pub fn update(&self, done: u64, total: u64, msg: &str) {
        match &self.bar {
            Some(b) => {
                b.set_length(total.max(done));
                b.set_position(done);
                b.set_message(msg.to_string());
            }
            None => {
                let now = std::time::Instant::now();
                if self.last.get().is_none_or(|t| now - t >= self.period) {
                    self.last.set(Some(now));
                    eprintln!("{}: {done}/{total} {msg}", self.what);
                }
            }
        }
    }

    /// Prints a line of its own without tearing the bar.
    pub fn suspend(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A table for stdout: box-drawn and fitted to the width of a terminal (long cells wrap),
/// plain space-aligned columns for a pipe or a file (what `grep`, `awk` and `column` expect).
fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    match terminal_width() {
        Some(cols) => {
            t.load_style(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(cols);
        }
        None => {
            t.load_style(NOTHING);
        }
    }
    t.set_header(header.to_vec());
    t
}

/// Columns of the terminal stdout writes to, if it is one.
fn terminal_width() -> Option<u16> {
    let term = console::Term::stdout();
    term.is_term()
        .then(|| term.size_checked().map(|(_, cols)| cols))
        .flatten()
}

fn right(t: &mut Table, cols: &[usize]) {
    for &c in cols {
        if let Some(col) = t.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// The workers table.
fn workers_table(o: &mut String, workers: &[WorkerLine]) {
    if workers.is_empty() {
        let _ = writeln!(o, "\nworkers: none registered");
        return;
    }
    let mut t = table(&[
        "worker",
        "instance",
        "version",
        "status",
        "busy",
        "done",
        "local failures",
        "seen",
    ]);
    for w in workers {
        let r = &w.record;
        t.add_row(vec![
            Cell::new(&r.id),
            Cell::new(r.instance.as_deref().unwrap_or("-")),
            Cell::new(&r.version),
            Cell::new(w.status),
            Cell::new(format!("{}/{}", r.busy, r.slots)),
            Cell::new(r.videos_done),
            Cell::new(match &r.last_local_error {
                Some(e) if r.local_failures > 0 => {
                    format!("{}: {}", r.local_failures, trunc(e, 60))
                }
                _ => r.local_failures.to_string(),
            }),
            Cell::new(format!("{} ago", duration(w.seen_s_ago))),
        ]);
    }
    right(&mut t, &[4, 5]);
    let _ = writeln!(o, "\nworkers\n{t}");
    // Many processes from one host within the hour, most of them silent: a crash loop.
    let mut per_host: std::collections::BTreeMap<&str, (u32, u32)> = Default::default();
    for w in workers {
        let e = per_host.entry(&w.record.host).or_default();
        e.0 += 1;
        if w.status == "silent" || w.status == "gave up" {
            e.1 += 1;
        }
    }
    for (host, (n, silent)) in per_host {
        if silent >= 3 {
            let _ = writeln!(
                o,
                "  ! {host}: {n} worker processes within the hour, {silent} silent or gave up: crash-looping?"
            );
        }
    }
}

fn trunc(s: &str, n: usize) -> String {
    let first = s.lines().next().unwrap_or("");
    if first.chars().count() > n {
        format!("{}…", first.chars().take(n).collect::<String>())
    } else {
        first.to_string()
    }
}

/// The report as text tables; `all` lists every key of each failure group.
pub fn report_text(r: &Report, all: bool) -> String {
    let mut o = String::new();
    let c = &r.counts;
    let _ = writeln!(
        o,
        "table {}{}",
        r.table,
        if r.paused { "   ** PAUSED **" } else { "" }
    );
    let mut t = table(&["state", "videos", "source"]);
    for (name, n, b) in [
        ("pending", c.pending, r.bytes.pending),
        ("in_progress", c.in_progress, r.bytes.in_progress),
        ("done", c.done, r.bytes.done),
        ("failed", c.failed, r.bytes.failed),
        ("total", c.total, r.bytes.total),
    ] {
        t.add_row(vec![Cell::new(name), Cell::new(n), Cell::new(bytes(b))]);
    }
    right(&mut t, &[1, 2]);
    let _ = writeln!(o, "{t}");
    let h = &r.throughput;
    let _ = writeln!(
        o,
        "throughput   {:.1} videos/h, {:.2} content-h per hour ({} videos, {} in the last {}); ETA {}",
        h.videos_per_hour,
        h.content_hours_per_hour,
        h.videos,
        bytes(h.bytes),
        duration(h.window_s),
        match (&r.eta_held, r.eta_seconds) {
            (Some(why), _) if why == "paused" => "none: paused (fleet-admin resume)".to_string(),
            (Some(why), _) => format!("none: {why}"),
            (None, Some(s)) => duration(s),
            (None, None) => "unknown".into(),
        }
    );
    let k = &r.cost;
    let _ = writeln!(
        o,
        "compute      {:.2} instance-h so far (${:.2}), {} to go  [at ${}/instance-h, {} slots each]",
        k.instance_hours_so_far,
        k.so_far,
        match (k.instance_hours_to_go, k.to_go) {
            (Some(h), Some(c)) => format!("{h:.2} instance-h (${c:.2})"),
            _ => "unknown until a video is done".into(),
        },
        k.pricing.per_instance_hour,
        k.pricing.slots_per_instance
    );
    workers_table(&mut o, &r.workers);
    let live: Vec<_> = r
        .videos
        .iter()
        .filter(|v| v.state == VideoState::InProgress)
        .collect();
    if !live.is_empty() {
        let mut t = table(&[
            "video", "slot", "phase", "done", "fps", "speed", "elapsed", "eta", "lease",
        ]);
        for v in live {
            let p = v.progress.clone().unwrap_or_default();
            let expires = v.lease_expires.map(|e| (e - r.generated_at) / 1000);
            t.add_row(vec![
                Cell::new(trunc(&v.key, 50)),
                Cell::new(v.worker.as_deref().unwrap_or("?")),
                Cell::new(if p.phase.is_empty() {
                    "claimed"
                } else {
                    &p.phase
                }),
                Cell::new(p.percent.map(|x| format!("{x:.0}%")).unwrap_or_default()),
                Cell::new(p.fps.map(|x| format!("{x:.0}")).unwrap_or_default()),
                Cell::new(p.speed.map(|x| format!("x{x:.1}")).unwrap_or_default()),
                Cell::new(v.elapsed_s.map(duration).unwrap_or_default()),
                Cell::new(v.eta_s.map(duration).unwrap_or_default()),
                Cell::new(
                    expires
                        .map(|e| {
                            if e < 0 {
                                format!("expired {}s ago", -e)
                            } else {
                                format!("{e}s")
                            }
                        })
                        .unwrap_or_default(),
                ),
            ]);
        }
        right(&mut t, &[3, 4, 5, 6, 7, 8]);
        let _ = writeln!(o, "\nrunning\n{t}");
    }
    let retrying: Vec<_> = r
        .videos
        .iter()
        .filter(|v| v.state == VideoState::Pending && v.attempts > 0 && v.error.is_some())
        .collect();
    if !retrying.is_empty() {
        let _ = writeln!(o, "\nretrying after an error ({})", r.retrying);
        for v in retrying.iter().take(if all { usize::MAX } else { 10 }) {
            let _ = writeln!(
                o,
                "  {} (attempt {} used): {}",
                v.key,
                v.attempts,
                trunc(v.error.as_deref().unwrap_or(""), 100)
            );
        }
    }
    if r.owed_events > 0 {
        let _ = writeln!(
            o,
            "\nevents owed: {} (the bus refused them; workers send them again every \
             --events-retry-seconds)",
            r.owed_events
        );
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(o, "\ndone with warnings (something left out), by reason");
        for g in &r.warnings {
            let _ = writeln!(o, "  {:>5}  {}", g.count, trunc(&g.example, 110));
            let shown = if all { g.keys.len() } else { 3 };
            for k in g.keys.iter().take(shown) {
                let _ = writeln!(o, "         {k}");
            }
            if g.keys.len() > shown {
                let _ = writeln!(o, "         … and {} more (--all)", g.keys.len() - shown);
            }
        }
    }
    if !r.failures.is_empty() {
        let _ = writeln!(o, "\nfailed, by reason");
        for g in &r.failures {
            let _ = writeln!(
                o,
                "  {:>5}  {}: {}",
                g.count,
                g.kind,
                trunc(&g.example, 110)
            );
            let shown = if all { g.keys.len() } else { 3 };
            for k in g.keys.iter().take(shown) {
                let _ = writeln!(o, "         {k}");
            }
            if g.keys.len() > shown {
                let _ = writeln!(o, "         … and {} more (--all)", g.keys.len() - shown);
            }
        }
        let _ = writeln!(
            o,
            "  see one: fleet-admin show <s3-uri>; retry: fleet-admin retry --failed [--kind K] [--dry-run]"
        );
    }
    o
}

/// `report --summary` as text.
pub fn summary_text(s: &Summary) -> String {
    let mut o = String::new();
    let c = &s.counters;
    let _ = writeln!(
        o,
        "table {}{}\nseeded {}, done {}, failed {}, open {}; {} of {} slots busy on {} live workers",
        s.table,
        if s.paused { "   ** PAUSED **" } else { "" },
        c.total,
        c.done,
        c.failed,
        s.open,
        s.busy_slots,
        s.slots,
        s.workers.iter().filter(|w| w.status == "busy" || w.status == "idle").count()
    );
    workers_table(&mut o, &s.workers);
    let _ = writeln!(
        o,
        "({} requests, {:.1} read units)",
        s.cost.requests, s.cost.read_units
    );
    o
}

/// `report --state …` as text: every video of those states, one line each, with what
/// explains it (the error of a failed one, the stream of a done one, the worker of a running
/// one, the attempts of a pending one).
pub fn state_listing(r: &Report, states: &[VideoState]) -> String {
    let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
    let mut o = format!("\nvideos {} ({})\n", names.join(", "), r.videos.len());
    let mut t = table(&["video", "state", "attempts", "detail"]);
    for v in &r.videos {
        let detail = match v.state {
            VideoState::Failed => v.error.clone().unwrap_or_default(),
            VideoState::Done => v.output.clone().unwrap_or_default(),
            VideoState::InProgress => v.worker.clone().unwrap_or_default(),
            VideoState::Pending => v
                .error
                .clone()
                .map(|e| format!("last error: {e}"))
                .unwrap_or_default(),
        };
        t.add_row(vec![
            Cell::new(&v.key),
            Cell::new(v.state.as_str()),
            Cell::new(v.attempts),
            Cell::new(trunc(&detail, 100)),
        ]);
    }
    right(&mut t, &[2]);
    let _ = writeln!(o, "{t}");
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

/// `estimate`, for people.
pub fn estimate_text(
    found: &fleet::admin::estimate::Found,
    fleet: &fleet::domain::estimate::Fleet,
    e: &fleet::domain::estimate::Estimate,
    managed: &(f64, Vec<fleet::domain::estimate::Managed>),
) -> String {
    use std::fmt::Write;
    let b = &found.batch;
    let mut s = String::new();
    let hours = b.content_s / 3600.0;
    let _ = writeln!(
        s,
        "open videos: {}, {} of sources, {:.1} content-hours ({} probed; the rest derived from \
         their bytes at {:.2} Mb/s, {})",
        b.videos,
        bytes(b.source_bytes),
        hours,
        found.probed,
        found.derived_at_mbps,
        if found.bitrate_measured {
            "the probed videos' bitrate"
        } else {
            "--source-mbps, as no video is probed yet"
        }
    );
    if b.videos == 0 {
        let _ = writeln!(s, "nothing to encode: the scaler launches nothing.");
        return s;
    }
    let _ = writeln!(
        s,
        "fleet: {} instances of {} vCPUs, {} slots each, ${}/instance-hour, {}",
        fleet.instances,
        fleet.vcpus,
        fleet.slots,
        fleet.price_per_hour,
        if fleet.nat {
            "through a NAT gateway"
        } else {
            "through gateway endpoints"
        }
    );
    let _ = writeln!(
        s,
        "wall time: {} ({:.1} instance-hours billed)\n",
        duration(e.wall_s),
        e.instance_hours
    );
    let mut t = table(&["item", "USD", "basis"]);
    for l in &e.lines {
        t.add_row(vec![
            Cell::new(l.item),
            Cell::new(format!("{:.2}", l.usd)).set_alignment(CellAlignment::Right),
            Cell::new(&l.basis),
        ]);
    }
    t.add_row(vec![
        Cell::new("total"),
        Cell::new(format!("{:.2}", e.total_usd)).set_alignment(CellAlignment::Right),
        Cell::new(format!("${:.3} per content-hour", e.per_content_hour_usd)),
    ]);
    let _ = writeln!(s, "{t}");
    let (normalized, tiers) = managed;
    let _ = writeln!(
        s,
        "\nMediaConvert on demand, same ladder ({normalized:.0} normalized minutes per \
         content-hour): {}",
        tiers
            .iter()
            .map(|m| format!(
                "{} ${:.2}/content-hour, ${:.2} for this batch",
                m.tier, m.per_content_hour_usd, m.batch_usd
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(host: &str, id: &str, status: &'static str) -> WorkerLine {
        WorkerLine {
            record: fleet::store::WorkerRecord {
                ffmpeg: None,
                id: id.into(),
                host: host.into(),
                ..Default::default()
            },
            status,
            seen_s_ago: 1.0,
        }
    }

    #[test]
    fn three_dead_processes_on_one_host_are_flagged_as_a_crash_loop() {
        let mut o = String::new();
        let mut ws = vec![
            worker("a", "a:1", "silent"),
            worker("a", "a:2", "gave up"),
            worker("b", "b:1", "silent"),
            worker("b", "b:2", "idle"),
        ];
        workers_table(&mut o, &ws);
        assert!(!o.contains("crash-looping"), "{o}");
        ws.push(worker("a", "a:3", "silent"));
        o.clear();
        workers_table(&mut o, &ws);
        assert!(o.contains("! a: 3 worker processes"), "{o}");
        assert!(!o.contains("! b:"), "{o}");
    }
}
