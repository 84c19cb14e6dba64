//! ffprobe: what the source is, before deciding the ladder.

use crate::error::TranscodeError;
use serde::Deserialize;
use std::path::Path;

/// What fleet needs to know about a source.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Probe {
    /// The video stream to encode, if any (see [`parse`] for how it is chosen).
    pub video: Option<VideoStream>,
    /// Every audio stream, in the order to publish them: the source's default first.
    pub audio: Vec<AudioStream>,
    /// Duration in seconds, if known.
    pub duration_s: Option<f64>,
    /// Where the file's timeline starts, seconds: ffmpeg shifts it to 0 on output, so a
    /// caption's time 0 is this instant of the source.
    pub start_s: f64,
    /// Every subtitle stream, in file order.
    pub subtitles: Vec<SubtitleStream>,
}

/// One subtitle stream inside the source.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubtitleStream {
    /// Absolute stream index in the file.
    pub index: u32,
    /// ffmpeg's codec name (`mov_text`, `subrip`, `ass`, `hdmv_pgs_subtitle`, …).
    pub codec: String,
    /// Language tag, if tagged and not `und`.
    pub language: Option<String>,
    /// Title tag, if any.
    pub title: Option<String>,
    /// Marked forced.
    pub forced: bool,
    /// Marked for the hearing impaired.
    pub hearing_impaired: bool,
}

impl SubtitleStream {
    /// Whether the track is text ffmpeg can turn into WebVTT; bitmap tracks (PGS, DVB,
    /// VobSub) would need OCR.
    pub fn is_text(&self) -> bool {
        matches!(
            self.codec.as_str(),
            "mov_text"
                | "subrip"
                | "srt"
                | "webvtt"
                | "ass"
                | "ssa"
                | "text"
                | "microdvd"
                | "subviewer"
                | "subviewer1"
                | "sami"
                | "realtext"
                | "stl"
                | "jacosub"
                | "mpl2"
                | "pjs"
                | "vplayer"
                | "eia_608"
        )
    }
}

impl Probe {
    /// Whether there is any audio.
    pub fn has_audio(&self) -> bool {
        !self.audio.is_empty()
    }
}

/// The video stream chosen for encoding.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VideoStream {
    /// Absolute stream index in the file (`-map 0:<index>`): `0:v:0` would count cover art.
    pub index: u32,
    /// ffmpeg's codec name (`h264`, `hevc`, `prores`, …).
    pub codec: String,
    /// Coded width.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Sample (pixel) aspect ratio, `(1, 1)` when unknown.
    pub sar: (u32, u32),
    /// Rotation from the display matrix, degrees.
    pub rotation: i32,
    /// Frames per second as a number (30 when unknown): the average.
    pub fps: f64,
    /// The container's nominal rate (`r_frame_rate`), if sane: above the average for a
    /// variable-frame-rate source.
    pub nominal_fps: Option<f64>,
    /// Interlaced (field order other than progressive).
    pub interlaced: bool,
    /// HDR transfer, if any: the tone mapper needs it even when primaries and matrix are
    /// untagged.
    pub hdr: Option<Hdr>,
    /// Duration of this stream, seconds, if the container states it (MP4 per stream,
    /// Matroska in a `DURATION` tag).
    pub duration_s: Option<f64>,
    /// When this stream starts, seconds (0 when unstated).
    pub start_s: f64,
}

/// How an HDR source is tagged.
#[derive(Debug, Clone, PartialEq)]
pub struct Hdr {
    /// `smpte2084` (PQ) or `arib-std-b67` (HLG).
    pub transfer: String,
    /// Primaries if tagged (`bt2020`).
    pub primaries: Option<String>,
    /// Matrix if tagged (`bt2020nc`).
    pub matrix: Option<String>,
}

/// One audio stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AudioStream {
    /// Absolute stream index in the file.
    pub index: u32,
    /// ffmpeg's codec name (`aac`, `pcm_s16le`, …).
    pub codec: String,
    /// Channels.
    pub channels: u32,
    /// ISO 639 language tag, if tagged and not `und`.
    pub language: Option<String>,
    /// Title tag, if any.
    pub title: Option<String>,
    /// The source marks it as the default track.
    pub default: bool,
    /// Duration of this stream, seconds, if stated.
    pub duration_s: Option<f64>,
    /// When this stream starts, seconds (0 when unstated; AAC priming makes it slightly
    /// negative).
    pub start_s: f64,
    /// Marked as commentary or audio description: a programme of its own, never mixed.
    pub alternate_role: bool,
}

impl AudioStream {
    /// Whether this ffmpeg knows the codec at all. Phones write tracks it does not (Apple's
    /// spatial audio, `apac`): ffprobe calls them `unknown`, and mapping one fails the whole
    /// run with "Decoder (codec none) not found".
    pub fn decodable(&self) -> bool {
        !matches!(self.codec.as_str(), "" | "unknown" | "none")
    }
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
}

#[derive(Deserialize)]
struct RawFormat {
    duration: Option<String>,
    start_time: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawStream {
    #[serde(default)]
    index: u32,
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    sample_aspect_ratio: Option<String>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    field_order: Option<String>,
    color_transfer: Option<String>,
    color_primaries: Option<String>,
    color_space: Option<String>,
    channels: Option<u32>,
    nb_frames: Option<String>,
    duration: Option<String>,
    start_time: Option<String>,
    #[serde(default)]
    side_data_list: Vec<SideData>,
    #[serde(default)]
    tags: std::collections::HashMap<String, String>,
    disposition: Option<Disposition>,
}

#[derive(Deserialize, Default)]
struct Disposition {
    #[serde(default)]
    attached_pic: u8,
    #[serde(default)]
    default: u8,
    #[serde(default)]
    forced: u8,
    #[serde(default)]
    hearing_impaired: u8,
    #[serde(default)]
    comment: u8,
    #[serde(default)]
    visual_impaired: u8,
}

#[derive(Deserialize)]
struct SideData {
    rotation: Option<serde_json::Value>,
}

fn rate(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    let v = n.parse::<f64>().ok()? / d.parse::<f64>().ok()?;
    (v.is_finite() && v > 0.5 && v < 1000.0).then_some(v)
}

fn ratio(s: &str) -> Option<(u32, u32)> {
    let (n, d) = s.split_once(':')?;
    let (n, d) = (n.parse().ok()?, d.parse().ok()?);
    (n > 0 && d > 0).then_some((n, d))
}

/// A stream's duration: stated per stream (MP4), or in the `DURATION` tag Matroska writes
/// (`HH:MM:SS.nnnnnnnnn`).
fn stream_duration(s: &RawStream) -> Option<f64> {
    seconds(&s.duration).or_else(|| {
        let tag = s.tags.get("DURATION")?;
        let mut parts = tag.splitn(3, ':');
        let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
        let d = h.parse::<f64>().ok()? * 3600.0
            + m.parse::<f64>().ok()? * 60.0
            + sec.parse::<f64>().ok()?;
        (d.is_finite() && d > 0.0).then_some(d)
    })
}

/// A stream's start time, 0 when unstated.
fn stream_start(s: &RawStream) -> f64 {
    s.start_time
        .as_deref()
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|t| t.is_finite())
        .unwrap_or(0.0)
}

fn seconds(s: &Option<String>) -> Option<f64> {
    s.as_deref()
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
}

/// Codecs that carry still pictures (cover art, a slide as a track): never "the video" while
/// a moving stream exists. MJPEG counts only as a single frame: cameras record MJPEG video.
fn is_still(s: &RawStream) -> bool {
    let one_frame = s.nb_frames.as_deref() == Some("1");
    match s.codec_name.as_deref() {
        Some("png" | "bmp" | "gif" | "webp" | "tiff" | "apng") => true,
        Some("mjpeg") => one_frame,
        _ => one_frame,
    }
}

/// Runs ffprobe on `path`. A file ffprobe cannot read, or one with neither video nor audio,
/// is `InvalidInput`.
pub async fn probe(path: &Path) -> Result<Probe, TranscodeError> {
    let out = super::ffprobe(
        &[
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ],
        path,
    )
    .await?;
    if !out.status.success() {
        // ffprobe prefixes its message with our temp path, which means nothing to an operator.
        let err =
            String::from_utf8_lossy(&out.stderr).replace(&format!("{}: ", path.display()), "");
        return Err(TranscodeError::InvalidInput(format!(
            "ffprobe cannot read the source: {}",
            err.trim().lines().last().unwrap_or("no detail")
        )));
    }
    parse(&out.stdout)
}

/// Parses ffprobe's JSON. The video stream is the first one that moves: attached pictures
/// (`disposition.attached_pic`, cover art) and still-image tracks (a PNG track first in an MKV)
/// are passed over while a moving stream exists.
pub fn parse(json: &[u8]) -> Result<Probe, TranscodeError> {
    let raw: Raw = serde_json::from_slice(json)
        .map_err(|e| TranscodeError::InvalidInput(format!("ffprobe output unreadable: {e}")))?;
    let pictures: Vec<&RawStream> = raw
        .streams
        .iter()
        .filter(|s| {
            s.codec_type.as_deref() == Some("video")
                && s.disposition.as_ref().is_none_or(|d| d.attached_pic == 0)
                && s.width.unwrap_or(0) > 0
        })
        .collect();
    let chosen = pictures
        .iter()
        .find(|s| !is_still(s))
        .or_else(|| pictures.first());
    let video = chosen.map(|s| video_stream(s));
    let mut audio: Vec<AudioStream> = raw
        .streams
        .iter()
        .filter(|s| s.codec_type.as_deref() == Some("audio"))
        .map(|s| AudioStream {
            index: s.index,
            codec: s.codec_name.clone().unwrap_or_default(),
            channels: s.channels.unwrap_or(2),
            language: s
                .tags
                .get("language")
                .filter(|l| !l.is_empty() && l.as_str() != "und")
                .cloned(),
            title: s.tags.get("title").filter(|t| !t.is_empty()).cloned(),
            default: s.disposition.as_ref().is_some_and(|d| d.default == 1),
            duration_s: stream_duration(s),
            start_s: stream_start(s),
            alternate_role: s
                .disposition
                .as_ref()
                .is_some_and(|d| d.comment == 1 || d.visual_impaired == 1),
        })
        .collect();
    // The source's default track first (a stable sort keeps the file's order otherwise).
    audio.sort_by_key(|a| !a.default);
    if video.is_none() && audio.is_empty() {
        return Err(TranscodeError::InvalidInput(
            "the source has neither a video nor an audio stream".into(),
        ));
    }
    let duration_s = raw
        .format
        .as_ref()
        .and_then(|f| seconds(&f.duration))
        .or_else(|| raw.streams.iter().find_map(|s| seconds(&s.duration)));
    let start_s = raw
        .format
        .as_ref()
        .and_then(|f| f.start_time.as_deref())
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|t| t.is_finite())
        .unwrap_or(0.0);
    let tag = |s: &RawStream, k: &str| {
        s.tags
            .get(k)
            .filter(|l| !l.is_empty() && l.as_str() != "und")
            .cloned()
    };
    let subtitles = raw
        .streams
        .iter()
        .filter(|s| s.codec_type.as_deref() == Some("subtitle"))
        .map(|s| SubtitleStream {
            index: s.index,
            codec: s.codec_name.clone().unwrap_or_default(),
            language: tag(s, "language"),
            title: tag(s, "title"),
            forced: s.disposition.as_ref().is_some_and(|d| d.forced == 1),
            hearing_impaired: s
                .disposition
                .as_ref()
                .is_some_and(|d| d.hearing_impaired == 1),
        })
        .collect();
    Ok(Probe {
        video,
        audio,
        duration_s,
        start_s,
        subtitles,
    })
}

fn video_stream(s: &RawStream) -> VideoStream {
    let rotation = s
        .side_data_list
        .iter()
        .find_map(|d| d.rotation.as_ref().and_then(|r| r.as_f64()))
        .or_else(|| s.tags.get("rotate").and_then(|r| r.parse().ok()))
        .unwrap_or(0.0) as i32;
    let fr = [&s.avg_frame_rate, &s.r_frame_rate]
        .into_iter()
        .flatten()
        .find(|r| rate(r).is_some())
        .cloned();
    let hdr = match s.color_transfer.as_deref() {
        Some(t @ ("smpte2084" | "arib-std-b67")) => Some(Hdr {
            transfer: t.to_string(),
            primaries: s.color_primaries.clone().filter(|p| p != "unknown"),
            matrix: s.color_space.clone().filter(|m| m != "unknown"),
        }),
        _ => None,
    };
    VideoStream {
        index: s.index,
        codec: s.codec_name.clone().unwrap_or_default(),
        width: s.width.unwrap_or(0),
        height: s.height.unwrap_or(0),
        sar: s
            .sample_aspect_ratio
            .as_deref()
            .and_then(ratio)
            .unwrap_or((1, 1)),
        rotation,
        fps: fr.as_deref().and_then(rate).unwrap_or(30.0),
        nominal_fps: s.r_frame_rate.as_deref().and_then(rate),
        interlaced: matches!(s.field_order.as_deref(), Some("tt" | "bb" | "tb" | "bt")),
        hdr,
        duration_s: stream_duration(s),
        start_s: stream_start(s),
    }
}

/// Whether video stream `index` carries CEA-608/708 captions in its SEI. ffprobe finds them
/// only by decoding frames (`-show_streams` alone says 0), so this decodes the first 30; a
/// source that carries captions sends caption data (or its padding) in every frame.
pub async fn closed_captions(path: &Path, index: u32) -> Result<bool, TranscodeError> {
    let index = index.to_string();
    let out = super::ffprobe(
        &[
            "-v",
            "error",
            "-select_streams",
            &index,
            "-count_frames",
            "-read_intervals",
            "%+#30",
            "-show_entries",
            "stream=closed_captions",
            "-of",
            "csv=p=0",
        ],
        path,
    )
    .await?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().starts_with('1'))
}

/// The frame rate a variable-frame-rate video really moves at: the rate of its shortest
/// common frame interval (the 25th percentile of the gaps between frame timestamps, over the
/// first `window_s` seconds), so idle stretches of a screen recording do not drag it down to
/// the average. Reads packet timestamps only (no decoding). `None` if ffprobe finds too few.
pub async fn cadence(
    path: &Path,
    index: u32,
    window_s: u32,
) -> Result<Option<f64>, TranscodeError> {
    let (index, window) = (index.to_string(), format!("%+{window_s}"));
    let out = super::ffprobe(
        &[
            "-v",
            "error",
            "-select_streams",
            &index,
            "-read_intervals",
            &window,
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
        ],
        path,
    )
    .await?;
    let pts: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect();
    Ok(cadence_of(pts))
}

/// [`cadence`]'s arithmetic on presentation timestamps (any order: B-frames reorder them).
pub fn cadence_of(mut pts: Vec<f64>) -> Option<f64> {
    pts.sort_by(f64::total_cmp);
    let mut gaps: Vec<f64> = pts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 1e-4)
        .collect();
    if gaps.len() < 8 {
        return None;
    }
    gaps.sort_by(f64::total_cmp);
    let g = gaps[gaps.len() / 4];
    rate(&format!("{}", 1.0 / g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rotation_rate_and_hdr() {
        let p = parse(br#"{"streams":[
            {"codec_type":"video","width":1920,"height":1080,"avg_frame_rate":"0/0","r_frame_rate":"30000/1001",
             "color_transfer":"smpte2084","side_data_list":[{"rotation":-90}]},
            {"codec_type":"audio"}],"format":{"duration":"12.5"}}"#)
        .unwrap();
        let v = p.video.clone().unwrap();
        assert_eq!((v.width, v.height, v.rotation), (1920, 1080, -90));
        assert_eq!(v.hdr.unwrap().transfer, "smpte2084");
        assert!((v.fps - 29.97).abs() < 0.01);
        assert!(p.has_audio());
        assert_eq!(p.duration_s, Some(12.5));
    }

    #[test]
    fn stream_lengths_from_mp4_fields_or_matroska_tags() {
        let p = parse(br#"{"streams":[
            {"codec_type":"video","width":640,"height":360,"start_time":"1.000000","tags":{"DURATION":"00:01:07.016666667"}},
            {"codec_type":"audio","start_time":"-0.021333","duration":"68.000000"}],"format":{"duration":"68.0"}}"#)
        .unwrap();
        let v = p.video.unwrap();
        assert_eq!(v.start_s, 1.0);
        assert!((v.duration_s.unwrap() - 67.016666667).abs() < 1e-6);
        assert_eq!(
            (p.audio[0].start_s, p.audio[0].duration_s),
            (-0.021333, Some(68.0))
        );
    }

    #[test]
    fn no_streams_is_invalid_input() {
        assert!(matches!(
            parse(br#"{"streams":[],"format":{}}"#),
            Err(TranscodeError::InvalidInput(_))
        ));
        let audio_only = parse(br#"{"streams":[{"codec_type":"audio"}]}"#).unwrap();
        assert!(audio_only.video.is_none() && audio_only.has_audio());
    }

    #[test]
    fn cover_art_and_still_tracks_are_not_the_video() {
        let p = parse(br#"{"streams":[
            {"index":0,"codec_type":"video","codec_name":"png","width":500,"height":500,"disposition":{"attached_pic":1}},
            {"index":1,"codec_type":"video","codec_name":"png","width":500,"height":500,"disposition":{"default":1}},
            {"index":2,"codec_type":"video","codec_name":"h264","width":720,"height":576,
             "sample_aspect_ratio":"64:45","field_order":"tt","avg_frame_rate":"25/1","r_frame_rate":"25/1"},
            {"index":3,"codec_type":"audio","channels":1,"tags":{"language":"fra"}},
            {"index":4,"codec_type":"audio","channels":2,"tags":{"language":"eng"},"disposition":{"default":1}}
            ],"format":{"duration":"3.0"}}"#)
        .unwrap();
        let v = p.video.unwrap();
        assert_eq!((v.index, v.sar, v.interlaced), (2, (64, 45), true));
        let langs: Vec<_> = p
            .audio
            .iter()
            .map(|a| (a.index, a.language.clone().unwrap()))
            .collect();
        assert_eq!(
            langs,
            [(4, "eng".to_string()), (3, "fra".to_string())],
            "default first"
        );
    }

    #[test]
    fn cadence_is_the_common_short_interval_not_the_average() {
        // 1 s at 60 fps, then 3 s at 1 fps, twice: about 16 fps on average.
        let mut pts = Vec::new();
        for block in 0..2 {
            let t0 = block as f64 * 4.0;
            pts.extend((0..60).map(|i| t0 + i as f64 / 60.0));
            pts.extend((1..4).map(|i| t0 + i as f64));
        }
        let avg = pts.len() as f64 / 8.0;
        assert!(avg < 20.0);
        let c = cadence_of(pts).unwrap();
        assert!((c - 60.0).abs() < 0.5, "{c}");
        assert_eq!(cadence_of(vec![0.0, 1.0]), None);
    }
}
