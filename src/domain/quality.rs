//! Quality per bit: how each rung's rate control is chosen for a title, and which rungs a
//! title does not need.
//!
//! A fixed bitrate spends a rung's whole budget on a slide that a tenth of it draws perfectly.
//! Capped CRF (x264 `-crf N` under the rung's own `-maxrate`/`-bufsize`) spends what the
//! picture needs and never more than the fixed rung's ceiling, so every BANDWIDTH, level and
//! buffer rule still holds. The CRF is chosen per title and rung by measurement: a few
//! seconds sampled from the source are encoded both ways, and the cheapest CRF whose quality
//! matches the fixed encode's (within [`ANALYSIS_PSNR_MARGIN`] and [`ANALYSIS_SSIM_MARGIN`],
//! well inside the bench's gate, for what the samples miss) wins. Where none does (fast motion,
//! grain at the cap: capped CRF starves keyframes there), the rung stays at its fixed
//! bitrate.

use serde::{Deserialize, Serialize};

/// How rungs are rate-controlled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateControl {
    /// Per title and rung: capped CRF where the analysis shows it matches the fixed encode,
    /// else fixed; rungs that add nothing visible are left out.
    #[default]
    Adaptive,
    /// Every rung at its ladder bitrate (capped VBR), every rung kept.
    Fixed,
}

/// Per-frame PSNR (dB) above which a frame counts as perfect: 50 dB is an RMS error of 0.8
/// of one 8-bit code value, below what a display can show. Without it a slide the fixed
/// encode draws at 69 dB (a flat background, nearly lossless) would "lose" 17 dB to an encode
/// at 52 dB that no one can tell from it.
pub const PSNR_CEILING: f64 = 50.0;

/// The gate the quality bench holds every title and rung to, against the fixed ladder: mean
/// PSNR (each frame at most [`PSNR_CEILING`]) down by at most this, dB.
pub const GATE_PSNR_DB: f64 = 0.5;
/// The gate's bound on the 1st-percentile per-frame SSIM (the worst moments).
pub const GATE_SSIM: f64 = 0.002;
/// What the analysis allows on its samples: a fifth of the gate. Samples predict a whole
/// title's score to within about a decibel, not better (the bench: slides sampled at −0.25 dB
/// came out at −0.6 dB over the title), so the choice is made well inside the gate.
pub const ANALYSIS_PSNR_MARGIN: f64 = 0.1;
/// A quarter of [`GATE_SSIM`].
pub const ANALYSIS_SSIM_MARGIN: f64 = 0.0005;
/// Capped CRF must save at least this share of the fixed encode's bytes to be chosen: below
/// it, the risk to quality is not worth the bytes.
pub const MIN_SAVING: f64 = 0.10;
/// A rung is only left out when its own fixed encode scores at least this mean PSNR, dB:
/// below it the encode is far from the source, and PSNR and SSIM cannot tell detail the
/// smaller rung loses (grain, texture) from noise neither reproduces. A noisy talking head
/// whose 720p and 360p-scaled-up both score 39.4 dB keeps its 720p.
pub const PRUNE_MIN_PSNR: f64 = 45.0;

/// The first CRFs tried, coarse; [`refine`] then tries two between the best and the next.
pub const FIRST_CRFS: [u8; 3] = [11, 17, 23];
/// The largest CRF ever chosen.
pub const MAX_CRF: u8 = 27;

/// A rung the ladder has that a title does without.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pruned {
    /// The rung's name (`1080p`).
    pub name: String,
    /// Why, in words.
    pub reason: String,
}

/// One encode's quality against the source at the same size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Mean per-frame luma PSNR, each frame at most [`PSNR_CEILING`], dB.
    pub psnr: f64,
    /// Mean per-frame luma PSNR, uncapped (100 for an identical frame), dB.
    pub psnr_raw: f64,
    /// 1st-percentile per-frame luma SSIM.
    pub ssim_p1: f64,
}

impl Score {
    /// From per-frame luma PSNR and SSIM values; `None` when either is empty.
    pub fn of(psnr: &[f64], ssim: &[f64]) -> Option<Self> {
        if psnr.is_empty() || ssim.is_empty() {
            return None;
        }
        let n = psnr.len() as f64;
        let finite = |p: f64| if p.is_finite() { p } else { 100.0 };
        let mut s = ssim.to_vec();
        s.sort_by(f64::total_cmp);
        Some(Self {
            psnr: psnr
                .iter()
                .map(|p| finite(*p).min(PSNR_CEILING))
                .sum::<f64>()
                / n,
            psnr_raw: psnr.iter().map(|p| finite(*p)).sum::<f64>() / n,
            ssim_p1: percentile(&s, 0.01),
        })
    }

    /// Whether `self` is within `psnr_db` and `ssim` of `reference`.
    pub fn within(&self, reference: &Score, psnr_db: f64, ssim: f64) -> bool {
        self.psnr >= reference.psnr - psnr_db && self.ssim_p1 >= reference.ssim_p1 - ssim
    }
}

/// The `p` quantile of sorted values, nearest rank.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// One measured encode of the samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trial {
    /// `None`: the fixed bitrate.
    pub crf: Option<u8>,
    /// Bytes written.
    pub bytes: u64,
    /// Quality against the source.
    pub score: Score,
}

/// The cheapest CRF whose samples match the fixed encode's quality within the analysis
/// margins and save at least [`MIN_SAVING`] of its bytes; `None`: keep the fixed bitrate.
pub fn choose(fixed: &Trial, trials: &[Trial]) -> Option<u8> {
    trials
        .iter()
        .filter(|t| {
            t.crf.is_some()
                && t.score
                    .within(&fixed.score, ANALYSIS_PSNR_MARGIN, ANALYSIS_SSIM_MARGIN)
                && (t.bytes as f64) <= fixed.bytes as f64 * (1.0 - MIN_SAVING)
        })
        .filter_map(|t| t.crf)
        .max()
}

/// The CRFs worth trying after [`FIRST_CRFS`]: two steps above the best that passed (short
/// of the next that failed), or two below the lowest when none passed but the lowest still
/// saved bytes.
pub fn refine(fixed: &Trial, first: &[Trial]) -> Vec<u8> {
    let best = choose(fixed, first);
    let (from, step): (u8, i16) = match best {
        Some(c) => (c, 2),
        None => {
            // A lower CRF costs more: if the lowest tried already saves too little (the
            // picture is at the rung's cap: fast motion, grain), none can be chosen.
            let lowest = first
                .iter()
                .filter(|t| t.crf.is_some())
                .min_by_key(|t| t.crf);
            if lowest.is_none_or(|t| t.bytes as f64 > fixed.bytes as f64 * (1.0 - MIN_SAVING)) {
                return Vec::new();
            }
            (FIRST_CRFS[0], -2)
        }
    };
    (1..=2)
        .map(|k| i16::from(from) + step * k)
        .filter(|c| (1..=i16::from(MAX_CRF)).contains(c))
        .map(|c| c as u8)
        .filter(|c| !FIRST_CRFS.contains(c))
        .collect()
}

/// Whether a bigger rung adds nothing visible over the next smaller one for this title: the
/// smaller one's fixed encode, scaled up to the bigger size as a player would, scores within
/// the gate of the bigger one's own (a source upscaled from a small original, a blurred
/// picture). Then the bigger rung is left out: a player on a big screen shows the same.
pub fn adds_nothing(bigger: &Score, smaller_upscaled: &Score) -> bool {
    bigger.psnr >= PRUNE_MIN_PSNR && smaller_upscaled.within(bigger, GATE_PSNR_DB, GATE_SSIM)
}

/// Which variants to leave out of a master so that a bigger picture never declares less
/// BANDWIDTH than a smaller one, given declared bandwidths largest picture first: a smaller
/// variant that costs as much as a bigger one kept above it is of no use (a player that can
/// fetch it can fetch the bigger picture), so it goes. Indexes, ascending.
pub fn inverted(bandwidths: &[u64]) -> Vec<usize> {
    let mut cheapest_above = u64::MAX;
    let mut out = Vec::new();
    for (i, &bw) in bandwidths.iter().enumerate() {
        if bw >= cheapest_above {
            out.push(i);
        } else {
            cheapest_above = bw;
        }
    }
    out
}

/// The stretches of a `duration_s`-second source to analyse, (start, length) in seconds:
/// the whole of a short source; else [`WINDOWS`] windows of [`WINDOW_S`] spread evenly over
/// it (centred in equal parts, so a title slide at 0 s or credits at the end do not speak for
/// the lecture).
pub fn windows(duration_s: f64) -> Vec<(f64, f64)> {
    let n = f64::from(WINDOWS);
    if duration_s <= n * WINDOW_S {
        return vec![(0.0, duration_s.max(0.0))];
    }
    let part = duration_s / n;
    (0..WINDOWS)
        .map(|k| (part * (f64::from(k) + 0.5) - WINDOW_S / 2.0, WINDOW_S))
        .collect()
}

/// Windows sampled from a long source.
pub const WINDOWS: u32 = 4;
/// Each window's length, seconds: a keyframe interval and a half, so that no window is all
/// one GOP.
pub const WINDOW_S: f64 = 3.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn score(psnr: f64, ssim_p1: f64) -> Score {
        Score {
            psnr,
            psnr_raw: psnr,
            ssim_p1,
        }
    }

    fn trial(crf: Option<u8>, bytes: u64, psnr: f64, ssim: f64) -> Trial {
        Trial {
            crf,
            bytes,
            score: score(psnr, ssim),
        }
    }

    #[test]
    fn psnr_saturates_and_the_worst_frames_are_the_first_percentile() {
        let psnr: Vec<f64> = (0..100).map(|i| if i < 50 { 69.0 } else { 40.0 }).collect();
        let mut ssim: Vec<f64> = vec![0.99; 100];
        ssim[7] = 0.80;
        ssim[8] = 0.90;
        let s = Score::of(&psnr, &ssim).unwrap();
        assert_eq!(s.psnr, 45.0);
        assert_eq!(s.psnr_raw, 54.5);
        assert_eq!(s.ssim_p1, 0.80);
        assert!(Score::of(&[f64::INFINITY], &[1.0]).unwrap().psnr == PSNR_CEILING);
        assert!(Score::of(&[], &[1.0]).is_none());
    }

    #[test]
    fn the_cheapest_crf_that_matches_the_fixed_encode_wins() {
        let fixed = trial(None, 1000, 49.4, 0.998);
        let t = [
            trial(Some(11), 700, 49.4, 0.998),
            trial(Some(17), 500, 49.35, 0.9976),
            trial(Some(23), 300, 49.0, 0.998),
        ];
        assert_eq!(choose(&fixed, &t), Some(17));
        assert_eq!(refine(&fixed, &t), vec![19, 21]);
        // Worst moments count apart: a CRF whose mean matches but whose keyframes starve.
        let t = [trial(Some(11), 700, 49.4, 0.990)];
        assert_eq!(choose(&fixed, &t), None);
        assert_eq!(refine(&fixed, &t), vec![9, 7]);
        // At the cap capped CRF costs as much as fixed: no reason to switch, nor to try lower.
        let t = [
            trial(Some(11), 1080, 49.4, 0.998),
            trial(Some(23), 980, 49.4, 0.998),
        ];
        assert_eq!(choose(&fixed, &t), None);
        assert!(refine(&fixed, &t).is_empty());
        // Never above the largest CRF.
        let t = [trial(Some(23), 300, 49.4, 0.998)];
        assert_eq!(refine(&fixed, &t), vec![25, 27]);
    }

    #[test]
    fn a_rung_adds_nothing_when_the_smaller_one_scaled_up_looks_the_same() {
        assert!(adds_nothing(&score(49.0, 0.990), &score(48.7, 0.9895)));
        assert!(!adds_nothing(&score(49.0, 0.990), &score(47.0, 0.990)));
        assert!(!adds_nothing(&score(49.0, 0.990), &score(49.0, 0.985)));
        // Both far from the source (grain neither reproduces): not evidence enough.
        assert!(!adds_nothing(&score(39.4, 0.879), &score(39.4, 0.891)));
    }

    #[test]
    fn a_smaller_picture_never_costs_as_much_as_a_bigger_one() {
        // The 12 s slide clip: 540p at 322 kb/s under a 720p at 261 kb/s.
        assert_eq!(inverted(&[261_000, 322_000, 150_000, 90_000]), vec![1]);
        assert_eq!(inverted(&[5_000, 3_000, 2_000]), Vec::<usize>::new());
        // Ties go too, and a smaller one is compared with the cheapest kept above it.
        assert_eq!(inverted(&[300, 300, 400, 200]), vec![1, 2]);
    }

    #[test]
    fn long_sources_are_sampled_short_ones_taken_whole() {
        assert_eq!(windows(12.0), vec![(0.0, 12.0)]);
        assert_eq!(windows(13.0).len(), 4);
        let w = windows(600.0);
        assert_eq!(w.len(), 4);
        assert_eq!(w[0], (73.5, 3.0));
        assert_eq!(w[3], (523.5, 3.0));
        assert!(w.iter().all(|(s, l)| *s >= 0.0 && s + l <= 600.0));
    }
}
