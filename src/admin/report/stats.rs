//! Figures computed from the scanned items: failures grouped by reason, throughput over the
//! recent window, and what the work cost.

use crate::domain::{VideoItem, VideoState};
use serde::Serialize;

/// Work done over the recent window: the last hour, or since the run started if that is later
/// (the earliest claim of the videos done within the hour or running now), so that ten
/// minutes into a run the rate is over those ten minutes, not an hour that was mostly idle.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Throughput {
    /// The window, seconds.
    pub window_s: f64,
    /// Videos finished in it.
    pub videos: u64,
    /// Their source bytes.
    pub bytes: u64,
    /// Their content seconds.
    pub content_seconds: f64,
    /// Videos per hour.
    pub videos_per_hour: f64,
    /// Content-hours per wall-clock hour.
    pub content_hours_per_hour: f64,
}

/// Failed videos that failed the same way.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailureGroup {
    /// `invalid_input`, `transient`, ...
    pub kind: String,
    /// The first line of the error with its numbers masked (`#`), so that "decoded 8.0 s of
    /// 20.0 s" and "decoded 3.1 s of 9.0 s" group together.
    pub reason: String,
    /// One real message of the group.
    pub example: String,
    /// Videos.
    pub count: u64,
    /// Their keys, sorted.
    pub keys: Vec<String>,
}

/// Groups the failed videos by kind and masked reason, largest group first.
pub fn failure_groups(items: &[VideoItem]) -> Vec<FailureGroup> {
    let mut groups: std::collections::BTreeMap<(String, String), FailureGroup> = Default::default();
    for v in items.iter().filter(|v| v.state == VideoState::Failed) {
        let kind = v.error_kind.clone().unwrap_or_else(|| "unknown".into());
        let first = v
            .error
            .as_deref()
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("");
        let reason = mask_numbers(first);
        let g = groups
            .entry((kind.clone(), reason.clone()))
            .or_insert_with(|| FailureGroup {
                kind,
                reason,
                example: first.to_string(),
                count: 0,
                keys: Vec::new(),
            });
        g.count += 1;
        g.keys.push(v.pk.clone());
    }
    let mut out: Vec<FailureGroup> = groups.into_values().collect();
    for g in &mut out {
        g.keys.sort();
    }
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    out
}

/// Groups the warnings of done videos (what they lack: a caption file that cannot be read, a
/// bitmap subtitle track) like failures: by reason with the file's name, the quoted bad line
/// and numbers masked, so fifty lessons whose SRT files share one defect are one line.
pub fn warning_groups(items: &[VideoItem]) -> Vec<FailureGroup> {
    let mut groups: std::collections::BTreeMap<String, FailureGroup> = Default::default();
    for v in items.iter().filter(|v| v.state == VideoState::Done) {
        for w in v.warnings.iter().flatten() {
            let reason = mask_numbers(&mask_names(w));
            let g = groups
                .entry(reason.clone())
                .or_insert_with(|| FailureGroup {
                    kind: "warning".into(),
                    reason,
                    example: w.clone(),
                    count: 0,
                    keys: Vec::new(),
                });
            if g.keys.last() != Some(&v.pk) {
                g.count += 1;
                g.keys.push(v.pk.clone());
            }
        }
    }
    let mut out: Vec<FailureGroup> = groups.into_values().collect();
    for g in &mut out {
        g.keys.sort();
        g.keys.dedup();
    }
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    out
}

/// `s3://…` names become `<file>`, and a quoted bad line at the end goes.
fn mask_names(s: &str) -> String {
    let s = match s.rfind(": \"") {
        Some(i) if s.ends_with('"') => &s[..i],
        _ => s,
    };
    s.split(' ')
        .map(|w| if w.starts_with("s3://") { "<file>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Digit runs (with their decimals) become `#`, and the text is cut at 160 characters.
fn mask_numbers(s: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for c in s.chars() {
        if c.is_ascii_digit() || (in_num && c == '.') {
            if !in_num {
                out.push('#');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out.chars().take(160).collect()
}

/// The recent window's throughput.
pub fn throughput(items: &[VideoItem], now: i64) -> Throughput {
    let hour_ago = now - 3_600_000;
    // The run's start, as far as the last hour can tell: the earliest claim of a video that
    // finished within the hour or is running now. A video claimed before the hour (a long one)
    // means the fleet has worked the whole hour.
    let first_claim = items
        .iter()
        .filter(|v| {
            v.state == VideoState::InProgress
                || (v.state == VideoState::Done && v.finished_at.is_some_and(|f| f >= hour_ago))
        })
        .filter_map(|v| v.claimed_at)
        .min();
    let start = first_claim.unwrap_or(hour_ago).max(hour_ago);
    let mut t = Throughput {
        window_s: ((now - start).max(1)) as f64 / 1000.0,
        ..Default::default()
    };
    for v in items {
        if v.state == VideoState::Done && v.finished_at.is_some_and(|f| f >= start) {
            t.videos += 1;
            t.bytes += v.size_bytes;
            t.content_seconds += v.duration_s.unwrap_or(0.0);
        }
    }
    let hours = t.window_s / 3600.0;
    t.videos_per_hour = t.videos as f64 / hours;
    t.content_hours_per_hour = t.content_seconds / 3600.0 / hours;
    t
}

/// How instances are priced and filled: the settings behind [`Cost`].
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Pricing {
    /// Price of one instance-hour (on-demand or the spot price you pay).
    pub per_instance_hour: f64,
    /// Videos one instance works on at once (the worker's concurrency).
    pub slots_per_instance: u32,
}

impl Default for Pricing {
    /// c6g.xlarge on demand in us-east-1 (USD), two slots: the Terraform defaults.
    fn default() -> Self {
        Self {
            per_instance_hour: 0.136,
            slots_per_instance: 2,
        }
    }
}

/// Instance-hours and their price, from the time videos held their slots: the last attempt of
/// each done video (claim to finish), and the same rate per source byte for what is left.
/// Boot time and idle minutes before scale-in are not in it: it is the floor of the bill.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Cost {
    /// The settings used.
    pub pricing: Pricing,
    /// Instance-hours the done videos took.
    pub instance_hours_so_far: f64,
    /// Their price.
    pub so_far: f64,
    /// Instance-hours the pending and running videos will take at the done ones' rate per
    /// source byte (unknown before the first video is done).
    pub instance_hours_to_go: Option<f64>,
    /// Their price.
    pub to_go: Option<f64>,
}

/// The [`Cost`] of `items` at `pricing`.
pub fn cost(items: &[VideoItem], pricing: Pricing) -> Cost {
    let slots = f64::from(pricing.slots_per_instance.max(1));
    let (mut slot_s, mut done_bytes, mut left_bytes) = (0.0, 0u64, 0u64);
    for v in items {
        match (v.state, v.claimed_at, v.finished_at) {
            (VideoState::Done, Some(c), Some(f)) if f >= c => {
                slot_s += (f - c) as f64 / 1000.0;
                done_bytes += v.size_bytes;
            }
            (VideoState::Pending | VideoState::InProgress, ..) => left_bytes += v.size_bytes,
            _ => {}
        }
    }
    let hours = slot_s / slots / 3600.0;
    let to_go = (done_bytes > 0).then(|| hours * left_bytes as f64 / done_bytes as f64);
    Cost {
        pricing,
        instance_hours_so_far: hours,
        so_far: hours * pricing.per_instance_hour,
        instance_hours_to_go: to_go,
        to_go: to_go.map(|h| h * pricing.per_instance_hour),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::video::tests::pending;

    #[test]
    fn cost_counts_slot_time_of_done_videos_and_extrapolates_by_bytes() {
        let mut done = pending("s3://b/a");
        done.state = VideoState::Done;
        done.size_bytes = 1_000;
        done.claimed_at = Some(0);
        done.finished_at = Some(3_600_000); // one slot-hour
        let mut left = pending("s3://b/b");
        left.size_bytes = 3_000;
        let c = cost(
            &[done, left],
            Pricing {
                per_instance_hour: 0.2,
                slots_per_instance: 2,
            },
        );
        assert!((c.instance_hours_so_far - 0.5).abs() < 1e-9);
        assert!((c.so_far - 0.1).abs() < 1e-9);
        assert!((c.instance_hours_to_go.unwrap() - 1.5).abs() < 1e-9);
        assert!((c.to_go.unwrap() - 0.3).abs() < 1e-9);
        assert_eq!(cost(&[], Pricing::default()).to_go, None);
    }

    fn failed(pk: &str, kind: &str, error: &str) -> VideoItem {
        let mut v = pending(pk);
        v.state = VideoState::Failed;
        v.error_kind = Some(kind.into());
        v.error = Some(error.into());
        v
    }

    #[test]
    fn warnings_group_by_reason_with_names_and_bad_lines_masked() {
        let done = |pk: &str, w: &[&str]| {
            let mut v = pending(pk);
            v.state = VideoState::Done;
            v.warnings = Some(w.iter().map(|s| s.to_string()).collect());
            v
        };
        let items = [
            done("s3://b/1", &["caption file s3://b/1.srt left out: line 6: expected a time range: \"00:01 -> 00:02\""]),
            done("s3://b/2", &["caption file s3://b/2.srt left out: line 9: expected a time range: \"x\""]),
            done("s3://b/3", &["subtitle track #2 (hdmv_pgs_subtitle) left out: bitmap"]),
        ];
        let g = warning_groups(&items);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].count, g[0].keys.len()), (2, 2));
        assert_eq!(
            g[0].reason,
            "caption file <file> left out: line #: expected a time range"
        );
        assert_eq!(g[1].keys, ["s3://b/3"]);
    }

    #[test]
    fn failures_group_by_kind_and_reason_with_numbers_masked() {
        let items = [
            failed(
                "s3://b/1",
                "invalid_input",
                "decoded 8.0 s of 20.0 s (360p): truncated\nmore",
            ),
            failed(
                "s3://b/2",
                "invalid_input",
                "decoded 3.1 s of 9.0 s (360p): truncated",
            ),
            failed("s3://b/3", "transient", "ffmpeg exited with signal 9"),
            pending("s3://b/4"),
        ];
        let g = failure_groups(&items);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].count, 2);
        assert_eq!(g[0].reason, "decoded # s of # s (#p): truncated");
        assert_eq!(g[0].keys, ["s3://b/1", "s3://b/2"]);
        assert_eq!(g[1].kind, "transient");
    }

    #[test]
    fn throughput_is_over_the_time_the_fleet_has_run_within_the_hour() {
        let now = 10 * 3_600_000;
        let mut items = Vec::new();
        for i in 0..6 {
            let mut v = pending(&format!("s3://b/{i}"));
            v.state = VideoState::Done;
            v.claimed_at = Some(now - 600_000 + i * 60_000); // first claim ten minutes ago
            v.finished_at = Some(now - 60_000);
            v.duration_s = Some(600.0);
            items.push(v);
        }
        let t = throughput(&items, now);
        assert!((t.window_s - 600.0).abs() < 1e-6);
        assert!((t.videos_per_hour - 36.0).abs() < 1e-6, "{t:?}");
        assert!((t.content_hours_per_hour - 6.0).abs() < 1e-6);
        // Long videos: claimed 100 minutes ago and done just now, others re-claimed since.
        let mut long = pending("s3://b/long");
        long.state = VideoState::Done;
        long.claimed_at = Some(now - 6_000_000);
        long.finished_at = Some(now - 120_000);
        items.push(long);
        let t = throughput(&items, now);
        assert!((t.window_s - 3600.0).abs() < 1e-6, "the whole hour: {t:?}");
    }
}
