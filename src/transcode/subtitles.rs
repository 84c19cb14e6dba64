//! Text tracks through ffmpeg: subtitle streams inside the source (mov_text, SubRip, ASS, …),
//! SCC sidecars, and CEA-608 captions carried in the video's SEI, each turned into WebVTT
//! text that [`crate::domain::captions::cues::parse_vtt`] then reads. ffmpeg's `webvtt`
//! encoder drops ASS styling and keeps the text and line breaks.

use crate::error::TranscodeError;
use std::path::Path;
use tokio::process::Command;

/// ffmpeg's verdict on one conversion: the WebVTT text, or why it could not be made (the
/// last line of its stderr), which becomes a warning, never the video's failure.
pub type Converted = Result<String, String>;

async fn ffmpeg_to_vtt(args: &[&str], out: &Path) -> Result<Converted, TranscodeError> {
    ffmpeg_to_vtt_in(None, args, out).await
}

async fn ffmpeg_to_vtt_in(
    cwd: Option<&Path>,
    args: &[&str],
    out: &Path,
) -> Result<Converted, TranscodeError> {
    // Absolute, since ffmpeg may run in another folder.
    let out = &std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    let mut cmd = Command::new("ffmpeg");
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let output = cmd
        .args(["-hide_banner", "-nostdin", "-y", "-loglevel", "error"])
        .args(args)
        .args(["-c:s", "webvtt", "-f", "webvtt"])
        .arg(out)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| TranscodeError::Local {
            program: "ffmpeg",
            source,
        })?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let last = err.trim().lines().last().unwrap_or("no detail").to_string();
        return Ok(Err(format!("ffmpeg could not convert it: {last}")));
    }
    match tokio::fs::read(out).await {
        Ok(b) => Ok(Ok(String::from_utf8_lossy(&b).into_owned())),
        Err(e) => Ok(Err(format!("ffmpeg wrote no WebVTT: {e}"))),
    }
}

/// The subtitle stream `index` of `source` as WebVTT.
pub async fn embedded(source: &Path, index: u32, dir: &Path) -> Result<Converted, TranscodeError> {
    let input = source.display().to_string();
    let map = format!("0:{index}");
    let out = dir.join(format!("embedded-{index}.vtt"));
    ffmpeg_to_vtt(&["-i", &input, "-map", &map], &out).await
}

/// An SCC (Scenarist) file as WebVTT: ffmpeg's `scc` demuxer and its CEA-608 decoder.
pub async fn scc(file: &Path, dir: &Path) -> Result<Converted, TranscodeError> {
    let input = file.display().to_string();
    let out = dir.join("scc.vtt");
    ffmpeg_to_vtt(&["-f", "scc", "-i", &input, "-map", "0:0"], &out).await
}

/// The CEA-608 captions (CC1) carried in the SEI of `source`'s video stream `index`, as
/// WebVTT. The `movie` source's `+subcc` output hands them over as a subtitle stream; it
/// decodes the video to get there (the encode cannot share that decode: ffmpeg's command
/// line has no way to take the side data out of a filter graph). ffmpeg runs in the source's
/// folder and names it by its file name, which fleet chooses (`source`), so no path ever
/// needs the filter graph's two levels of escaping.
pub async fn cea608(source: &Path, index: u32, dir: &Path) -> Result<Converted, TranscodeError> {
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty() || name.contains(['\'', '\\', ':', ',', '[', ']', ';', '=']) {
        return Ok(Err(format!("unusable source file name {name:?}")));
    }
    let graph = format!("movie=filename={name}:si={index}[out0+subcc]");
    let out = dir.join("cea608.vtt");
    ffmpeg_to_vtt_in(
        source.parent(),
        &["-f", "lavfi", "-i", &graph, "-map", "0:1"],
        &out,
    )
    .await
}

/// The 90 kHz PTS of the first packet of `stream` (`v:0`, `a:0`) in a published segment: the
/// clock the WebVTT `X-TIMESTAMP-MAP` ties cue times to.
pub async fn first_pts(segment: &Path, stream: &str) -> Result<Option<i64>, TranscodeError> {
    let out = super::ffprobe(
        &[
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            "packet=pts",
            "-read_intervals",
            "%+#1",
            "-of",
            "csv=p=0",
        ],
        segment,
    )
    .await?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().trim_end_matches(',').parse().ok()))
}
