//! The snapshot the dashboard serves, and the task that renews it. One Scan per `--refresh`
//! whatever the number of open pages; a failed refresh keeps the last good report and says so.

use super::{Dashboard, Settings};
use crate::admin::report::{self, Report};
use crate::domain::VideoState;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Samples kept for the throughput chart: 12 hours at the default 5 s refresh, a few MB.
pub const HISTORY_CAP: usize = 8640;

/// One point of the throughput chart, taken at each successful refresh.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Sample {
    /// When (ms).
    pub t: i64,
    /// Videos done so far.
    pub done: u64,
    /// Videos failed so far.
    pub failed: u64,
    /// Videos held by workers.
    pub in_progress: u64,
    /// Content seconds of the done videos: the chart's slope is content-hours per hour.
    pub content_seconds: f64,
    /// Source bytes of the done videos.
    pub bytes: u64,
}

impl Sample {
    /// The point `r` stands for.
    pub fn of(r: &Report) -> Self {
        Self {
            t: r.generated_at,
            done: r.counts.done,
            failed: r.counts.failed,
            in_progress: r.counts.in_progress,
            content_seconds: r
                .videos
                .iter()
                .filter(|v| v.state == VideoState::Done)
                .filter_map(|v| v.duration_s)
                .fold(0.0, |a, d| a + d),
            bytes: r.bytes.done,
        }
    }
}

/// Where a done video's stream is: (output bucket, output prefix).
pub(super) type Stream = (String, String);

/// Done videos per page of `/api/report?done_page=N`.
pub const DONE_PAGE: usize = 100;

/// Keys shown per failure group (the group's `count` says how many there are).
pub const GROUP_KEYS: usize = 5;

/// What the last refreshes left.
#[derive(Debug, Default)]
pub(super) struct Live {
    /// The last good report, without its videos and with at most [`GROUP_KEYS`] keys per
    /// failure group (shared: serialising it happens outside the lock).
    report: Option<Arc<Report>>,
    /// Its running videos, then its done ones: summaries, without ffmpeg arguments or error
    /// histories (at 100k videos those were ~150 MB a poll).
    running: Arc<Vec<report::VideoLine>>,
    done: Arc<Vec<report::VideoLine>>,
    /// Why the last refresh failed, until one succeeds.
    stale_error: Option<String>,
    /// Oldest first, at most [`HISTORY_CAP`].
    history: VecDeque<Sample>,
    /// Done videos by pk, so that the proxy needs no read per segment.
    pub(super) streams: HashMap<String, Stream>,
}

/// `/api/report`'s body: the report's fields, flattened (its `videos` the running ones and one
/// page of the done ones), and the dashboard's own.
#[derive(Debug, Serialize)]
pub(super) struct ReportView {
    #[serde(flatten)]
    report: Option<Report>,
    /// Done videos in all.
    done_total: usize,
    /// The page of done videos sent (0: the first [`DONE_PAGE`]).
    done_page: usize,
    /// Done videos per page.
    done_page_size: usize,
    /// Set while refreshes fail: the report shown is the last good one (or none yet).
    stale_error: Option<String>,
    /// Seconds between snapshots.
    refresh_s: f64,
}

impl Live {
    pub(super) fn view(&self, s: &Settings, done_page: usize) -> ReportView {
        let page = self
            .done
            .iter()
            .skip(done_page.saturating_mul(DONE_PAGE))
            .take(DONE_PAGE);
        let report = self.report.as_ref().map(|r| Report {
            videos: self.running.iter().chain(page).cloned().collect(),
            ..(**r).clone()
        });
        ReportView {
            report,
            done_total: self.done.len(),
            done_page,
            done_page_size: DONE_PAGE,
            stale_error: self.stale_error.clone(),
            refresh_s: s.refresh.as_secs_f64(),
        }
    }

    pub(super) fn samples_since(&self, since: i64) -> Vec<Sample> {
        self.history
            .iter()
            .filter(|s| s.t > since)
            .copied()
            .collect()
    }

    fn record(&mut self, mut r: Report, streams: HashMap<String, Stream>) {
        if self.history.len() == HISTORY_CAP {
            self.history.pop_front();
        }
        self.history.push_back(Sample::of(&r));
        let (mut running, mut done) = (Vec::new(), Vec::new());
        for mut v in std::mem::take(&mut r.videos) {
            v.ffmpeg_args = None;
            v.errors = Vec::new();
            match v.state {
                VideoState::InProgress => running.push(v),
                VideoState::Done => done.push(v),
                _ => {}
            }
        }
        for g in r.failures.iter_mut().chain(r.warnings.iter_mut()) {
            g.keys.truncate(GROUP_KEYS);
        }
        self.running = Arc::new(running);
        self.done = Arc::new(done);
        self.report = Some(Arc::new(r));
        self.streams = streams;
        self.stale_error = None;
    }
}

impl Dashboard {
    /// Refreshes now and then every `refresh` until `shutdown`.
    pub(super) async fn refresh_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.refresh);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let res = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.snapshot() => r,
            };
            let mut live = self.live.write().expect("not poisoned");
            match res {
                Ok((r, streams)) => live.record(r, streams),
                Err(e) => {
                    warn!(error = %e, table = %self.settings.table, "dashboard refresh failed");
                    live.stale_error = Some(crate::error::chain(&e));
                }
            }
        }
    }

    /// One Scan and one registry read, as `fleet-admin report --json` does.
    async fn snapshot(
        &self,
    ) -> Result<(Report, HashMap<String, Stream>), crate::error::StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        let table = &self.settings.table;
        let (items, paused) = report::scan_all(&self.ddb, table).await?;
        let workers = report::workers(&self.store, now).await?;
        let streams = items
            .iter()
            .filter(|v| v.state == VideoState::Done)
            .map(|v| (v.pk.clone(), (v.out_bucket.clone(), v.out_prefix.clone())))
            .collect();
        let mut r = report::build(table, items, paused, now, self.settings.pricing);
        r.workers = workers;
        r.hold_eta();
        Ok((r, streams))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::report::Pricing;
    use crate::domain::video::tests::pending;

    fn report_at(t: i64, done: usize) -> Report {
        let items = (0..3)
            .map(|i| {
                let mut v = pending(&format!("s3://b/{i}"));
                if i < done {
                    v.state = VideoState::Done;
                    v.duration_s = Some(10.0);
                }
                v
            })
            .collect();
        report::build("t", items, false, t, Pricing::default())
    }

    #[test]
    fn history_keeps_one_sample_per_refresh_up_to_the_cap_and_filters_by_time() {
        let mut live = Live::default();
        for i in 0..HISTORY_CAP + 2 {
            live.record(report_at(i as i64, i.min(3)), HashMap::new());
        }
        assert_eq!(live.history.len(), HISTORY_CAP);
        assert_eq!(live.history[0].t, 2, "the oldest samples go first");
        let last = live.samples_since(HISTORY_CAP as i64);
        assert_eq!(last.len(), 1);
        assert_eq!((last[0].done, last[0].content_seconds), (3, 30.0));
    }

    #[test]
    fn a_failed_refresh_keeps_the_last_report_and_a_good_one_clears_the_error() {
        let s = Settings {
            table: "t".into(),
            refresh: std::time::Duration::from_secs(5),
            pricing: Pricing::default(),
        };
        let mut live = Live::default();
        live.record(report_at(1, 1), HashMap::new());
        live.stale_error = Some("Scan failed".into());
        let v = serde_json::to_value(live.view(&s, 0)).unwrap();
        assert_eq!(v["counts"]["done"], 1);
        assert_eq!(v["stale_error"], "Scan failed");
        live.record(report_at(2, 2), HashMap::new());
        let v = serde_json::to_value(live.view(&s, 0)).unwrap();
        assert_eq!(
            (v["counts"]["done"].as_u64(), v["refresh_s"].as_f64()),
            (Some(2), Some(5.0))
        );
        assert!(v["stale_error"].is_null());
    }
}
