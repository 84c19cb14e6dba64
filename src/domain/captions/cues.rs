//! Reading caption text: bytes to UTF-8 (course libraries are full of Latin-1, Windows-1252
//! and UTF-16 files), SRT and WebVTT to cues, cues back to WebVTT. A file that cannot be read
//! says where: the first bad line, so whoever fixes it knows where to look.

use std::fmt::Write;

/// One cue, times in seconds on the source's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    /// Start, seconds.
    pub start: f64,
    /// End, seconds.
    pub end: f64,
    /// The text, lines joined with `\n`; WebVTT markup (`<i>`, `<b>`) kept, the rest dropped.
    pub text: String,
}

/// Why a caption file cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {why}: {found:?}")]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// What was expected.
    pub why: String,
    /// The line as found (cut to 80 characters).
    pub found: String,
}

fn bad(line: usize, why: &str, found: &str) -> BadLine {
    BadLine {
        line,
        why: why.into(),
        found: found.chars().take(80).collect(),
    }
}

/// Text from bytes: a BOM says UTF-8 or UTF-16; without one, valid UTF-8 is UTF-8, a file
/// with a NUL in every other byte is UTF-16, and anything else is Windows-1252 (a superset of
/// Latin-1 for text: curly quotes and dashes where Latin-1 has control codes).
pub fn decode(bytes: &[u8]) -> String {
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        return enc
            .decode_without_bom_handling(&bytes[bom..])
            .0
            .into_owned();
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    let pairs = bytes.len() / 2;
    let odd_nuls = bytes.iter().skip(1).step_by(2).filter(|b| **b == 0).count();
    let even_nuls = bytes.iter().step_by(2).filter(|b| **b == 0).count();
    if pairs > 0 && odd_nuls * 10 > pairs * 8 {
        return encoding_rs::UTF_16LE
            .decode_without_bom_handling(bytes)
            .0
            .into_owned();
    }
    if pairs > 0 && even_nuls * 10 > pairs * 8 {
        return encoding_rs::UTF_16BE
            .decode_without_bom_handling(bytes)
            .0
            .into_owned();
    }
    encoding_rs::WINDOWS_1252
        .decode_without_bom_handling(bytes)
        .0
        .into_owned()
}

/// `[HH:]MM:SS(,|.)mmm` to seconds. SRT writes a comma, WebVTT a dot; both are accepted,
/// and so are 1-digit hours and fewer than 3 fraction digits (seen in hand-edited files).
fn timestamp(s: &str) -> Option<f64> {
    let s = s.trim();
    let (clock, frac) = s.rsplit_once([',', '.'])?;
    if frac.is_empty() || frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms: f64 = format!("{frac:0<3}").parse::<f64>().ok()? / 1000.0;
    let parts: Vec<&str> = clock.split(':').collect();
    let nums: Option<Vec<u32>> = parts
        .iter()
        .map(|p| {
            (!p.is_empty() && p.len() <= 3)
                .then(|| p.parse().ok())
                .flatten()
        })
        .collect();
    let nums = nums?;
    let (h, m, sec) = match nums.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [m, s] => (0, *m, *s),
        _ => return None,
    };
    (m < 60 && sec < 60).then(|| f64::from(h * 3600 + m * 60 + sec) + ms)
}

/// A `start --> end [settings]` line, if it is one.
fn time_range(line: &str) -> Option<(f64, f64)> {
    let (a, b) = line.split_once("-->")?;
    let b = b.split_whitespace().next()?;
    Some((timestamp(a)?, timestamp(b)?))
}

/// Tags WebVTT knows are kept; others (`<font color>`, SRT's `{\an8}`-style overrides) go.
/// A `<` that opens no tag, a `>` outside one and a `&` that starts no character reference
/// are escaped (`&lt;`, `&gt;`, `&amp;`): ffmpeg's WebVTT writer passes them raw, and a
/// WebVTT parser would eat the text after a bare `<`.
fn clean(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let len = c.len_utf8();
        match c {
            '<' => match tag_at(rest) {
                Some((tag, keep)) => {
                    if keep {
                        out.push_str(tag);
                    }
                    rest = &rest[tag.len()..];
                    continue;
                }
                None => out.push_str("&lt;"),
            },
            '{' if rest.starts_with("{\\") && rest.contains('}') => {
                rest = &rest[rest.find('}').unwrap_or(0) + 1..];
                continue;
            }
            '>' => out.push_str("&gt;"),
            '&' if !is_reference(rest) => out.push_str("&amp;"),
            _ => out.push(c),
        }
        rest = &rest[len..];
    }
    out.replace("--&gt;", "→")
}

/// The tag `rest` starts with (`<i>`, `</font>`, `<c.yellow>`), and whether WebVTT knows it.
fn tag_at(rest: &str) -> Option<(&str, bool)> {
    let body = rest.strip_prefix('<')?;
    let first = body.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '/' || first.is_ascii_digit()) {
        return None;
    }
    let end = body.find(['>', '<', '\n'])?;
    if body.as_bytes()[end] != b'>' {
        return None;
    }
    let tag = &rest[..end + 2];
    let name = body[..end]
        .trim_start_matches('/')
        .split([' ', '.'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    // A timestamp tag (`<00:00:01.500>`) is WebVTT's karaoke timing: kept.
    let keep = matches!(
        name.as_str(),
        "i" | "b" | "u" | "c" | "v" | "lang" | "ruby" | "rt"
    ) || name.starts_with(|c: char| c.is_ascii_digit());
    Some((tag, keep))
}

/// Whether `rest` (starting with `&`) is a character reference: `&amp;`, `&#233;`, `&#xE9;`.
fn is_reference(rest: &str) -> bool {
    let body = &rest[1..];
    let Some(end) = body.find(';') else {
        return false;
    };
    let name = &body[..end];
    !name.is_empty()
        && end <= 10
        && (name.chars().all(|c| c.is_ascii_alphanumeric())
            || name.strip_prefix('#').is_some_and(|n| {
                let n = n.strip_prefix(['x', 'X']).unwrap_or(n);
                !n.is_empty() && n.chars().all(|c| c.is_ascii_hexdigit())
            }))
}

/// The time range on line `at` (0-based), or the error that names it.
fn timing(lines: &[&str], at: usize, example: &str) -> Result<(f64, f64), BadLine> {
    let Some((start, end)) = time_range(lines[at].trim()) else {
        let why = format!("expected a time range like {example}");
        return Err(bad(at + 1, &why, lines[at]));
    };
    if end < start {
        return Err(bad(at + 1, "the cue ends before it starts", lines[at]));
    }
    Ok((start, end))
}

/// Parses SubRip. Blocks are an optional number, a time range, then text up to a blank line;
/// a time range also starts a new cue when the blank line before it is missing.
pub fn parse_srt(text: &str) -> Result<Vec<Cue>, BadLine> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cues = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.is_empty() {
            i += 1;
            continue;
        }
        // An optional counter line.
        let mut at = i;
        if line.bytes().all(|b| b.is_ascii_digit()) && i + 1 < lines.len() {
            at = i + 1;
        }
        let (start, end) = timing(&lines, at, "00:00:01,000 --> 00:00:02,500")?;
        let mut body = Vec::new();
        i = at + 1;
        while i < lines.len() && !lines[i].trim().is_empty() {
            let next_is_range = time_range(lines[i].trim()).is_some()
                || (lines[i].trim().bytes().all(|b| b.is_ascii_digit())
                    && lines
                        .get(i + 1)
                        .is_some_and(|l| time_range(l.trim()).is_some()));
            if next_is_range {
                break;
            }
            body.push(lines[i].trim_end());
            i += 1;
        }
        cues.push(Cue {
            start,
            end,
            text: clean(&body.join("\n")),
        });
    }
    if cues.is_empty() {
        return Err(bad(
            1,
            "no cue found in the file",
            lines.first().unwrap_or(&""),
        ));
    }
    Ok(cues)
}

/// Parses WebVTT: the `WEBVTT` header, then cues (an optional identifier, a time range with
/// optional settings, text); NOTE, STYLE and REGION blocks are skipped.
pub fn parse_vtt(text: &str) -> Result<Vec<Cue>, BadLine> {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.first().copied().unwrap_or_default();
    if !first.trim_start_matches('\u{feff}').starts_with("WEBVTT") {
        return Err(bad(1, "a WebVTT file starts with WEBVTT", first));
    }
    let mut cues = Vec::new();
    let mut i = 1;
    // The header runs to the first blank line.
    while i < lines.len() && !lines[i].trim().is_empty() {
        i += 1;
    }
    while i < lines.len() {
        let line = lines[i].trim();
        if line.is_empty() {
            i += 1;
            continue;
        }
        let block = line.split_whitespace().next().unwrap_or_default();
        if matches!(block, "NOTE" | "STYLE" | "REGION") {
            while i < lines.len() && !lines[i].trim().is_empty() {
                i += 1;
            }
            continue;
        }
        let mut at = i;
        if time_range(line).is_none() && i + 1 < lines.len() && !line.contains("-->") {
            at = i + 1; // a cue identifier
        }
        let (start, end) = timing(&lines, at, "00:00:01.000 --> 00:00:02.500")?;
        let mut body = Vec::new();
        i = at + 1;
        while i < lines.len() && !lines[i].trim().is_empty() {
            body.push(lines[i].trim_end());
            i += 1;
        }
        cues.push(Cue {
            start,
            end,
            text: clean(&body.join("\n")),
        });
    }
    Ok(cues)
}

/// `HH:MM:SS.mmm`, as WebVTT writes times.
pub fn vtt_time(t: f64) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Appends one cue block.
pub fn write_cue(out: &mut String, c: &Cue) {
    let _ = write!(
        out,
        "{} --> {}\n{}\n\n",
        vtt_time(c.start),
        vtt_time(c.end),
        c.text
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_with_latin_1_and_missing_blank_lines_is_read() {
        let latin1: Vec<u8> = b"1\r\n00:00:01,000 --> 00:00:02,500\r\nCaf\xe9 cr\xe8me\r\n2\r\n00:00:03,000 --> 00:00:04,000 X1:10\r\n<font color=\"red\">{\\an8}Ol\xe1</font> <i>ok</i>\r\n\r\n".to_vec();
        let cues = parse_srt(&decode(&latin1)).unwrap();
        assert_eq!(
            cues,
            [
                Cue {
                    start: 1.0,
                    end: 2.5,
                    text: "Café crème".into()
                },
                Cue {
                    start: 3.0,
                    end: 4.0,
                    text: "Olá <i>ok</i>".into()
                },
            ]
        );
    }

    #[test]
    fn bare_markup_characters_are_escaped_and_references_kept() {
        assert_eq!(
            clean("Tom & Jerry: a < b > c"),
            "Tom &amp; Jerry: a &lt; b &gt; c"
        );
        assert_eq!(
            clean("caf&eacute; &#233; &amp; <b>x</b>"),
            "caf&eacute; &#233; &amp; <b>x</b>"
        );
        assert_eq!(
            clean("<font color=\"red\">red</font> {\\an8}top"),
            "red top"
        );
        assert_eq!(clean("a --> b"), "a → b");
        assert_eq!(
            clean("<00:00:01.500>late <c.yellow>y</c>"),
            "<00:00:01.500>late <c.yellow>y</c>"
        );
    }

    #[test]
    fn utf16_and_bom_files_decode() {
        let s = "WEBVTT\n\n00:01.000 --> 00:02.000\nÜber\n";
        let mut le = vec![0xff, 0xfe];
        le.extend(s.encode_utf16().flat_map(|u| u.to_le_bytes()));
        assert_eq!(decode(&le), s);
        let be: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        assert_eq!(decode(&be), s);
        let mut bom = vec![0xef, 0xbb, 0xbf];
        bom.extend(s.as_bytes());
        assert_eq!(decode(&bom), s);
        assert_eq!(parse_vtt(&decode(&le)).unwrap()[0].text, "Über");
    }

    #[test]
    fn vtt_skips_notes_and_reads_ids_settings_and_short_times() {
        let v = "WEBVTT - lesson\nKind: captions\n\nNOTE a note\nspanning lines\n\nSTYLE\n::cue { color: red }\n\nintro\n00:00:01.000 --> 00:00:02.000 align:start line:0\n<v Ann>Hi</v>\nthere\n\n01:02.5 --> 01:03.250\nlater\n";
        let cues = parse_vtt(v).unwrap();
        assert_eq!(cues.len(), 2);
        assert_eq!(cues[0].text, "<v Ann>Hi</v>\nthere");
        assert_eq!((cues[1].start, cues[1].end), (62.5, 63.25));
    }

    #[test]
    fn a_broken_file_names_its_first_bad_line() {
        let e = parse_srt("1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03 -> 00:00:04\nbad\n")
            .unwrap_err();
        assert_eq!(e.line, 6);
        assert!(
            e.to_string().starts_with("line 6: expected a time range"),
            "{e}"
        );
        assert_eq!(parse_srt("").unwrap_err().line, 1);
        assert_eq!(
            parse_vtt("1\n00:00:01.000 --> 00:00:02.000\nx\n")
                .unwrap_err()
                .line,
            1
        );
        assert_eq!(
            parse_srt("00:00:05,000 --> 00:00:04,000\nx\n")
                .unwrap_err()
                .why,
            "the cue ends before it starts"
        );
        assert_eq!(vtt_time(3723.0456), "01:02:03.046");
    }
}
