//! Running ffmpeg: progress from `-progress pipe:1`, stderr drained into a bounded tail so the
//! pipe never fills, killed at once on cancellation (and on drop).

use crate::domain::Progress;
use crate::error::TranscodeError;
use std::collections::VecDeque;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Lines of stderr kept for the error record.
const TAIL_LINES: usize = 20;

/// Runs `argv` to completion, publishing progress, or kills it when `cancel` fires.
pub async fn run(
    argv: &[String],
    duration_s: Option<f64>,
    progress: &watch::Sender<Progress>,
    cancel: &CancellationToken,
) -> Result<(), TranscodeError> {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| TranscodeError::Local {
            program: "ffmpeg",
            source,
        })?;
    let stderr = child.stderr.take().expect("piped");
    let tail = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut tail = VecDeque::with_capacity(TAIL_LINES);
        while let Ok(Some(l)) = lines.next_line().await {
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(l);
        }
        tail.into_iter().collect::<Vec<_>>().join("\n")
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut current = Progress {
        phase: "encode".into(),
        ..Default::default()
    };
    let status = loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                let _ = child.kill().await;
                return Err(TranscodeError::Cancelled);
            }
            line = stdout.next_line() => match line {
                Ok(Some(l)) => {
                    if parse_progress_line(&l, duration_s, &mut current) {
                        progress.send_replace(current.clone());
                    }
                }
                _ => break child.wait().await.map_err(|source| TranscodeError::Local { program: "ffmpeg", source })?,
            }
        }
    };
    let stderr_tail = tail.await.unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        Err(TranscodeError::Ffmpeg {
            status: status.to_string(),
            stderr_tail,
            argv: argv.to_vec(),
        })
    }
}

/// Folds one `key=value` line of ffmpeg's progress output into `p`; true at the end of a block.
pub fn parse_progress_line(line: &str, duration_s: Option<f64>, p: &mut Progress) -> bool {
    let Some((k, v)) = line.split_once('=') else {
        return false;
    };
    match k {
        "out_time_us" | "out_time_ms" => {
            // Both are microseconds in ffmpeg 5 (out_time_ms is misnamed).
            if let (Ok(us), Some(d)) = (v.trim().parse::<f64>(), duration_s) {
                p.percent = Some((us / 1e6 / d * 100.0).clamp(0.0, 100.0));
            }
        }
        "fps" => p.fps = v.trim().parse().ok(),
        "speed" => p.speed = v.trim().trim_end_matches('x').parse().ok(),
        "progress" => return true,
        _ => {}
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines() {
        let mut p = Progress::default();
        for l in ["fps=48.5", "out_time_us=5000000", "speed=1.61x"] {
            assert!(!parse_progress_line(l, Some(20.0), &mut p));
        }
        assert!(parse_progress_line("progress=continue", Some(20.0), &mut p));
        assert_eq!(p.percent, Some(25.0));
        assert_eq!(p.fps, Some(48.5));
        assert_eq!(p.speed, Some(1.61));
        parse_progress_line("speed=N/A", None, &mut p);
        assert_eq!(p.speed, None);
    }
}
