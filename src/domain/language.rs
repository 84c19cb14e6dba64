//! Language tags: containers carry ISO 639-2 codes (`eng`), caption file names carry RFC 5646
//! tags (`pt-BR`), and HLS wants RFC 5646 in LANGUAGE with a human NAME beside it. Names are
//! the languages' own (a Portuguese speaker looks for "Português", not "Portuguese"), because a
//! learner picks a track in the language they read.

/// (ISO 639-2/T, ISO 639-2/B, ISO 639-1, own name) for the languages course libraries hold.
/// Codes not listed pass through unchanged (still valid tags) and are named by their tag.
const LANGUAGES: &[(&str, &str, &str, &str)] = &[
    ("eng", "eng", "en", "English"),
    ("fra", "fre", "fr", "Français"),
    ("deu", "ger", "de", "Deutsch"),
    ("spa", "spa", "es", "Español"),
    ("ita", "ita", "it", "Italiano"),
    ("por", "por", "pt", "Português"),
    ("nld", "dut", "nl", "Nederlands"),
    ("rus", "rus", "ru", "Русский"),
    ("jpn", "jpn", "ja", "日本語"),
    ("zho", "chi", "zh", "中文"),
    ("kor", "kor", "ko", "한국어"),
    ("ara", "ara", "ar", "العربية"),
    ("hin", "hin", "hi", "हिन्दी"),
    ("pol", "pol", "pl", "Polski"),
    ("tur", "tur", "tr", "Türkçe"),
    ("swe", "swe", "sv", "Svenska"),
    ("nor", "nor", "no", "Norsk"),
    ("nob", "nob", "nb", "Norsk bokmål"),
    ("dan", "dan", "da", "Dansk"),
    ("fin", "fin", "fi", "Suomi"),
    ("ces", "cze", "cs", "Čeština"),
    ("ell", "gre", "el", "Ελληνικά"),
    ("heb", "heb", "he", "עברית"),
    ("hun", "hun", "hu", "Magyar"),
    ("ind", "ind", "id", "Bahasa Indonesia"),
    ("msa", "may", "ms", "Bahasa Melayu"),
    ("ron", "rum", "ro", "Română"),
    ("slk", "slo", "sk", "Slovenčina"),
    ("tha", "tha", "th", "ไทย"),
    ("ukr", "ukr", "uk", "Українська"),
    ("vie", "vie", "vi", "Tiếng Việt"),
    ("cat", "cat", "ca", "Català"),
    ("fas", "per", "fa", "فارسی"),
    ("ben", "ben", "bn", "বাংলা"),
    ("tam", "tam", "ta", "தமிழ்"),
    ("urd", "urd", "ur", "اردو"),
    ("fil", "fil", "fil", "Filipino"),
    ("swa", "swa", "sw", "Kiswahili"),
];

/// Regions, as their own speakers name them, for the tags a course library uses most.
const REGIONS: &[(&str, &str, &str)] = &[
    ("pt", "BR", "Brasil"),
    ("pt", "PT", "Portugal"),
    ("en", "US", "US"),
    ("en", "GB", "UK"),
    ("en", "AU", "Australia"),
    ("en", "CA", "Canada"),
    ("en", "IN", "India"),
    ("es", "ES", "España"),
    ("es", "MX", "México"),
    ("es", "419", "Latinoamérica"),
    ("es", "AR", "Argentina"),
    ("fr", "FR", "France"),
    ("fr", "CA", "Canada"),
    ("de", "DE", "Deutschland"),
    ("de", "AT", "Österreich"),
    ("de", "CH", "Schweiz"),
    ("zh", "CN", "中国大陆"),
    ("zh", "TW", "台灣"),
    ("zh", "HK", "香港"),
    ("zh", "Hans", "简体"),
    ("zh", "Hant", "繁體"),
];

fn find(
    primary: &str,
) -> Option<&'static (&'static str, &'static str, &'static str, &'static str)> {
    let p = primary.to_ascii_lowercase();
    LANGUAGES
        .iter()
        .find(|(t, b, one, _)| *t == p || *b == p || *one == p)
}

/// The RFC 5646 tag for a container's or a file name's language code: ISO 639-2 becomes the
/// two-letter code where one exists, the primary subtag is lower-case, a region upper-case, a
/// script title-case (`pt-br` → `pt-BR`, `zh-hant` → `zh-Hant`).
pub fn bcp47(code: &str) -> String {
    let mut parts = code.split(['-', '_']);
    let primary = parts.next().unwrap_or_default();
    let mut out = find(primary).map_or(primary.to_ascii_lowercase(), |l| l.2.to_string());
    for p in parts {
        out.push('-');
        match p.len() {
            2 => out.push_str(&p.to_ascii_uppercase()),
            4 if p.chars().all(|c| c.is_ascii_alphabetic()) => {
                let mut c = p.chars();
                out.extend(c.next().map(|f| f.to_ascii_uppercase()));
                out.push_str(&c.as_str().to_ascii_lowercase());
            }
            _ => out.push_str(p),
        }
    }
    out
}

/// Whether `tag` has the shape of an RFC 5646 language tag a file name would carry: a 2-3
/// letter primary language (or `und`), then optional script (4 letters), region (2 letters or
/// 3 digits) and variants (5-8 alphanumerics, or a digit and 3 more). `sdh`, `forced`, `cc` and the like are not.
pub fn is_tag(tag: &str) -> bool {
    let mut parts = tag.split(['-', '_']);
    let primary = parts.next().unwrap_or_default();
    if !(2..=3).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
        return false;
    }
    if matches!(primary.to_ascii_lowercase().as_str(), "cc" | "sdh") {
        return false;
    }
    parts.all(|p| {
        let alpha = p.chars().all(|c| c.is_ascii_alphabetic());
        let digits = p.chars().all(|c| c.is_ascii_digit());
        let alnum = p.chars().all(|c| c.is_ascii_alphanumeric());
        ((p.len() == 4 || p.len() == 2) && alpha)
            || (p.len() == 3 && digits)
            || ((5..=8).contains(&p.len()) && alnum)
            || (p.len() == 4 && alnum && p.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// A human name for a tag, in the language itself: `pt-BR` → "Português (Brasil)", `en` →
/// "English", `und` → "Unknown"; a tag not in the table is its own name.
pub fn display_name(tag: &str) -> String {
    let tag = bcp47(tag);
    if tag == "und" {
        return "Unknown".into();
    }
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    let Some(lang) = find(primary) else {
        return tag;
    };
    let extra: Vec<String> = parts
        .map(|p| {
            REGIONS
                .iter()
                .find(|(l, r, _)| *l == lang.2 && *r == p)
                .map_or(p.to_string(), |(_, _, name)| name.to_string())
        })
        .collect();
    if extra.is_empty() {
        lang.3.to_string()
    } else {
        format!("{} ({})", lang.3, extra.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalised_to_rfc_5646() {
        assert_eq!(bcp47("eng"), "en");
        assert_eq!(bcp47("ger"), "de");
        assert_eq!(bcp47("pt-br"), "pt-BR");
        assert_eq!(bcp47("pt_BR"), "pt-BR");
        assert_eq!(bcp47("zh-hant"), "zh-Hant");
        assert_eq!(bcp47("es-419"), "es-419");
        assert_eq!(bcp47("xyz"), "xyz");
    }

    #[test]
    fn names_are_the_languages_own() {
        assert_eq!(display_name("en"), "English");
        assert_eq!(display_name("eng"), "English");
        assert_eq!(display_name("pt-BR"), "Português (Brasil)");
        assert_eq!(display_name("und"), "Unknown");
        assert_eq!(display_name("es-419"), "Español (Latinoamérica)");
        assert_eq!(display_name("qaa"), "qaa");
    }

    #[test]
    fn only_language_shaped_words_are_tags() {
        for t in [
            "en",
            "pt-BR",
            "zh-Hant",
            "es-419",
            "und",
            "fil",
            "de-CH-1996",
        ] {
            assert!(is_tag(t), "{t}");
        }
        for t in ["sdh", "forced", "cc", "english", "e", "en-", "final", "v2"] {
            assert!(!is_tag(t), "{t}");
        }
    }
}
