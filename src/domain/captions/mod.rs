//! Captions: the text tracks published beside a video, as pure rules. Where they come from
//! (sidecar files found by name, [`sidecar`]), how their text is read ([`cues`]), and how a
//! track becomes an HLS WebVTT rendition aligned to the video's segments ([`segment`]).
//!
//! fleet writes subtitle playlists and segments itself: ffmpeg's HLS muxer marks every copy
//! `DEFAULT=YES`, writes no `X-TIMESTAMP-MAP` (cues then show ~1.4 s early in every web
//! player) and does not repeat a cue that spans a segment boundary.

pub mod cues;
pub mod scc;
pub mod segment;
pub mod sidecar;

use super::language;
use serde::{Deserialize, Serialize};

/// A caption file beside a video, as `seed` attached it to the video's item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptionFile {
    /// Its key in the source bucket, byte for byte.
    pub key: String,
    /// Its ETag when seeded: a re-run of `seed` that finds another one queues a captions-only
    /// redo of a done video.
    #[serde(default)]
    pub etag: String,
    /// RFC 5646 language tag (`und` when the name carries none and no default was given).
    pub language: String,
    /// Subtitles for the deaf and hard of hearing (`.sdh.` or `.cc.` in the name).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sdh: bool,
    /// Forced narrative subtitles (`.forced.` in the name): only foreign speech and signs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
}

/// Where a published text track came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TrackOrigin {
    /// A sidecar file in the source bucket.
    Sidecar {
        /// Its key.
        key: String,
    },
    /// A text subtitle stream inside the source.
    Embedded {
        /// Its absolute stream index.
        index: u32,
    },
    /// CEA-608 captions carried in the video's SEI, extracted (CC1).
    Cea608,
}

/// What a text track is, before it is named and published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    /// Where it came from.
    pub origin: TrackOrigin,
    /// RFC 5646 tag, `und` when unknown.
    pub language: String,
    /// A title the source gave it (an embedded track's `title` tag), used as its NAME.
    pub title: Option<String>,
    /// For the deaf and hard of hearing.
    pub sdh: bool,
    /// Forced narrative.
    pub forced: bool,
}

/// A text track as the master lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedTrack {
    /// The track.
    pub info: TrackInfo,
    /// NAME: unique in the group, human ("English (SDH)", "Português (Brasil)").
    pub name: String,
    /// DEFAULT=YES (at most one track).
    pub default: bool,
}

/// Names the tracks and picks the default. NAME is the source's title if it gave one, else
/// the language's own name with "(SDH)" or "(forced)"; a repeated name gets " (2)". The
/// default is the first track in the language of the first audio track (its primary subtag),
/// plain captions before SDH, else the first plain track, else the first SDH one: a learner
/// who switches captions on gets the ones that match what they hear. Forced tracks are never
/// the default: players show them on their own when the audio's language matches.
pub fn name_tracks(tracks: Vec<TrackInfo>, audio_language: Option<&str>) -> Vec<NamedTrack> {
    let primary = |t: &str| t.split('-').next().unwrap_or_default().to_ascii_lowercase();
    let wanted = audio_language.map(primary).filter(|l| l != "und");
    let pick = |lang: bool, sdh: bool| {
        tracks.iter().position(|t| {
            !t.forced
                && t.sdh == sdh
                && (!lang || wanted.as_deref() == Some(primary(&t.language).as_str()))
        })
    };
    let default = pick(true, false)
        .or_else(|| pick(true, true))
        .or_else(|| pick(false, false))
        .or_else(|| pick(false, true));
    let mut seen: Vec<String> = Vec::new();
    tracks
        .into_iter()
        .enumerate()
        .map(|(i, info)| {
            let base = info.title.clone().unwrap_or_else(|| {
                let mut n = language::display_name(&info.language);
                if info.sdh {
                    n.push_str(" (SDH)");
                }
                if info.forced {
                    n.push_str(" (forced)");
                }
                n
            });
            let base = base.replace('"', "'");
            let mut name = base.clone();
            let mut k = 2;
            while seen.contains(&name) {
                name = format!("{base} ({k})");
                k += 1;
            }
            seen.push(name.clone());
            NamedTrack {
                info,
                name,
                default: Some(i) == default,
            }
        })
        .collect()
}

/// Apple's authoring spec: where a language has forced subtitles and regular ones, the
/// regular track of that language MUST carry the forced cues too, since players that never
/// list forced tracks (Safari, Video.js) would otherwise drop the signs and foreign speech of
/// a viewer who turned captions on. Adds each forced track's cues to every regular track of
/// its primary language, once, in time order.
pub fn merge_forced(tracks: &mut [(TrackInfo, Vec<cues::Cue>)]) {
    let primary = |t: &TrackInfo| t.language.split('-').next().unwrap_or_default().to_string();
    let forced: Vec<(String, Vec<cues::Cue>)> = tracks
        .iter()
        .filter(|(t, _)| t.forced)
        .map(|(t, c)| (primary(t), c.clone()))
        .collect();
    for (t, cues) in tracks.iter_mut().filter(|(t, _)| !t.forced) {
        let lang = primary(t);
        for (_, extra) in forced.iter().filter(|(l, _)| *l == lang) {
            for c in extra {
                if !cues.contains(c) {
                    cues.push(c.clone());
                }
            }
        }
        cues.sort_by(|a, b| a.start.total_cmp(&b.start));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_tracks_carry_the_forced_cues_of_their_language() {
        let cue = |s: f64, t: &str| cues::Cue {
            start: s,
            end: s + 1.0,
            text: t.into(),
        };
        let mut tracks = vec![
            (t("en-US", false, true), vec![cue(5.0, "EXIT")]),
            (t("en", false, false), vec![cue(1.0, "hi"), cue(9.0, "bye")]),
            (t("en", true, false), vec![cue(5.0, "EXIT")]),
            (t("de", false, false), vec![cue(2.0, "hallo")]),
        ];
        merge_forced(&mut tracks);
        let starts = |i: usize| tracks[i].1.iter().map(|c| c.start).collect::<Vec<_>>();
        assert_eq!(starts(1), [1.0, 5.0, 9.0]);
        assert_eq!(starts(2), [5.0], "already there: once");
        assert_eq!(starts(3), [2.0]);
        assert_eq!(starts(0), [5.0]);
    }

    fn t(lang: &str, sdh: bool, forced: bool) -> TrackInfo {
        TrackInfo {
            origin: TrackOrigin::Cea608,
            language: lang.into(),
            title: None,
            sdh,
            forced,
        }
    }

    #[test]
    fn names_are_human_and_unique_and_one_default_follows_the_audio() {
        let named = name_tracks(
            vec![
                t("pt-BR", false, false),
                t("en", false, true),
                t("en", false, false),
                t("en", true, false),
                t("en", false, false),
            ],
            Some("en"),
        );
        let names: Vec<&str> = named.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Português (Brasil)",
                "English (forced)",
                "English",
                "English (SDH)",
                "English (2)"
            ]
        );
        let defaults: Vec<bool> = named.iter().map(|n| n.default).collect();
        assert_eq!(defaults, [false, false, true, false, false]);
        // No audio language: the first plain track, SDH only when there is no other.
        let named = name_tracks(
            vec![
                t("en", false, true),
                t("en", true, false),
                t("de", false, false),
            ],
            None,
        );
        let defaults: Vec<bool> = named.iter().map(|n| n.default).collect();
        assert_eq!(defaults, [false, false, true]);
        let named = name_tracks(vec![t("en", true, false), t("de", true, false)], Some("de"));
        assert!(!named[0].default && named[1].default);
        // Only forced tracks: none is the default.
        let named = name_tracks(vec![t("en", false, true)], Some("en"));
        assert!(!named[0].default);
        assert_eq!(
            name_tracks(vec![t("und", false, false)], None)[0].name,
            "Unknown"
        );
    }
}
