//! `estimate`: the batch the table holds, as [`crate::domain::estimate`] needs it. Durations
//! are known for videos a worker has probed; for the rest they are derived from source bytes,
//! at the bytes-per-second of the probed ones, or at a bitrate the operator gives when none
//! is probed yet (a freshly seeded table).

use crate::domain::estimate::Batch;
use crate::domain::{VideoItem, VideoState};
use serde::Serialize;

/// The batch, and how its content seconds were found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Found {
    /// The open videos.
    pub batch: Batch,
    /// Of those, with a probed duration.
    pub probed: u64,
    /// Source bitrate the other durations were derived at, Mb/s.
    pub derived_at_mbps: f64,
    /// Whether that bitrate came from probed videos (else from the operator's guess).
    pub bitrate_measured: bool,
}

/// The open videos of `items` (pending or in progress), with `guess_mbps` the sources'
/// bitrate when no video in the table has a probed duration.
pub fn batch_of(items: &[VideoItem], guess_mbps: f64) -> Found {
    let known: Vec<(f64, u64)> = items
        .iter()
        .filter_map(|v| Some((v.duration_s.filter(|d| *d > 0.0)?, v.size_bytes)))
        .filter(|(_, b)| *b > 0)
        .collect();
    let (secs, bytes) = known
        .iter()
        .fold((0.0, 0u64), |(s, b), (d, n)| (s + d, b + n));
    let measured = secs > 0.0;
    let mbps = if measured {
        bytes as f64 * 8.0 / secs / 1e6
    } else {
        guess_mbps
    };
    let per_byte = 8.0 / (mbps.max(1e-6) * 1e6);
    let mut batch = Batch {
        videos: 0,
        source_bytes: 0,
        content_s: 0.0,
        longest_s: 0.0,
    };
    let mut probed = 0;
    for v in items
        .iter()
        .filter(|v| matches!(v.state, VideoState::Pending | VideoState::InProgress))
    {
        let d = match v.duration_s.filter(|d| *d > 0.0) {
            Some(d) => {
                probed += 1;
                d
            }
            None => v.size_bytes as f64 * per_byte,
        };
        batch.videos += 1;
        batch.source_bytes += v.size_bytes;
        batch.content_s += d;
        batch.longest_s = batch.longest_s.max(d);
    }
    Found {
        batch,
        probed,
        derived_at_mbps: mbps,
        bitrate_measured: measured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::video::tests::pending;

    #[test]
    fn durations_come_from_probes_then_from_bytes_at_the_probed_bitrate() {
        let mut done = pending("done.mp4");
        done.state = VideoState::Done;
        done.size_bytes = 10_000_000;
        done.duration_s = Some(20.0); // 4 Mb/s
        let mut a = pending("a.mp4");
        a.size_bytes = 50_000_000; // 100 s at 4 Mb/s
        let mut b = pending("b.mp4");
        b.size_bytes = 15_000_000;
        b.duration_s = Some(30.0); // 4 Mb/s too
        let mut failed = pending("f.mp4");
        failed.state = VideoState::Failed;
        let f = batch_of(&[done, a, b, failed], 5.0);
        assert_eq!((f.batch.videos, f.probed), (2, 1));
        assert_eq!(f.batch.videos, 2, "done and failed videos are not open");
        assert!(f.bitrate_measured);
        assert!((f.derived_at_mbps - 4.0).abs() < 1e-9);
        assert!((f.batch.content_s - 130.0).abs() < 1e-6);
        assert!((f.batch.longest_s - 100.0).abs() < 1e-6);
        assert_eq!(f.batch.source_bytes, 65_000_000);
    }

    #[test]
    fn a_fresh_table_uses_the_guessed_bitrate() {
        let mut a = pending("a.mp4");
        a.size_bytes = 3_750_000_000; // an hour at 8.33 Mb/s; 6,000 s at 5
        let f = batch_of(&[a], 5.0);
        assert!(!f.bitrate_measured);
        assert!((f.batch.content_s - 6_000.0).abs() < 1e-6);
    }
}
