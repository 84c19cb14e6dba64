//! SCC (Scenarist) files, made ready for ffmpeg's `scc` demuxer, which reads them wrongly in
//! two ways (measured with ffmpeg 5.1): it takes every timecode as 30 whole frames a second
//! (`frames × 33 ms`), so a non-drop-frame file drifts 3.6 s early per hour; and it hands over
//! a whole line as one packet at the line's timecode, so a caption whose "end of caption"
//! code comes 16 words into a line shows half a second early. Here each 2-byte word gets its
//! own line at its real time (29.97 frames a second, one word a frame), written the way
//! ffmpeg will read back within 17 ms.

use super::cues::BadLine;
use std::fmt::Write;

const FPS: f64 = 30_000.0 / 1001.0;

/// A timecode `HH:MM:SS:FF` (non-drop) or `HH:MM:SS;FF` (drop-frame) as a frame count.
fn frames(tc: &str) -> Option<u64> {
    let drop = tc.contains(';');
    let parts: Vec<u64> = tc
        .split([':', ';', '.', ','])
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s, f] = parts.as_slice() else {
        return None;
    };
    if *m > 59 || *s > 59 || *f > 29 {
        return None;
    }
    let nominal = ((h * 60 + m) * 60 + s) * 30 + f;
    if drop {
        // Drop-frame skips frame numbers 0 and 1 each minute, except every tenth minute.
        let minutes = h * 60 + m;
        Some(nominal - 2 * (minutes - minutes / 10))
    } else {
        Some(nominal)
    }
}

/// How ffmpeg's demuxer reads `HH:MM:SS:FF`: seconds + FF × 33 ms. The timecode it will read
/// as `secs` (to the nearest 33 ms).
fn as_ffmpeg_reads(secs: f64) -> String {
    let whole = secs.floor();
    let ff = (((secs - whole) * 1000.0) / 33.0).round().min(29.0) as u64;
    let w = whole as u64;
    format!("{:02}:{:02}:{:02}:{ff:02}", w / 3600, w / 60 % 60, w % 60)
}

/// Rewrites an SCC file so that ffmpeg times every word where a caption decoder would.
pub fn retime(text: &str) -> Result<String, BadLine> {
    let mut lines = text.lines().enumerate();
    let (_, head) = lines.next().unwrap_or((0, ""));
    if !head
        .trim_start_matches('\u{feff}')
        .starts_with("Scenarist_SCC V1.0")
    {
        return Err(BadLine {
            line: 1,
            why: "an SCC file starts with Scenarist_SCC V1.0".into(),
            found: head.chars().take(80).collect(),
        });
    }
    let mut out = String::from("Scenarist_SCC V1.0\n\n");
    let mut words_seen = 0;
    for (i, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| BadLine {
            line: i + 1,
            why: why.into(),
            found: line.chars().take(80).collect(),
        };
        let (tc, words) = line
            .split_once(['\t', ' '])
            .ok_or_else(|| bad("expected a timecode, a tab and hex words"))?;
        let start = frames(tc).ok_or_else(|| bad("expected a timecode like 00:00:01;15"))?;
        for (k, w) in words.split_whitespace().enumerate() {
            if w.len() != 4 || !w.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("expected 4-digit hex words"));
            }
            let secs = (start + k as u64) as f64 / FPS;
            let _ = write!(out, "{}\t{w}\n\n", as_ffmpeg_reads(secs));
            words_seen += 1;
        }
    }
    if words_seen == 0 {
        return Err(BadLine {
            line: 1,
            why: "no caption data in the file".into(),
            found: String::new(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timecodes_become_real_time_one_word_a_frame() {
        let scc = "Scenarist_SCC V1.0\n\n00:00:03;20\t9420 9420 c84f\n\n01:00:00:00\t942f\n";
        let out = retime(scc).unwrap();
        let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
        // 3;20 drop-frame is frame 110 = 3.670 s; the next words one frame (33.4 ms) later.
        assert_eq!(
            lines,
            [
                "Scenarist_SCC V1.0",
                "00:00:03:20\t9420",
                "00:00:03:21\t9420",
                "00:00:03:22\tc84f",
                // Non-drop 01:00:00:00 is 108000 frames = 3603.6 s at 29.97.
                "01:00:03:18\t942f",
            ]
        );
        assert_eq!(frames("00:10:00;00"), Some(17_982));
        assert!((17_982.0 / FPS - 600.0).abs() < 0.001);
    }

    #[test]
    fn a_broken_scc_names_its_line() {
        assert_eq!(retime("WEBVTT\n").unwrap_err().line, 1);
        let e = retime("Scenarist_SCC V1.0\n\n00:00:01:00\t94zz\n").unwrap_err();
        assert_eq!((e.line, e.why.as_str()), (3, "expected 4-digit hex words"));
        assert_eq!(
            retime("Scenarist_SCC V1.0\n\n").unwrap_err().why,
            "no caption data in the file"
        );
    }
}
