//! Sources a course library really holds and a naive pipeline gets wrong (issue 8), generated
//! with ffmpeg (never committed). Each generator checks with ffprobe that the file really has
//! the property it is named after, so a change in ffmpeg cannot make a test vacuous.

use super::media::ffprobe_field;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A hostile source: its name in the bucket, how long it claims to last, its displayed size
/// (sample aspect ratio applied) and how to make it.
#[derive(Clone, Copy)]
pub struct Source {
    pub name: &'static str,
    /// What ffprobe reports (for the truncated file, what the `moov` still claims).
    pub seconds: f64,
    /// Displayed width and height of the real video.
    pub display: (u32, u32),
    make: fn(&Path),
}

impl Source {
    /// Writes the source into `dir`, returning its path.
    pub fn make(&self, dir: &Path) -> PathBuf {
        let out = dir.join(self.name);
        (self.make)(&out);
        out
    }
}

/// 16:9 PAL DV: 720x576 coded, SAR 64:45, 25 fps.
pub const ANAMORPHIC_PAL: Source = Source {
    name: "pal dv anamorphic 16x9.mp4",
    seconds: 3.0,
    display: (1024, 576),
    make: anamorphic_pal,
};
/// 1080i50: 1920x1080, top field first, 25 frames of two fields each per second.
pub const INTERLACED_1080: Source = Source {
    name: "broadcast 1080i tff.mp4",
    seconds: 2.0,
    display: (1920, 1080),
    make: interlaced_1080,
};
/// A screen recording: 60 fps motion for 1 s, then one frame a second for 3 s, twice.
pub const VFR_SCREEN: Source = Source {
    name: "screen recording vfr.mp4",
    seconds: 8.0,
    display: (1280, 720),
    make: vfr_screen,
};
/// MP4 whose stream 0 is a square PNG cover (attached picture), the 16:9 video after it.
pub const COVER_FIRST: Source = Source {
    name: "cover art first.mp4",
    seconds: 3.0,
    display: (960, 540),
    make: cover_first,
};
/// MKV whose first video track is a still PNG (codec png, 2 frames), the real video second.
pub const PNG_FIRST: Source = Source {
    name: "png track first.mkv",
    seconds: 3.0,
    display: (960, 540),
    make: png_first,
};
/// A 20 s faststart MP4 cut to 40% of its bytes: the `moov` still says 20 s.
pub const TRUNCATED: Source = Source {
    name: "truncated faststart.mp4",
    seconds: 20.0,
    display: (640, 360),
    make: truncated,
};
/// 12.04 s of a still picture at 25 fps: segments of 6, 6 and 0.04 s.
pub const STATIC_TAIL: Source = Source {
    name: "static 12.04 s.mp4",
    seconds: 12.04,
    display: (1280, 720),
    make: static_tail,
};
/// A portrait phone screen recording, 886x1920 at 60 fps (above level 4.1 at full size).
pub const PORTRAIT_60: Source = Source {
    name: "portrait screen 886x1920 60.mp4",
    seconds: 3.0,
    display: (886, 1920),
    make: portrait_60,
};
/// 21:9 at 1080 lines, 2580x1080 (above level 4.2's MaxFS at full size).
pub const ULTRAWIDE: Source = Source {
    name: "ultrawide 2580x1080.mp4",
    seconds: 3.0,
    display: (2580, 1080),
    make: ultrawide,
};
/// A 1280x720 MOV with two PCM audio tracks: English (default, 440 Hz) and French (880 Hz),
/// language and title set (the shape of issue 16's hls.js report: every rung, 720p and 540p
/// too, is played with each track).
pub const TWO_AUDIO: Source = Source {
    name: "two languages.mov",
    seconds: 3.0,
    display: (1280, 720),
    make: two_audio,
};
/// HDR tagged by its transfer only: HEVC 10-bit, PQ, no primaries or matrix.
pub const PQ_TRANSFER_ONLY: Source = Source {
    name: "hdr pq transfer only.mp4",
    seconds: 3.0,
    display: (640, 360),
    make: pq_transfer_only,
};

/// HDR tagged by its transfer only: HEVC 10-bit, HLG (broadcast and phone HDR), no primaries
/// or matrix.
pub const HLG_TRANSFER_ONLY: Source = Source {
    name: "hdr hlg transfer only.mp4",
    seconds: 3.0,
    display: (640, 360),
    make: hlg_transfer_only,
};

/// Every hostile source.
pub const ALL: [Source; 12] = [
    ANAMORPHIC_PAL,
    INTERLACED_1080,
    VFR_SCREEN,
    COVER_FIRST,
    PNG_FIRST,
    TRUNCATED,
    STATIC_TAIL,
    PORTRAIT_60,
    ULTRAWIDE,
    TWO_AUDIO,
    PQ_TRANSFER_ONLY,
    HLG_TRANSFER_ONLY,
];

/// Runs ffmpeg quietly with `args`, failing the test if it fails.
pub fn ffmpeg<I, S>(args: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg installed");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn tmp(out: &Path, tag: &str) -> PathBuf {
    let stem = out.file_name().unwrap().to_string_lossy().replace(' ', "_");
    out.with_file_name(format!("tmp-{tag}-{stem}"))
}

/// `testsrc2` of `size` at `rate` and a `hz` tone, both `seconds` long, ultrafast x264 + AAC.
fn testsrc(out: &Path, size: &str, rate: &str, seconds: f64, extra: &[&str]) {
    let mut a: Vec<String> = vec![
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("testsrc2=size={size}:rate={rate}"),
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        "sine=frequency=440:sample_rate=48000".into(),
        "-t".into(),
        seconds.to_string(),
    ];
    a.extend(extra.iter().map(|x| x.to_string()));
    a.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
        ]
        .map(String::from),
    );
    a.push(s(out));
    ffmpeg(a);
}

fn anamorphic_pal(out: &Path) {
    testsrc(out, "720x576", "25", 3.0, &["-vf", "setsar=64/45"]);
    assert_eq!(
        ffprobe_field(out, "v:0", "stream=sample_aspect_ratio"),
        "64:45"
    );
    assert_eq!(
        ffprobe_field(out, "v:0", "stream=display_aspect_ratio"),
        "16:9"
    );
}

fn interlaced_1080(out: &Path) {
    // 50 progressive pictures a second, woven two by two into frames (top field from the
    // first): real 1080i50 motion, coded as interlaced.
    ffmpeg([
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1920x1080:rate=50",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "2",
        "-vf",
        "tinterlace=interleave_top,setfield=tff",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-flags",
        "+ilme+ildct",
        "-top",
        "1",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        &s(out),
    ]);
    assert_eq!(ffprobe_field(out, "v:0", "stream=field_order"), "tt");
    assert_eq!(ffprobe_field(out, "v:0", "stream=r_frame_rate"), "25/1");
}

fn vfr_screen(out: &Path) {
    testsrc(
        out,
        "1280x720",
        "60",
        8.0,
        &[
            "-vf",
            "select='lt(mod(t\\,4)\\,1)+not(mod(n\\,60))'",
            "-fps_mode",
            "vfr",
        ],
    );
    // ~126 frames in 8 s: ~16 fps on average, 60 fps where it moves.
    let packets: f64 = ffprobe_field(out, "v:0", "stream=nb_read_packets")
        .parse()
        .unwrap();
    assert!((120.0..=130.0).contains(&packets), "{packets} frames");
    assert_eq!(ffprobe_field(out, "v:0", "stream=r_frame_rate"), "60/1");
}

fn square_png(out: &Path) -> PathBuf {
    let png = tmp(out, "cover").with_extension("png");
    ffmpeg([
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=500x500",
        "-frames:v",
        "1",
        &s(&png),
    ]);
    png
}

fn cover_first(out: &Path) {
    let png = square_png(out);
    let video = tmp(out, "video");
    testsrc(&video, "960x540", "30", 3.0, &[]);
    let muxed = tmp(out, "muxed");
    ffmpeg([
        "-i",
        &s(&png),
        "-i",
        &s(&video),
        "-map",
        "0",
        "-map",
        "1:v",
        "-map",
        "1:a",
        "-c",
        "copy",
        "-disposition:v:0",
        "attached_pic",
        "-f",
        "mp4",
        &s(&muxed),
    ]);
    // ffmpeg's MP4 muxer writes the cover (`covr`) in `moov/udta` after the tracks, and the
    // demuxer numbers streams in the order it meets them: move `udta` ahead of the tracks
    // (box order inside `moov` is free, its size and the chunk offsets do not change), as
    // tagging tools do, so that the cover becomes stream 0.
    let mut bytes = std::fs::read(&muxed).unwrap();
    udta_first(&mut bytes);
    std::fs::write(out, bytes).unwrap();
    for p in [png, video, muxed] {
        std::fs::remove_file(p).ok();
    }
    assert_eq!(ffprobe_field(out, "0", "stream=codec_name"), "png");
    assert_eq!(
        ffprobe_field(out, "0", "stream_disposition=attached_pic"),
        "1"
    );
    assert_eq!(ffprobe_field(out, "1", "stream=codec_name"), "h264");
}

/// The boxes directly inside `bytes[from..to]`: (type, start, size). 32-bit sizes only.
fn boxes(bytes: &[u8], mut from: usize, to: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    while from + 8 <= to {
        let size = u32::from_be_bytes(bytes[from..from + 4].try_into().unwrap()) as usize;
        assert!(size >= 8 && from + size <= to, "an MP4 box of size {size}");
        out.push((bytes[from + 4..from + 8].try_into().unwrap(), from, size));
        from += size;
    }
    out
}

/// Moves `moov/udta` right after `moov/mvhd`.
fn udta_first(bytes: &mut [u8]) {
    let (_, moov, size) = boxes(bytes, 0, bytes.len())
        .into_iter()
        .find(|b| &b.0 == b"moov")
        .expect("a moov box");
    let children = boxes(bytes, moov + 8, moov + size);
    let (udta, rest): (Vec<_>, Vec<_>) = children.iter().partition(|b| &b.0 == b"udta");
    assert_eq!(udta.len(), 1, "one udta in moov");
    let mut order = vec![rest[0]];
    order.extend(udta);
    order.extend(&rest[1..]);
    let body: Vec<u8> = order
        .iter()
        .flat_map(|(_, at, n)| bytes[*at..at + n].to_vec())
        .collect();
    bytes[moov + 8..moov + size].copy_from_slice(&body);
}

fn png_first(out: &Path) {
    let png = square_png(out);
    let video = tmp(out, "video");
    testsrc(&video, "960x540", "30", 3.0, &[]);
    ffmpeg([
        "-loop",
        "1",
        "-framerate",
        "1",
        "-t",
        "2",
        "-i",
        &s(&png),
        "-i",
        &s(&video),
        "-map",
        "0:v",
        "-map",
        "1:v",
        "-map",
        "1:a",
        "-c:v:0",
        "png",
        "-c:v:1",
        "copy",
        "-c:a",
        "copy",
        &s(out),
    ]);
    for p in [png, video] {
        std::fs::remove_file(p).ok();
    }
    assert_eq!(ffprobe_field(out, "v:0", "stream=codec_name"), "png");
    assert_eq!(ffprobe_field(out, "v:0", "stream=width"), "500");
    assert_eq!(ffprobe_field(out, "v:1", "stream=codec_name"), "h264");
}

fn truncated(out: &Path) {
    let whole = tmp(out, "whole");
    testsrc(&whole, "640x360", "30", 20.0, &["-movflags", "+faststart"]);
    let bytes = std::fs::read(&whole).unwrap();
    std::fs::write(out, &bytes[..bytes.len() * 4 / 10]).unwrap();
    std::fs::remove_file(whole).ok();
    let claimed: f64 = ffprobe_field(out, "v:0", "format=duration")
        .parse()
        .unwrap_or(0.0);
    assert!(
        (claimed - 20.0).abs() < 0.5,
        "a cut faststart MP4 still claims 20 s, got {claimed}"
    );
}

fn static_tail(out: &Path) {
    // The first picture of testsrc2, repeated: a slide that never changes.
    testsrc(
        out,
        "1280x720",
        "25",
        12.04,
        &["-vf", "loop=loop=-1:size=1"],
    );
    assert_eq!(ffprobe_field(out, "v:0", "stream=nb_read_packets"), "301");
}

fn portrait_60(out: &Path) {
    testsrc(out, "886x1920", "60", 3.0, &[]);
}

fn ultrawide(out: &Path) {
    testsrc(out, "2580x1080", "30", 3.0, &[]);
}

fn two_audio(out: &Path) {
    ffmpeg([
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1280x720:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=880:sample_rate=48000",
        "-t",
        "3",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map",
        "2:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "pcm_s16le",
        "-metadata:s:a:0",
        "language=eng",
        "-metadata:s:a:0",
        "title=English",
        "-metadata:s:a:1",
        "language=fra",
        "-metadata:s:a:1",
        "title=Français",
        "-disposition:a:0",
        "default",
        "-disposition:a:1",
        "0",
        &s(out),
    ]);
    assert_eq!(ffprobe_field(out, "a:0", "stream_tags=language"), "eng");
    assert_eq!(ffprobe_field(out, "a:1", "stream_tags=language"), "fra");
    assert_eq!(ffprobe_field(out, "a:0", "stream_disposition=default"), "1");
    assert_eq!(ffprobe_field(out, "a:1", "stream_disposition=default"), "0");
    for track in ["a:0", "a:1"] {
        assert_eq!(
            ffprobe_field(out, track, "stream=channels"),
            "1",
            "{track} mono"
        );
    }
}

fn pq_transfer_only(out: &Path) {
    transfer_only(out, "smpte2084", PQ_REFERENCE_WHITE);
}

fn hlg_transfer_only(out: &Path) {
    transfer_only(out, "arib-std-b67", HLG_REFERENCE_WHITE);
}

/// 10-bit limited-range code of HDR reference white (203 cd/m², BT.2408) in PQ: 64 + 876 ×
/// PQ⁻¹(203/10000) = 64 + 876 × 0.5807.
pub const PQ_REFERENCE_WHITE: u32 = 573;
/// The same in HLG: 75% of the signal range.
pub const HLG_REFERENCE_WHITE: u32 = 721;

/// A test pattern with a flat grey patch at `white` (10-bit Y, neutral chroma) in the middle
/// quarter, tagged by its transfer only: the patch is what the tone mapping is measured on.
fn transfer_only(out: &Path, trc: &str, white: u32) {
    ffmpeg([
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=24",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:size=320x180:rate=24",
        "-filter_complex",
        &format!(
            "[0:v]format=yuv420p10le[b];[2:v]format=yuv420p10le,lutyuv=y={white}:u=512:v=512[p];\
             [b][p]overlay=160:90:format=auto,format=yuv420p10le[v]"
        ),
        "-map",
        "[v]",
        "-map",
        "1:a",
        "-t",
        "3",
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p10le",
        "-x265-params",
        "log-level=error",
        "-color_trc",
        trc,
        "-tag:v",
        "hvc1",
        "-c:a",
        "aac",
        &s(out),
    ]);
    assert_eq!(ffprobe_field(out, "v:0", "stream=color_transfer"), trc);
    for untagged in ["stream=color_primaries", "stream=color_space"] {
        let v = ffprobe_field(out, "v:0", untagged);
        assert!(v.is_empty() || v == "unknown", "{untagged}={v}");
    }
}
