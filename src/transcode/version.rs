//! Which ffmpeg this is. Production must run the ffmpeg release the tests ran: error
//! classification reads ffmpeg's messages (6.1 reworded many), and filters behave differently
//! across releases. The tests, the demo and the AMI all install Debian 12's ffmpeg 5.1, so a
//! worker refuses to start on another release unless told to.

use crate::error::TranscodeError;

/// The ffmpeg release (major.minor) every test runs: Debian 12's.
pub const TESTED: &str = "5.1";

/// The version `ffmpeg -version` prints (`5.1.8-0+deb12u1`, `7.0.2-static`), from its
/// first line.
pub fn parse(first_line: &str) -> Option<String> {
    first_line
        .strip_prefix("ffmpeg version ")?
        .split_whitespace()
        .next()
        .map(str::to_string)
}

/// Whether `version` is of the tested release: same major and minor (Debian's security
/// updates move only the patch).
pub fn is_tested(version: &str) -> bool {
    let release: Vec<&str> = version
        .trim_start_matches('n')
        .split(['.', '-'])
        .take(2)
        .collect();
    release.join(".") == TESTED
}

/// Runs `ffmpeg -version`. ffmpeg missing is this machine's trouble.
pub async fn detect() -> Result<String, TranscodeError> {
    let out = tokio::process::Command::new("ffmpeg")
        .arg("-version")
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| TranscodeError::Local {
            program: "ffmpeg",
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse(text.lines().next().unwrap_or_default()).ok_or_else(|| {
        TranscodeError::InvalidInput(format!(
            "`ffmpeg -version` printed no version: {}",
            text.lines().next().unwrap_or_default()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_compared_by_major_and_minor() {
        let v =
            parse("ffmpeg version 5.1.8-0+deb12u1 Copyright (c) 2000-2025 the FFmpeg developers");
        assert_eq!(v.as_deref(), Some("5.1.8-0+deb12u1"));
        assert!(is_tested("5.1.8-0+deb12u1"));
        assert!(is_tested("5.1.6"));
        assert!(!is_tested("7.0.2-static"));
        assert!(!is_tested("5.10.1"));
        assert!(!is_tested("N-113000-gdeadbeef"));
        assert_eq!(parse("not ffmpeg"), None);
    }
}
