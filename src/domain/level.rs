//! H.264 levels (ITU-T H.264 Table A-1): the level a rendition needs for its size, frame rate
//! and bitrate, and how to shrink a rendition that would need more than a ceiling allows.
//!
//! x264 given `-level` and a frame beyond it only warns and writes the level anyway, so a
//! declared level is only true if it was computed. Each rendition is encoded at the lowest
//! level that allows it (a 21:9 "1080p" rung needs 5.0, a 60 fps portrait screen recording
//! 4.2), up to a ceiling: Apple's authoring spec (1.3b) allows H.264 up to High@5.2, which is
//! fleet's; a rung beyond it is shrunk with its aspect kept, and its frame rate halved if its
//! macroblock rate is still over. Apple also asks that some variants be at 4.1 or below
//! (1.3a): the lower rungs of any ladder are.

/// One row of Table A-1 (High profile bitrates are 1.25 x the table's MaxBR).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// `level_idc`: 10 x the level number (41 for 4.1).
    pub idc: u8,
    /// Macroblocks per second.
    pub max_mbps: u64,
    /// Macroblocks per frame.
    pub max_fs: u64,
    /// Bitrate for the Baseline/Main profiles, kb/s.
    pub max_br_kbps: u64,
}

impl Level {
    /// `4.1` as x264's `-level` wants it.
    pub fn name(&self) -> String {
        format!("{}.{}", self.idc / 10, self.idc % 10)
    }

    /// Highest bitrate of a High profile stream, kb/s.
    pub fn max_br_high_kbps(&self) -> u64 {
        self.max_br_kbps * 5 / 4
    }

    /// Whether a High profile stream of this picture, rate and peak bitrate fits.
    pub fn allows(&self, width: u32, height: u32, fps: f64, kbps: u64) -> bool {
        let (wm, hm) = (mbs(width), mbs(height));
        let fs = wm * hm;
        // Each side in macroblocks must also fit in sqrt(8 * MaxFS).
        let side = ((8 * self.max_fs) as f64).sqrt();
        fs <= self.max_fs
            && wm as f64 <= side
            && hm as f64 <= side
            && fs as f64 * fps <= self.max_mbps as f64 + 0.5
            && kbps <= self.max_br_high_kbps()
    }
}

const fn row(idc: u8, max_mbps: u64, max_fs: u64, max_br_kbps: u64) -> Level {
    Level {
        idc,
        max_mbps,
        max_fs,
        max_br_kbps,
    }
}

/// Table A-1 from level 3.0 up (lower levels buy nothing for a streaming ladder: every
/// player that decodes 3.0 decodes them).
pub const TABLE: [Level; 9] = [
    row(30, 40_500, 1_620, 10_000),
    row(31, 108_000, 3_600, 14_000),
    row(32, 216_000, 5_120, 20_000),
    row(40, 245_760, 8_192, 20_000),
    row(41, 245_760, 8_192, 50_000),
    row(42, 522_240, 8_704, 50_000),
    row(50, 589_824, 22_080, 135_000),
    row(51, 983_040, 36_864, 240_000),
    row(52, 2_073_600, 36_864, 240_000),
];

/// Apple's ceiling for H.264 (HLS authoring spec 1.3b): High@5.2.
pub const APPLE_CEILING: u8 = 52;

fn mbs(px: u32) -> u64 {
    u64::from(px).div_ceil(16)
}

/// The lowest level (3.0 at least) that allows this stream, if any does.
pub fn required(width: u32, height: u32, fps: f64, kbps: u64) -> Option<Level> {
    TABLE
        .iter()
        .copied()
        .find(|l| l.allows(width, height, fps, kbps))
}

/// The level row for `idc`.
pub fn by_idc(idc: u8) -> Option<Level> {
    TABLE.iter().copied().find(|l| l.idc == idc)
}

/// A rendition's picture and rate, fitted under a level ceiling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fitted {
    /// Width, even.
    pub width: u32,
    /// Height, even.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// The level the stream is encoded and declared at.
    pub level: Level,
}

/// Fits a `width`x`height` rendition at `fps` and `kbps` (the encoder's maxrate) under the
/// level `ceiling`: kept as it is when it fits; otherwise shrunk (aspect kept) until its frame
/// fits, then its rate halved while its macroblock rate is over. `None` only when even that
/// cannot fit (a bitrate above the ceiling's MaxBR: a ladder error).
pub fn fit(width: u32, height: u32, fps: f64, kbps: u64, ceiling: u8) -> Option<Fitted> {
    let top = by_idc(ceiling)?;
    let (mut w, mut h, mut fps) = (width, height, fps);
    if kbps > top.max_br_high_kbps() {
        return None;
    }
    // Shrink by 1% steps until the frame fits (MaxFS and the per-side limit): a handful of
    // steps for any real picture, and exact where a closed form would round the wrong way.
    let mut scale = 1.0f64;
    while !top.allows(w, h, 1.0, 0) {
        scale -= 0.01;
        if scale <= 0.05 {
            return None;
        }
        w = even(f64::from(width) * scale);
        h = even(f64::from(height) * scale);
    }
    while !top.allows(w, h, fps, kbps) {
        if fps <= 12.0 {
            return None;
        }
        fps /= 2.0;
    }
    let level = required(w, h, fps, kbps)?;
    Some(Fitted {
        width: w,
        height: h,
        fps,
        level,
    })
}

fn even(x: f64) -> u32 {
    ((x / 2.0).floor() as u32).max(1) * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_a1_at_its_edges() {
        // 1080p (8160 MBs) at 30 fps: 244,800 MB/s, inside 4.0/4.1.
        assert_eq!(required(1920, 1080, 30.0, 5350).unwrap().idc, 40);
        // 1080p60 needs 4.2 (489,600 MB/s).
        assert_eq!(required(1920, 1080, 60.0, 5350).unwrap().idc, 42);
        // 720p30: 3600 MBs, 108,000 MB/s: exactly 3.1.
        assert_eq!(required(1280, 720, 30.0, 3210).unwrap().idc, 31);
        // 720p60 needs 3.2.
        assert_eq!(required(1280, 720, 60.0, 3210).unwrap().idc, 32);
        // 640x360 at 30: 920 MBs, 27,600 MB/s: 3.0.
        assert_eq!(required(640, 360, 30.0, 856).unwrap().idc, 30);
        // 886x1920@60 (a portrait screen recording) is over 4.1's 245,760 MB/s.
        assert!(!by_idc(41).unwrap().allows(886, 1920, 60.0, 3000));
        assert_eq!(required(886, 1920, 60.0, 3000).unwrap().idc, 42);
        // 2580x1080 (21:9): 162 x 68 = 11,016 MBs, over 4.2's 8,704: level 5.0.
        assert_eq!(required(2580, 1080, 30.0, 5350).unwrap().idc, 50);
        // Bitrate alone: 3.0 High allows 12.5 Mb/s.
        assert!(by_idc(30).unwrap().allows(320, 240, 30.0, 12_500));
        assert!(!by_idc(30).unwrap().allows(320, 240, 30.0, 12_501));
        assert_eq!(by_idc(42).unwrap().name(), "4.2");
    }

    #[test]
    fn fitting_keeps_what_fits_and_shrinks_what_does_not() {
        let f = fit(1920, 1080, 60.0, 5350, APPLE_CEILING).unwrap();
        assert_eq!(
            (f.width, f.height, f.fps, f.level.idc),
            (1920, 1080, 60.0, 42)
        );
        // 21:9 at 1080 keeps its size under Apple's ceiling, declared at 5.0.
        let f = fit(2580, 1080, 30.0, 5350, APPLE_CEILING).unwrap();
        assert_eq!((f.width, f.height, f.level.idc), (2580, 1080, 50));
        // Under a 4.2 ceiling it is shrunk, aspect kept within a pixel or two.
        let f = fit(2580, 1080, 30.0, 5350, 42).unwrap();
        assert!(f.level.idc <= 42);
        assert!(mbs(f.width) * mbs(f.height) <= 8_704);
        let aspect = f64::from(f.width) / f64::from(f.height);
        assert!((aspect - 2580.0 / 1080.0).abs() < 0.01, "{aspect}");
        assert!(
            f.width >= 2200,
            "shrunk only as much as needed: {}",
            f.width
        );
        // 4K60 needs 5.2; under 4.2 it is shrunk to about 8,700 MBs, which 4.2 still
        // allows at 60 fps.
        assert_eq!(
            fit(3840, 2160, 60.0, 5350, APPLE_CEILING)
                .unwrap()
                .level
                .idc,
            52
        );
        let f = fit(3840, 2160, 60.0, 5350, 42).unwrap();
        assert_eq!((f.fps, f.level.idc), (60.0, 42));
        assert!(f.width < 3840 && by_idc(42).unwrap().allows(f.width, f.height, 60.0, 5350));
        // Under a 4.1 ceiling the same picture keeps its size but not its rate.
        let f = fit(1920, 1080, 60.0, 5350, 41).unwrap();
        assert_eq!((f.width, f.fps, f.level.idc), (1920, 30.0, 40));
        // A bitrate no level up to the ceiling allows is refused.
        assert!(fit(640, 360, 30.0, 70_000, 42).is_none());
    }
}
