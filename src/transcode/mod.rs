//! The ffmpeg/ffprobe adapter: probing the source, building one ffmpeg command for the whole
//! ladder, running it with progress and cancellation, and writing an honest master playlist.

pub mod analysis;
pub mod codecs;
pub mod command;
pub mod iframes;
pub mod playlist;
pub mod probe;
pub mod run;
pub mod stills;
pub mod subtitles;
pub mod timeline;
pub mod version;

use crate::error::TranscodeError;
use std::path::Path;

/// Runs ffprobe with `args` on `path`, killed if the job is dropped. ffprobe missing or the
/// machine unable to start it is this machine's trouble, not the video's.
pub(crate) async fn ffprobe(
    args: &[&str],
    path: &Path,
) -> Result<std::process::Output, TranscodeError> {
    tokio::process::Command::new("ffprobe")
        .args(args)
        .arg(path)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| TranscodeError::Local {
            program: "ffprobe",
            source,
        })
}
