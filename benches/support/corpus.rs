//! The quality corpus and the comparison both the quality bench and its gate test run: each
//! title is encoded through the worker's own plan, analysis and ffmpeg command, once at the
//! ladder's fixed bitrates and once adaptively, and every rendition is scored against the
//! source at its size (a rung the adaptive ladder leaves out is scored as what a player shows
//! instead: the next smaller rung, scaled up).

use fleet::domain::ladder::Ladder;
use fleet::domain::quality::{self, Score};
use fleet::domain::Progress;
use fleet::transcode::analysis::{self, Analysis};
use fleet::transcode::command::{self, Plan};
use fleet::transcode::{playlist, probe, run};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The kinds of picture a course library holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Title {
    /// Text slides, a new one every few seconds.
    Slides,
    /// A code editor scrolling, with a moving cursor.
    Screen,
    /// A presenter over a still, detailed background (slightly out of focus), with camera
    /// noise.
    TalkingHead,
    /// A fast pan over a detailed, grainy field.
    FastMotion,
    /// A still fading to black and back, then cross-fading to bars.
    Fade,
    /// Slides made at a quarter of the width and height and scaled up (an old lecture
    /// re-exported at today's size).
    Upscaled,
}

impl Title {
    /// Every title.
    pub const ALL: [Title; 6] = [
        Title::Slides,
        Title::Screen,
        Title::TalkingHead,
        Title::FastMotion,
        Title::Fade,
        Title::Upscaled,
    ];

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Title::Slides => "slides",
            Title::Screen => "screen",
            Title::TalkingHead => "talking head",
            Title::FastMotion => "fast motion",
            Title::Fade => "fade",
            Title::Upscaled => "upscaled slides",
        }
    }
}

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const MONO: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf";

/// Slides at `w`×`h`: a title and five bullets, a new slide every `secs / 5` seconds.
fn slides_graph(w: u32, h: u32, secs: u32) -> String {
    let per = f64::from(secs) / 5.0;
    let f = |x: f64| (x * f64::from(h) / 720.0).round() as u32;
    let mut g = format!("color=c=0xf4f4f0:s={w}x{h}:r=30:d={secs}");
    for i in 0..5u32 {
        let (s, e) = (per * f64::from(i), per * f64::from(i + 1));
        let on = format!("enable='between(t,{s:.2},{e:.2})'");
        g.push_str(&format!(
            ",drawtext=fontfile={FONT}:text='Lecture 3 - slide {}':fontsize={}:x={}:y={}:\
             fontcolor=0x202060:{on}",
            i + 1,
            f(56.0),
            f(80.0),
            f(60.0)
        ));
        for l in 1..=5u32 {
            g.push_str(&format!(
                ",drawtext=fontfile={FONT}:text='- Point {l} of slide {} explains idea {}':\
                 fontsize={}:x={}:y={}:fontcolor=black:{on}",
                i + 1,
                i * 5 + l,
                f(34.0),
                f(110.0),
                f(120.0 + 70.0 * f64::from(l))
            ));
        }
    }
    g
}

/// Makes `title` at `w`×`h`, `secs` long, in `dir` (kept: made once per size).
pub fn make(dir: &Path, title: Title, (w, h): (u32, u32), secs: u32) -> PathBuf {
    let out = dir.join(format!(
        "{}-{w}x{h}-{secs}s.mp4",
        title.name().replace(' ', "-")
    ));
    if out.exists() {
        return out;
    }
    std::fs::create_dir_all(dir).unwrap();
    let mut c = Command::new("ffmpeg");
    c.args(["-v", "error", "-y"]);
    let d = secs;
    match title {
        Title::Slides => {
            c.args(["-f", "lavfi", "-i", &slides_graph(w, h, secs)]);
        }
        Title::Upscaled => {
            let g = format!(
                "{},scale={w}:{h}:flags=bicubic",
                slides_graph(w / 4, h / 4, secs)
            );
            c.args(["-f", "lavfi", "-i", &g]);
        }
        Title::Screen => {
            let code = dir.join("code.txt");
            let text: String = (1..=200)
                .map(|i| {
                    format!(
                        "{i:04}  fn handle(req: &Request) -> Result<Response, Error> {{ let x = {}; }}\n",
                        i * 7
                    )
                })
                .collect();
            std::fs::write(&code, text).unwrap();
            let size = h * 20 / 720;
            c.args([
                "-f",
                "lavfi",
                "-i",
                &format!("color=c=0x1e1e1e:s={w}x{h}:r=30:d={d}"),
            ]);
            c.args([
                "-f",
                "lavfi",
                "-i",
                &format!("color=c=white:s={}x{}:r=30:d={d}", size * 7 / 10, size + 2),
            ]);
            c.args([
                "-filter_complex",
                &format!(
                    "[0]drawtext=fontfile={MONO}:textfile={}:fontsize={size}:fontcolor=0xd4d4d4:\
                 x=20:y='20-max(0,t-{})*{}':line_spacing=6[s];\
                 [s][1]overlay=x='{}+{}*sin(t/2)':y='{}+{}*cos(t/3)'",
                    code.display(),
                    secs / 5,
                    h / 18,
                    w / 4,
                    w / 6,
                    h / 2,
                    h / 7
                ),
            ]);
        }
        Title::TalkingHead => {
            let (hw, hh) = (w / 4 / 2 * 2, h * 7 / 12 / 2 * 2);
            c.args([
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc2=s={w}x{h}:r=30:d={d}"),
            ]);
            c.args([
                "-f",
                "lavfi",
                "-i",
                &format!("color=c=0xc09070:s={hw}x{hh}:r=30:d=1"),
            ]);
            c.args([
                "-filter_complex",
                &format!(
                    "[0]trim=end_frame=1,loop=loop=-1:size=1,setpts=N/30/TB,trim=duration={d},\
                 gblur=sigma=2[bg];\
                 [1]trim=end_frame=1,format=yuva420p,geq=lum='lum(X,Y)':cb='cb(X,Y)':cr='cr(X,Y)':\
                 a='if(lt(pow((X-W/2)/(W/2),2)+pow((Y-H/2)/(H/2),2),1),255,0)',\
                 loop=loop=-1:size=1,setpts=N/30/TB[h];\
                 [bg][h]overlay=x='{}+{}*sin(t*1.3)':y='{}+{}*sin(t*2.1)':shortest=1,\
                 noise=alls=10:allf=t+u",
                    w * 3 / 8,
                    w / 40,
                    h * 2 / 9,
                    h / 70
                ),
            ]);
        }
        Title::FastMotion => {
            c.args([
                "-f",
                "lavfi",
                "-i",
                &format!("color=c=0x508030:s={}x{}:r=30:d=1", w * 2, h * 2),
            ]);
            c.args([
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc2=s={}x{}:r=30:d={d}", w * 2, h * 2),
            ]);
            c.args([
                "-filter_complex",
                &format!(
                    "[0]trim=end_frame=1,noise=alls=60:allf=u,gblur=sigma=1.2,loop=loop=-1:size=1,\
                 setpts=N/30/TB,trim=duration={d}[g];[1]format=yuv420p[t];\
                 [g][t]blend=all_mode=overlay:all_opacity=0.5,\
                 crop={w}:{h}:x='mod(t*{},{w})':y='{}+{}*sin(t)'",
                    w / 2,
                    h / 2,
                    h / 4
                ),
            ]);
        }
        Title::Fade => {
            c.args(["-f", "lavfi", "-i", &format!("testsrc2=s={w}x{h}:r=30:d=1")]);
            c.args([
                "-f",
                "lavfi",
                "-i",
                &format!("smptehdbars=s={w}x{h}:r=30:d={d}"),
            ]);
            let third = f64::from(secs) / 3.0;
            c.args([
                "-filter_complex",
                &format!(
                    "[0]trim=end_frame=1,loop=loop=-1:size=1,setpts=N/30/TB,trim=duration={d},\
                 fade=t=out:st={:.2}:d={:.2},fade=t=in:st={:.2}:d={:.2}[a];\
                 [1]fade=t=in:st=0:d=1[b];[a][b]xfade=transition=fade:duration={:.2}:offset={:.2}",
                    third * 0.2,
                    third * 0.6,
                    third * 1.0,
                    third * 0.6,
                    third * 0.6,
                    third * 2.0
                ),
            ]);
        }
    }
    c.args([
        "-t",
        &d.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "12",
    ]);
    c.args(["-pix_fmt", "yuv420p", "-g", "60"]).arg(&out);
    let st = c.status().expect("ffmpeg runs");
    assert!(st.success(), "making {}", title.name());
    out
}

/// CPU seconds this process's waited-for children have used.
pub fn children_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 16 and 17 (cutime, cstime) are the 14th and 15th after the command name.
    let ticks: f64 = [13, 14]
        .iter()
        .filter_map(|i| f.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

/// One rendition of one mode.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Bytes of its segments.
    pub bytes: u64,
    /// Its quality against the source at its size.
    pub score: Score,
}

/// One rung of the ladder, both ways.
#[derive(Debug, Clone)]
pub struct Row {
    /// The rung.
    pub rung: String,
    /// At the fixed bitrate.
    pub fixed: Measured,
    /// Adaptive: its own encode, or `None` when left out.
    pub adaptive: Option<Measured>,
    /// Adaptive, what a viewer sees at this rung's size (for a rung left out: the next
    /// smaller kept one, scaled up).
    pub adaptive_score: Score,
    /// The CRF chosen, if any.
    pub crf: Option<u8>,
    /// The rung that plays in its place when it was left out.
    pub served_by: Option<String>,
    /// A second fixed encode's score: x264's threaded VBV does not give the same bytes
    /// twice, so two runs of today's encode differ by this much.
    pub fixed_again: Score,
}

impl Row {
    /// Whether the adaptive ladder encodes this rung exactly as the fixed one does.
    pub fn unchanged(&self) -> bool {
        self.adaptive.is_some() && self.crf.is_none()
    }

    /// How far two fixed encodes of this rung differ: (PSNR dB, SSIM p1).
    pub fn noise(&self) -> (f64, f64) {
        let (a, b) = (&self.fixed.score, &self.fixed_again);
        ((a.psnr - b.psnr).abs(), (a.ssim_p1 - b.ssim_p1).abs())
    }
}

/// One title, both ways.
#[derive(Debug, Clone)]
pub struct Report {
    /// Per rung, largest first.
    pub rows: Vec<Row>,
    /// Encode CPU seconds, fixed.
    pub cpu_fixed_s: f64,
    /// Analysis plus encode CPU seconds, adaptive.
    pub cpu_adaptive_s: f64,
    /// Of which the analysis.
    pub cpu_analysis_s: f64,
    /// The source's length, seconds.
    pub duration_s: f64,
}

impl Report {
    /// Bytes of the whole ladder, fixed and adaptive.
    pub fn ladder_bytes(&self) -> (u64, u64) {
        let f = self.rows.iter().map(|r| r.fixed.bytes).sum();
        let a = self
            .rows
            .iter()
            .filter_map(|r| r.adaptive.as_ref())
            .map(|m| m.bytes)
            .sum();
        (f, a)
    }

    /// The gate's verdict per rung: `None` when it holds, else why not.
    /// What adaptive rate control changed is held to the gate: a rung with a CRF, or left
    /// out. A rung it left at the fixed bitrate runs today's options exactly; its scores
    /// differ from the fixed run's only as two fixed runs differ ([`Row::noise`]: up to 0.005
    /// of SSIM p1 on fast motion at 360p), which is not a change to judge.
    pub fn gate(&self, r: &Row) -> Option<String> {
        if r.unchanged() {
            return None;
        }
        let (f, a) = (&r.fixed.score, &r.adaptive_score);
        (!a.within(f, quality::GATE_PSNR_DB, quality::GATE_SSIM)).then(|| {
            format!(
                "{}: PSNR {:.2} -> {:.2} dB, SSIM p1 {:.4} -> {:.4}",
                r.rung, f.psnr, a.psnr, f.ssim_p1, a.ssim_p1
            )
        })
    }
}

const STALL: Duration = Duration::from_secs(120);

/// Encodes `src` both ways in `dir` and scores every rung.
pub async fn compare(src: &Path, dir: &Path, preset: &str) -> Report {
    let cancel = CancellationToken::new();
    let probe = probe::probe(src).await.expect("probe");
    let duration_s = probe.duration_s.expect("a duration");
    let plan = command::plan(&probe, &Ladder::default(), preset, None);
    let fixed_dir = dir.join("fixed");
    let cpu0 = children_cpu_s();
    encode(&plan, src, &fixed_dir, duration_s, &cancel).await;
    let cpu_fixed_s = children_cpu_s() - cpu0;
    let again_dir = dir.join("fixed-again");
    encode(&plan, src, &again_dir, duration_s, &cancel).await;
    let mut adaptive = plan.clone();
    let work = dir.join("analysis");
    std::fs::create_dir_all(&work).unwrap();
    let cpu1 = children_cpu_s();
    let found: Analysis = analysis::analyse(&adaptive, src, duration_s, &work, &cancel, STALL)
        .await
        .expect("analysis");
    found.apply(&mut adaptive);
    let cpu_analysis_s = children_cpu_s() - cpu1;
    let adaptive_dir = dir.join("adaptive");
    encode(&adaptive, src, &adaptive_dir, duration_s, &cancel).await;
    let cpu_adaptive_s = children_cpu_s() - cpu1;

    // Every fixed rendition against its own size; every adaptive one likewise, or (left out)
    // the next smaller kept one scaled up to it.
    let mut files = Vec::new();
    for (i, r) in plan.renditions.iter().enumerate() {
        files.push((i, joined(&fixed_dir, &r.name), false));
    }
    for (i, r) in plan.renditions.iter().enumerate() {
        files.push((i, joined(&again_dir, &r.name), false));
    }
    let mut served = Vec::new();
    for (i, r) in plan.renditions.iter().enumerate() {
        let by = adaptive
            .renditions
            .iter()
            .find(|a| a.width * a.height <= r.width * r.height)
            .expect("the smallest rung is never left out");
        served.push(by.name.clone());
        files.push((i, joined(&adaptive_dir, &by.name), by.name != r.name));
    }
    let scores = analysis::score_files(&plan, src, duration_s, &work, &files, &cancel, STALL)
        .await
        .expect("scoring");
    let n = plan.renditions.len();
    let rows = plan
        .renditions
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let kept = adaptive.renditions.iter().position(|a| a.name == r.name);
            Row {
                rung: r.name.clone(),
                fixed: measured(&fixed_dir, &r.name, scores[i]),
                adaptive: kept.map(|_| measured(&adaptive_dir, &r.name, scores[2 * n + i])),
                adaptive_score: scores[2 * n + i],
                fixed_again: scores[n + i],
                crf: kept.and_then(|k| adaptive.crf(k)),
                served_by: (served[i] != r.name).then(|| served[i].clone()),
            }
        })
        .collect();
    Report {
        rows,
        cpu_fixed_s,
        cpu_adaptive_s,
        cpu_analysis_s,
        duration_s,
    }
}

async fn encode(plan: &Plan, src: &Path, out: &Path, duration_s: f64, cancel: &CancellationToken) {
    for f in plan.folders() {
        std::fs::create_dir_all(out.join(f)).unwrap();
    }
    let argv = command::argv(plan, src, out);
    let (progress, _) = tokio::sync::watch::channel(Progress::default());
    run::run(&argv, Some(duration_s), &progress, cancel, STALL)
        .await
        .expect("encode");
}

/// The rendition's segments, in order.
fn segments(dir: &Path, name: &str) -> Vec<(PathBuf, f64)> {
    let pl = std::fs::read_to_string(dir.join(name).join("index.m3u8")).unwrap();
    playlist::segments(&pl)
        .into_iter()
        .map(|s| (dir.join(name).join(&s.uri), s.duration))
        .collect()
}

/// The rendition's segments joined into one file (MPEG-TS concatenates), for scoring.
fn joined(dir: &Path, name: &str) -> String {
    let out = dir.join(format!("{name}.ts"));
    let mut all = Vec::new();
    for (p, _) in segments(dir, name) {
        all.extend(std::fs::read(p).unwrap());
    }
    std::fs::write(&out, all).unwrap();
    out.display().to_string()
}

fn measured(dir: &Path, name: &str, score: Score) -> Measured {
    let segs: Vec<(u64, f64)> = segments(dir, name)
        .iter()
        .map(|(p, d)| (std::fs::metadata(p).unwrap().len(), *d))
        .collect();
    Measured {
        bytes: segs.iter().map(|s| s.0).sum(),
        score,
    }
}
