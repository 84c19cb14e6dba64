//! I-frame playlists (`EXT-X-I-FRAMES-ONLY`), which Apple's authoring spec (6.1) requires for
//! scrubbing and trick play. ffmpeg 5.1's HLS muxer writes none, so they are built from the
//! segments themselves: every keyframe's byte range in its MPEG-TS segment, read from its TS
//! packets (no decoding, no process) before the segment leaves the disk.
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

/// Reads the keyframes of a local MPEG-TS segment. Read in-process from the TS packets: an
/// ffprobe per segment (35 for a 40 s clip on five rungs) took CPU from the encode.
pub async fn of_segment(path: &Path) -> Result<SegmentKeyframes, TranscodeError> {
    Ok(scan(&read_segment(path).await?))
}

/// A local segment's bytes; failing to read one is the machine's trouble.
pub(super) async fn read_segment(path: &Path) -> Result<Vec<u8>, TranscodeError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| TranscodeError::Local {
            program: "the segment reader",
            source,
        })
}

pub(super) const TS: usize = 188;

/// Stream types of video in a PMT: MPEG-1/2, MPEG-4 part 2, H.264, HEVC.
const VIDEO_TYPES: [u8; 5] = [0x01, 0x02, 0x10, 0x1B, 0x24];

/// The keyframes of an MPEG-TS buffer. The video stream is the first video entry of the
/// program map; each of its PES packets starts in a TS packet that sets
/// payload_unit_start_indicator, and a keyframe is one whose adaptation field sets
/// random_access_indicator (ffmpeg's muxer sets it on every keyframe). Its PTS comes from the
/// PES header; its bytes run to the next video PES (or the end).
pub fn scan(ts: &[u8]) -> SegmentKeyframes {
    let mut pmt_pid = None;
    let mut video_pid = None;
    // (offset, keyframe, pts) of each video PES start.
    let mut starts: Vec<(u64, bool, Option<f64>)> = Vec::new();
    for (n, p) in ts.chunks_exact(TS).enumerate() {
        if p[0] != 0x47 {
            continue;
        }
        let pusi = p[1] & 0x40 != 0;
        let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
        let (adaptation, payload_at) = match (p[3] >> 4) & 0x3 {
            2 => (Some(&p[4..]), TS),
            3 => (Some(&p[4..]), (5 + usize::from(p[4])).min(TS)),
            _ => (None, 4),
        };
        let payload = &p[payload_at..];
        if !pusi {
            continue;
        }
        if pid == 0 {
            pmt_pid = section(payload).and_then(pat_pmt_pid);
        } else if Some(pid) == pmt_pid {
            video_pid = video_pid.or_else(|| section(payload).and_then(pmt_video_pid));
        } else if Some(pid) == video_pid {
            let rai = adaptation.is_some_and(|a| a[0] > 0 && a[1] & 0x40 != 0);
            starts.push(((n * TS) as u64, rai, pes_pts(payload)));
        }
    }
    let size = ts.len() as u64;
    let header = starts.first().map_or(0, |s| s.0);
    let keyframes = starts
        .iter()
        .enumerate()
        .filter(|(_, s)| s.1)
        .filter_map(|(i, &(offset, _, pts))| {
            let next = starts.get(i + 1).map_or(size, |s| s.0);
            Some(Keyframe {
                pts: pts?,
                offset,
                length: next - offset,
            })
        })
        .collect();
    SegmentKeyframes { header, keyframes }
}

/// A PSI section's bytes after its pointer field, up to its section_length.
pub(super) fn section(payload: &[u8]) -> Option<&[u8]> {
    let pointer = usize::from(*payload.first()?);
    let s = payload.get(1 + pointer..)?;
    let len = (usize::from(*s.get(1)? & 0x0f) << 8) | usize::from(*s.get(2)?);
    s.get(..(3 + len).min(s.len()))
}

/// The first program's PMT PID in a PAT section.
pub(super) fn pat_pmt_pid(s: &[u8]) -> Option<u16> {
    // 8 bytes of header, then 4-byte entries (program number, PID), then the CRC; program 0
    // is the network PID, not a program.
    s.get(8..s.len().checked_sub(4)?)?
        .chunks_exact(4)
        .find(|e| e[0] != 0 || e[1] != 0)
        .map(|e| (u16::from(e[2] & 0x1f) << 8) | u16::from(e[3]))
}

/// The first video elementary stream's PID in a PMT section.
fn pmt_video_pid(s: &[u8]) -> Option<u16> {
    pmt_streams(s)
        .into_iter()
        .find(|(kind, _)| VIDEO_TYPES.contains(kind))
        .map(|(_, pid)| pid)
}

/// Every elementary stream of a PMT section: (stream_type, PID), in order.
pub(super) fn pmt_streams(s: &[u8]) -> Vec<(u8, u16)> {
    let mut found = Vec::new();
    let (Some(hi), Some(lo)) = (s.get(10), s.get(11)) else {
        return found;
    };
    let mut i = 12 + ((usize::from(hi & 0x0f) << 8) | usize::from(*lo));
    let end = s.len().saturating_sub(4);
    while i + 5 <= end {
        let pid = (u16::from(s[i + 1] & 0x1f) << 8) | u16::from(s[i + 2]);
        found.push((s[i], pid));
        let es_info = (usize::from(s[i + 3] & 0x0f) << 8) | usize::from(s[i + 4]);
        i += 5 + es_info;
    }
    found
}

/// The PTS of a PES packet starting in `payload`, seconds on the 90 kHz clock.
fn pes_pts(payload: &[u8]) -> Option<f64> {
    if payload.get(..3)? != [0, 0, 1] || payload.get(7)? & 0x80 == 0 {
        return None;
    }
    let b = payload.get(9..14)?;
    let pts = (u64::from((b[0] >> 1) & 0x07) << 30)
        | (u64::from(b[1]) << 22)
        | (u64::from(b[2] >> 1) << 15)
        | (u64::from(b[3]) << 7)
        | u64::from(b[4] >> 1);
    Some(pts as f64 / 90_000.0)
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
