//! The HLS ladder: which renditions to make from a source, chosen so that nothing is upscaled,
//! the aspect ratio is kept, dimensions are even and rotation is honoured.
//!
//! The default follows Apple's HLS authoring specification's 16:9 table, trimmed to six rungs
//! (1080p 5 Mb/s down to 144p 0.16 Mb/s): enough steps for a player to adapt between a weak
//! cellular link and broadband without encoding rungs nobody selects. The 144p rung carries
//! its sound at 64 kb/s, so that its variant peaks under 300 kb/s (Apple's lowest tier is
//! 145 kb/s of video). A rung's "height" is the *short* side, so a portrait phone video gets
//! the same ladder as a landscape one.

use serde::Deserialize;

/// One rung of the configured ladder.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Rung {
    /// Name used for the rendition's folder and in logs (e.g. `720p`).
    pub name: String,
    /// Short side of the picture, in pixels.
    pub height: u32,
    /// Target video bitrate, kb/s. The encoder is capped at 1.07× this (capped VBR, inside
    /// Apple's 110% tolerance for peak vs declared).
    pub video_kbps: u32,
    /// The sound's bitrate in this rung's variant, kb/s, when the sound is muxed with the
    /// picture; the ladder's `audio_kbps` when unset. Lets the lowest rung fit a weak link.
    #[serde(default)]
    pub audio_kbps: Option<u32>,
}

/// The ladder, as read from a TOML file (`--ladder FILE`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Ladder {
    /// Rungs, any order.
    #[serde(rename = "rung")]
    pub rungs: Vec<Rung>,
    /// AAC-LC bitrate of every rendition's audio, kb/s.
    #[serde(default = "default_audio")]
    pub audio_kbps: u32,
}

fn default_audio() -> u32 {
    128
}

impl Default for Ladder {
    fn default() -> Self {
        let r = |name: &str, height, video_kbps| Rung {
            name: name.into(),
            height,
            video_kbps,
            audio_kbps: None,
        };
        Self {
            rungs: vec![
                r("1080p", 1080, 5000),
                r("720p", 720, 3000),
                r("540p", 540, 1800),
                r("360p", 360, 800),
                r("240p", 240, 400),
                Rung {
                    audio_kbps: Some(64),
                    ..r("144p", 144, 160)
                },
            ],
            audio_kbps: 128,
        }
    }
}

/// Why a ladder file was refused.
#[derive(Debug, thiserror::Error)]
pub enum LadderError {
    /// Not TOML of the expected shape.
    #[error("ladder file is not valid: {0}")]
    Parse(#[from] toml::de::Error),
    /// A ladder that cannot produce a stream.
    #[error("ladder is unusable: {0}")]
    Invalid(String),
}

impl Ladder {
    /// Parses and checks a TOML ladder.
    pub fn from_toml(text: &str) -> Result<Self, LadderError> {
        let l: Ladder = toml::from_str(text)?;
        if l.rungs.is_empty() {
            return Err(LadderError::Invalid("no [[rung]]".into()));
        }
        for r in &l.rungs {
            if r.height < 2 || r.video_kbps == 0 || r.name.is_empty() || r.name.contains('/') {
                return Err(LadderError::Invalid(format!("bad rung {r:?}")));
            }
        }
        Ok(l)
    }
}

/// A rendition to encode.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendition {
    /// Folder name.
    pub name: String,
    /// Output width (even).
    pub width: u32,
    /// Output height (even).
    pub height: u32,
    /// Target video bitrate, kb/s.
    pub video_kbps: u32,
    /// Bitrate of the sound muxed into this variant, kb/s (`None`: the ladder's).
    pub audio_kbps: Option<u32>,
}

/// The picture as a viewer sees it, in square pixels: the coded width stretched by the sample
/// aspect ratio (`sar` = num/den: PAL DV 16:9 is 720x576 at 64:45, shown 1024x576), then
/// rotation applied. Renditions are chosen and scaled from this, so they keep the display
/// aspect with square pixels.
pub fn display_size(width: u32, height: u32, sar: (u32, u32), rotation_deg: i32) -> (u32, u32) {
    let (n, d) = sar;
    let width = if n > 0 && d > 0 && n != d {
        even(f64::from(width) * f64::from(n) / f64::from(d))
    } else {
        width
    };
    if rotation_deg.rem_euclid(180) == 90 {
        (height, width)
    } else {
        (width, height)
    }
}

fn even(x: f64) -> u32 {
    ((x / 2.0).round() as u32).max(1) * 2
}

/// How far below a rung a source's short side may fall and still keep that rung, at the
/// source's own size: a 1920x1040 screen capture (3.7% short of 1080) keeps a sharp top rung
/// instead of topping out at 720p, where small text blurs.
pub const NEAR_MISS: f64 = 0.05;

/// The renditions for a source whose displayed picture is `width`×`height`: every rung whose
/// short side fits in the source's, highest first, plus, when the source falls short of the
/// next rung up by at most [`NEAR_MISS`], that rung at the source's own size (named after it).
/// A source smaller than every rung gets one rendition at its own size, so small videos still
/// play.
pub fn select(ladder: &Ladder, width: u32, height: u32) -> Vec<Rendition> {
    let short = width.min(height).max(2);
    let long = width.max(height).max(2);
    let scale = |s: u32| {
        let l = even(f64::from(long) * f64::from(s) / f64::from(short));
        let s = even(f64::from(s));
        if width >= height {
            (l, s)
        } else {
            (s, l)
        }
    };
    let mut rungs: Vec<&Rung> = ladder.rungs.iter().filter(|r| r.height <= short).collect();
    rungs.sort_by_key(|r| std::cmp::Reverse(r.height));
    let mut out: Vec<Rendition> = rungs
        .into_iter()
        .map(|r| {
            let (w, h) = scale(r.height);
            Rendition {
                name: r.name.clone(),
                width: w,
                height: h,
                video_kbps: r.video_kbps,
                audio_kbps: r.audio_kbps,
            }
        })
        .collect();
    let near = ladder
        .rungs
        .iter()
        .filter(|r| r.height > short && f64::from(short) >= f64::from(r.height) * (1.0 - NEAR_MISS))
        .min_by_key(|r| r.height);
    if let Some(r) = near {
        let (w, h) = scale(short);
        out.insert(
            0,
            Rendition {
                name: format!("{}p", even(f64::from(short))),
                width: w,
                height: h,
                video_kbps: r.video_kbps,
                audio_kbps: r.audio_kbps,
            },
        );
    }
    if out.is_empty() {
        let lowest = ladder
            .rungs
            .iter()
            .min_by_key(|r| r.height)
            .expect("ladder has rungs");
        let (w, h) = scale(short);
        let kbps = (f64::from(lowest.video_kbps) * f64::from(short) / f64::from(lowest.height))
            .max(100.0) as u32;
        out.push(Rendition {
            name: format!("{}p", even(f64::from(short))),
            width: w,
            height: h,
            video_kbps: kbps,
            audio_kbps: lowest.audio_kbps,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_upscales_and_keeps_the_aspect_ratio() {
        let l = Ladder::default();
        let r = select(&l, 1280, 720);
        let names: Vec<_> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["720p", "540p", "360p", "240p", "144p"]);
        assert_eq!((r[0].width, r[0].height), (1280, 720));
        assert_eq!((r[2].width, r[2].height), (640, 360));
        for x in &r {
            assert!(x.width <= 1280 && x.height <= 720);
            assert_eq!((x.width % 2, x.height % 2), (0, 0));
        }
    }

    #[test]
    fn portrait_rotation_and_odd_sizes() {
        let l = Ladder::default();
        // A phone video stored 1920x1080 with a 90° rotation is displayed portrait.
        let (w, h) = display_size(1920, 1080, (1, 1), -90);
        assert_eq!((w, h), (1080, 1920));
        // Anamorphic: PAL DV 16:9 and HDV 1080 come out at their display aspect.
        assert_eq!(display_size(720, 576, (64, 45), 0), (1024, 576));
        assert_eq!(display_size(1440, 1080, (4, 3), 0), (1920, 1080));
        let r = select(&l, 1024, 576);
        assert_eq!((r[0].width, r[0].height), (960, 540));
        let r = select(&l, w, h);
        assert_eq!((r[0].width, r[0].height), (1080, 1920));
        assert!(r.iter().all(|x| x.height > x.width));
        // 4:3 odd source.
        let r = select(&l, 641, 481);
        assert_eq!(r[0].name, "360p");
        assert_eq!((r[0].width, r[0].height), (480, 360));
    }

    #[test]
    fn tiny_sources_get_one_rendition_at_their_own_size() {
        let r = select(&Ladder::default(), 200, 112);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].width, r[0].height), (200, 112));
        assert!(r[0].video_kbps >= 100 && r[0].video_kbps <= 400);
    }

    #[test]
    fn a_source_a_few_percent_short_of_a_rung_keeps_it_at_its_own_size() {
        let l = Ladder::default();
        let r = select(&l, 1920, 1040);
        let names: Vec<_> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["1040p", "720p", "540p", "360p", "240p", "144p"]);
        assert_eq!(
            (r[0].width, r[0].height, r[0].video_kbps),
            (1920, 1040, 5000)
        );
        // 10% short is a smaller picture, not a near miss; an exact fit adds nothing.
        let r = select(&l, 1920, 972);
        assert_eq!(r[0].name, "720p");
        let r = select(&l, 1920, 1080);
        assert_eq!(r.len(), 6);
        // A portrait near miss too.
        let r = select(&l, 1040, 1920);
        assert_eq!((r[0].width, r[0].height), (1040, 1920));
    }

    #[test]
    fn ladder_files() {
        let l = Ladder::from_toml(
            "audio_kbps = 96\n[[rung]]\nname = \"480p\"\nheight = 480\nvideo_kbps = 1200\n",
        )
        .unwrap();
        assert_eq!(l.audio_kbps, 96);
        assert_eq!(l.rungs.len(), 1);
        assert!(Ladder::from_toml("audio_kbps = 96\n").is_err());
        assert!(
            Ladder::from_toml("[[rung]]\nname = \"a/b\"\nheight = 4\nvideo_kbps = 1\n").is_err()
        );
    }
}
