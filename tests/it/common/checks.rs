//! Independent checks of a published HLS stream, each against the text it comes from (RFC 8216,
//! ITU-T H.264 Table A-1, Apple's HLS authoring spec; see /work/shared/MEDIA.md), never against
//! the worker's own arithmetic. Each returns `Err(reason)` so that a negative control can show
//! it rejects a stream known to be wrong; `media::check_stream` panics on the first `Err`.

use std::path::Path;
use std::process::Command;

/// One segment of a media playlist as published: its size on disk and its `#EXTINF`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seg {
    pub bytes: u64,
    pub seconds: f64,
}

/// Bit rate of a run of segments: its size in bits over its duration.
fn rate(run: &[Seg]) -> f64 {
    let bits: f64 = run.iter().map(|s| s.bytes as f64 * 8.0).sum();
    let secs: f64 = run.iter().map(|s| s.seconds).sum();
    if secs > 0.0 {
        bits / secs
    } else {
        0.0
    }
}

/// The peak segment bit rate of RFC 8216 §4.3.4.2: the largest bit rate of any run of
/// contiguous segments whose total duration is between 0.5 and 1.5 times the target duration.
/// A playlist with no such run (shorter than half the target) has its whole rate as its peak.
pub fn rfc8216_peak(segs: &[Seg], target: f64) -> f64 {
    let (lo, hi) = (0.5 * target, 1.5 * target);
    let mut peak: Option<f64> = None;
    for i in 0..segs.len() {
        let mut secs = 0.0;
        for j in i..segs.len() {
            secs += segs[j].seconds;
            if secs > hi + 1e-9 {
                break;
            }
            if secs >= lo - 1e-9 {
                let r = rate(&segs[i..=j]);
                peak = Some(peak.map_or(r, |p: f64| p.max(r)));
            }
        }
    }
    peak.unwrap_or_else(|| rate(segs))
}

/// The mean bit rate of a whole playlist.
pub fn mean_rate(segs: &[Seg]) -> f64 {
    rate(segs)
}

/// A published duration against the source's: within half a second plus 2% (AAC priming, a
/// last frame, container rounding), so that a clip of 2 s cut to 1 s fails as surely as a
/// lecture missing a minute.
pub fn check_duration(what: &str, published: f64, source: f64) -> Result<(), String> {
    let tolerance = 0.5 + 0.02 * source;
    if (published - source).abs() <= tolerance {
        Ok(())
    } else {
        Err(format!(
            "{what} lasts {published:.2} s, the source {source:.2} s (tolerance {tolerance:.2} s)"
        ))
    }
}

/// A declared rate against a measured one: at least the measurement (rounding aside) and at
/// most 10% above it (Apple: the measured peak within 10% of BANDWIDTH).
pub fn check_declared(what: &str, declared: u64, measured: f64) -> Result<(), String> {
    let d = declared as f64;
    if d >= measured * 0.999 && d <= measured * 1.10 {
        Ok(())
    } else {
        Err(format!(
            "{what}: declared {declared} b/s vs measured {measured:.0} b/s (must be within \
             [measured, 1.10 x measured])"
        ))
    }
}

/// A media playlist read from disk: its text, target duration and segments (sizes from the
/// files beside it).
#[derive(Debug, Clone)]
pub struct Media {
    pub text: String,
    pub target: f64,
    pub segs: Vec<Seg>,
    /// Segment paths, in order.
    pub files: Vec<std::path::PathBuf>,
}

/// Reads a media playlist and sizes its segments.
pub fn read_media(path: &Path) -> Result<Media, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let target: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .ok_or_else(|| format!("{}: no EXT-X-TARGETDURATION", path.display()))?
        .trim()
        .parse()
        .map_err(|e| format!("{}: EXT-X-TARGETDURATION: {e}", path.display()))?;
    let base = path.parent().unwrap();
    let mut segs = Vec::new();
    let mut files = Vec::new();
    for s in fleet::transcode::playlist::segments(&text) {
        let f = base.join(&s.uri);
        let bytes = std::fs::metadata(&f)
            .map_err(|_| format!("{}: segment {} missing", path.display(), s.uri))?
            .len();
        segs.push(Seg {
            bytes,
            seconds: s.duration,
        });
        files.push(f);
    }
    if segs.is_empty() {
        return Err(format!("{}: no segments", path.display()));
    }
    Ok(Media {
        text,
        target,
        segs,
        files,
    })
}

/// The media-playlist rules of RFC 8216 and Apple's HLS authoring spec a strict player (Safari)
/// enforces: `#EXTM3U`, `#EXT-X-PLAYLIST-TYPE:VOD`, `#EXT-X-ENDLIST`, a target duration no
/// segment exceeds (rounded), at most the 6 s Apple recommends, no empty segment.
pub fn check_media_playlist(uri: &str, m: &Media) -> Result<(), String> {
    let pl = &m.text;
    if !pl.starts_with("#EXTM3U") {
        return Err(format!("{uri}: no #EXTM3U"));
    }
    if !pl.lines().any(|l| l.trim() == "#EXT-X-PLAYLIST-TYPE:VOD") {
        return Err(format!("{uri}: no #EXT-X-PLAYLIST-TYPE:VOD"));
    }
    if !fleet::transcode::playlist::is_complete(pl) {
        return Err(format!(
            "{uri}: no #EXT-X-ENDLIST (not a complete VOD playlist)"
        ));
    }
    if m.target > 6.0 {
        return Err(format!("{uri}: target duration {} above 6 s", m.target));
    }
    for s in &m.segs {
        if s.seconds.round() > m.target {
            return Err(format!(
                "{uri}: a segment of {} s exceeds the target duration {}",
                s.seconds, m.target
            ));
        }
        if s.seconds <= 0.0 || s.bytes == 0 {
            return Err(format!(
                "{uri}: empty segment ({} s, {} B)",
                s.seconds, s.bytes
            ));
        }
    }
    Ok(())
}

/// Splits an HLS attribute list (`A=1,B="x,y",C=z`) into pairs, quotes removed; commas inside
/// quoted strings do not split.
pub fn attributes(list: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = list.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().to_string();
        let after = &rest[eq + 1..];
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            let tail = q.get(end + 1..).unwrap_or("");
            (q[..end].to_string(), tail.strip_prefix(',').unwrap_or(tail))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            let tail = &after[end..];
            (
                after[..end].trim().to_string(),
                tail.strip_prefix(',').unwrap_or(tail),
            )
        };
        out.push((key, value));
        rest = next.trim_start();
    }
    out
}

/// Every `#EXT-X-STREAM-INF` says `CLOSED-CAPTIONS=NONE` (fleet publishes no captions; Apple
/// asks for the attribute when a variant carries none, or players may wait for 608 captions).
pub fn check_closed_captions(master: &str) -> Result<(), String> {
    for l in master.lines() {
        if let Some(attrs) = l.strip_prefix("#EXT-X-STREAM-INF:") {
            let cc = attributes(attrs)
                .into_iter()
                .find(|(k, _)| k == "CLOSED-CAPTIONS");
            match cc {
                Some((_, v)) if v == "NONE" => {}
                other => return Err(format!("CLOSED-CAPTIONS=NONE missing ({other:?}) on: {l}")),
            }
        }
    }
    Ok(())
}

/// Alternate audio, as RFC 8216 §4.3.4.1.1 wants it: every `AUDIO="g"` of a variant names a
/// group that exists; in every group each rendition has a NAME (unique in the group) and a URI,
/// at most one says DEFAULT=YES (exactly one here: fleet marks the source's default).
pub fn check_audio_groups(master: &str) -> Result<(), String> {
    let media = super::media::audio_renditions(master);
    let mut groups: std::collections::BTreeMap<&str, Vec<&super::media::AudioRendition>> =
        Default::default();
    for m in &media {
        groups.entry(m.group.as_str()).or_default().push(m);
    }
    for (g, ms) in &groups {
        let defaults = ms.iter().filter(|m| m.default).count();
        if defaults != 1 {
            return Err(format!(
                "audio group {g}: {defaults} renditions say DEFAULT=YES"
            ));
        }
        let mut names: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
        if names.iter().any(|n| n.is_empty()) {
            return Err(format!("audio group {g}: a rendition without NAME"));
        }
        names.sort();
        names.dedup();
        if names.len() != ms.len() {
            return Err(format!("audio group {g}: NAMEs not unique"));
        }
        if ms.iter().any(|m| m.uri.is_none()) {
            return Err(format!("audio group {g}: a rendition without URI"));
        }
    }
    for v in super::media::variants(master) {
        if let Some(g) = &v.audio {
            if !groups.contains_key(g.as_str()) {
                return Err(format!(
                    "{}: AUDIO=\"{g}\" names no EXT-X-MEDIA group",
                    v.uri
                ));
            }
            if !v.codecs.contains("mp4a") {
                return Err(format!(
                    "{}: CODECS {:?} omits the audio of its group {g}",
                    v.uri, v.codecs
                ));
            }
        }
    }
    Ok(())
}

/// RESOLUTION keeps the source's display aspect ratio (width · SAR / height), within 2%.
pub fn check_display_aspect(uri: &str, resolution: (u32, u32), display: f64) -> Result<(), String> {
    let (w, h) = resolution;
    let a = f64::from(w) / f64::from(h);
    if (a - display).abs() <= display * 0.02 {
        Ok(())
    } else {
        Err(format!(
            "{uri}: RESOLUTION {w}x{h} is {a:.3}:1, the source displays at {display:.3}:1"
        ))
    }
}

/// The bitstream has square pixels (SAR 1:1, or none written): a player shows RESOLUTION as is.
pub fn check_square_pixels(uri: &str, segment: &Path) -> Result<(), String> {
    let sar = super::media::ffprobe_field(segment, "v:0", "stream=sample_aspect_ratio");
    match sar.as_str() {
        "1:1" | "" | "N/A" | "0:1" => Ok(()),
        other => Err(format!(
            "{uri}: sample aspect ratio {other}, not square pixels"
        )),
    }
}

/// One row of ITU-T H.264 Table A-1.
#[derive(Debug, Clone, Copy)]
pub struct Level {
    /// `level_idc` (10 × the level number).
    pub idc: u32,
    /// Max macroblock processing rate, MB/s.
    pub max_mbps: u64,
    /// Max frame size, macroblocks.
    pub max_fs: u64,
    /// Max video bit rate for the High profile (1.25 × the table's MaxBR), kb/s.
    pub max_br_high_kbps: u64,
}

/// Table A-1, levels 1.0 to 5.2 (x264 picks 2.x for small rungs by itself; 1b left out).
/// MaxBR High is 1.25 x the table's MaxBR (cpbBrVclFactor 1250 vs 1000).
#[rustfmt::skip]
pub const LEVELS: [Level; 16] = [
    Level { idc: 10, max_mbps: 1_485, max_fs: 99, max_br_high_kbps: 80 },
    Level { idc: 11, max_mbps: 3_000, max_fs: 396, max_br_high_kbps: 240 },
    Level { idc: 12, max_mbps: 6_000, max_fs: 396, max_br_high_kbps: 480 },
    Level { idc: 13, max_mbps: 11_880, max_fs: 396, max_br_high_kbps: 960 },
    Level { idc: 20, max_mbps: 11_880, max_fs: 396, max_br_high_kbps: 2_500 },
    Level { idc: 21, max_mbps: 19_800, max_fs: 792, max_br_high_kbps: 5_000 },
    Level { idc: 22, max_mbps: 20_250, max_fs: 1_620, max_br_high_kbps: 5_000 },
    Level { idc: 30, max_mbps: 40_500, max_fs: 1_620, max_br_high_kbps: 12_500 },
    Level { idc: 31, max_mbps: 108_000, max_fs: 3_600, max_br_high_kbps: 17_500 },
    Level { idc: 32, max_mbps: 216_000, max_fs: 5_120, max_br_high_kbps: 25_000 },
    Level { idc: 40, max_mbps: 245_760, max_fs: 8_192, max_br_high_kbps: 25_000 },
    Level { idc: 41, max_mbps: 245_760, max_fs: 8_192, max_br_high_kbps: 62_500 },
    Level { idc: 42, max_mbps: 522_240, max_fs: 8_704, max_br_high_kbps: 62_500 },
    Level { idc: 50, max_mbps: 589_824, max_fs: 22_080, max_br_high_kbps: 168_750 },
    Level { idc: 51, max_mbps: 983_040, max_fs: 36_864, max_br_high_kbps: 300_000 },
    Level { idc: 52, max_mbps: 2_073_600, max_fs: 36_864, max_br_high_kbps: 300_000 },
];

/// Apple's ceiling for H.264 in HLS (authoring spec 1.3b): High@5.2. The spec also asks that
/// some variants be at 4.1 or below (1.3a): see `check_some_variant_at_most_4_1`.
pub const APPLE_MAX_LEVEL: u32 = 52;

/// Apple 1.3a: some H.264 variants SHOULD be at level 4.1 or below, for older devices.
pub fn check_some_variant_at_most_4_1(codecs: &[&str]) -> Result<(), String> {
    let levels: Vec<u32> = codecs
        .iter()
        .filter_map(|c| c.split(',').find(|x| x.trim().starts_with("avc1.")))
        .filter_map(|a| u32::from_str_radix(a.trim().get(9..11)?, 16).ok())
        .collect();
    if levels.is_empty() || levels.iter().any(|l| *l <= 41) {
        Ok(())
    } else {
        Err(format!(
            "no H.264 variant at level 4.1 or below: {levels:?}"
        ))
    }
}

/// Whether a frame of `w`x`h` at `fps` and a peak of `peak_bps` fit `level` (Table A-1):
/// frame size in macroblocks ≤ MaxFS, each side ≤ sqrt(8·MaxFS) macroblocks, macroblocks per
/// second ≤ MaxMBPS, bit rate ≤ MaxBR (× 1.25 for High profiles, the table's base otherwise).
pub fn check_table_a1(
    level_idc: u32,
    w: u32,
    h: u32,
    fps: f64,
    peak_bps: f64,
    high: bool,
) -> Result<(), String> {
    let l = LEVELS
        .iter()
        .find(|l| l.idc == level_idc)
        .ok_or_else(|| format!("level_idc {level_idc} is not in Table A-1"))?;
    let (mw, mh) = (u64::from(w.div_ceil(16)), u64::from(h.div_ceil(16)));
    let fs = mw * mh;
    let side = ((8 * l.max_fs) as f64).sqrt();
    let mut why = Vec::new();
    if fs > l.max_fs {
        why.push(format!("{fs} MBs per frame > MaxFS {}", l.max_fs));
    }
    if mw as f64 > side || mh as f64 > side {
        why.push(format!(
            "{mw}x{mh} MBs: a side above sqrt(8*MaxFS) = {side:.0}"
        ));
    }
    let mbps = fs as f64 * fps;
    if mbps > l.max_mbps as f64 * 1.001 {
        why.push(format!(
            "{mbps:.0} MB/s at {fps} fps > MaxMBPS {}",
            l.max_mbps
        ));
    }
    let max_br = if high {
        l.max_br_high_kbps as f64
    } else {
        l.max_br_high_kbps as f64 / 1.25
    } * 1000.0;
    if peak_bps > max_br {
        why.push(format!("peak {peak_bps:.0} b/s > MaxBR {max_br:.0} b/s"));
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{w}x{h}@{fps} exceeds level {}.{}: {}",
            level_idc / 10,
            level_idc % 10,
            why.join("; ")
        ))
    }
}

/// The H.264 level a rendition declares in CODECS (`avc1.PPCCLL`) is the one in its bitstream,
/// within Apple's 5.2, and true for its size, frame rate and peak bit rate (Table A-1).
pub fn check_h264_level(
    uri: &str,
    codecs: &str,
    segment: &Path,
    fps: f64,
    peak_bps: f64,
) -> Result<(), String> {
    let avc1 = codecs
        .split(',')
        .map(str::trim)
        .find(|c| c.starts_with("avc1."))
        .ok_or_else(|| format!("{uri}: no avc1 in CODECS {codecs:?}"))?;
    let hex = avc1
        .get(5..11)
        .ok_or_else(|| format!("{uri}: malformed {avc1}"))?;
    let declared =
        u32::from_str_radix(&hex[4..6], 16).map_err(|e| format!("{uri}: level of {avc1}: {e}"))?;
    let profile_idc = u32::from_str_radix(&hex[0..2], 16).unwrap_or(0);
    let coded: u32 = super::media::ffprobe_field(segment, "v:0", "stream=level")
        .parse()
        .map_err(|_| format!("{uri}: ffprobe reports no H.264 level"))?;
    if coded != declared {
        return Err(format!(
            "{uri}: CODECS {avc1} declares level {declared}, the bitstream says {coded}"
        ));
    }
    if declared > APPLE_MAX_LEVEL {
        return Err(format!(
            "{uri}: level {declared} above Apple's ceiling for H.264 ({APPLE_MAX_LEVEL})"
        ));
    }
    let size = super::media::ffprobe_lines(segment, "v:0", "stream=width,height");
    let (w, h) = match size.as_slice() {
        [w, h, ..] => (
            w.parse().map_err(|_| format!("{uri}: width {size:?}"))?,
            h.parse().map_err(|_| format!("{uri}: height {size:?}"))?,
        ),
        _ => return Err(format!("{uri}: no picture size in the bitstream")),
    };
    // profile_idc 100 and up are the High profiles (their MaxBR is 1.25x the table's).
    check_table_a1(declared, w, h, fps, peak_bps, profile_idc >= 100)
        .map_err(|e| format!("{uri}: {e}"))
}

/// ffmpeg's `idet` counts over a whole file (its multi-frame detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idet {
    pub tff: u64,
    pub bff: u64,
    pub progressive: u64,
    pub undetermined: u64,
}

/// Runs `idet` on the first video stream of `path` (a file or a playlist).
pub fn idet(path: &Path) -> Idet {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-vf", "idet", "-an", "-f", "null", "-"])
        .output()
        .expect("ffmpeg installed");
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("Multi frame detection:"))
        .unwrap_or_else(|| panic!("idet printed nothing for {}: {err}", path.display()));
    let num = |key: &str| -> u64 {
        line.split(key)
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    };
    Idet {
        tff: num("TFF:"),
        bff: num("BFF:"),
        progressive: num("Progressive:"),
        undetermined: num("Undetermined:"),
    }
}

/// The picture is progressive: idet finds far more progressive frames than combed ones (a
/// deinterlaced testsrc2 scores ~46 vs 4; a woven one 0 vs 50).
pub fn check_progressive(uri: &str, path: &Path) -> Result<(), String> {
    let d = idet(path);
    if d.progressive > 0 && d.progressive >= 5 * (d.tff + d.bff) {
        Ok(())
    } else {
        Err(format!("{uri}: combed, idet says {d:?}"))
    }
}

/// Frames actually carried per second equal the declared FRAME-RATE, within 3% (a constant
/// frame rate, and the one the master announces).
pub fn check_frame_rate(uri: &str, path: &Path, declared: f64) -> Result<f64, String> {
    let fps = super::media::measured_fps(path);
    if (fps - declared).abs() <= declared * 0.03 {
        Ok(fps)
    } else {
        Err(format!(
            "{uri}: {fps:.2} frames/s carried vs FRAME-RATE {declared}"
        ))
    }
}

/// One `EXT-X-I-FRAME-STREAM-INF` of a master playlist.
#[derive(Debug)]
pub struct IFrameInf {
    pub uri: String,
    pub bandwidth: u64,
    pub resolution: (u32, u32),
    pub codecs: String,
}

/// The I-frame playlists a master declares.
pub fn iframe_infs(master: &str) -> Vec<IFrameInf> {
    master
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-I-FRAME-STREAM-INF:"))
        .map(|attrs| {
            let get = |k: &str| {
                let at = attrs
                    .find(&format!("{k}="))
                    .unwrap_or_else(|| panic!("no {k} in {attrs}"));
                let rest = &attrs[at + k.len() + 1..];
                if let Some(q) = rest.strip_prefix('"') {
                    q.split('"').next().unwrap().to_string()
                } else {
                    rest.split(',').next().unwrap().to_string()
                }
            };
            let (w, h) = get("RESOLUTION")
                .split_once('x')
                .map(|(w, h)| (w.parse().unwrap(), h.parse().unwrap()))
                .unwrap();
            IFrameInf {
                uri: get("URI"),
                bandwidth: get("BANDWIDTH").parse().unwrap(),
                resolution: (w, h),
                codecs: get("CODECS"),
            }
        })
        .collect()
}

/// An I-frame playlist is true: VOD, `EXT-X-I-FRAMES-ONLY`, a map; its entries last as long as
/// the rendition (`rendition_seconds`, within half a second); its BANDWIDTH covers the RFC 8216
/// peak of its entries; and the bytes it names (map + range) decode, for the first, a middle
/// and the last entry, as a keyframe of the declared size.
pub fn check_iframe_playlist(
    dir: &Path,
    inf: &IFrameInf,
    rendition_seconds: f64,
) -> Result<(), String> {
    let path = dir.join(&inf.uri);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", inf.uri))?;
    let base = path.parent().unwrap();
    for tag in [
        "#EXT-X-I-FRAMES-ONLY",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-ENDLIST",
    ] {
        if !text.contains(tag) {
            return Err(format!("{}: no {tag}", inf.uri));
        }
    }
    let range = |s: &str| -> (u64, u64) {
        let (len, off) = s.trim_matches('"').split_once('@').unwrap();
        (len.parse().unwrap(), off.parse().unwrap())
    };
    let map = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:"))
        .ok_or_else(|| format!("{}: no EXT-X-MAP", inf.uri))?;
    let map_uri = map
        .split("URI=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let map_range = range(map.split("BYTERANGE=").nth(1).unwrap());
    let target: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| format!("{}: no target duration", inf.uri))?;
    let (mut entries, mut dur, mut br) = (Vec::new(), None, None);
    for l in text.lines() {
        if let Some(d) = l.strip_prefix("#EXTINF:") {
            dur = d.split(',').next().and_then(|d| d.parse::<f64>().ok());
        } else if let Some(r) = l.strip_prefix("#EXT-X-BYTERANGE:") {
            br = Some(range(r));
        } else if !l.starts_with('#') && !l.is_empty() {
            let (d, r) = (dur.take().unwrap(), br.take().unwrap());
            entries.push((l.to_string(), d, r));
        }
    }
    if entries.is_empty() {
        return Err(format!("{}: no entries", inf.uri));
    }
    let total: f64 = entries.iter().map(|e| e.1).sum();
    if (total - rendition_seconds).abs() > 0.5 {
        return Err(format!(
            "{}: I-frames cover {total:.2} s of {rendition_seconds:.2} s",
            inf.uri
        ));
    }
    let segs: Vec<Seg> = entries
        .iter()
        .map(|e| Seg {
            bytes: e.2 .0,
            seconds: e.1,
        })
        .collect();
    let peak = rfc8216_peak(&segs, target);
    if (inf.bandwidth as f64) < peak * 0.999 {
        return Err(format!(
            "{}: BANDWIDTH {} below the I-frames' peak {peak:.0}",
            inf.uri, inf.bandwidth
        ));
    }
    let read = |uri: &str, (len, off): (u64, u64)| -> Vec<u8> {
        let all = std::fs::read(base.join(uri)).unwrap();
        all[off as usize..(off + len) as usize].to_vec()
    };
    let header = read(map_uri, map_range);
    for i in [0, entries.len() / 2, entries.len() - 1] {
        let (uri, _, r) = &entries[i];
        let mut bytes = header.clone();
        bytes.extend(read(uri, *r));
        let tmp = tempfile::Builder::new().suffix(".ts").tempfile().unwrap();
        std::fs::write(tmp.path(), &bytes).unwrap();
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
            .args(["frame=key_frame,pict_type,width,height", "-of", "csv=p=0"])
            .arg(tmp.path())
            .output()
            .unwrap();
        let first = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let want = format!("1,{},{},I", inf.resolution.0, inf.resolution.1);
        if !first.starts_with(&want) {
            return Err(format!(
                "{}: entry {i} ({uri} {}@{}) decodes as {first:?}, not a {want} keyframe",
                inf.uri, r.0, r.1
            ));
        }
    }
    Ok(())
}
