//! The decoded timeline: the encode also writes down the timestamp of every frame the decoder
//! produced, per stream, so that holes left by damage can be found after it
//! ([`crate::domain::damage`]). It costs one line of text per frame and no second decode:
//! the `metadata` filter tags each frame and prints it, in the same ffmpeg run.

use crate::domain::damage::{self, Assessment, Range};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the timestamps of source stream `index` are written, in the encode's output folder
/// (beside, never inside, the folders the uploader publishes).
pub fn log_file(out_dir: &Path, index: u32) -> PathBuf {
    out_dir.join(format!("decoded-{index}.txt"))
}

/// The filters that log a video stream's frames: first in its chain, before anything that
/// drops, adds or retimes frames.
pub fn video_logger(file: &Path) -> String {
    format!(
        "metadata=mode=add:key=fleet:value=1,metadata=mode=print:file={}",
        escape(&file.display().to_string())
    )
}

/// A graph of its own that logs audio stream `index`'s frames and discards them: a separate
/// `-filter_complex`, so that it never holds the video graph back.
pub fn audio_logger(index: u32, file: &Path) -> String {
    format!(
        "[0:{index}]ametadata=mode=add:key=fleet:value=1,ametadata=mode=print:file={},anullsink",
        escape(&file.display().to_string())
    )
}

/// Escapes a path for an option value inside a filtergraph: once for the option parser
/// (`\ ' :`), once more for the graph parser (`\ ' [ ] , ;`), as ffmpeg's filtergraph
/// escaping rules ask.
fn escape(path: &str) -> String {
    let once: String = path
        .chars()
        .flat_map(|c| {
            let esc = matches!(c, '\\' | '\'' | ':');
            esc.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect();
    once.chars()
        .flat_map(|c| {
            let esc = matches!(c, '\\' | '\'' | '[' | ']' | ',' | ';');
            esc.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

/// The `pts_time` of every frame in a log (empty if it is missing: nothing was decoded).
pub fn read(file: &Path) -> Vec<f64> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("pts_time:"))
        })
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// Counts ffmpeg's "Error while decoding stream #0:N" lines per stream index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodeErrors(pub BTreeMap<u32, u32>);

impl DecodeErrors {
    /// Folds one stderr line in.
    pub fn note(&mut self, line: &str) {
        let Some(rest) = line
            .find("Error while decoding stream #0:")
            .map(|i| &line[i + "Error while decoding stream #0:".len()..])
        else {
            return;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(i) = digits.parse() {
            *self.0.entry(i).or_default() += 1;
        }
    }

    /// Errors over all streams.
    pub fn total(&self) -> u32 {
        self.0.values().sum()
    }
}

/// One logged stream and the stretch of timeline it should cover.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Source stream index.
    pub index: u32,
    /// Where its log is.
    pub file: PathBuf,
    /// Where the stream starts, seconds on the decode's timeline.
    pub start: f64,
    /// Where it ends, if the source says.
    pub end: Option<f64>,
}

/// The holes in the streams ffmpeg reported decode errors for, and the decoded length of the
/// longest stream (for a source that states none).
pub fn assess(logged: &[Logged], errors: &DecodeErrors) -> (Assessment, Option<f64>) {
    let mut ranges: Vec<Range> = Vec::new();
    let mut decoded_end: Option<f64> = None;
    let mut timeline: f64 = 0.0;
    for l in logged {
        let pts = read(&l.file);
        let last = pts.iter().copied().reduce(f64::max);
        decoded_end = match (decoded_end, last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        timeline = timeline.max(l.end.or(last).unwrap_or(0.0) - l.start);
        if errors.0.get(&l.index).copied().unwrap_or(0) > 0 {
            ranges.extend(damage::holes(&pts, l.start, l.end));
        }
    }
    (
        Assessment {
            ranges: damage::union(ranges),
            decode_errors: errors.total(),
            timeline_s: timeline,
        },
        decoded_end,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_survive_both_escaping_levels() {
        assert_eq!(escape("/tmp/a b/x.txt"), "/tmp/a b/x.txt");
        assert_eq!(escape("/w:1/it's,[x];"), "/w\\\\:1/it\\\\\\'s\\,\\[x\\]\\;");
    }

    #[test]
    fn decode_errors_are_counted_per_stream() {
        let mut e = DecodeErrors::default();
        for l in [
            "Error while decoding stream #0:1: Invalid data found when processing input",
            "Error while decoding stream #0:0: Invalid data found when processing input",
            "Error while decoding stream #0:1: Invalid data found when processing input",
            "[h264 @ 0x1] Error splitting the input into NAL units.",
        ] {
            e.note(l);
        }
        assert_eq!(e.0.get(&1), Some(&2));
        assert_eq!(e.0.get(&0), Some(&1));
        assert_eq!(e.total(), 3);
    }

    #[test]
    fn logs_are_read_from_the_metadata_filters_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("d.txt");
        std::fs::write(
            &f,
            "frame:0    pts:0       pts_time:0\nfleet=1\nframe:1    pts:512     pts_time:0.0333333\nfleet=1\n",
        )
        .unwrap();
        assert_eq!(read(&f), [0.0, 0.0333333]);
        assert!(read(&dir.path().join("missing")).is_empty());
    }
}
