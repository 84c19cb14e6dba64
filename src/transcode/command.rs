//! The ffmpeg command: one process that decodes the source once and encodes every rendition.
//!
//! H.264 High (each rendition at the level its size, rate and bitrate need, at most 5.2,
//! Apple's ceiling),
//! yuv420p whatever the source, capped VBR, an IDR every 2 s forced at exact times with
//! scene-cut keyframes off, so that 6 s segments line up across renditions; constant frame rate
//! at the source's real cadence; AAC-LC 48 kHz stereo. Playlists are written as EVENT playlists,
//! rewritten after every closed segment, so segments can be uploaded while ffmpeg runs (a VOD
//! playlist is only written at exit); the copies fleet publishes are marked VOD.

use super::probe::{AudioStream, Hdr, Probe};
use super::timeline;
use crate::domain::ladder::{display_size, select, Ladder, Rendition};
use crate::domain::language;
use crate::domain::level::{self, Level};
use std::path::Path;

/// Segment length, seconds (Apple's recommendation).
pub const SEGMENT_SECONDS: u32 = 6;
/// Keyframe interval, seconds: segments are cut on these.
pub const GOP_SECONDS: u32 = 2;
/// Encoder maxrate as a share of a rung's target bitrate, in percent (capped VBR).
const MAXRATE_PCT: u32 = 107;

/// How the source's audio is published.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioLayout {
    /// No audio.
    None,
    /// One programme, muxed into every variant (one request per segment, what every player
    /// expects): the stream indexes it is made of (several are mixed, see [`programmes`]).
    /// For an audio-only source, the source's default programme.
    Muxed(Vec<u32>),
    /// Two or more tracks (a second language, the presenter's mic): each an alternate audio
    /// rendition of one group, the source's default first; video variants carry no audio.
    Group(Vec<AudioTrack>),
}

/// One alternate audio rendition.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioTrack {
    /// Stream indexes in the source it is made of: one, or the voices mixed into it.
    pub sources: Vec<u32>,
    /// Folder name (`audio_0`, …).
    pub folder: String,
    /// NAME in the master: the track's title, else its language, else "Track N"; unique.
    pub name: String,
    /// LANGUAGE (RFC 5646: the two-letter code where one exists).
    pub language: Option<String>,
    /// DEFAULT=YES: the source's default track, or the first.
    pub default: bool,
}

/// What ffmpeg will make.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Absolute index of the video stream to encode.
    pub video_index: Option<u32>,
    /// Video renditions (empty for an audio-only source), sizes fitted to their level.
    pub renditions: Vec<Rendition>,
    /// Output frame rate per rendition (same order).
    pub fps: Vec<f64>,
    /// H.264 level per rendition (same order).
    pub levels: Vec<Level>,
    /// Deinterlace (bwdif, one frame per field) before anything else.
    pub deinterlace: bool,
    /// Tone-map HDR to SDR (BT.709), after downscaling to the largest rendition.
    pub tonemap: Option<Hdr>,
    /// Seconds by which the source lasts longer than its video stream (a screen recorder that
    /// wrote no frame over a static last slide while the narration went on): the last picture
    /// is held that long, as a player of the source holds it, so that the stream keeps the
    /// whole sound track. `None` when the video lasts as long as the source (or its length is
    /// not stated).
    pub hold_last_frame_s: Option<f64>,
    /// The audio.
    pub audio: AudioLayout,
    /// AAC bitrate, kb/s.
    pub audio_kbps: u32,
    /// x264 preset.
    pub preset: String,
    /// How the rungs are rate-controlled: `Adaptive` once an analysis has chosen [`Self::crfs`]
    /// and [`Self::pruned`].
    pub rate_control: crate::domain::quality::RateControl,
    /// Capped CRF per rendition (same order; `None` or missing: the ladder's fixed bitrate),
    /// chosen by [`super::analysis`].
    pub crfs: Vec<Option<u8>>,
    /// Rungs the ladder has that this title does without, and why (the analysis found they
    /// add nothing visible).
    pub pruned: Vec<crate::domain::quality::Pruned>,
    /// The poster and scrubbing thumbnails, made from the same decode; `None` for an
    /// audio-only source or when turned off.
    pub stills: Option<super::stills::Stills>,
    /// What the plan leaves out or changes, for the video's warnings (an undecodable track,
    /// tracks mixed into one).
    pub warnings: Vec<String>,
}

impl Plan {
    /// Folder names of the video variants (or `audio` for an audio-only source), in ffmpeg's
    /// order.
    pub fn variant_names(&self) -> Vec<String> {
        if self.renditions.is_empty() {
            vec!["audio".to_string()]
        } else {
            self.renditions.iter().map(|r| r.name.clone()).collect()
        }
    }

    /// Rendition `i`'s capped CRF, if it has one.
    pub fn crf(&self, i: usize) -> Option<u8> {
        self.crfs.get(i).copied().flatten()
    }

    /// How the ladder was encoded, in one line for the item and `show`: each rung's rate
    /// control, then the rungs left out and why. `None` for the configured ladder at fixed
    /// bitrates, or no video.
    pub fn ladder_summary(&self) -> Option<String> {
        use crate::domain::quality::RateControl;
        if self.rate_control == RateControl::Fixed && self.pruned.is_empty() {
            return None;
        }
        let rungs: Vec<String> = self
            .renditions
            .iter()
            .enumerate()
            .map(|(i, r)| match self.crf(i) {
                Some(c) => format!("{} CRF {c}", r.name),
                None => format!("{} fixed {} kb/s", r.name, r.video_kbps),
            })
            .collect();
        let mut s = match self.rate_control {
            RateControl::Adaptive => format!("adaptive: {}", rungs.join(", ")),
            RateControl::Fixed => format!("fixed: {}", rungs.join(", ")),
        };
        for p in &self.pruned {
            s.push_str(&format!("; {} left out: {}", p.name, p.reason));
        }
        Some(s)
    }

    /// Leaves rendition `i` out (its level, rate and CRF with it), recording why.
    pub fn prune(&mut self, i: usize, reason: String) {
        let r = self.renditions.remove(i);
        self.fps.remove(i);
        self.levels.remove(i);
        if i < self.crfs.len() {
            self.crfs.remove(i);
        }
        self.pruned.push(crate::domain::quality::Pruned {
            name: r.name,
            reason,
        });
    }

    /// Every source audio stream the plan publishes (mixed or not), in first-use order.
    pub fn audio_sources(&self) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        let all: Vec<&u32> = match &self.audio {
            AudioLayout::None => Vec::new(),
            AudioLayout::Muxed(s) => s.iter().collect(),
            AudioLayout::Group(ts) => ts.iter().flat_map(|t| &t.sources).collect(),
        };
        for i in all {
            if !out.contains(i) {
                out.push(*i);
            }
        }
        out
    }

    /// Every folder ffmpeg writes: the variants, then the alternate audio renditions.
    pub fn folders(&self) -> Vec<String> {
        let mut v = self.variant_names();
        if let AudioLayout::Group(ts) = &self.audio {
            v.extend(ts.iter().map(|t| t.folder.clone()));
        }
        v
    }
}

/// Rates players and encoders know; a measured cadence within 2% of one is that one.
const STANDARD_RATES: [f64; 9] = [
    24000.0 / 1001.0,
    24.0,
    25.0,
    30000.0 / 1001.0,
    30.0,
    48.0,
    50.0,
    60000.0 / 1001.0,
    60.0,
];

/// The rate the picture really moves at, at most 60: twice the frame rate of an interlaced
/// source (one frame per field), the measured `cadence` of a variable-frame-rate one (not its
/// average: idle stretches of a screen recording would cut 60 fps motion to 14), else the
/// average. Above 60 it is divided down (120 → 60, 100 → 50).
pub fn source_rate(v: &super::probe::VideoStream, cadence: Option<f64>) -> f64 {
    let raw = if v.interlaced {
        v.fps * 2.0
    } else {
        cadence.unwrap_or(v.fps)
    };
    let snapped = STANDARD_RATES
        .iter()
        .copied()
        .min_by(|a, b| (raw - a).abs().total_cmp(&(raw - b).abs()))
        .filter(|r| (raw - r).abs() <= r * 0.02)
        .unwrap_or(raw);
    if snapped > 60.5 {
        snapped / (snapped / 60.0).ceil()
    } else {
        snapped
    }
}

/// Rungs whose short side is below this run at most [`LOW_RUNG_MAX_FPS`].
pub const LOW_RUNG_BELOW: u32 = 720;
/// Apple's authoring spec keeps the tiers below 720p at 30 fps or less: on a small screen
/// over a weak link, bits buy more as sharper frames than as more of them.
pub const LOW_RUNG_MAX_FPS: f64 = 30.0;

/// A rung's frame rate: the source's, halved (60 → 30, 59.94 → 29.97, 50 → 25) below 720p
/// when above 30, so that every output frame is a source frame and motion stays even.
pub fn rung_rate(source: f64, short_side: u32) -> f64 {
    if short_side < LOW_RUNG_BELOW && source > LOW_RUNG_MAX_FPS + 0.5 {
        source / (source / LOW_RUNG_MAX_FPS).ceil()
    } else {
        source
    }
}

/// Whether a video's average rate is far enough below its nominal rate that its real cadence
/// must be measured ([`super::probe::cadence`]).
pub fn looks_variable(v: &super::probe::VideoStream) -> bool {
    !v.interlaced && v.nominal_fps.is_some_and(|n| n > v.fps * 1.1)
}

/// Decides the renditions for `probe` from `ladder`; `cadence` is the measured rate of a
/// variable-frame-rate source.
pub fn plan(probe: &Probe, ladder: &Ladder, preset: &str, cadence: Option<f64>) -> Plan {
    let mut renditions = Vec::new();
    let (mut fps, mut levels) = (Vec::new(), Vec::new());
    if let Some(v) = &probe.video {
        let (w, h) = display_size(v.width, v.height, v.sar, v.rotation);
        let source = source_rate(v, cadence);
        for mut r in select(ladder, w, h) {
            let rate = rung_rate(source, r.width.min(r.height));
            let maxrate = u64::from(r.video_kbps * MAXRATE_PCT / 100);
            // A ladder whose bitrate no level allows is kept at the ceiling's level and size:
            // ladder files are checked for that when loaded.
            let f = level::fit(r.width, r.height, rate, maxrate, level::APPLE_CEILING).unwrap_or(
                level::Fitted {
                    width: r.width,
                    height: r.height,
                    fps: rate,
                    level: level::by_idc(level::APPLE_CEILING).expect("in the table"),
                },
            );
            (r.width, r.height) = (f.width, f.height);
            renditions.push(r);
            fps.push(f.fps);
            levels.push(f.level);
        }
    }
    let (audio, warnings) = audio_layout(probe);
    Plan {
        video_index: probe.video.as_ref().map(|v| v.index),
        renditions,
        fps,
        levels,
        deinterlace: probe.video.as_ref().is_some_and(|v| v.interlaced),
        tonemap: probe.video.as_ref().and_then(|v| v.hdr.clone()),
        hold_last_frame_s: hold_last_frame(probe),
        audio,
        audio_kbps: ladder.audio_kbps,
        preset: preset.to_string(),
        rate_control: crate::domain::quality::RateControl::Fixed,
        crfs: Vec::new(),
        pruned: Vec::new(),
        stills: None,
        warnings,
    }
}

/// How long the video stream stops short of the sound, if by more than a tenth of a second
/// (container rounding and a last frame's duration stay below that). Ends are start + duration
/// per stream, so a video that starts late but ends with the sound holds nothing; without
/// audio, or without stated lengths, nothing is held.
fn hold_last_frame(probe: &Probe) -> Option<f64> {
    let v = probe.video.as_ref()?;
    let video_end = v.start_s + v.duration_s?;
    let audio_end = probe
        .audio
        .iter()
        .filter_map(|a| Some(a.start_s + a.duration_s?))
        .reduce(f64::max)?;
    let short = audio_end - video_end;
    (short > 0.1).then_some(short)
}

/// How the source's sound is published, and what that leaves out. Tracks this ffmpeg cannot
/// decode are left out with a warning (the caller fails a source whose every track is such);
/// the rest are grouped into programmes.
fn audio_layout(probe: &Probe) -> (AudioLayout, Vec<String>) {
    let mut warnings = Vec::new();
    let usable: Vec<&AudioStream> = probe.audio.iter().filter(|a| a.decodable()).collect();
    for a in probe.audio.iter().filter(|a| !a.decodable()) {
        let codec = if a.codec.is_empty() {
            "unknown"
        } else {
            &a.codec
        };
        warnings.push(format!(
            "audio track {} left out: its codec ({codec}) cannot be decoded",
            a.index
        ));
    }
    let programmes = programmes(&usable);
    for p in programmes.iter().filter(|p| p.len() > 1) {
        let list: Vec<String> = p.iter().map(|a| a.index.to_string()).collect();
        warnings.push(format!(
            "audio tracks {} mixed into one: same language and no distinct title, so voices \
             of one programme",
            list.join(", ")
        ));
    }
    let layout = match programmes.as_slice() {
        [] => AudioLayout::None,
        [only] => AudioLayout::Muxed(only.iter().map(|a| a.index).collect()),
        [first, ..] if probe.video.is_none() => {
            AudioLayout::Muxed(first.iter().map(|a| a.index).collect())
        }
        all => {
            let mut names: Vec<String> = Vec::new();
            let ts = all
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let a = p[0];
                    let name = unique(&mut names, track_name(i, a));
                    AudioTrack {
                        sources: p.iter().map(|a| a.index).collect(),
                        folder: format!("audio_{i}"),
                        name,
                        language: a.language.as_deref().map(language::bcp47),
                        default: i == 0,
                    }
                })
                .collect();
            AudioLayout::Group(ts)
        }
    };
    (layout, warnings)
}

/// Groups tracks into programmes. An OBS or podcast recording writes one mono track per
/// microphone, untitled and in one language (or none): those are voices of one programme and
/// are mixed, not offered as a menu of alternates. A distinct language, a distinct title
/// (commentary, "Director"), or a commentary or audio-description mark keeps a track an
/// alternate of its own. Order is the first track's of each programme.
pub fn programmes<'a>(tracks: &[&'a AudioStream]) -> Vec<Vec<&'a AudioStream>> {
    let key = |a: &AudioStream| (a.language.as_deref().map(language::bcp47), a.title.clone());
    let mut out: Vec<Vec<&AudioStream>> = Vec::new();
    for a in tracks {
        let joins = out
            .iter_mut()
            .find(|p| !a.alternate_role && !p[0].alternate_role && key(p[0]) == key(a));
        match joins {
            Some(p) => p.push(a),
            None => out.push(vec![a]),
        }
    }
    out
}

fn track_name(i: usize, a: &AudioStream) -> String {
    a.title
        .clone()
        .or_else(|| a.language.as_deref().map(language::display_name))
        .unwrap_or_else(|| format!("Track {}", i + 1))
        .replace('"', "'")
}

fn unique(seen: &mut Vec<String>, name: String) -> String {
    let mut n = name.clone();
    let mut k = 2;
    while seen.contains(&n) {
        n = format!("{name} ({k})");
        k += 1;
    }
    seen.push(n.clone());
    n
}

fn s(x: impl ToString) -> String {
    x.to_string()
}

/// The filter graph: deinterlace, (HDR: downscale to the largest rendition, then tone-map),
/// 8-bit 4:2:0, then one branch per rendition at its rate and size, square pixels.
fn filter_graph(plan: &Plan, index: u32, out_dir: &Path) -> String {
    let n = plan.renditions.len();
    let mut chain = picture_chain(plan);
    chain.insert(
        0,
        timeline::video_logger(&timeline::log_file(out_dir, index)),
    );
    if let Some(hold) = plan.hold_last_frame_s {
        // After the costly steps, so that the held frames skip them.
        chain.push(format!("tpad=stop_mode=clone:stop_duration={hold:.3}"));
    }
    let splits: String = (0..n).map(|i| format!("[s{i}]")).collect();
    let mut graph = format!("[0:{index}]{},split={n}{splits}", chain.join(","));
    for (i, r) in plan.renditions.iter().enumerate() {
        graph.push_str(&format!(
            ";[s{i}]fps={:.4},scale={}:{}:flags=bicubic,setsar=1[v{i}]",
            plan.fps[i], r.width, r.height
        ));
    }
    graph
}

/// HDR reference white, cd/m² (BT.2408): where PQ and HLG put paper white and faces.
const HDR_REFERENCE_WHITE: u32 = 203;
/// The brightest HDR light kept distinct, as a multiple of reference white (1000 cd/m²).
const HDR_PEAK: &str = "4.926";

/// What every picture goes through before it is sized for a rung: deinterlacing, HDR tone
/// mapping, 8-bit 4:2:0. The poster and thumbnails go through it too, so they look like the
/// stream.
pub fn picture_chain(plan: &Plan) -> Vec<String> {
    let mut chain = Vec::new();
    if plan.deinterlace {
        chain.push("bwdif=mode=send_field:parity=auto:deint=all".to_string());
    }
    if let Some(h) = &plan.tonemap {
        // Tone mapping costs per pixel and zscale runs on one thread: do it at the largest
        // rendition's size, not the source's (4K HDR to a 1080p top rung: a quarter of the
        // work). Untagged primaries/matrix of a PQ/HLG source are BT.2020, which is what PQ
        // and HLG are defined with; without them zscale finds "no path between colorspaces".
        let top = &plan.renditions[0];
        chain.push(format!("scale={}:{}:flags=bicubic", top.width, top.height));
        // Tag the frames fully first (setparams), so that every zscale step knows where it
        // starts from.
        // Linear light with HDR reference white (203 cd/m², ITU-R BT.2408) at 1.0, so that
        // it lands on SDR white: with 100 it came out at 76% (code 182 of 235), a stop dark.
        // Möbius is the identity up to 0.9 and rolls the rest off up to 1000 cd/m² (4.93×
        // reference white, what most HDR10 is graded to); brighter highlights clip. Hable,
        // the curve before, dims reference white whatever its peak.
        chain.push(format!(
            "setparams=color_trc={}:color_primaries={}:colorspace={},\
             zscale=t=linear:npl={HDR_REFERENCE_WHITE},format=gbrpf32le,zscale=p=bt709,\
             tonemap=mobius:param=0.9:peak={HDR_PEAK}:desat=0,zscale=t=bt709:m=bt709:r=tv",
            h.transfer,
            h.primaries.as_deref().unwrap_or("bt2020"),
            h.matrix.as_deref().unwrap_or("bt2020nc"),
        ));
    }
    chain.push("format=yuv420p".into());
    chain
}

/// What `-map` takes for one published sound track used `uses` times: the source stream
/// itself, or the outputs of a mix of its voices added to `graph`. The voices are summed, not
/// averaged (`normalize=0`): one person speaks into each microphone at a time, and averaging
/// three tracks would make each voice 10 dB quieter.
fn audio_inputs(sources: &[u32], uses: usize, tag: &str, graph: &mut Vec<String>) -> Vec<String> {
    if let [one] = sources {
        return vec![format!("0:{one}"); uses];
    }
    let inputs: String = sources.iter().map(|i| format!("[0:{i}]")).collect();
    let outs: Vec<String> = (0..uses).map(|k| format!("[{tag}{k}]")).collect();
    let split = if uses > 1 {
        format!(",asplit={uses}")
    } else {
        String::new()
    };
    graph.push(format!(
        "{inputs}amix=inputs={}:duration=longest:normalize=0{split}{}",
        sources.len(),
        outs.concat()
    ));
    outs
}

/// How every fleet ffmpeg run starts: no banner, no stdin, overwrite, errors only (the
/// stderr tail kept for the item is then the errors).
pub fn quiet_ffmpeg() -> Vec<String> {
    [
        "ffmpeg",
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
    ]
    .map(s)
    .to_vec()
}

/// The full argv (program first) that turns `input` into `out_dir/<folder>/index.m3u8`.
pub fn argv(plan: &Plan, input: &Path, out_dir: &Path) -> Vec<String> {
    let mut a = quiet_ffmpeg();
    a.extend(["-i".into(), input.display().to_string()]);
    if plan.audio != AudioLayout::None {
        // The ladder's sound bitrate first: ffmpeg takes the last option matching a stream,
        // so a rung's own `-b:a:N` below overrides it.
        a.extend(["-b:a".into(), format!("{}k", plan.audio_kbps)]);
    }
    let mut graph = Vec::new();
    if let (Some(index), false) = (plan.video_index, plan.renditions.is_empty()) {
        graph.push(filter_graph(plan, index, out_dir));
    }
    let mut outputs = Outputs::default();
    video_outputs(plan, &mut graph, &mut outputs);
    audio_outputs(plan, &mut graph, &mut outputs);
    a.extend(filter_graphs(plan, graph, out_dir));
    a.extend(outputs.args);
    a.extend(encoder_settings(plan));
    a.extend(hls_muxer(&outputs.stream_map, out_dir));
    a
}

/// The `-map`s and per-stream options of every output stream, and the HLS muxer's
/// `-var_stream_map` entries that group them into variants.
#[derive(Default)]
struct Outputs {
    args: Vec<String>,
    stream_map: Vec<String>,
}

/// One video variant per rendition, at its bitrate, GOP and level, with the sound muxed in
/// when there is one programme.
fn video_outputs(plan: &Plan, graph: &mut Vec<String>, out: &mut Outputs) {
    let muxed = match &plan.audio {
        AudioLayout::Muxed(sources) if !plan.renditions.is_empty() => {
            Some(audio_inputs(sources, plan.renditions.len(), "am", graph))
        }
        _ => None,
    };
    for (i, r) in plan.renditions.iter().enumerate() {
        let a = &mut out.args;
        a.extend(["-map".into(), format!("[v{i}]")]);
        if let Some(m) = &muxed {
            a.extend(["-map".into(), m[i].clone()]);
        }
        a.extend(rung_video(plan, i, plan.crf(i), &format!(":v:{i}")));
        if muxed.is_some() {
            let kbps = r.audio_kbps.unwrap_or(plan.audio_kbps);
            a.extend([format!("-b:a:{i}"), format!("{kbps}k")]);
        }
        out.stream_map.push(if muxed.is_some() {
            format!("v:{i},a:{i},name:{}", r.name)
        } else {
            format!("v:{i},name:{}", r.name)
        });
    }
}

/// Rendition `i`'s encoder, rate control and GOP, each option suffixed with `spec` (a stream
/// specifier such as `:v:0`, or nothing for a file of one stream). With `crf`, capped CRF:
/// the quality target under the same maxrate and buffer as the fixed rate, so the rung's
/// level and BANDWIDTH ceiling do not move; without, the ladder's bitrate.
pub fn rung_video(plan: &Plan, i: usize, crf: Option<u8>, spec: &str) -> Vec<String> {
    let gop = (plan.fps[i] * f64::from(GOP_SECONDS)).round() as u32;
    let k = plan.renditions[i].video_kbps;
    let rate = match crf {
        Some(c) => [format!("-crf{spec}"), s(c)],
        None => [format!("-b{spec}"), format!("{k}k")],
    };
    let mut a = vec![format!("-c{spec}"), s("libx264")];
    a.extend(rate);
    a.extend([
        format!("-maxrate{spec}"),
        format!("{}k", k * MAXRATE_PCT / 100),
        format!("-bufsize{spec}"),
        format!("{}k", k * 3 / 2),
        format!("-g{spec}"),
        s(gop),
        format!("-keyint_min{spec}"),
        s(gop),
        format!("-level{spec}"),
        plan.levels[i].name(),
    ]);
    a
}

/// The sound of an audio-only source, or the alternate audio renditions.
fn audio_outputs(plan: &Plan, graph: &mut Vec<String>, out: &mut Outputs) {
    match &plan.audio {
        AudioLayout::Muxed(sources) if plan.renditions.is_empty() => {
            let m = audio_inputs(sources, 1, "am", graph);
            out.args.extend(["-map".into(), m[0].clone()]);
            out.stream_map.push("a:0,name:audio".into());
        }
        AudioLayout::Group(ts) => {
            for (j, t) in ts.iter().enumerate() {
                let m = audio_inputs(&t.sources, 1, &format!("ag{j}"), graph);
                out.args.extend(["-map".into(), m[0].clone()]);
                out.stream_map.push(format!("a:{j},name:{}", t.folder));
            }
        }
        _ => {}
    }
}

/// The `-filter_complex` options: the picture graph (with any mixes), then each published
/// audio stream's frame log in a graph of its own (see `timeline::audio_logger`).
fn filter_graphs(plan: &Plan, graph: Vec<String>, out_dir: &Path) -> Vec<String> {
    let mut graphs = vec![graph.join(";")];
    graphs.extend(
        plan.audio_sources()
            .into_iter()
            .map(|i| timeline::audio_logger(i, &timeline::log_file(out_dir, i))),
    );
    graphs
        .into_iter()
        .filter(|g| !g.is_empty())
        .flat_map(|g| ["-filter_complex".to_string(), g])
        .collect()
}

/// What every video and audio encoder shares.
fn encoder_settings(plan: &Plan) -> Vec<String> {
    let mut a = Vec::new();
    if !plan.renditions.is_empty() {
        a.extend(x264_shared(&plan.preset));
    }
    if plan.audio != AudioLayout::None {
        a.extend(["-c:a", "aac", "-ar", "48000", "-ac", "2"].map(s));
    }
    a
}

/// What every rendition's x264 shares: the preset, High profile, 4:2:0, keyframes at exact
/// times only.
pub fn x264_shared(preset: &str) -> Vec<String> {
    [
        "-preset",
        preset,
        "-profile:v",
        "high",
        "-pix_fmt",
        "yuv420p",
        "-sc_threshold",
        "0",
        // CEA-608 captions in the source's SEI are published as a WebVTT rendition,
        // and the master says CLOSED-CAPTIONS=NONE: libx264 would carry them through.
        "-a53cc",
        "0",
        "-force_key_frames",
        &format!("expr:gte(t,n_forced*{GOP_SECONDS})"),
    ]
    .map(s)
    .to_vec()
}

/// The HLS muxer: 6 s MPEG-TS segments into `out_dir/<variant>/`, progress on stdout.
fn hls_muxer(stream_map: &[String], out_dir: &Path) -> Vec<String> {
    let mut a: Vec<String> = [
        "-max_muxing_queue_size",
        "4096",
        "-f",
        "hls",
        "-hls_time",
        &SEGMENT_SECONDS.to_string(),
        // EVENT, not VOD: ffmpeg rewrites an EVENT playlist after every segment it closes
        // (a VOD one only at exit), which is what lets segments go up while it runs.
        "-hls_playlist_type",
        "event",
        "-hls_list_size",
        "0",
        "-hls_segment_type",
        "mpegts",
        "-hls_flags",
        "independent_segments+temp_file",
        "-var_stream_map",
        &stream_map.join(" "),
        "-progress",
        "pipe:1",
        "-nostats",
    ]
    .map(s)
    .to_vec();
    a.extend([
        "-hls_segment_filename".into(),
        out_dir.join("%v/seg_%05d.ts").display().to_string(),
        out_dir.join("%v/index.m3u8").display().to_string(),
    ]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcode::probe::{AudioStream, Probe, VideoStream};

    fn probe(w: u32, h: u32, fps: f64, audio: bool) -> Probe {
        Probe {
            video: Some(VideoStream {
                index: 0,
                width: w,
                height: h,
                sar: (1, 1),
                fps,
                ..Default::default()
            }),
            audio: if audio {
                vec![AudioStream {
                    index: 1,
                    codec: "aac".into(),
                    channels: 2,
                    ..Default::default()
                }]
            } else {
                Vec::new()
            },
            duration_s: Some(10.0),
            ..Default::default()
        }
    }

    #[test]
    fn a_video_stream_shorter_than_the_source_holds_its_last_frame() {
        // A VFR screen recording: frames to 7.017 s, the narration to 8 s.
        let mut p = probe(1280, 720, 16.0, true);
        p.duration_s = Some(8.0);
        p.audio[0].duration_s = Some(8.0);
        p.video.as_mut().unwrap().duration_s = Some(7.016667);
        let pl = plan(&p, &Ladder::default(), "veryfast", Some(60.0));
        let g = arg(
            &argv(&pl, Path::new("i"), Path::new("o")),
            "-filter_complex",
        )
        .to_string();
        let hold = g
            .find("tpad=stop_mode=clone:stop_duration=0.983")
            .expect(&g);
        assert!(
            hold < g.find("split").unwrap(),
            "once, before the split: {g}"
        );
        // Rounding and a last frame's duration are not a gap; an unstated length is left alone.
        p.video.as_mut().unwrap().duration_s = Some(7.95);
        assert_eq!(
            plan(&p, &Ladder::default(), "veryfast", None).hold_last_frame_s,
            None
        );
        p.video.as_mut().unwrap().duration_s = None;
        assert_eq!(
            plan(&p, &Ladder::default(), "veryfast", None).hold_last_frame_s,
            None
        );
        // A video that starts a second late and ends with the sound holds nothing.
        let v = p.video.as_mut().unwrap();
        (v.start_s, v.duration_s) = (1.0, Some(7.0));
        assert_eq!(
            plan(&p, &Ladder::default(), "veryfast", None).hold_last_frame_s,
            None
        );
        // Nor does a container longer than its picture and sound (a long subtitle track).
        p.video.as_mut().unwrap().start_s = 0.0;
        p.video.as_mut().unwrap().duration_s = Some(8.0);
        p.duration_s = Some(30.0);
        assert_eq!(
            plan(&p, &Ladder::default(), "veryfast", None).hold_last_frame_s,
            None
        );
    }

    fn arg<'a>(a: &'a [String], flag: &str) -> &'a str {
        &a[a.iter().position(|x| x == flag).unwrap() + 1]
    }

    #[test]
    fn one_decode_many_encodes() {
        let p = plan(
            &probe(1920, 1080, 60.0, true),
            &Ladder::default(),
            "veryfast",
            None,
        );
        assert_eq!(p.renditions.len(), 6);
        assert_eq!(p.fps[0], 60.0, "1080p60 keeps its rate at level 4.2");
        assert_eq!(p.fps[1], 60.0, "720p keeps the source's motion");
        assert_eq!(&p.fps[2..], [30.0; 4], "below 720p: at most 30 fps");
        let levels: Vec<u8> = p.levels.iter().map(|l| l.idc).collect();
        // 720p60 needs 3.2 (MaxMBPS); 540p30 3.1; the rest fit 3.0.
        assert_eq!(levels, [42, 32, 31, 30, 30, 30]);
        let a = argv(&p, Path::new("/in.mp4"), Path::new("/out"));
        assert_eq!(a.iter().filter(|x| *x == "-i").count(), 1);
        assert_eq!(arg(&a, "-var_stream_map"), "v:0,a:0,name:1080p v:1,a:1,name:720p v:2,a:2,name:540p v:3,a:3,name:360p v:4,a:4,name:240p v:5,a:5,name:144p");
        // The lowest rung's sound at 64 kb/s, after the ladder's 128 it overrides.
        assert_eq!((arg(&a, "-b:a"), arg(&a, "-b:a:5")), ("128k", "64k"));
        assert_eq!(arg(&a, "-b:a:4"), "128k");
        let pos = |f: &str| a.iter().position(|x| x == f).unwrap();
        assert!(pos("-b:a") < pos("-b:a:0"));
        assert!(a.contains(&"-sc_threshold".to_string()));
        assert_eq!((arg(&a, "-g:v:0"), arg(&a, "-level:v:0")), ("120", "4.2"));
        assert_eq!(arg(&a, "-level:v:4"), "3.0");
        assert_eq!(arg(&a, "-g:v:4"), "60", "a keyframe every 2 s at 30 fps");
        assert_eq!(arg(&a, "-hls_playlist_type"), "event");
        let logger =
            "[0:0]metadata=mode=add:key=fleet:value=1,metadata=mode=print:file=/out/decoded-0.txt,";
        let g = arg(&a, "-filter_complex");
        assert!(
            g.starts_with(&format!("{logger}format=yuv420p,split=6")),
            "{g}"
        );
        // The sound's frames are logged in a graph of their own.
        let graphs: Vec<&String> = a
            .windows(2)
            .filter(|w| w[0] == "-filter_complex")
            .map(|w| &w[1])
            .collect();
        assert_eq!(graphs.len(), 2);
        assert!(graphs[1].starts_with("[0:1]ametadata=") && graphs[1].ends_with("anullsink"));
    }

    #[test]
    fn a_rung_with_a_crf_is_capped_and_a_left_out_one_goes_with_its_level() {
        let mut p = plan(
            &probe(1280, 720, 30.0, true),
            &Ladder::default(),
            "veryfast",
            None,
        );
        assert_eq!(
            p.ladder_summary(),
            None,
            "the configured ladder says nothing"
        );
        p.crfs = vec![None, Some(17), Some(15), None, None];
        p.prune(0, "adds nothing visible over 540p".into());
        p.rate_control = crate::domain::quality::RateControl::Adaptive;
        assert_eq!(p.renditions.len(), 4);
        assert_eq!((p.fps.len(), p.levels.len()), (4, 4));
        assert_eq!(p.crf(0), Some(17));
        let a = argv(&p, Path::new("/in.mp4"), Path::new("/out"));
        // Capped CRF: the quality target under the rung's own ceiling, no target bitrate.
        assert_eq!(arg(&a, "-crf:v:0"), "17");
        assert_eq!(arg(&a, "-maxrate:v:0"), "1926k");
        assert_eq!(arg(&a, "-bufsize:v:0"), "2700k");
        assert!(!a.contains(&"-b:v:0".to_string()));
        assert_eq!(arg(&a, "-b:v:2"), "400k");
        assert!(!a.iter().any(|x| x == "-crf:v:2"));
        assert!(!arg(&a, "-var_stream_map").contains("720p"));
        assert_eq!(
            p.ladder_summary().unwrap(),
            "adaptive: 540p CRF 17, 360p CRF 15, 240p fixed 400 kb/s, 144p fixed 160 kb/s; \
             720p left out: adds nothing visible over 540p"
        );
    }

    #[test]
    fn audio_only_and_video_only() {
        let mut p = probe(640, 360, 30.0, false);
        let v = plan(&p, &Ladder::default(), "veryfast", None);
        let a = argv(&v, Path::new("i"), Path::new("o"));
        assert!(!a.iter().any(|x| x.starts_with("0:")));
        assert!(!a.contains(&"aac".to_string()));
        p = probe(640, 360, 30.0, true);
        p.video = None;
        let au = plan(&p, &Ladder::default(), "veryfast", None);
        assert_eq!(au.variant_names(), ["audio"]);
        let a = argv(&au, Path::new("i"), Path::new("o"));
        // Only the sound's frame log: no picture graph.
        assert_eq!(a.iter().filter(|x| *x == "-filter_complex").count(), 1);
        assert_eq!(arg(&a, "-map"), "0:1");
        assert!(a.contains(&"a:0,name:audio".to_string()));
        // Audio only, two tracks: the source's default one (listed first by the probe).
        p.audio.push(AudioStream {
            index: 2,
            codec: "aac".into(),
            language: Some("fre".into()),
            ..Default::default()
        });
        p.audio.swap(0, 1);
        assert_eq!(
            plan(&p, &Ladder::default(), "veryfast", None).audio,
            AudioLayout::Muxed(vec![2])
        );
    }

    #[test]
    fn one_mic_per_track_is_mixed_languages_and_titles_stay_alternates() {
        let mono = |index, lang: Option<&str>, title: Option<&str>| AudioStream {
            index,
            codec: "pcm_s16le".into(),
            channels: 1,
            language: lang.map(Into::into),
            title: title.map(Into::into),
            ..Default::default()
        };
        let mut p = probe(1280, 720, 30.0, false);
        // OBS: three untitled mono tracks, no language.
        p.audio = vec![
            mono(1, None, None),
            mono(2, None, None),
            mono(3, None, None),
        ];
        let pl = plan(&p, &Ladder::default(), "veryfast", None);
        assert_eq!(pl.audio, AudioLayout::Muxed(vec![1, 2, 3]));
        assert!(
            pl.warnings[0].contains("1, 2, 3 mixed"),
            "{:?}",
            pl.warnings
        );
        let a = argv(&pl, Path::new("i"), Path::new("o"));
        let g = arg(&a, "-filter_complex");
        assert!(
            g.contains("[0:1][0:2][0:3]amix=inputs=3:duration=longest:normalize=0,asplit=5[am0]"),
            "{g}"
        );
        assert_eq!(a.iter().filter(|x| x.starts_with("[am")).count(), 5);
        // "eng" and "en" are one language; a titled track and a commentary stay apart.
        let mut commentary = mono(4, Some("en"), None);
        commentary.alternate_role = true;
        p.audio = vec![
            mono(1, Some("eng"), None),
            mono(2, Some("en"), None),
            mono(3, Some("fra"), None),
            mono(5, Some("en"), Some("Director")),
            commentary,
        ];
        let pl = plan(&p, &Ladder::default(), "veryfast", None);
        let AudioLayout::Group(ts) = &pl.audio else {
            panic!("{:?}", pl.audio)
        };
        let sources: Vec<&[u32]> = ts.iter().map(|t| t.sources.as_slice()).collect();
        assert_eq!(sources, [&[1, 2][..], &[3], &[5], &[4]]);
        let a = argv(&pl, Path::new("i"), Path::new("o"));
        assert!(arg(&a, "-filter_complex")
            .contains("[0:1][0:2]amix=inputs=2:duration=longest:normalize=0[ag00]"));
    }

    #[test]
    fn an_undecodable_track_is_left_out_with_a_warning() {
        let mut p = probe(640, 360, 30.0, true);
        p.audio.push(AudioStream {
            index: 2,
            codec: "unknown".into(),
            language: Some("fra".into()),
            ..Default::default()
        });
        let pl = plan(&p, &Ladder::default(), "veryfast", None);
        assert_eq!(pl.audio, AudioLayout::Muxed(vec![1]));
        assert_eq!(
            pl.warnings,
            ["audio track 2 left out: its codec (unknown) cannot be decoded"]
        );
        assert!(!argv(&pl, Path::new("i"), Path::new("o")).contains(&"0:2".to_string()));
    }

    #[test]
    fn the_chosen_streams_are_mapped_by_index() {
        // Cover art is stream 0, the video stream 2, two audio tracks 3 (default) and 1.
        let mut p = probe(720, 576, 25.0, false);
        let v = p.video.as_mut().unwrap();
        (v.index, v.sar, v.interlaced) = (2, (64, 45), true);
        let track = |index, lang: &str, default| AudioStream {
            index,
            codec: "pcm_s16le".into(),
            channels: 1,
            language: Some(lang.into()),
            default,
            ..Default::default()
        };
        p.audio = vec![track(3, "eng", true), track(1, "fra", false)];
        let pl = plan(&p, &Ladder::default(), "veryfast", None);
        // PAL 16:9 anamorphic: 1024x576 displayed, so the 540p rung is 960x540.
        assert_eq!(
            (pl.renditions[0].width, pl.renditions[0].height),
            (960, 540)
        );
        assert_eq!(pl.fps[0], 25.0, "one frame per field, halved below 720p");
        assert_eq!(
            pl.folders(),
            ["540p", "360p", "240p", "144p", "audio_0", "audio_1"]
        );
        let AudioLayout::Group(ts) = &pl.audio else {
            panic!("two tracks make a group")
        };
        assert_eq!(
            (
                ts[0].name.as_str(),
                ts[0].language.as_deref(),
                ts[0].default
            ),
            ("English", Some("en"), true)
        );
        assert_eq!(ts[1].language.as_deref(), Some("fr"));
        let a = argv(&pl, Path::new("i"), Path::new("o"));
        let g = arg(&a, "-filter_complex");
        assert!(g.contains("decoded-2.txt,bwdif=mode=send_field"), "{g}");
        assert_eq!(
            arg(&a, "-var_stream_map"),
            "v:0,name:540p v:1,name:360p v:2,name:240p v:3,name:144p a:0,name:audio_0 a:1,name:audio_1"
        );
        let maps: Vec<&String> = a
            .iter()
            .skip_while(|x| *x != "-map")
            .step_by(2)
            .skip(1)
            .collect();
        assert!(maps.is_empty() || !maps.iter().any(|m| *m == "0:v:0"));
        assert!(a.contains(&"0:3".to_string()) && a.contains(&"0:1".to_string()));
    }

    #[test]
    fn variable_rate_sources_keep_their_motion() {
        let mut p = probe(1280, 720, 14.2, false);
        p.video.as_mut().unwrap().nominal_fps = Some(60.0);
        let v = p.video.as_ref().unwrap();
        assert!(looks_variable(v));
        assert_eq!(
            source_rate(v, Some(60.3)),
            60.0,
            "snapped to a standard rate"
        );
        assert!((source_rate(v, Some(59.7)) - 60000.0 / 1001.0).abs() < 1e-9);
        assert_eq!(source_rate(v, Some(120.0)), 60.0);
        assert_eq!(source_rate(v, Some(100.0)), 50.0);
        assert!((source_rate(v, None) - 14.2).abs() < 1e-9);
        let pl = plan(&p, &Ladder::default(), "veryfast", Some(59.94));
        assert!((pl.fps[0] - 59.94).abs() < 0.01);
    }

    #[test]
    fn hdr_tagged_by_transfer_only_is_tone_mapped_after_downscaling() {
        let mut p = probe(3840, 2160, 24.0, false);
        p.video.as_mut().unwrap().hdr = Some(Hdr {
            transfer: "smpte2084".into(),
            primaries: None,
            matrix: None,
        });
        let pl = plan(&p, &Ladder::default(), "veryfast", None);
        let a = argv(&pl, Path::new("i"), Path::new("o"));
        let g = arg(&a, "-filter_complex");
        let scale = g.find("scale=1920:1080").unwrap();
        let tonemap = g.find("tonemap").unwrap();
        assert!(scale < tonemap, "{g}");
        assert!(g.contains("setparams=color_trc=smpte2084:color_primaries=bt2020:colorspace=bt2020nc,zscale=t=linear"), "{g}");
    }
}
