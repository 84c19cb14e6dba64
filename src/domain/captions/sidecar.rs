//! Sidecar caption files, found by name beside their video with no configuration:
//! `lesson.srt`, `lesson.en.vtt`, `lesson.pt-BR.srt`, `lesson.en.sdh.srt`,
//! `lesson.en.forced.vtt`, `lesson.scc`. The words between the video's stem and the
//! extension are a language tag (RFC 5646) and flags (`sdh`, `cc`, `hi` for the deaf and
//! hard of hearing; `forced`), in any order; anything else means the file is not this video's.

use super::CaptionFile;
use crate::domain::language;
use std::collections::HashMap;

/// Extensions of caption files fleet reads.
pub const EXTENSIONS: &[&str] = &["srt", "vtt", "scc"];

/// Whether `key` names a caption file by its extension.
pub fn is_caption(key: &str) -> bool {
    ext(key).is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}

fn ext(key: &str) -> Option<String> {
    let name = key.rsplit('/').next()?;
    let (_, e) = name.rsplit_once('.')?;
    Some(e.to_ascii_lowercase())
}

/// A video's stem: its key without the extension (`a/lesson.mp4` → `a/lesson`).
pub fn stem(video_key: &str) -> &str {
    let name_at = video_key.rfind('/').map_or(0, |i| i + 1);
    match video_key[name_at..].rfind('.') {
        Some(dot) if dot > 0 => &video_key[..name_at + dot],
        _ => video_key,
    }
}

/// What the words between a stem and the extension say, if they are all tags and flags:
/// (language, sdh, forced).
fn words(middle: &[&str]) -> Option<(Option<String>, bool, bool)> {
    let (mut lang, mut sdh, mut forced) = (None, false, false);
    for w in middle {
        match w.to_ascii_lowercase().as_str() {
            "sdh" | "cc" | "hi" => sdh = true,
            "forced" => forced = true,
            _ if lang.is_none() && language::is_tag(w) => lang = Some(language::bcp47(w)),
            _ => return None,
        }
    }
    Some((lang, sdh, forced))
}

/// Attaches caption files to videos. `videos` are video keys; `captions` are (key, etag) of
/// caption files. A caption attaches to the video whose stem is the longest one it extends
/// with only tags and flags (so `talk.en.srt` belongs to `talk.en.mp4` when that video
/// exists, else to `talk.mp4` in English); videos sharing a stem (`a.mp4`, `a.mov`) both get
/// it. A file with no language tag takes `default_language`. Returns, per video key, its
/// captions sorted by key, and the caption keys that matched no video.
pub fn attach(
    videos: &[String],
    captions: &[(String, String)],
    default_language: &str,
) -> (HashMap<String, Vec<CaptionFile>>, Vec<String>) {
    let mut by_stem: HashMap<&str, Vec<&String>> = HashMap::new();
    for v in videos {
        by_stem.entry(stem(v)).or_default().push(v);
    }
    let mut out: HashMap<String, Vec<CaptionFile>> = HashMap::new();
    let mut orphans = Vec::new();
    for (key, etag) in captions {
        let base = stem(key);
        let name_at = base.rfind('/').map_or(0, |i| i + 1);
        // Candidate stems from the longest down: `a/x.en.sdh`, `a/x.en`, `a/x`.
        let mut found = None;
        let mut cut = base.len();
        loop {
            let candidate = &base[..cut];
            if let Some(vs) = by_stem.get(candidate) {
                let middle: Vec<&str> = base[cut..].split('.').filter(|w| !w.is_empty()).collect();
                if let Some(w) = words(&middle) {
                    found = Some((vs, w));
                    break;
                }
            }
            match base[name_at..cut].rfind('.') {
                Some(dot) if dot > 0 => cut = name_at + dot,
                _ => break,
            }
        }
        let Some((vs, (lang, sdh, forced))) = found else {
            orphans.push(key.clone());
            continue;
        };
        for v in vs {
            out.entry((*v).clone()).or_default().push(CaptionFile {
                key: key.clone(),
                etag: etag.clone(),
                language: lang.clone().unwrap_or_else(|| default_language.to_string()),
                sdh,
                forced,
            });
        }
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.key.cmp(&b.key));
    }
    (out, orphans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(keys: &[&str]) -> Vec<(String, String)> {
        keys.iter()
            .map(|k| (k.to_string(), "e".to_string()))
            .collect()
    }

    #[test]
    fn sidecars_are_found_by_name_with_language_and_flags() {
        let videos = vec!["c/lesson.mp4".to_string(), "c/lesson-2.mov".to_string()];
        let (m, orphans) = attach(
            &videos,
            &caps(&[
                "c/lesson.srt",
                "c/lesson.en.srt",
                "c/lesson.pt-BR.vtt",
                "c/lesson.en.sdh.srt",
                "c/lesson.EN.Forced.VTT",
                "c/lesson-2.de.scc",
                "c/lesson.final.srt",
                "c/other.en.srt",
                "d/lesson.en.srt",
            ]),
            "und",
        );
        let l = &m["c/lesson.mp4"];
        let got: Vec<(&str, &str, bool, bool)> = l
            .iter()
            .map(|c| (c.key.as_str(), c.language.as_str(), c.sdh, c.forced))
            .collect();
        assert_eq!(
            got,
            [
                ("c/lesson.EN.Forced.VTT", "en", false, true),
                ("c/lesson.en.sdh.srt", "en", true, false),
                ("c/lesson.en.srt", "en", false, false),
                ("c/lesson.pt-BR.vtt", "pt-BR", false, false),
                ("c/lesson.srt", "und", false, false),
            ]
        );
        assert_eq!(m["c/lesson-2.mov"][0].language, "de");
        assert_eq!(
            orphans,
            ["c/lesson.final.srt", "c/other.en.srt", "d/lesson.en.srt"]
        );
    }

    #[test]
    fn the_longest_video_stem_wins_and_shared_stems_share() {
        let videos: Vec<String> = ["a/talk.mp4", "a/talk.en.mp4", "a/x.mp4", "a/x.mov"]
            .map(String::from)
            .to_vec();
        let (m, _) = attach(
            &videos,
            &caps(&["a/talk.en.srt", "a/talk.en.de.srt", "a/x.srt"]),
            "fr",
        );
        assert_eq!(m["a/talk.en.mp4"].len(), 2);
        assert_eq!(m["a/talk.en.mp4"][0].language, "de");
        assert_eq!(m["a/talk.en.mp4"][1].language, "fr");
        assert!(!m.contains_key("a/talk.mp4"));
        assert_eq!(m["a/x.mp4"], m["a/x.mov"]);
        assert_eq!(stem("a.b/c"), "a.b/c");
        assert_eq!(stem(".hidden"), ".hidden");
        assert!(is_caption("x/Y.SRT") && !is_caption("x/y.mp4"));
    }
}
