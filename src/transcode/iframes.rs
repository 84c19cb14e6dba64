//! I-frame playlists (`EXT-X-I-FRAMES-ONLY`), which Apple's authoring spec (6.1) requires for
//! scrubbing and trick play. ffmpeg 5.1's HLS muxer writes none, so they are built from the
//! segments themselves: every keyframe's byte range in its MPEG-TS segment, read with ffprobe
//! (packet positions, no decoding) before the segment leaves the disk.
//!
//! In MPEG-TS a video packet's `pos` is the TS packet where its PES starts, so the bytes from
//! a keyframe's `pos` up to the next video packet's `pos` hold the whole picture (and any audio
//! interleaved with it, which a player ignores). The segment's leading bytes, up to its first
//! video packet, hold the PAT and PMT: the Media Initialization Section (`EXT-X-MAP`).

use crate::error::TranscodeError;
use std::fmt::Write;
use std::path::Path;

/// One keyframe of a segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyframe {
    /// Presentation time, seconds.
    pub pts: f64,
    /// Byte offset in the segment.
    pub offset: u64,
    /// Bytes up to the next video packet (or the end of the segment).
    pub length: u64,
}

/// A segment's keyframes and where its first video packet starts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SegmentKeyframes {
    /// Bytes before the first video packet: PAT, PMT (and SDT).
    pub header: u64,
    /// Keyframes in order.
    pub keyframes: Vec<Keyframe>,
}

/// Reads the keyframes of a local MPEG-TS segment.
pub async fn of_segment(path: &Path) -> Result<SegmentKeyframes, TranscodeError> {
    let out = super::ffprobe(
        &[
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,pos,flags",
            "-of",
            "csv=p=0",
        ],
        path,
    )
    .await?;
    let size = tokio::fs::metadata(path)
        .await
        .map_err(|source| TranscodeError::Local {
            program: "ffprobe",
            source,
        })?
        .len();
    Ok(parse(&String::from_utf8_lossy(&out.stdout), size))
}

/// Parses ffprobe's `pts_time,pos,flags` lines for a segment of `size` bytes.
pub fn parse(csv: &str, size: u64) -> SegmentKeyframes {
    let packets: Vec<(f64, u64, bool)> = csv
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().split(',');
            let pts = f.next()?.parse().ok()?;
            let pos = f.next()?.parse().ok()?;
            let key = f.next()?.starts_with('K');
            Some((pts, pos, key))
        })
        .collect();
    let header = packets.iter().map(|p| p.1).min().unwrap_or(0);
    let keyframes = packets
        .iter()
        .filter(|p| p.2)
        .map(|&(pts, offset, _)| {
            let next = packets
                .iter()
                .map(|p| p.1)
                .filter(|p| *p > offset)
                .min()
                .unwrap_or(size);
            Keyframe {
                pts,
                offset,
                length: next - offset,
            }
        })
        .collect();
    SegmentKeyframes { header, keyframes }
}

/// One entry of an I-frame playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The segment file.
    pub uri: String,
    /// Its keyframe.
    pub keyframe: Keyframe,
}

/// The I-frame playlist of a rendition whose media ends at `end` (seconds, on the same clock as
/// the keyframes' `pts`), with the first segment's header as `EXT-X-MAP`. Returns the text and
/// each entry's (bytes, seconds), for its BANDWIDTH.
pub fn playlist(entries: &[Entry], map: (&str, u64), end: f64) -> (String, Vec<(u64, f64)>) {
    let durations: Vec<f64> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let next = entries.get(i + 1).map_or(end, |n| n.keyframe.pts);
            (next - e.keyframe.pts).max(0.001)
        })
        .collect();
    let target = durations.iter().copied().fold(1.0f64, f64::max).ceil() as u64;
    let mut p = format!(
        "#EXTM3U\n#EXT-X-VERSION:5\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-I-FRAMES-ONLY\n#EXT-X-MAP:URI=\"{}\",BYTERANGE=\"{}@0\"\n",
        map.0, map.1
    );
    for (e, d) in entries.iter().zip(&durations) {
        let _ = write!(
            p,
            "#EXTINF:{d:.6},\n#EXT-X-BYTERANGE:{}@{}\n{}\n",
            e.keyframe.length, e.keyframe.offset, e.uri
        );
    }
    p.push_str("#EXT-X-ENDLIST\n");
    let sizes = entries
        .iter()
        .zip(durations)
        .map(|(e, d)| (e.keyframe.length, d))
        .collect();
    (p, sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframe_ranges_run_to_the_next_video_packet() {
        // SDT, PAT, PMT take the first 564 bytes; a keyframe, two frames, a keyframe.
        let csv = "1.400000,564,K_\n1.433333,40796,__\n1.466667,41548,__\n3.400000,90000,K_\n";
        let s = parse(csv, 120_000);
        assert_eq!(s.header, 564);
        assert_eq!(
            s.keyframes,
            [
                Keyframe {
                    pts: 1.4,
                    offset: 564,
                    length: 40796 - 564
                },
                Keyframe {
                    pts: 3.4,
                    offset: 90000,
                    length: 30000
                }
            ]
        );
    }

    #[test]
    fn the_playlist_lists_each_keyframe_until_the_next() {
        let e = |uri: &str, pts, offset| Entry {
            uri: uri.into(),
            keyframe: Keyframe {
                pts,
                offset,
                length: 1000,
            },
        };
        let (p, sizes) = playlist(
            &[
                e("seg_00000.ts", 1.4, 564),
                e("seg_00000.ts", 3.4, 9000),
                e("seg_00001.ts", 5.4, 564),
            ],
            ("seg_00000.ts", 564),
            6.4,
        );
        assert!(p.contains(
            "#EXT-X-I-FRAMES-ONLY\n#EXT-X-MAP:URI=\"seg_00000.ts\",BYTERANGE=\"564@0\"\n"
        ));
        assert!(p.contains("#EXTINF:2.000000,\n#EXT-X-BYTERANGE:1000@9000\nseg_00000.ts\n"));
        assert!(p.contains(
            "#EXTINF:1.000000,\n#EXT-X-BYTERANGE:1000@564\nseg_00001.ts\n#EXT-X-ENDLIST"
        ));
        assert_eq!(sizes.len(), 3);
        assert!((sizes[2].1 - 1.0).abs() < 1e-9);
    }
}
