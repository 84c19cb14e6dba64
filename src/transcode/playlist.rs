//! Playlists: reading ffmpeg's media playlists, and writing a master playlist that tells the
//! truth: BANDWIDTH from the measured peak segment bit rate as RFC 8216 §4.1 defines it,
//! AVERAGE-BANDWIDTH from the mean (Apple rejects declared values more than 10% off, and
//! ffmpeg 5.1 writes a nominal guess), CODECS from the actual bitstream.

use std::fmt::Write;

/// A segment of a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Its URI, relative to the playlist.
    pub uri: String,
    /// `#EXTINF` duration, seconds.
    pub duration: f64,
}

/// The segments a media playlist lists so far, in order.
pub fn segments(playlist: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut pending: Option<f64> = None;
    for line in playlist.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            pending = rest.split(',').next().and_then(|d| d.parse().ok());
        } else if !line.is_empty() && !line.starts_with('#') {
            if let Some(duration) = pending.take() {
                out.push(Segment {
                    uri: line.to_string(),
                    duration,
                });
            }
        }
    }
    out
}

/// Whether a media playlist is complete (`#EXT-X-ENDLIST`).
pub fn is_complete(playlist: &str) -> bool {
    playlist.lines().any(|l| l.trim() == "#EXT-X-ENDLIST")
}

/// The target duration a media playlist declares, seconds.
pub fn target_duration(playlist: &str) -> Option<f64> {
    playlist
        .lines()
        .find_map(|l| l.trim().strip_prefix("#EXT-X-TARGETDURATION:"))
        .and_then(|t| t.trim().parse().ok())
}

/// The copy of a finished EVENT playlist that fleet publishes: the same segments, marked VOD
/// (ffmpeg writes EVENT so that it rewrites the playlist after every segment).
pub fn as_vod(playlist: &str) -> String {
    playlist.replace("#EXT-X-PLAYLIST-TYPE:EVENT", "#EXT-X-PLAYLIST-TYPE:VOD")
}

/// Peak and average bit rate (bits/s) of segments given as (bytes, seconds), in playlist
/// order. The peak is RFC 8216 §4.1's peak segment bit rate: the largest bit rate of any run
/// of contiguous segments lasting 0.5 to 1.5 times the target duration, so that a short last
/// segment (a few frames, all overhead) does not inflate it; if no run qualifies (a stream
/// shorter than half the target), the whole stream's rate.
pub fn bitrates(segments: &[(u64, f64)], target: f64) -> (u64, u64) {
    let rate = |bytes: u64, secs: f64| (bytes as f64 * 8.0 / secs).ceil() as u64;
    let bytes: u64 = segments.iter().map(|(b, _)| b).sum();
    let secs: f64 = segments.iter().map(|(_, d)| d).sum();
    let avg = if secs > 0.0 { rate(bytes, secs) } else { 0 };
    let (lo, hi) = (0.5 * target, 1.5 * target);
    let mut peak = None;
    for i in 0..segments.len() {
        let (mut b, mut d) = (0u64, 0f64);
        for &(sb, sd) in &segments[i..] {
            b += sb;
            d += sd;
            if d > hi + 1e-9 {
                break;
            }
            if d >= lo - 1e-9 && d > 0.0 {
                peak = peak.max(Some(rate(b, d)));
            }
        }
    }
    (peak.unwrap_or(avg), avg)
}

/// Declared BANDWIDTHs for a ladder's peaks, largest picture first: each rung's own peak,
/// raised just above the next smaller rung's where that stays within Apple's 10% of its
/// peak. A static or very simple picture can measure a higher rung a hair below a lower one
/// (same keyframes, all overhead); players pick rungs by BANDWIDTH, so a bigger picture should
/// not look cheaper. Where the gap is more than 10%, the measurement stands.
pub fn ladder_bandwidths(peaks: &[u64]) -> Vec<u64> {
    let mut out = peaks.to_vec();
    for i in (0..out.len().saturating_sub(1)).rev() {
        let floor = out[i + 1] + 1;
        if out[i] < floor && floor as f64 <= peaks[i] as f64 * 1.10 {
            out[i] = floor;
        }
    }
    out
}

/// One variant of the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// URI of its media playlist, relative to the master.
    pub uri: String,
    /// Peak segment bit rate, bits/s (with an audio group: plus the group's largest peak).
    pub bandwidth: u64,
    /// Mean bitrate, bits/s (likewise).
    pub average_bandwidth: u64,
    /// RFC 6381 codecs, e.g. `avc1.64001f,mp4a.40.2`.
    pub codecs: String,
    /// Width and height, for video.
    pub resolution: Option<(u32, u32)>,
    /// Frame rate, for video.
    pub frame_rate: Option<f64>,
}

/// One alternate audio rendition (`EXT-X-MEDIA:TYPE=AUDIO`).
#[derive(Debug, Clone, PartialEq)]
pub struct AudioMedia {
    /// URI of its media playlist, relative to the master.
    pub uri: String,
    /// NAME, unique in the group.
    pub name: String,
    /// LANGUAGE, if known.
    pub language: Option<String>,
    /// DEFAULT=YES.
    pub default: bool,
}

/// An I-frame playlist of a video variant (`EXT-X-I-FRAME-STREAM-INF`), for scrubbing.
#[derive(Debug, Clone, PartialEq)]
pub struct IFrameVariant {
    /// URI of its I-frame playlist, relative to the master.
    pub uri: String,
    /// Peak bit rate of its I-frames, bits/s.
    pub bandwidth: u64,
    /// Mean bit rate of its I-frames, bits/s.
    pub average_bandwidth: u64,
    /// The video codec (RFC 6381).
    pub codecs: String,
    /// Width and height.
    pub resolution: (u32, u32),
}

/// GROUP-ID of the alternate audio renditions.
pub const AUDIO_GROUP: &str = "audio";

/// Apple's authoring spec (1.32): players start with the first variant listed, and it should
/// be the one averaging about 2 Mb/s.
const START_AVERAGE_BPS: f64 = 2_000_000.0;

/// The order variants are listed in: the one averaging nearest 2 Mb/s first (where playback
/// starts), then the others from the highest BANDWIDTH down.
pub fn listing_order(variants: &[Variant]) -> Vec<Variant> {
    let mut v = variants.to_vec();
    v.sort_by_key(|x| std::cmp::Reverse(x.bandwidth));
    let start = v
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| {
            let da = (a.average_bandwidth as f64 - START_AVERAGE_BPS).abs();
            let db = (b.average_bandwidth as f64 - START_AVERAGE_BPS).abs();
            da.total_cmp(&db)
        })
        .map(|(i, _)| i);
    if let Some(i) = start {
        let first = v.remove(i);
        v.insert(0, first);
    }
    v
}

/// The master playlist: alternate audio first (if any), then the variants in
/// [`listing_order`], then the I-frame playlists, largest first; [`with_subtitles`] adds the
/// text tracks. `CLOSED-CAPTIONS=NONE` on every variant (RFC 8216 wants it on all or none),
/// and true: the encode drops CEA-608 data (`-a53cc 0`), which is published as WebVTT instead.
pub fn master(variants: &[Variant], audio: &[AudioMedia], iframes: &[IFrameVariant]) -> String {
    let mut m = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for a in audio {
        let _ = write!(
            m,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"{}\"",
            a.name
        );
        if let Some(l) = &a.language {
            let _ = write!(m, ",LANGUAGE=\"{l}\"");
        }
        let _ = writeln!(
            m,
            ",DEFAULT={},AUTOSELECT=YES,CHANNELS=\"2\",URI=\"{}\"",
            if a.default { "YES" } else { "NO" },
            a.uri
        );
    }
    for x in listing_order(variants) {
        let _ = write!(
            m,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"",
            x.bandwidth, x.average_bandwidth, x.codecs
        );
        if let Some((w, h)) = x.resolution {
            let _ = write!(m, ",RESOLUTION={w}x{h}");
        }
        if let Some(f) = x.frame_rate {
            let _ = write!(m, ",FRAME-RATE={f:.3}");
        }
        m.push_str(",CLOSED-CAPTIONS=NONE");
        if !audio.is_empty() {
            let _ = write!(m, ",AUDIO=\"{AUDIO_GROUP}\"");
        }
        let _ = write!(m, "\n{}\n", x.uri);
    }
    let mut iframes = iframes.to_vec();
    iframes.sort_by_key(|x| std::cmp::Reverse(x.bandwidth));
    for x in iframes {
        let _ = writeln!(
            m,
            "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\",\
             RESOLUTION={}x{},URI=\"{}\"",
            x.bandwidth, x.average_bandwidth, x.codecs, x.resolution.0, x.resolution.1, x.uri
        );
    }
    m
}

/// GROUP-ID of the subtitle renditions.
pub const SUBTITLE_GROUP: &str = "subs";

/// The SDH CHARACTERISTICS string (RFC 8216 §4.3.4.1, Apple's authoring spec).
pub const SDH_CHARACTERISTICS: &str =
    "public.accessibility.transcribes-spoken-dialog,public.accessibility.describes-music-and-sound";

/// One WebVTT subtitle rendition (`EXT-X-MEDIA:TYPE=SUBTITLES`).
#[derive(Debug, Clone, PartialEq)]
pub struct SubtitleMedia {
    /// URI of its media playlist, relative to the master.
    pub uri: String,
    /// NAME, unique in the group.
    pub name: String,
    /// LANGUAGE (RFC 5646).
    pub language: String,
    /// DEFAULT=YES (at most one).
    pub default: bool,
    /// FORCED=YES.
    pub forced: bool,
    /// For the deaf and hard of hearing: the SDH CHARACTERISTICS.
    pub sdh: bool,
}

/// `master` with its subtitle group replaced by `subs`: the old SUBTITLES renditions and
/// every variant's `SUBTITLES=` attribute and `wvtt` codec go, the new ones are added (after
/// the audio renditions, before the first variant). The rest is kept byte for byte, so a
/// captions-only redo changes nothing a player already chose a variant by.
pub fn with_subtitles(master: &str, subs: &[SubtitleMedia]) -> String {
    let mut out = String::new();
    let mut media_written = false;
    let group = format!(",SUBTITLES=\"{SUBTITLE_GROUP}\"");
    for line in master.lines() {
        if line.starts_with("#EXT-X-MEDIA:TYPE=SUBTITLES") {
            continue;
        }
        let mut line = line.to_string();
        if line.starts_with("#EXT-X-STREAM-INF:") {
            if !media_written {
                for s in subs {
                    out.push_str(&subtitle_line(s));
                }
                media_written = true;
            }
            line = codecs_with_text(&line.replace(&group, ""), !subs.is_empty());
            if !subs.is_empty() {
                line.push_str(&group);
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A variant line whose CODECS lists `wvtt` exactly when `text` says so.
fn codecs_with_text(line: &str, text: bool) -> String {
    let Some(at) = line.find("CODECS=\"") else {
        return line.to_string();
    };
    let start = at + "CODECS=\"".len();
    let Some(len) = line[start..].find('"') else {
        return line.to_string();
    };
    let mut codecs: Vec<&str> = line[start..start + len]
        .split(',')
        .filter(|c| !c.is_empty() && *c != WVTT)
        .collect();
    if text {
        codecs.push(WVTT);
    }
    format!(
        "{}{}{}",
        &line[..start],
        codecs.join(","),
        &line[start + len..]
    )
}

/// The CODECS entry of WebVTT text, which Apple's authoring spec asks every variant to list
/// when it has subtitles.
pub const WVTT: &str = "wvtt";

fn subtitle_line(s: &SubtitleMedia) -> String {
    let yes = |b: bool| if b { "YES" } else { "NO" };
    let mut l = format!(
        "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{SUBTITLE_GROUP}\",NAME=\"{}\",LANGUAGE=\"{}\",\
         DEFAULT={},AUTOSELECT=YES,FORCED={}",
        s.name,
        s.language,
        yes(s.default),
        yes(s.forced)
    );
    if s.sdh {
        let _ = write!(l, ",CHARACTERISTICS=\"{SDH_CHARACTERISTICS}\"");
    }
    let _ = writeln!(l, ",URI=\"{}\"", s.uri);
    l
}

/// The `t<N>/<folder>` prefixes a master's URIs point into: what a cleanup must keep.
pub fn referenced_folders(master: &str) -> std::collections::HashSet<String> {
    let uri_of = |l: &str| -> Option<String> {
        if l.starts_with('#') {
            let (_, rest) = l.split_once("URI=\"")?;
            Some(rest.split('"').next()?.to_string())
        } else if !l.trim().is_empty() {
            Some(l.trim().to_string())
        } else {
            None
        }
    };
    master
        .lines()
        .filter_map(uri_of)
        .filter_map(|u| u.rsplit_once('/').map(|(dir, _)| dir.to_string()))
        .collect()
}

/// The RFC 6381 `avc1.PPCCLL` string for an H.264 stream as ffprobe describes it.
pub fn avc1(profile: &str, level: u32) -> String {
    let (p, c) = match profile {
        "Baseline" | "Constrained Baseline" => (0x42, 0xe0),
        "Main" => (0x4d, 0x40),
        "High 10" => (0x6e, 0x00),
        "High 4:2:2" => (0x7a, 0x00),
        _ => (0x64, 0x00),
    };
    format!("avc1.{p:02x}{c:02x}{level:02x}")
}

/// AAC-LC, which is all fleet encodes.
pub const AAC_LC: &str = "mp4a.40.2";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_segments_and_end() {
        let p = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.000000,\nseg_00000.ts\n#EXTINF:2.5,\nseg_00001.ts\n#EXT-X-ENDLIST\n";
        let s = segments(p);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[1],
            Segment {
                uri: "seg_00001.ts".into(),
                duration: 2.5
            }
        );
        assert!(is_complete(p));
        assert!(!is_complete("#EXTM3U\n#EXTINF:6,\na.ts\n"));
    }

    #[test]
    fn bandwidth_is_the_rfc_8216_peak_and_average_the_mean() {
        let (peak, avg) = bitrates(&[(750_000, 6.0), (1_500_000, 6.0), (100_000, 2.0)], 6.0);
        // Runs of 3-9 s: [6] 1.0 Mb/s, [6] 2.0, [6+2] 1.6: the single 6 s segment wins.
        assert_eq!(peak, 2_000_000);
        assert_eq!(avg, (2_350_000.0 * 8.0 / 14.0_f64).ceil() as u64);
        // A 12.04 s static clip: the 0.04 s tail segment, alone 10x the rate of the others,
        // is only counted together with its neighbour.
        let segs = [(60_000, 6.0), (60_000, 6.0), (5_000, 0.04)];
        let (peak, _) = bitrates(&segs, 6.0);
        assert_eq!(peak, (65_000.0 * 8.0 / 6.04_f64).ceil() as u64);
        assert!(peak < (5_000.0 * 8.0 / 0.04) as u64);
        // Shorter than half the target: the whole stream.
        assert_eq!(bitrates(&[(1_000, 2.0)], 6.0).0, 4_000);
    }

    #[test]
    fn a_bigger_picture_never_declares_less_when_the_truth_allows() {
        // 720p measured a hair under 540p: raised just above it (within 10%).
        assert_eq!(
            ladder_bandwidths(&[1_027_734, 1_030_742, 500_000]),
            [1_030_743, 1_030_742, 500_000]
        );
        // More than 10% apart: the measurement stands.
        assert_eq!(ladder_bandwidths(&[800, 1_000]), [800, 1_000]);
        assert_eq!(ladder_bandwidths(&[]), Vec::<u64>::new());
    }

    #[test]
    fn master_starts_near_two_megabits_then_lists_highest_first() {
        let v = |uri: &str, bw: u64| Variant {
            uri: uri.into(),
            bandwidth: bw,
            average_bandwidth: bw * 9 / 10,
            codecs: format!("{},{}", avc1("High", 31), AAC_LC),
            resolution: Some((1280, 720)),
            frame_rate: Some(30.0),
        };
        let vs = [
            v("240/index.m3u8", 500_000),
            v("1080/index.m3u8", 5_800_000),
            v("540/index.m3u8", 2_100_000),
            v("720/index.m3u8", 3_400_000),
        ];
        let m = master(&vs, &[], &[]);
        assert!(m.starts_with("#EXTM3U\n"));
        let order: Vec<&str> = m.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            order,
            [
                "540/index.m3u8",
                "1080/index.m3u8",
                "720/index.m3u8",
                "240/index.m3u8"
            ]
        );
        assert!(m.contains("BANDWIDTH=5800000,AVERAGE-BANDWIDTH=5220000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000,CLOSED-CAPTIONS=NONE\n"));
        assert_eq!(avc1("Constrained Baseline", 30), "avc1.42e01e");
        let audio = [AudioMedia {
            uri: "t1/audio_0/index.m3u8".into(),
            name: "English".into(),
            language: Some("en".into()),
            default: true,
        }];
        let iframe = IFrameVariant {
            uri: "t1/720/iframes.m3u8".into(),
            bandwidth: 400_000,
            average_bandwidth: 300_000,
            codecs: avc1("High", 31),
            resolution: (1280, 720),
        };
        let m = master(&vs[..1], &audio, &[iframe]);
        assert!(m.ends_with("#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=400000,AVERAGE-BANDWIDTH=300000,CODECS=\"avc1.64001f\",RESOLUTION=1280x720,URI=\"t1/720/iframes.m3u8\"\n"));
        assert!(m.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"t1/audio_0/index.m3u8\"\n"));
        assert!(m.contains("CLOSED-CAPTIONS=NONE,AUDIO=\"audio\"\n"));
        assert_eq!(
            as_vod("#EXT-X-PLAYLIST-TYPE:EVENT\n"),
            "#EXT-X-PLAYLIST-TYPE:VOD\n"
        );
    }

    #[test]
    fn subtitles_are_added_and_replaced_without_touching_the_rest() {
        let base = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"English\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"t2/audio_0/index.m3u8\"\n\
            #EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS=\"avc1.64001f,mp4a.40.2\",CLOSED-CAPTIONS=NONE,AUDIO=\"audio\"\n\
            t2/720p/index.m3u8\n\
            #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001f\",RESOLUTION=1280x720,URI=\"t2/720p/iframes.m3u8\"\n";
        let sub = |uri: &str, lang: &str, sdh: bool| SubtitleMedia {
            uri: uri.into(),
            name: "English".into(),
            language: lang.into(),
            default: !sdh,
            forced: false,
            sdh,
        };
        let one = with_subtitles(base, &[sub("t3/sub_0/index.m3u8", "en", false)]);
        assert!(one.contains("#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,URI=\"t3/sub_0/index.m3u8\"\n#EXT-X-STREAM-INF"));
        assert!(one.contains(&format!("CODECS=\"avc1.64001f,mp4a.40.2,{WVTT}\",CLOSED-CAPTIONS=NONE,AUDIO=\"audio\",SUBTITLES=\"subs\"\nt2/720p/index.m3u8\n")));
        // A redo replaces the group; none removes it; the rest is byte for byte the same.
        let two = with_subtitles(&one, &[sub("t4/sub_0/index.m3u8", "en", true)]);
        assert_eq!(two.matches("TYPE=SUBTITLES").count(), 1);
        assert!(two.contains(&format!(
            ",CHARACTERISTICS=\"{SDH_CHARACTERISTICS}\",URI=\"t4/sub_0/"
        )));
        assert_eq!(two.matches(WVTT).count(), 1);
        assert_eq!(with_subtitles(&two, &[]), base);
        let keep = referenced_folders(&two);
        let mut keep: Vec<&str> = keep.iter().map(String::as_str).collect();
        keep.sort();
        assert_eq!(keep, ["t2/720p", "t2/audio_0", "t4/sub_0"]);
    }
}
