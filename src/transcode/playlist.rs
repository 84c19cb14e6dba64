//! Playlists: reading ffmpeg's media playlists, and writing a master playlist that tells the
//! truth: BANDWIDTH from the measured peak segment bitrate, AVERAGE-BANDWIDTH from the mean
//! (Apple rejects declared values more than 10% off, and ffmpeg 5.1 writes a nominal guess),
//! CODECS from the actual bitstream.

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

/// Peak and average bitrate (bits/s) from segment sizes and durations.
pub fn bitrates(sizes_and_durations: &[(u64, f64)]) -> (u64, u64) {
    let peak = sizes_and_durations
        .iter()
        .filter(|(_, d)| *d > 0.0)
        .map(|(b, d)| (*b as f64 * 8.0 / d).ceil() as u64)
        .max()
        .unwrap_or(0);
    let bytes: u64 = sizes_and_durations.iter().map(|(b, _)| b).sum();
    let secs: f64 = sizes_and_durations.iter().map(|(_, d)| d).sum();
    let avg = if secs > 0.0 {
        (bytes as f64 * 8.0 / secs).ceil() as u64
    } else {
        0
    };
    (peak, avg)
}

/// One variant of the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// URI of its media playlist, relative to the master.
    pub uri: String,
    /// Peak segment bitrate, bits/s.
    pub bandwidth: u64,
    /// Mean bitrate, bits/s.
    pub average_bandwidth: u64,
    /// RFC 6381 codecs, e.g. `avc1.64001f,mp4a.40.2`.
    pub codecs: String,
    /// Width and height, for video.
    pub resolution: Option<(u32, u32)>,
    /// Frame rate, for video.
    pub frame_rate: Option<f64>,
}

/// The master playlist, highest bandwidth first.
pub fn master(variants: &[Variant]) -> String {
    let mut v = variants.to_vec();
    v.sort_by_key(|x| std::cmp::Reverse(x.bandwidth));
    let mut m = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for x in v {
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
        let _ = write!(m, "\n{}\n", x.uri);
    }
    m
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
    fn bandwidth_is_the_peak_and_average_the_mean() {
        let (peak, avg) = bitrates(&[(750_000, 6.0), (1_500_000, 6.0), (100_000, 2.0)]);
        assert_eq!(peak, 2_000_000);
        assert_eq!(avg, (2_350_000.0 * 8.0 / 14.0_f64).ceil() as u64);
    }

    #[test]
    fn master_lists_variants_highest_first() {
        let v = |uri: &str, bw| Variant {
            uri: uri.into(),
            bandwidth: bw,
            average_bandwidth: bw / 2,
            codecs: format!("{},{}", avc1("High", 31), AAC_LC),
            resolution: Some((1280, 720)),
            frame_rate: Some(30.0),
        };
        let m = master(&[v("lo/index.m3u8", 100), v("hi/index.m3u8", 900)]);
        assert!(m.starts_with("#EXTM3U\n"));
        let hi = m.find("hi/index.m3u8").unwrap();
        let lo = m.find("lo/index.m3u8").unwrap();
        assert!(hi < lo);
        assert!(m.contains("BANDWIDTH=900,AVERAGE-BANDWIDTH=450,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000"));
        assert_eq!(avc1("Constrained Baseline", 30), "avc1.42e01e");
    }
}
