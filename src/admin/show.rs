//! `show`: one video, whole: its item, every attempt's error, and a shell command that
//! reproduces its last ffmpeg run on an operator's machine.

use crate::domain::keys::S3Uri;
use crate::domain::VideoItem;
use std::path::Path;

/// The worker's recorded argv, pointed at `src` and `out` instead of its job folder. The argv
/// names the source after `-i` and writes under `<job dir>/out`.
pub fn rebase(recorded: &[String], src: &Path, out: &Path) -> Option<Vec<String>> {
    let i = recorded.iter().position(|a| a == "-i")? + 1;
    let job_src = recorded.get(i)?.clone();
    let job_dir = Path::new(&job_src).parent()?.to_string_lossy().to_string();
    Some(
        recorded
            .iter()
            .map(|a| {
                if *a == job_src {
                    src.display().to_string()
                } else {
                    a.replace(&format!("{job_dir}/out"), &out.display().to_string())
                }
            })
            .collect(),
    )
}

/// The folders ffmpeg writes into but does not create: `-var_stream_map`'s names, and the
/// sprite sheets' folder when the run makes thumbnails.
pub fn folders(argv: &[String]) -> Vec<String> {
    let mut out: Vec<String> = argv
        .iter()
        .position(|a| a == "-var_stream_map")
        .and_then(|i| argv.get(i + 1))
        .map(|m| {
            m.split(' ')
                .filter_map(|e| e.split(',').find_map(|p| p.strip_prefix("name:")))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let thumbs = crate::transcode::stills::THUMBS_DIR;
    if argv
        .iter()
        .any(|a| a.contains(&format!("/{thumbs}/sprite_")))
    {
        out.push(thumbs.to_string());
    }
    out
}

/// `s` quoted for a POSIX shell.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+%@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The AWS CLI's download of `src` to `local`, with the options the operator gave fleet-admin
/// (`--profile`, `--region`, `--endpoint-url`), so that the command reads from the same
/// account and place the item came from.
pub fn aws_cp(aws_options: &[String], src: &S3Uri, local: &str) -> String {
    let mut words = vec!["aws".to_string()];
    words.extend(aws_options.iter().map(|a| quote(a)));
    words.extend([
        "s3".into(),
        "cp".into(),
        quote(&src.to_string()),
        quote(local),
    ]);
    words.join(" ")
}

/// A command that downloads the source and runs the video's last ffmpeg argv on it, writing
/// under `./out`; `None` if ffmpeg never ran (the error came from the download or the probe).
pub fn reproduce(v: &VideoItem, aws_options: &[String]) -> Option<String> {
    let argv = v.ffmpeg_args.as_ref()?;
    let src = S3Uri {
        bucket: v.src_bucket.clone(),
        key: v.src_key.clone(),
    };
    let ext = crate::domain::keys::extension(&v.src_key).unwrap_or_else(|| "bin".into());
    let local = format!("source.{ext}");
    let args = rebase(argv, Path::new(&local), Path::new("out"))?;
    let dirs: Vec<String> = folders(&args)
        .iter()
        .map(|f| quote(&format!("out/{f}")))
        .collect();
    Some(format!(
        "{} && mkdir -p {} && {}",
        aws_cp(aws_options, &src, &local),
        if dirs.is_empty() {
            "out".into()
        } else {
            dirs.join(" ")
        },
        args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_argv_is_rebased_and_quoted_for_a_shell() {
        let mut v = crate::domain::video::tests::pending("s3://in/AI CERTs/it's.mp4");
        v.src_bucket = "in".into();
        v.src_key = "AI CERTs/it's.mp4".into();
        v.ffmpeg_args = Some(
            [
                "ffmpeg",
                "-i",
                "/w/job-1-a/source.mp4",
                "-var_stream_map",
                "v:0,a:0,name:720p v:1,a:1,name:360p",
                "/w/job-1-a/out/%v/index.m3u8",
            ]
            .map(String::from)
            .to_vec(),
        );
        let cmd = reproduce(&v, &[]).unwrap();
        assert_eq!(
            cmd,
            "aws s3 cp 's3://in/AI CERTs/it'\\''s.mp4' source.mp4 && mkdir -p out/720p out/360p && \
             ffmpeg -i source.mp4 -var_stream_map 'v:0,a:0,name:720p v:1,a:1,name:360p' \
             out/%v/index.m3u8"
        );
        let with = reproduce(&v, &["--profile".into(), "prod eu".into()]).unwrap();
        assert!(
            with.starts_with("aws --profile 'prod eu' s3 cp 's3://in/AI CERTs/it'\\''s.mp4' "),
            "{with}"
        );
        v.ffmpeg_args = None;
        assert_eq!(reproduce(&v, &[]), None);
    }
}
