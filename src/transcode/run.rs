//! Running ffmpeg: progress from `-progress pipe:1`, stderr drained into a bounded tail so the
//! pipe never fills, killed at once on cancellation (and on drop).

use super::timeline::DecodeErrors;
use crate::domain::Progress;
use crate::error::{Fault, TranscodeError};
use std::collections::VecDeque;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Lines of stderr kept for the error record.
const TAIL_LINES: usize = 20;

/// Runs `argv` to completion, publishing progress, or kills it when `cancel` fires, or when
/// its output time has not advanced for `stall` (a hung ffmpeg would otherwise hold its video
/// for ever while the worker heartbeats on). On success, the decode errors it reported, per
/// stream: ffmpeg exits 0 on a source it could only partly decode.
pub async fn run(
    argv: &[String],
    duration_s: Option<f64>,
    progress: &watch::Sender<Progress>,
    cancel: &CancellationToken,
    stall: Duration,
) -> Result<DecodeErrors, TranscodeError> {
    run_in(argv, None, duration_s, progress, cancel, stall).await
}

/// [`run`] in folder `dir`: relative names in `argv` (filter options such as `stats_file`,
/// which would need escaping as paths) are read and written there.
pub async fn run_in(
    argv: &[String],
    dir: Option<&std::path::Path>,
    duration_s: Option<f64>,
    progress: &watch::Sender<Progress>,
    cancel: &CancellationToken,
    stall: Duration,
) -> Result<DecodeErrors, TranscodeError> {
    let mut command = Command::new(&argv[0]);
    if let Some(d) = dir {
        command.current_dir(d);
    }
    let mut child = command
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
        let mut errors = DecodeErrors::default();
        while let Ok(Some(l)) = lines.next_line().await {
            errors.note(&l);
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(l);
        }
        (tail.into_iter().collect::<Vec<_>>().join("\n"), errors)
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut current = Progress {
        phase: "encode".into(),
        ..Default::default()
    };
    let (mut out_time, mut moved) = (None, Instant::now());
    let status = loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                let _ = child.kill().await;
                return Err(TranscodeError::Cancelled);
            }
            _ = tokio::time::sleep_until(moved + stall) => {
                let _ = child.kill().await;
                return Err(TranscodeError::Stalled {
                    seconds: stall.as_secs_f64(),
                    at: current.percent,
                    argv: argv.to_vec(),
                });
            }
            line = stdout.next_line() => match line {
                Ok(Some(l)) => {
                    if let Some(t) = l.strip_prefix("out_time_us=") {
                        if out_time != Some(t.to_string()) {
                            out_time = Some(t.to_string());
                            moved = Instant::now();
                        }
                    }
                    if parse_progress_line(&l, duration_s, &mut current) {
                        progress.send_replace(current.clone());
                    }
                }
                _ => break child.wait().await.map_err(|source| TranscodeError::Local { program: "ffmpeg", source })?,
            }
        }
    };
    let (stderr_tail, errors) = tail.await.unwrap_or_default();
    if status.success() {
        Ok(errors)
    } else {
        Err(TranscodeError::Ffmpeg {
            fault: classify_exit(&status, &stderr_tail),
            status: status.to_string(),
            stderr_tail,
            argv: argv.to_vec(),
        })
    }
}

/// Whose fault a failed run is, from how it ended and what it said. A run ended by a signal
/// (the kernel's out-of-memory killer sends SIGKILL) was stopped from outside: whatever
/// decode errors it logged before, the source is not shown to be bad, so it is never the
/// video's fault.
pub fn classify_exit(status: &std::process::ExitStatus, stderr_tail: &str) -> Fault {
    use std::os::unix::process::ExitStatusExt;
    match (status.signal(), classify(stderr_tail)) {
        (Some(_), Fault::Input) => Fault::Transient,
        (_, fault) => fault,
    }
}

/// What ffmpeg's stderr says about whose fault a failed run is. Messages that come from the
/// source (it cannot be decoded, or holds something no filter can convert) fail the video at
/// once: the same input fails the same way on every machine. A full disk is this machine's.
/// Anything else (killed, out of memory, an I/O hiccup) may pass and is retried within the
/// attempt budget.
pub fn classify(stderr_tail: &str) -> Fault {
    // The machine's: its disk, or an ffmpeg built without what fleet asks of it (a filter
    // or encoder missing fails every video the same way on this machine, not on others).
    const LOCAL: [&str; 6] = [
        "No space left on device",
        "Disk quota exceeded",
        "Read-only file system",
        "No such filter",
        "Unknown encoder",
        "Filter not found",
    ];
    // Out of memory is the machine's load, not the source: retried, never blamed on it.
    const TRANSIENT: [&str; 2] = ["Cannot allocate memory", "Out of memory"];
    const INPUT: [&str; 12] = [
        "Invalid data found",
        "moov atom not found",
        "could not find codec",
        "Invalid NAL",
        "Decoder (codec",
        "No decoder for",
        "Unsupported codec",
        "no path between colorspaces",
        "No path between",
        "Impossible to convert between the formats",
        "does not contain any stream",
        "Error while decoding stream",
    ];
    if LOCAL.iter().any(|p| stderr_tail.contains(p)) {
        Fault::Local
    } else if TRANSIENT.iter().any(|p| stderr_tail.contains(p)) {
        Fault::Transient
    } else if INPUT.iter().any(|p| stderr_tail.contains(p)) {
        Fault::Input
    } else {
        Fault::Transient
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
    fn failures_are_classed_by_whose_fault_they_are() {
        let c = |s| classify(s);
        assert_eq!(
            c("Decoder (codec av1) not found for input stream #0:0"),
            Fault::Input
        );
        assert_eq!(c("code 3074: no path between colorspaces"), Fault::Input);
        assert_eq!(
            c("[hls @ 0x1] seg_00003.ts: No space left on device"),
            Fault::Local
        );
        assert_eq!(c("Killed"), Fault::Transient);
        assert_eq!(c(""), Fault::Transient);
        assert_eq!(
            c("[AVFilterGraph @ 0x1] No such filter: 'zscale'"),
            Fault::Local
        );
        assert_eq!(c("Unknown encoder 'libx264'"), Fault::Local);
        // Out of memory while decoding a damaged source: the memory, not the source.
        assert_eq!(
            c("Invalid data found when processing input\nCannot allocate memory"),
            Fault::Transient
        );
    }

    #[test]
    fn a_run_killed_by_a_signal_is_never_the_sources_fault() {
        use std::os::unix::process::ExitStatusExt;
        let killed = std::process::ExitStatus::from_raw(9); // SIGKILL, as the OOM killer sends
        let exited = std::process::ExitStatus::from_raw(1 << 8);
        let tail = "Error while decoding stream #0:0: Invalid data found when processing input";
        assert_eq!(classify_exit(&killed, tail), Fault::Transient);
        assert_eq!(classify_exit(&exited, tail), Fault::Input);
        assert_eq!(
            classify_exit(&killed, "No space left on device"),
            Fault::Local
        );
    }

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
