//! Damage: how much of a source's timeline the decoder could not turn into pictures or sound.
//!
//! ffmpeg exits 0 on a source with a zeroed middle: the decoder drops what it cannot read, and
//! the encoder fills the hole with the last picture and silence, so the stream lasts as long
//! as the source and the duration check passes. What shows the hole is the decoder's own
//! output: the timestamps of the frames it produced. A stream the decoder complained about
//! (ffmpeg's "Error while decoding stream") is searched for holes in those timestamps; a
//! stream it did not complain about is trusted (a screen recorder legitimately writes no frame
//! for seconds over a still slide).

/// A stretch of the source's timeline, seconds from where the decode starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Start.
    pub from: f64,
    /// End.
    pub to: f64,
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}-{:.2} s", self.from, self.to)
    }
}

/// A hole shorter than this is not reported: a frame or two lost to a damaged packet at the
/// edge of a GOP is invisible, and audio packets are ~21 ms.
const MIN_HOLE_S: f64 = 0.1;

/// The holes in one decoded stream: stretches longer than three of its usual frame intervals
/// (and [`MIN_HOLE_S`]) with no decoded frame, including a missing head (before the first
/// frame, from `start`) and tail (after the last, up to `end` when the source states one).
pub fn holes(pts: &[f64], start: f64, end: Option<f64>) -> Vec<Range> {
    let mut sorted: Vec<f64> = pts.iter().copied().filter(|t| t.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let Some((&first, &last)) = sorted.first().zip(sorted.last()) else {
        return end
            .filter(|e| e - start >= MIN_HOLE_S)
            .map(|to| vec![Range { from: start, to }])
            .unwrap_or_default();
    };
    let mut steps: Vec<f64> = sorted.windows(2).map(|w| w[1] - w[0]).collect();
    steps.sort_by(f64::total_cmp);
    let interval = steps.get(steps.len() / 2).copied().unwrap_or(0.0);
    let limit = (interval * 3.0).max(MIN_HOLE_S);
    let mut out = Vec::new();
    if first - start > limit {
        out.push(Range {
            from: start,
            to: first,
        });
    }
    for w in sorted.windows(2) {
        if w[1] - w[0] > limit {
            out.push(Range {
                from: w[0] + interval,
                to: w[1],
            });
        }
    }
    if let Some(end) = end {
        if end - (last + interval) > limit {
            out.push(Range {
                from: last + interval,
                to: end,
            });
        }
    }
    out
}

/// The union of ranges, sorted and merged where they overlap or touch.
pub fn union(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.sort_by(|a, b| a.from.total_cmp(&b.from));
    let mut out: Vec<Range> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(l) if r.from <= l.to => l.to = l.to.max(r.to),
            _ => out.push(r),
        }
    }
    out
}

/// What the decode of a source showed.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Where nothing could be decoded, merged over the streams.
    pub ranges: Vec<Range>,
    /// Packets the decoder refused, over all streams.
    pub decode_errors: u32,
    /// The timeline the ranges are measured against, seconds.
    pub timeline_s: f64,
}

/// What to do with a damaged source.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Nothing to say.
    Clean,
    /// Published, with this warning.
    Warn(String),
    /// Failed as the video's fault, for this reason.
    Fail(String),
}

impl Assessment {
    /// Seconds of the timeline that could not be decoded.
    pub fn damaged_s(&self) -> f64 {
        self.ranges.iter().map(|r| r.to - r.from).sum()
    }

    /// Fails a source whose undecodable share exceeds `max_share` (0.05 = 5%); below it, a
    /// warning that names the ranges, so an operator can re-export the source if it matters.
    pub fn verdict(&self, max_share: f64) -> Verdict {
        if self.ranges.is_empty() {
            return Verdict::Clean;
        }
        let damaged = self.damaged_s();
        let share = damaged / self.timeline_s.max(f64::EPSILON);
        let list: Vec<String> = self.ranges.iter().take(10).map(Range::to_string).collect();
        let more = self.ranges.len().saturating_sub(10);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let what = format!(
            "{damaged:.1} s of {:.1} s ({:.1}%) could not be decoded ({} decode errors), at {}{more}",
            self.timeline_s,
            share * 100.0,
            self.decode_errors,
            list.join(", ")
        );
        if share > max_share {
            Verdict::Fail(format!(
                "the source is damaged: {what}; more than the {:.0}% allowed",
                max_share * 100.0
            ))
        } else {
            Verdict::Warn(format!(
                "the source is damaged: {what}; the stream holds the last picture and is \
                 silent there"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(from: f64, to: f64, step: f64) -> Vec<f64> {
        let n = ((to - from) / step).round() as usize;
        (0..n).map(|i| from + i as f64 * step).collect()
    }

    #[test]
    fn a_zeroed_middle_is_a_hole_of_its_length() {
        let mut v = frames(0.0, 7.1, 1.0 / 30.0);
        v.extend(frames(13.3, 20.0, 1.0 / 30.0));
        let h = holes(&v, 0.0, Some(20.0));
        assert_eq!(h.len(), 1);
        assert!(
            (h[0].from - 7.1).abs() < 0.05 && (h[0].to - 13.3).abs() < 1e-9,
            "{h:?}"
        );
        // Whole and clean: nothing.
        assert!(holes(&frames(0.0, 20.0, 1.0 / 30.0), 0.0, Some(20.0)).is_empty());
        // A missing tail and head, against the stated ends.
        let h = holes(&frames(2.0, 15.0, 0.02), 0.0, Some(20.0));
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!((h[0].from, h[0].to), (0.0, 2.0));
        assert!((h[1].from - 15.0).abs() < 0.03 && h[1].to == 20.0);
        // Nothing decoded at all is the whole stated timeline.
        assert_eq!(holes(&[], 0.0, Some(4.0)), [Range { from: 0.0, to: 4.0 }]);
    }

    #[test]
    fn small_share_warns_with_the_ranges_large_share_fails() {
        let r = union(vec![
            Range {
                from: 9.98,
                to: 10.24,
            },
            Range {
                from: 10.13,
                to: 10.3,
            },
        ]);
        assert_eq!(
            r,
            [Range {
                from: 9.98,
                to: 10.3
            }]
        );
        let a = Assessment {
            ranges: r,
            decode_errors: 18,
            timeline_s: 20.0,
        };
        let Verdict::Warn(w) = a.verdict(0.05) else {
            panic!("{:?}", a.verdict(0.05))
        };
        assert!(w.contains("9.98-10.30 s") && w.contains("1.6%"), "{w}");
        let big = Assessment {
            ranges: vec![Range {
                from: 7.07,
                to: 13.3,
            }],
            decode_errors: 478,
            timeline_s: 20.0,
        };
        let Verdict::Fail(f) = big.verdict(0.05) else {
            panic!()
        };
        assert!(f.contains("7.07-13.30 s") && f.contains("31.1%"), "{f}");
        assert_eq!(
            Assessment {
                ranges: vec![],
                decode_errors: 0,
                timeline_s: 1.0
            }
            .verdict(0.05),
            Verdict::Clean
        );
    }
}
