//! ffprobe: what the source is, before deciding the ladder.

use crate::error::TranscodeError;
use serde::Deserialize;
use std::path::Path;
use tokio::process::Command;

/// What fleet needs to know about a source.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The first video stream, if any.
    pub video: Option<VideoStream>,
    /// Whether there is an audio stream.
    pub has_audio: bool,
    /// Duration in seconds, if known.
    pub duration_s: Option<f64>,
}

/// The first video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoStream {
    /// Coded width.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Rotation from the display matrix, degrees.
    pub rotation: i32,
    /// Average frame rate as ffprobe states it (`30000/1001`), if sane.
    pub frame_rate: Option<String>,
    /// Frames per second as a number (30 when unknown).
    pub fps: f64,
    /// Whether the transfer function is HDR (PQ or HLG).
    pub hdr: bool,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
}

#[derive(Deserialize)]
struct RawFormat {
    duration: Option<String>,
}

#[derive(Deserialize)]
struct RawStream {
    codec_type: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    color_transfer: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    side_data_list: Vec<SideData>,
    #[serde(default)]
    tags: std::collections::HashMap<String, String>,
    disposition: Option<Disposition>,
}

#[derive(Deserialize)]
struct Disposition {
    #[serde(default)]
    attached_pic: u8,
}

#[derive(Deserialize)]
struct SideData {
    rotation: Option<serde_json::Value>,
}

fn rate(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    let v = n.parse::<f64>().ok()? / d.parse::<f64>().ok()?;
    (v.is_finite() && v > 0.5 && v < 1000.0).then_some(v)
}

/// Runs ffprobe on `path`. A file ffprobe cannot read, or one with neither video nor audio,
/// is `InvalidInput`.
pub async fn probe(path: &Path) -> Result<Probe, TranscodeError> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| TranscodeError::Local {
            program: "ffprobe",
            source,
        })?;
    if !out.status.success() {
        // ffprobe prefixes its message with our temp path, which means nothing to an operator.
        let err =
            String::from_utf8_lossy(&out.stderr).replace(&format!("{}: ", path.display()), "");
        return Err(TranscodeError::InvalidInput(format!(
            "ffprobe cannot read the source: {}",
            err.trim().lines().last().unwrap_or("no detail")
        )));
    }
    parse(&out.stdout)
}

/// Parses ffprobe's JSON.
pub fn parse(json: &[u8]) -> Result<Probe, TranscodeError> {
    let raw: Raw = serde_json::from_slice(json)
        .map_err(|e| TranscodeError::InvalidInput(format!("ffprobe output unreadable: {e}")))?;
    let video = raw
        .streams
        .iter()
        .find(|s| {
            s.codec_type.as_deref() == Some("video")
                && s.disposition.as_ref().is_none_or(|d| d.attached_pic == 0)
                && s.width.unwrap_or(0) > 0
        })
        .map(|s| {
            let rotation = s
                .side_data_list
                .iter()
                .find_map(|d| d.rotation.as_ref().and_then(|r| r.as_f64()))
                .or_else(|| s.tags.get("rotate").and_then(|r| r.parse().ok()))
                .unwrap_or(0.0) as i32;
            let fr = [&s.avg_frame_rate, &s.r_frame_rate]
                .into_iter()
                .flatten()
                .find(|r| rate(r).is_some())
                .cloned();
            VideoStream {
                width: s.width.unwrap_or(0),
                height: s.height.unwrap_or(0),
                rotation,
                fps: fr.as_deref().and_then(rate).unwrap_or(30.0),
                frame_rate: fr,
                hdr: matches!(
                    s.color_transfer.as_deref(),
                    Some("smpte2084" | "arib-std-b67")
                ),
            }
        });
    let has_audio = raw
        .streams
        .iter()
        .any(|s| s.codec_type.as_deref() == Some("audio"));
    if video.is_none() && !has_audio {
        return Err(TranscodeError::InvalidInput(
            "the source has neither a video nor an audio stream".into(),
        ));
    }
    let duration_s = raw
        .format
        .and_then(|f| f.duration)
        .or_else(|| raw.streams.iter().find_map(|s| s.duration.clone()))
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0);
    Ok(Probe {
        video,
        has_audio,
        duration_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rotation_rate_and_hdr() {
        let p = parse(br#"{"streams":[
            {"codec_type":"video","width":1920,"height":1080,"avg_frame_rate":"0/0","r_frame_rate":"30000/1001",
             "color_transfer":"smpte2084","side_data_list":[{"rotation":-90}]},
            {"codec_type":"audio"}],"format":{"duration":"12.5"}}"#)
        .unwrap();
        let v = p.video.unwrap();
        assert_eq!(
            (v.width, v.height, v.rotation, v.hdr),
            (1920, 1080, -90, true)
        );
        assert!((v.fps - 29.97).abs() < 0.01);
        assert!(p.has_audio);
        assert_eq!(p.duration_s, Some(12.5));
    }

    #[test]
    fn no_streams_is_invalid_input() {
        assert!(matches!(
            parse(br#"{"streams":[],"format":{}}"#),
            Err(TranscodeError::InvalidInput(_))
        ));
        let audio_only = parse(br#"{"streams":[{"codec_type":"audio"}]}"#).unwrap();
        assert!(audio_only.video.is_none() && audio_only.has_audio);
    }
}
