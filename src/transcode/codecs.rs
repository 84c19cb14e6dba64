//! CODECS from the bitstream that was actually produced: x264's `-profile` is only a ceiling,
//! so the first segment of each rendition is probed.

use super::playlist::{avc1, AAC_LC};
use crate::error::TranscodeError;
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    streams: Vec<Stream>,
}

#[derive(Deserialize)]
struct Stream {
    codec_name: Option<String>,
    profile: Option<String>,
    level: Option<i64>,
}

/// The RFC 6381 CODECS value of a produced segment.
pub async fn of_segment(path: &Path) -> Result<String, TranscodeError> {
    let out = super::ffprobe(
        &["-v", "error", "-print_format", "json", "-show_streams"],
        path,
    )
    .await?;
    let raw: Raw = serde_json::from_slice(&out.stdout).map_err(|e| TranscodeError::Local {
        program: "ffprobe",
        source: std::io::Error::other(format!("unreadable output for {}: {e}", path.display())),
    })?;
    let codecs: Vec<String> = raw
        .streams
        .iter()
        .filter_map(|s| match s.codec_name.as_deref() {
            Some("h264") => Some(avc1(
                s.profile.as_deref().unwrap_or("High"),
                s.level.unwrap_or(41).clamp(0, 255) as u32,
            )),
            Some("aac") => Some(AAC_LC.to_string()),
            _ => None,
        })
        .collect();
    Ok(codecs.join(","))
}
