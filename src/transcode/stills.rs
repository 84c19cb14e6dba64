//! The poster and the scrubbing thumbnails, made by a second ffmpeg run after the encode that
//! decodes only the source's keyframes (`-skip_frame nokey`): a few frames a minute, so it
//! costs little, and the encode stays as it was. They were first two more branches of the
//! encode's own filter graph; ffmpeg 5.1 then fed its outputs in lockstep with the slowest
//! one, and the poster's and the sheets' filters, which wait for many frames before giving
//! one, held every rung's frames in memory (no progress for the first 16 s of a 20 s clip,
//! tens of gigabytes for the first two minutes of a 1080p lecture), so they moved out.
//!
//! - The poster is a representative frame, not the first: the keyframe nearest each 4 s step over the first two
//!   minutes, at the top rung's size, and ffmpeg's `thumbnail` filter keeps the one closest to
//!   their average histogram (a fade from black, a title card or an empty first frame loses).
//! - The thumbnails are one frame every `interval` seconds, small, tiled into JPEG sprite
//!   sheets of at most `columns × rows`; `thumbnails.vtt` points into them.

use std::path::Path;

/// Where the poster is looked for, seconds from the start.
const POSTER_WINDOW_S: f64 = 120.0;
/// One candidate frame this often.
const POSTER_STEP_S: f64 = 4.0;
/// Thumbnail width, pixels (height follows the picture's aspect).
const THUMB_WIDTH: u32 = 160;
/// Sprite sheet grid: 10 × 10 thumbnails of 160 px is 1600 px wide.
const GRID: u32 = 10;

/// What the image outputs make.
#[derive(Debug, Clone, PartialEq)]
pub struct Stills {
    /// Poster size: the top rung's.
    pub poster: (u32, u32),
    /// Frames the `thumbnail` filter chooses the poster from.
    pub poster_candidates: u32,
    /// Thumbnail size.
    pub thumb: (u32, u32),
    /// One thumbnail every this many seconds.
    pub interval_s: f64,
    /// Sprite grid columns.
    pub columns: u32,
    /// Sprite grid rows.
    pub rows: u32,
}

/// Folder (under the job's output folder) of the sprite sheets.
pub const THUMBS_DIR: &str = "thumbs";
/// The poster's file name.
pub const POSTER: &str = "poster.jpg";

/// The stills for a top rung of `top` (width, height) and a source of `duration_s` (if
/// known); `None` when `interval_s` is not positive (turned off).
pub fn plan(top: (u32, u32), duration_s: Option<f64>, interval_s: f64) -> Option<Stills> {
    if interval_s <= 0.0 || !interval_s.is_finite() || top.0 == 0 {
        return None;
    }
    let window = duration_s
        .unwrap_or(POSTER_WINDOW_S)
        .clamp(0.0, POSTER_WINDOW_S);
    let h = (f64::from(THUMB_WIDTH) * f64::from(top.1) / f64::from(top.0) / 2.0).round() as u32 * 2;
    Some(Stills {
        poster: top,
        // The filter takes batches of 2 frames at least; a shorter video gives it fewer and
        // it picks from what came.
        poster_candidates: ((window / POSTER_STEP_S).ceil() as u32).clamp(2, 30),
        thumb: (THUMB_WIDTH, h.max(2)),
        interval_s,
        columns: GRID,
        rows: GRID,
    })
}

/// The ffmpeg argv (program first) that makes the poster and the sheets of video stream
/// `index` of `source` into `out_dir`, with `chain` (the encode's deinterlacing and tone
/// mapping) applied first.
pub fn argv(
    s: &Stills,
    source: &Path,
    index: u32,
    chain: &[String],
    out_dir: &Path,
) -> Vec<String> {
    let mut pre = chain.to_vec();
    pre.push("split=2[poster_in][thumbs_in]".into());
    let graph = format!("[0:{index}]{}{}", pre.join(","), branches(s));
    let mut a = super::command::quiet_ffmpeg();
    a.extend(["-skip_frame", "nokey", "-i"].map(str::to_string));
    a.push(source.display().to_string());
    a.extend(["-filter_complex".to_string(), graph]);
    a.extend(outputs(out_dir));
    a
}

/// The two filter-graph branches, fed by `[poster_in]` and `[thumbs_in]`, ending in
/// `[poster]` and `[thumbs]`. JPEG wants full-range YUV (`yuvj420p`).
pub fn branches(s: &Stills) -> String {
    let window = f64::from(s.poster_candidates) * POSTER_STEP_S;
    format!(
        ";[poster_in]trim=end={window:.3},fps=fps=1/{POSTER_STEP_S}:eof_action=pass,\
         scale={}:{}:flags=bicubic,setsar=1,thumbnail=n={},format=yuvj420p[poster]\
         ;[thumbs_in]fps=fps=1/{}:eof_action=pass,scale={}:{}:flags=bicubic,setsar=1,\
         tile={}x{},format=yuvj420p[thumbs]",
        s.poster.0,
        s.poster.1,
        s.poster_candidates,
        s.interval_s,
        s.thumb.0,
        s.thumb.1,
        s.columns,
        s.rows
    )
}

/// The two image outputs: `out/poster.jpg` and
/// `out/thumbs/sprite_000.jpg`, `sprite_001.jpg`, …
///
/// The sheets' output says `-r 1 -fps_mode passthrough`. A sheet stands for 500 s of video
/// (1/500 fps), and ffmpeg 5.1 reports `out_time` as the furthest end of any output, so
/// without `-r` every job's progress read 500 s from the first second, and the stall limit
/// would kill healthy encodes. `-r` alone would make image2 (constant frame rate) write a sheet
/// per second of video: passthrough writes each once (measured: a 1200 s clip gives 3 sheets
/// and `out_time` ends at 1200 s).
///
/// The sheets' output says `-r 1 -fps_mode passthrough`. A sheet stands for 500 s of video
/// (1/500 fps), and ffmpeg 5.1 reports `out_time` as the furthest end of any output, so
/// without `-r` every job's progress read 500 s from the first second, and the stall limit
/// killed healthy encodes. `-r` alone would make image2 (constant frame rate) write a sheet
/// per second of video: passthrough writes each once (measured: a 1200 s clip gives 3 sheets
/// and `out_time` ends at 1200 s).
pub fn outputs(out_dir: &Path) -> Vec<String> {
    let poster = out_dir.join(POSTER).display().to_string();
    let sprites = out_dir
        .join(THUMBS_DIR)
        .join("sprite_%03d.jpg")
        .display()
        .to_string();
    [
        "-map",
        "[poster]",
        "-frames:v",
        "1",
        "-c:v",
        "mjpeg",
        "-q:v",
        "3",
        "-f",
        "image2",
        "-update",
        "1",
        &poster,
        "-map",
        "[thumbs]",
        "-r",
        "1",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "mjpeg",
        "-q:v",
        "5",
        "-f",
        "image2",
        "-start_number",
        "0",
        &sprites,
    ]
    .map(str::to_string)
    .to_vec()
}

/// A sprite sheet's file name.
pub fn sprite_name(i: usize) -> String {
    format!("sprite_{i:03}.jpg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stills_follow_the_top_rung_and_can_be_turned_off() {
        let s = plan((1280, 720), Some(14.0), 5.0).unwrap();
        assert_eq!(
            (s.poster, s.thumb, s.poster_candidates),
            ((1280, 720), (160, 90), 4)
        );
        assert_eq!(plan((1920, 1080), None, 5.0).unwrap().poster_candidates, 30);
        assert_eq!(
            plan((1920, 1080), Some(3.0), 5.0)
                .unwrap()
                .poster_candidates,
            2
        );
        assert_eq!(
            plan((720, 1280), Some(600.0), 5.0).unwrap().thumb,
            (160, 284)
        );
        assert!(plan((1280, 720), Some(14.0), 0.0).is_none());
        let b = branches(&s);
        // eof_action=pass: a clip shorter than one step still gets its frame at 0 (without
        // it, ffmpeg 5.1's fps filter gives a 2 s clip no frame at 1/5 fps, so no sheet).
        assert!(b.contains("[poster_in]trim=end=16.000,fps=fps=1/4:eof_action=pass,scale=1280:720"));
        assert!(b.contains("thumbnail=n=4,format=yuvj420p[poster]"));
        assert!(b.contains(
            "[thumbs_in]fps=fps=1/5:eof_action=pass,scale=160:90:flags=bicubic,setsar=1,tile=10x10"
        ));
        let a = argv(
            &s,
            Path::new("/w/source"),
            3,
            &["format=yuv420p".into()],
            Path::new("/w/out"),
        );
        assert_eq!(a[6..9], ["-skip_frame", "nokey", "-i"]);
        assert!(a[11].starts_with("[0:3]format=yuv420p,split=2[poster_in][thumbs_in];[poster_in]"));
        let o = outputs(Path::new("/w/out"));
        let thumbs = o.iter().position(|a| a == "[thumbs]").unwrap();
        assert_eq!(
            o[thumbs + 1..thumbs + 5],
            ["-r", "1", "-fps_mode", "passthrough"]
        );
        assert!(o.ends_with(&["/w/out/thumbs/sprite_%03d.jpg".to_string()]));
        assert_eq!(sprite_name(12), "sprite_012.jpg");
    }
}
