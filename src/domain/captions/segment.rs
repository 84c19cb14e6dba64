//! A text track as an HLS WebVTT rendition, aligned to the video's segments (RFC 8216 §3.5):
//! segment `i` spans the video segment `i`'s EXTINF, holds every cue shown during that span (a
//! cue crossing a boundary is repeated in both, with its full times), and an empty one is a
//! plain `WEBVTT` file. Every segment carries `X-TIMESTAMP-MAP`, which ties the cues' clock
//! to the video's MPEG-TS clock: without it players take cue 0 as PTS 0 and show every cue
//! 1.4 s early (fleet's TS starts near PTS 126000-133200).

use super::cues::{self, Cue};
use std::fmt::Write;

/// The subtitle rendition of one track.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendition {
    /// `seg_NNNNN.vtt` contents, one per video segment.
    pub segments: Vec<String>,
    /// Cues dropped because they start after the video ends.
    pub dropped: usize,
    /// Cues published.
    pub kept: usize,
}

/// Segment file name, the video's numbering with `.vtt`.
pub fn segment_name(i: usize) -> String {
    format!("seg_{i:05}.vtt")
}

/// Builds the segments. `durations` are the video segments' EXTINF values; `first` is where
/// the published video's first segment starts on the cue clock (seconds; the source's time
/// 0 is cue time 0); `mpegts` is the 90 kHz PTS of cue time 0 in the published video.
pub fn segments(cues: &[Cue], durations: &[f64], first: f64, mpegts: i64) -> Rendition {
    let end = first + durations.iter().sum::<f64>();
    let header = format!(
        "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{},LOCAL:00:00:00.000\n\n",
        mpegts.max(0)
    );
    let mut sorted: Vec<&Cue> = cues.iter().collect();
    sorted.sort_by(|a, b| a.start.total_cmp(&b.start));
    let dropped = sorted.iter().filter(|c| c.start >= end).count();
    let mut out = Vec::with_capacity(durations.len());
    let mut at = first;
    for d in durations {
        let (lo, hi) = (at, at + d);
        let mut s = header.clone();
        for c in &sorted {
            // Shown during [lo, hi): a zero-length cue counts where it starts.
            let shown = if c.end > c.start {
                c.start < hi && c.end > lo
            } else {
                c.start >= lo && c.start < hi
            };
            if shown {
                cues::write_cue(&mut s, c);
            }
        }
        out.push(s);
        at = hi;
    }
    Rendition {
        segments: out,
        dropped,
        kept: sorted.len() - dropped,
    }
}

/// The rendition's media playlist: the video's segment durations and target, VOD, complete.
pub fn playlist(durations: &[f64], target: f64) -> String {
    let mut p = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:VOD\n",
        target.ceil() as u64
    );
    for (i, d) in durations.iter().enumerate() {
        let _ = write!(p, "#EXTINF:{d:.6},\n{}\n", segment_name(i));
    }
    p.push_str("#EXT-X-ENDLIST\n");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(start: f64, end: f64, text: &str) -> Cue {
        Cue {
            start,
            end,
            text: text.into(),
        }
    }

    #[test]
    fn a_cue_across_a_boundary_is_in_both_segments_and_late_cues_are_dropped() {
        let cues = [
            cue(1.0, 2.0, "one"),
            cue(5.5, 6.5, "across"),
            cue(9.0, 9.5, "after the end"),
            cue(5.8, 5.9, "overlap"),
        ];
        let r = segments(&cues, &[6.0, 2.0, 0.5], 0.0, 133_200);
        assert_eq!(r.segments.len(), 3);
        assert_eq!((r.kept, r.dropped), (3, 1));
        let head = "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:133200,LOCAL:00:00:00.000\n\n";
        assert_eq!(
            r.segments[0],
            format!(
                "{head}00:00:01.000 --> 00:00:02.000\none\n\n\
                 00:00:05.500 --> 00:00:06.500\nacross\n\n\
                 00:00:05.800 --> 00:00:05.900\noverlap\n\n"
            )
        );
        assert_eq!(
            r.segments[1],
            format!("{head}00:00:05.500 --> 00:00:06.500\nacross\n\n")
        );
        assert_eq!(
            r.segments[2], head,
            "an empty segment is a plain WEBVTT file"
        );
        let p = playlist(&[6.0, 2.0, 0.5], 6.0);
        assert!(p.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert!(p.contains("#EXTINF:0.500000,\nseg_00002.vtt\n#EXT-X-ENDLIST\n"));
        assert!(p.contains("#EXT-X-TARGETDURATION:6\n"));
    }

    #[test]
    fn segments_follow_the_videos_own_start() {
        // The published video starts 0.021 s into the source: segment 0 spans 0.021..6.021.
        let r = segments(&[cue(6.01, 6.02, "x")], &[6.0, 6.0], 0.021, 126_000);
        assert!(r.segments[0].contains("x\n"));
        assert!(!r.segments[1].contains("x\n"));
    }
}
