//! The source analysis behind adaptive rate control ([`crate::domain::quality`]): a few
//! seconds of the source are encoded at every rung, at the fixed bitrate and at a handful of
//! CRFs, and scored against the source at the rung's size with ffmpeg's `psnr` and `ssim`.
//! Two ffmpeg runs per round, each decoding the samples once: one encodes every trial, one
//! scores them all. Two rounds: [`quality::FIRST_CRFS`], then [`quality::refine`]'s.

use super::command::{self, Plan};
use super::run;
use crate::domain::quality::{self, Score, Trial};
use crate::domain::Progress;
use crate::error::TranscodeError;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// What the analysis found for each rendition of the plan it was given.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Per rendition, plan order.
    pub rungs: Vec<RungResult>,
}

/// One rendition's trials and choice.
#[derive(Debug, Clone)]
pub struct RungResult {
    /// The rendition's name.
    pub name: String,
    /// The samples at the ladder's fixed bitrate.
    pub fixed: Trial,
    /// The samples at each CRF tried.
    pub trials: Vec<Trial>,
    /// The chosen CRF (`None`: the fixed bitrate).
    pub crf: Option<u8>,
    /// The next smaller rendition's fixed encode scaled up to this one's size, scored at this
    /// size; `None` for the smallest.
    pub smaller_upscaled: Option<Score>,
}

impl Analysis {
    /// Sets each rendition's CRF and leaves out those that add nothing visible over the next
    /// smaller one (never the smallest).
    pub fn apply(&self, plan: &mut Plan) {
        plan.crfs = self.rungs.iter().map(|r| r.crf).collect();
        // Smallest first; a rung is only compared with a smaller one that stays, so that
        // pruning never chains (1080p against 720p, 720p against 540p: 540p was never
        // compared with 1080p).
        let mut pruned_below = false;
        for i in (0..self.rungs.len()).rev() {
            let (r, Some(up)) = (&self.rungs[i], self.rungs[i].smaller_upscaled) else {
                pruned_below = false;
                continue;
            };
            if !pruned_below && quality::adds_nothing(&r.fixed.score, &up) {
                pruned_below = true;
                let smaller = &self.rungs[i + 1].name;
                plan.prune(
                    i,
                    format!(
                        "adds nothing visible over {smaller} for this title: {smaller} scaled up \
                         scores {:.2} dB PSNR, {:.4} SSIM (1st percentile) against its {:.2} dB, \
                         {:.4}",
                        up.psnr, up.ssim_p1, r.fixed.score.psnr, r.fixed.score.ssim_p1
                    ),
                );
            } else {
                pruned_below = false;
            }
        }
    }
}

/// Timestamps from the frame index, on the reference and on every decoded trial alike: psnr
/// and ssim pair frames by timestamp, and a 29.97 fps trial's 90 kHz timestamps fall a tick
/// early against the reference's about half the time (frame n would be scored against n-1).
const FRAME_INDEX: &str = ",settb=1/1000,setpts=N*10";

/// One encode of the samples: rendition, CRF (`None`: fixed), file.
struct Encode {
    rung: usize,
    crf: Option<u8>,
    file: String,
}

/// One scoring: a file against rendition `rung`'s reference, scaled up to it first when it is
/// a smaller rendition's.
struct Measure {
    rung: usize,
    file: String,
    upscale: bool,
}

/// Analyses `source` (an absolute path, `duration_s` long) for `plan`'s renditions, working in
/// `dir`.
pub async fn analyse(
    plan: &Plan,
    source: &Path,
    duration_s: f64,
    dir: &Path,
    cancel: &CancellationToken,
    stall: std::time::Duration,
) -> Result<Analysis, TranscodeError> {
    let windows = quality::windows(duration_s);
    let n = plan.renditions.len();
    let fixed: Vec<Encode> = (0..n).map(|i| encode(i, None)).collect();
    let mut first: Vec<Encode> = (0..n)
        .flat_map(|i| quality::FIRST_CRFS.map(|c| encode(i, Some(c))))
        .collect();
    first.splice(0..0, fixed);
    let mut measures: Vec<Measure> = first.iter().map(Measure::of).collect();
    // A smaller rung at another frame rate (540p30 under 720p60) is never a stand-in: the
    // frames would not pair, and the title would lose its motion.
    let pairs: Vec<usize> = (0..n.saturating_sub(1))
        .filter(|i| plan.fps[*i] == plan.fps[i + 1])
        .collect();
    measures.extend(pairs.iter().map(|&i| Measure {
        rung: i,
        file: encode(i + 1, None).file,
        upscale: true,
    }));
    let ctx = Ctx {
        plan,
        source,
        windows: &windows,
        dir,
        cancel,
        stall,
    };
    ctx.encode(&first).await?;
    let scores = ctx.measure(&measures).await?;
    let trial = |e: &Encode, score: Score| -> Result<Trial, TranscodeError> {
        let bytes = std::fs::metadata(dir.join(&e.file)).map(|m| m.len());
        Ok(Trial {
            crf: e.crf,
            bytes: bytes.map_err(|source| TranscodeError::Local {
                program: "ffmpeg",
                source,
            })?,
            score,
        })
    };
    let mut rungs = Vec::new();
    for i in 0..n {
        let fixed = trial(&first[i], scores[i])?;
        let mut trials = Vec::new();
        for (k, e) in first.iter().enumerate().filter(|(_, e)| e.rung == i) {
            if e.crf.is_some() {
                trials.push(trial(e, scores[k])?);
            }
        }
        let smaller_upscaled = pairs
            .iter()
            .position(|p| *p == i)
            .map(|k| scores[first.len() + k]);
        rungs.push(RungResult {
            name: plan.renditions[i].name.clone(),
            fixed,
            trials,
            crf: None,
            smaller_upscaled,
        });
    }
    let second: Vec<Encode> = rungs
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            quality::refine(&r.fixed, &r.trials)
                .into_iter()
                .map(move |c| encode(i, Some(c)))
        })
        .collect();
    if !second.is_empty() {
        ctx.encode(&second).await?;
        let m: Vec<Measure> = second.iter().map(Measure::of).collect();
        for (e, s) in second.iter().zip(ctx.measure(&m).await?) {
            let t = trial(e, s)?;
            rungs[e.rung].trials.push(t);
        }
    }
    for r in &mut rungs {
        r.crf = quality::choose(&r.fixed, &r.trials);
    }
    Ok(Analysis { rungs })
}

/// Scores whole encodes of `source` against it: `(rendition, file, scaled up)` each, the
/// file scaled up to the rendition's size first when the flag is set. For the quality bench
/// and its gate, on the same reference and scoring as the analysis.
pub async fn score_files(
    plan: &Plan,
    source: &Path,
    duration_s: f64,
    dir: &Path,
    files: &[(usize, String, bool)],
    cancel: &CancellationToken,
    stall: std::time::Duration,
) -> Result<Vec<Score>, TranscodeError> {
    let windows = [(0.0, duration_s)];
    let ctx = Ctx {
        plan,
        source,
        windows: &windows,
        dir,
        cancel,
        stall,
    };
    let m: Vec<Measure> = files
        .iter()
        .map(|(rung, file, upscale)| Measure {
            rung: *rung,
            file: file.clone(),
            upscale: *upscale,
        })
        .collect();
    ctx.measure(&m).await
}

fn encode(rung: usize, crf: Option<u8>) -> Encode {
    let label = crf.map_or("fixed".to_string(), |c| format!("crf{c}"));
    Encode {
        rung,
        crf,
        file: format!("r{rung}_{label}.ts"),
    }
}

impl Measure {
    fn of(e: &Encode) -> Self {
        Self {
            rung: e.rung,
            file: e.file.clone(),
            upscale: false,
        }
    }
}

/// What both passes share.
struct Ctx<'a> {
    plan: &'a Plan,
    source: &'a Path,
    windows: &'a [(f64, f64)],
    dir: &'a Path,
    cancel: &'a CancellationToken,
    stall: std::time::Duration,
}

impl Ctx<'_> {
    /// ffmpeg's first arguments and the samples as inputs, each window seeked to in its
    /// input (decoding starts at the keyframe before, frames before the window are dropped:
    /// the same frames every time).
    fn head(&self) -> Vec<String> {
        let mut a = command::quiet_ffmpeg();
        a.extend(["-progress", "pipe:1", "-nostats"].map(String::from));
        for (start, len) in self.windows {
            a.extend([
                "-ss".into(),
                format!("{start:.3}"),
                "-t".into(),
                format!("{len:.3}"),
                "-i".into(),
                self.source.display().to_string(),
            ]);
        }
        a
    }

    /// The samples joined, through the stream's picture chain, then split per rendition and
    /// sized as the encode sizes them: `[<tag>{i}]` per rendition, each split `counts[i]`
    /// ways as `[<tag>{i}_{k}]`.
    fn reference(&self, tag: &str, counts: &[usize], tail: &str) -> String {
        let index = self.plan.video_index.unwrap_or(0);
        let w = self.windows.len();
        let inputs: String = (0..w).map(|k| format!("[{k}:{index}]")).collect();
        let mut chain = command::picture_chain(self.plan);
        chain.insert(0, format!("concat=n={w}:v=1:a=0"));
        let n = self.plan.renditions.len();
        let splits: String = (0..n).map(|i| format!("[{tag}s{i}]")).collect();
        let mut g = format!("{inputs}{},split={n}{splits}", chain.join(","));
        for (i, r) in self.plan.renditions.iter().enumerate() {
            let outs: String = (0..counts[i]).map(|k| format!("[{tag}{i}_{k}]")).collect();
            g.push_str(&format!(
                ";[{tag}s{i}]fps={:.4},scale={}:{}:flags=bicubic,setsar=1{tail},split={}{outs}",
                self.plan.fps[i], r.width, r.height, counts[i]
            ));
        }
        g
    }

    async fn ffmpeg(&self, argv: &[String]) -> Result<(), TranscodeError> {
        let total: f64 = self.windows.iter().map(|w| w.1).sum();
        let (progress, _) = tokio::sync::watch::channel(Progress::default());
        run::run_in(
            argv,
            Some(self.dir),
            Some(total),
            &progress,
            self.cancel,
            self.stall,
        )
        .await
        .map(|_| ())
    }

    /// Encodes every trial in one run.
    async fn encode(&self, encodes: &[Encode]) -> Result<(), TranscodeError> {
        let n = self.plan.renditions.len();
        let counts: Vec<usize> = (0..n)
            .map(|i| encodes.iter().filter(|e| e.rung == i).count().max(1))
            .collect();
        let mut a = self.head();
        a.extend(["-filter_complex".into(), self.reference("e", &counts, "")]);
        let mut used = vec![0; n];
        for e in encodes {
            a.extend(["-map".into(), format!("[e{}_{}]", e.rung, used[e.rung])]);
            used[e.rung] += 1;
            a.extend(command::rung_video(self.plan, e.rung, e.crf, ""));
            a.extend(command::x264_shared(&self.plan.preset));
            a.extend(["-an", "-f", "mpegts"].map(String::from));
            a.push(e.file.clone());
        }
        // A rendition no trial uses still has its branch: it goes nowhere.
        for (i, u) in used.iter().enumerate() {
            if *u == 0 {
                a.extend([
                    "-map".into(),
                    format!("[e{i}_0]"),
                    "-f".into(),
                    "null".into(),
                ]);
                a.push("-".into());
            }
        }
        self.ffmpeg(&a).await
    }

    /// Scores every file against its rendition's reference in one run, in `measures` order.
    async fn measure(&self, measures: &[Measure]) -> Result<Vec<Score>, TranscodeError> {
        let n = self.plan.renditions.len();
        let counts: Vec<usize> = (0..n)
            .map(|i| 2 * measures.iter().filter(|m| m.rung == i).count().max(1))
            .collect();
        let mut a = self.head();
        for m in measures {
            a.extend(["-i".into(), m.file.clone()]);
        }
        let mut g = vec![self.reference("r", &counts, FRAME_INDEX)];
        let mut used = vec![0; n];
        let w = self.windows.len();
        for (k, m) in measures.iter().enumerate() {
            let r = &self.plan.renditions[m.rung];
            let up = if m.upscale {
                format!("scale={}:{}:flags=bicubic,setsar=1,", r.width, r.height)
            } else {
                String::new()
            };
            let (a1, a2) = (used[m.rung], used[m.rung] + 1);
            used[m.rung] += 2;
            let i = m.rung;
            g.push(format!(
                "[{}:v:0]{up}{}[d{k}];\
                 [d{k}][r{i}_{a1}]psnr=stats_file=m{k}.psnr[p{k}];\
                 [p{k}][r{i}_{a2}]ssim=stats_file=m{k}.ssim[o{k}]",
                w + k,
                &FRAME_INDEX[1..]
            ));
        }
        let mut outs = Vec::new();
        for (i, u) in used.iter().enumerate() {
            for k in *u..counts[i] {
                g.push(format!("[r{i}_{k}]nullsink"));
            }
        }
        for k in 0..measures.len() {
            outs.extend(["-map".into(), format!("[o{k}]")]);
        }
        a.extend(["-filter_complex".into(), g.join(";")]);
        a.extend(outs);
        a.extend(["-f", "null", "-"].map(String::from));
        self.ffmpeg(&a).await?;
        (0..measures.len())
            .map(|k| self.score(k, measures[k].rung))
            .collect::<Result<Vec<_>, _>>()
    }

    /// Measurement `k`'s score, read from its stats files; `rung` sets the frame rate.
    fn score(&self, k: usize, rung: usize) -> Result<Score, TranscodeError> {
        let read = |ext: &str, key: &str| -> Result<Vec<f64>, TranscodeError> {
            let path: PathBuf = self.dir.join(format!("m{k}.{ext}"));
            let text = std::fs::read_to_string(&path).map_err(|source| TranscodeError::Local {
                program: "ffmpeg",
                source,
            })?;
            Ok(per_frame(&text, key))
        };
        let (mut psnr, mut ssim) = (read("psnr", "psnr_y:")?, read("ssim", "Y:")?);
        // Sampled windows: the first is the encoders' warm-up (x264's ABR starts from a guess
        // and converges over seconds, which a whole title's encode amortises), so it is
        // encoded but not scored, for every trial alike.
        if self.windows.len() > 1 {
            let skip = warm_up_frames(self.windows[0].1, self.plan.fps[rung]);
            if psnr.len() > skip && ssim.len() > skip {
                psnr.drain(..skip);
                ssim.drain(..skip);
            }
        }
        Score::of(&psnr, &ssim).ok_or_else(|| {
            TranscodeError::InvalidInput(format!("the analysis scored no frame of its sample {k}"))
        })
    }
}

/// Frames in a `seconds`-long window at `fps`.
fn warm_up_frames(seconds: f64, fps: f64) -> usize {
    (seconds * fps).round() as usize
}

/// The per-frame values of `key` (`psnr_y:` in a psnr stats file, `Y:` in an ssim one).
/// ffmpeg writes `inf` for an identical frame.
pub fn per_frame(stats: &str, key: &str) -> Vec<f64> {
    stats
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|t| t.strip_prefix(key))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_files_are_read_per_frame() {
        let psnr = "n:1 mse_avg:0.52 mse_y:0.67 mse_u:0.2 mse_v:0.2 psnr_avg:50.98 psnr_y:49.87 \
                    psnr_u:55.1 psnr_v:55.2\nn:2 mse_avg:0.00 mse_y:0.00 psnr_avg:inf psnr_y:inf\n";
        assert_eq!(per_frame(psnr, "psnr_y:"), vec![49.87, f64::INFINITY]);
        let ssim = "n:1 Y:0.998123 U:0.99 V:0.99 All:0.997 (25.3)\n";
        assert_eq!(per_frame(ssim, "Y:"), vec![0.998123]);
    }
}
