//! `stream.json`: the one document a course platform ingests for a published lesson, written
//! last, next to `master.m3u8`. Paths are relative to the stream's folder (where the master
//! is), so the same document serves S3, CloudFront or any mirror; `schema/stream.schema.json`
//! is its JSON Schema and the tests validate every published one against it.

use serde::{Deserialize, Serialize};

/// Bumped on any change a consumer could trip over.
pub const SCHEMA_VERSION: u32 = 1;
/// Its file name, beside `master.m3u8`.
pub const FILE: &str = "stream.json";

/// The document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamJson {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The video's id: its source's `s3://` URI.
    pub video: String,
    /// What was encoded.
    pub source: Source,
    /// The master playlist.
    pub master: Location,
    /// Video variants (or the one audio-only variant), as the master lists them.
    pub renditions: Vec<Rendition>,
    /// Alternate audio renditions (empty when the audio is muxed into the variants).
    pub audio: Vec<AudioTrack>,
    /// Subtitle renditions.
    pub text: Vec<TextTrack>,
    /// I-frame playlists, for scrubbing on Apple devices.
    pub iframes: Vec<IFrames>,
    /// The poster, if the source has a picture.
    pub poster: Option<Poster>,
    /// Scrubbing thumbnails, if the source has a picture.
    pub thumbnails: Option<Thumbnails>,
    /// What the stream lacks and why (a caption file left out, no poster for audio only).
    pub warnings: Vec<String>,
    /// The attempt that published it.
    pub attempt: Attempt,
    /// How this title's ladder was encoded (absent from documents written before fleet chose
    /// it per title).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

/// How a title's ladder was encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encoding {
    /// `adaptive` (chosen per title and rung from a source analysis) or `fixed`.
    pub rate_control: super::quality::RateControl,
    /// The capped CRF of each rendition that has one, by name; the others run at their
    /// ladder bitrate.
    pub crf: std::collections::BTreeMap<String, u8>,
    /// Rungs of the ladder this title does without, and why.
    pub left_out: Vec<super::quality::Pruned>,
}

/// The source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// `s3://bucket/key`.
    pub uri: String,
    /// Bytes.
    pub size_bytes: u64,
    /// Seconds, as probed.
    pub duration_s: Option<f64>,
    /// ffmpeg's codec name of the video encoded (`h264`, `hevc`, …), if any.
    pub video_codec: Option<String>,
    /// ffmpeg's codec names of its audio tracks.
    pub audio_codecs: Vec<String>,
}

/// Where a file is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Relative to the stream's folder (`master.m3u8`).
    pub path: String,
    /// Its key in the output bucket.
    pub key: String,
    /// `s3://bucket/key`.
    pub uri: String,
}

/// One variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rendition {
    /// Its media playlist, relative to the stream's folder.
    pub playlist: String,
    /// Width and height, for video.
    pub width: Option<u32>,
    /// See `width`.
    pub height: Option<u32>,
    /// Frames per second, for video.
    pub frame_rate: Option<f64>,
    /// Declared peak bit rate (BANDWIDTH), bits/s.
    pub bandwidth: u64,
    /// Declared mean bit rate (AVERAGE-BANDWIDTH), bits/s.
    pub average_bandwidth: u64,
    /// RFC 6381 CODECS.
    pub codecs: String,
}

/// One alternate audio rendition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioTrack {
    /// Its media playlist.
    pub playlist: String,
    /// NAME.
    pub name: String,
    /// LANGUAGE (RFC 5646), if known.
    pub language: Option<String>,
    /// DEFAULT=YES.
    pub default: bool,
}

/// One subtitle rendition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextTrack {
    /// Its media playlist.
    pub playlist: String,
    /// NAME.
    pub name: String,
    /// LANGUAGE (RFC 5646).
    pub language: String,
    /// DEFAULT=YES.
    pub default: bool,
    /// FORCED=YES.
    pub forced: bool,
    /// For the deaf and hard of hearing.
    pub sdh: bool,
}

/// One I-frame playlist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IFrames {
    /// Its playlist.
    pub playlist: String,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// BANDWIDTH, bits/s.
    pub bandwidth: u64,
}

/// The poster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Poster {
    /// `poster.jpg`.
    pub path: String,
    /// Width (the top rung's).
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// The scrubbing thumbnails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thumbnails {
    /// `thumbnails.vtt`.
    pub path: String,
    /// One thumbnail every this many seconds.
    pub interval_s: f64,
    /// Thumbnails in all.
    pub count: usize,
    /// The sprite sheets, relative to the stream's folder.
    pub sprites: Vec<String>,
    /// How thumbnails sit in a sheet.
    pub tile: super::thumbnails::Tile,
}

/// The attempt that published the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Its fencing token (`t<token>/` holds its files).
    pub token: u64,
    /// The worker slot.
    pub holder: String,
    /// Claims so far.
    pub attempts: u32,
    /// `full` or `captions` (a captions-only redo).
    pub kind: String,
    /// When it was claimed, RFC 3339.
    pub claimed_at: Option<String>,
    /// When `stream.json` was written, RFC 3339.
    pub published_at: String,
    /// Seconds from the claim to publication.
    pub job_seconds: f64,
}
