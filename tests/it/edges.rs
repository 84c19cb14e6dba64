//! `done` right at the edges (issue 16): damaged sources, a WebM that states no duration, an
//! audio track ffmpeg cannot decode, one microphone per track, a near-miss size, and the low
//! rungs a weak network needs. Every file is real, made here with ffmpeg (and a few bytes
//! changed by hand), and goes through one real worker against the local services.

use crate::common::hostile::ffmpeg;
use crate::common::media;
use crate::common::stage::{stage_files, Stage};
use fleet::domain::{FailureKind, VideoState};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A 640x360 30 fps clip with a 440 Hz tone, `seconds` long, keyframes every 2 s.
fn clip(out: &Path, seconds: u32) {
    ffmpeg([
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        &seconds.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "60",
        "-c:a",
        "aac",
        &s(out),
    ]);
}

/// `clip` with `share` of its bytes zeroed from the middle on, as a failing disk or an
/// interrupted copy leaves it: ffmpeg decodes around the hole and exits 0.
fn zeroed(out: &Path, seconds: u32, share: f64) {
    clip(out, seconds);
    let mut b = std::fs::read(out).unwrap();
    let n = b.len() as f64;
    let (from, to) = ((n * 0.5) as usize, (n * (0.5 + share)) as usize);
    b[from..to].fill(0);
    std::fs::write(out, b).unwrap();
}

/// A browser recording: live WebM written to a pipe, so it states no duration anywhere.
fn webm_without_duration(out: &Path) {
    let made = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ffmpeg -v error -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i \
             sine=frequency=440:sample_rate=48000 -t 5 -c:v libvpx -deadline realtime \
             -cpu-used 8 -b:v 500k -c:a libopus -live 1 -f webm - > '{}'",
            s(out)
        ))
        .status()
        .unwrap();
    assert!(made.success());
    let stated = media::ffprobe_field(out, "v:0", "format=duration");
    assert!(
        stated.is_empty() || stated == "N/A",
        "control: the WebM states {stated}"
    );
}

/// A MOV whose second audio track is in a codec ffmpeg does not know (as iPhones write Apple
/// Positional Audio): an AAC track with its sample entry renamed `apac` and its object type
/// made unknown, so ffprobe calls it `unknown` and ffmpeg says "Decoder (codec none) not
/// found" when it is mapped. With `only`, that is the file's only audio track.
fn unknown_audio_track(out: &Path, only: bool) {
    let mut args: Vec<String> = [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=880:sample_rate=48000",
        "-t",
        "4",
        "-map",
        "0:v",
    ]
    .map(String::from)
    .to_vec();
    if !only {
        args.extend(["-map", "1:a"].map(String::from));
    }
    args.extend(
        [
            "-map",
            "2:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-f",
            "mov",
        ]
        .map(String::from),
    );
    args.push(s(out));
    ffmpeg(args);
    let mut b = std::fs::read(out).unwrap();
    let find_all = |b: &[u8], pat: &[u8]| -> Vec<usize> {
        b.windows(pat.len())
            .enumerate()
            .filter(|(_, w)| *w == pat)
            .map(|(i, _)| i)
            .collect()
    };
    // The last track's sample description: its `mp4a` entries and its ES descriptor.
    let stsd = *find_all(&b, b"stsd").last().unwrap();
    for i in find_all(&b, b"mp4a").into_iter().filter(|&i| i > stsd) {
        b[i..i + 4].copy_from_slice(b"apac");
    }
    let esds = *find_all(&b, b"esds").last().unwrap();
    // esds: version/flags, ES_Descriptor (tag 3, length, id, flags), then the
    // DecoderConfigDescriptor (tag 4, length) whose first byte is the object type.
    let mut p = esds + 8;
    while b[p] != 0x04 {
        p += 1;
    }
    p += 1;
    while b[p] & 0x80 != 0 {
        p += 1;
    }
    p += 1;
    assert_eq!(b[p], 0x40, "AAC's object type");
    b[p] = 0xC0;
    std::fs::write(out, b).unwrap();
    let codec = media::ffprobe_field(out, "a:0", "stream=codec_name");
    let last = media::ffprobe_lines(out, "a", "stream=codec_name");
    assert_eq!(last.last().map(String::as_str), Some("unknown"), "{codec}");
}

/// OBS with one microphone per track: three untitled mono tracks at 300, 500 and 700 Hz.
fn three_mics(out: &Path) {
    let mut args: Vec<String> = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"]
        .map(String::from)
        .to_vec();
    for hz in MIC_HZ {
        args.extend([
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            format!("sine=frequency={hz}:sample_rate=48000"),
        ]);
    }
    args.extend(["-t", "4", "-map", "0:v"].map(String::from));
    for i in 1..=3 {
        args.extend(["-map".into(), format!("{i}:a")]);
    }
    args.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "pcm_s16le",
            "-ac",
            "1",
            "-f",
            "mov",
        ]
        .map(String::from),
    );
    args.push(s(out));
    ffmpeg(args);
}

const MIC_HZ: [u32; 3] = [300, 500, 700];

/// A picture of `size` at `rate` fps with a tone, 3 s.
fn picture(out: &Path, size: &str, rate: &str) {
    ffmpeg([
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size={size}:rate={rate}"),
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        &s(out),
    ]);
}

/// Mean volume (dB) of `file`'s audio in a 40 Hz band around `hz`.
fn band_volume(file: &Path, hz: u32) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(file)
        .args([
            "-map",
            "0:a:0",
            "-af",
            &format!("bandpass=f={hz}:width_type=h:w=40,volumedetect"),
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .find_map(|l| l.split("mean_volume: ").nth(1))
        .and_then(|v| v.trim_end_matches(" dB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no volume for {}: {text}", file.display()))
}

fn first_segment(playlist: &Path) -> PathBuf {
    let text = std::fs::read_to_string(playlist).unwrap();
    let seg = text.lines().find(|l| l.ends_with(".ts")).unwrap();
    playlist.parent().unwrap().join(seg)
}

const ZEROED: &str = "zeroed middle.mp4";
const SCRATCHED: &str = "scratched.mp4";
const WEBM: &str = "browser recording.webm";
const PHONE: &str = "phone spatial audio.mov";
const ONLY_UNKNOWN: &str = "only unknown audio.mov";
const MICS: &str = "obs three mics.mov";
const NEAR_MISS: &str = "capture 1920x1040.mp4";
const SIXTY: &str = "sports 1080p60.mp4";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_odd_and_multi_track_sources_end_right() {
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    std::fs::create_dir_all(&clips).unwrap();
    type Maker<'a> = (&'a str, &'a dyn Fn(&Path));
    let make: [Maker; 8] = [
        (ZEROED, &|p| zeroed(p, 20, 0.3)),
        (SCRATCHED, &|p| zeroed(p, 12, 0.01)),
        (WEBM, &webm_without_duration),
        (PHONE, &|p| unknown_audio_track(p, false)),
        (ONLY_UNKNOWN, &|p| unknown_audio_track(p, true)),
        (MICS, &three_mics),
        (NEAR_MISS, &|p| picture(p, "1920x1040", "30")),
        (SIXTY, &|p| picture(p, "1920x1080", "60")),
    ];
    let files: Vec<(String, PathBuf)> = make
        .iter()
        .map(|(name, f)| {
            let p = clips.join(name);
            f(&p);
            (name.to_string(), p)
        })
        .collect();
    let st = stage_files("edges", dir, &files).await;
    media::until_idle(
        &mut media::worker(&st.table, &st.work("a"), &["--exit-when-idle"]),
        600,
    )
    .await;

    let scratched = damaged_sources_fail_or_warn(&st).await;
    let webm = a_source_without_duration_gets_the_decoded_one(&st).await;
    let phone = an_undecodable_track_is_left_out(&st).await;
    let mics = microphones_are_mixed(&st).await;
    let (near, sixty) = sizes_and_rates_fit_the_screen(&st).await;
    media::play_in_browser(&[scratched, webm, phone, mics, near, sixty]);
}

async fn keys_under(st: &Stage, prefix: &str) -> Vec<String> {
    fleet::blob::list_keys(&st.s3, &st.output.bucket, prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// Redoing a done video: viewers who loaded the old master keep reading its segments until
/// the grace period after the new master ends; then they go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redo_keeps_the_old_stream_readable_until_the_grace_ends() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("lesson.mp4");
    clip(&src, 4);
    let st = stage_files("redo-grace", dir, &[("lesson.mp4".into(), src)]).await;
    const GRACE: u64 = 6;
    let mut w = media::worker(
        &st.table,
        &st.work("a"),
        &["--redo-grace-seconds", &GRACE.to_string()],
    )
    .spawn()
    .unwrap();
    let done = |token: u64| {
        let st = &st;
        async move {
            crate::common::eventually(Duration::from_secs(120), "the video done", || async {
                let item = st.state("lesson.mp4").await;
                (item.state == VideoState::Done && item.token >= token).then_some(item)
            })
            .await
        }
    };
    let first = done(1).await;
    let old = format!("{}/t{}/", first.out_prefix, first.token);
    let old_keys = keys_under(&st, &old).await;
    assert!(old_keys.iter().any(|k| k.ends_with(".ts")), "{old_keys:?}");
    assert_eq!(
        st.store.requeue(&first.pk, true).await.unwrap(),
        Some(VideoState::Done)
    );
    let second = done(first.token + 1).await;
    let published = std::time::Instant::now();
    // The new master points at the new attempt; the old one is whole and readable.
    let stream = st.fetch("lesson.mp4").await;
    let master = std::fs::read_to_string(stream.join("master.m3u8")).unwrap();
    assert!(
        master.contains(&format!("t{}/", second.token))
            && !master.contains(&format!("t{}/", first.token)),
        "{master}"
    );
    assert_eq!(
        keys_under(&st, &old).await,
        old_keys,
        "the old attempt is untouched"
    );
    let seg = old_keys.iter().find(|k| k.ends_with(".ts")).unwrap();
    let bytes = fleet::blob::get_bytes(&st.s3, &st.output.bucket, seg)
        .await
        .unwrap();
    assert!(bytes.len() > 1000);
    // Then, after the grace, it goes (and only it).
    crate::common::eventually(
        Duration::from_secs(GRACE + 20),
        "the old attempt removed",
        || async { keys_under(&st, &old).await.is_empty().then_some(()) },
    )
    .await;
    assert!(
        published.elapsed() >= Duration::from_secs(GRACE - 1),
        "removed {:?} after the new master, before the {GRACE} s grace",
        published.elapsed()
    );
    let new = keys_under(&st, &format!("{}/t{}/", second.out_prefix, second.token)).await;
    assert!(new.iter().any(|k| k.ends_with(".ts")));
    let _ = w.start_kill();
    let _ = w.wait().await;
}

/// The keyframes read from TS packets in-process are the ones ffprobe finds: same PTS, same
/// byte offset, same length up to the next video packet, in every segment of a real HLS encode.
#[test]
fn keyframes_read_from_ts_packets_are_ffprobes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mp4");
    clip(&src, 13);
    let hls = dir.path().join("hls");
    std::fs::create_dir_all(&hls).unwrap();
    ffmpeg([
        "-i",
        &s(&src),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-force_key_frames",
        "expr:gte(t,n_forced*2)",
        "-sc_threshold",
        "0",
        "-c:a",
        "aac",
        "-f",
        "hls",
        "-hls_time",
        "6",
        "-hls_segment_type",
        "mpegts",
        "-hls_segment_filename",
        &s(&hls.join("seg_%05d.ts")),
        &s(&hls.join("index.m3u8")),
    ]);
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&hls)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ts"))
        .collect();
    segments.sort();
    assert_eq!(segments.len(), 3);
    let mut total = 0;
    for seg in &segments {
        let bytes = std::fs::read(seg).unwrap();
        let ours = fleet::transcode::iframes::scan(&bytes);
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
            .args(["packet=pts_time,pos,flags", "-of", "csv=p=0"])
            .arg(seg)
            .output()
            .unwrap();
        let packets: Vec<(f64, u64, bool)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut f = l.trim().split(',');
                Some((
                    f.next()?.parse().ok()?,
                    f.next()?.parse().ok()?,
                    f.next()?.starts_with('K'),
                ))
            })
            .collect();
        assert_eq!(ours.header, packets[0].1, "{}", seg.display());
        let theirs: Vec<(f64, u64, u64)> = packets
            .iter()
            .enumerate()
            .filter(|(_, p)| p.2)
            .map(|(i, p)| {
                let next = packets.get(i + 1).map_or(bytes.len() as u64, |n| n.1);
                (p.0, p.1, next - p.1)
            })
            .collect();
        let got: Vec<(f64, u64, u64)> = ours
            .keyframes
            .iter()
            .map(|k| (k.pts, k.offset, k.length))
            .collect();
        assert_eq!(got.len(), theirs.len(), "{}", seg.display());
        for (a, b) in got.iter().zip(&theirs) {
            assert!(
                (a.0 - b.0).abs() < 1e-5 && a.1 == b.1 && a.2 == b.2,
                "{a:?} vs {b:?}"
            );
        }
        total += got.len();
    }
    // 13 s with a keyframe every 2 s: 7 keyframes.
    assert_eq!(total, 7);
}

/// CODECS read from a segment's TS packets name the bytes ffmpeg's own SPS parser reads
/// (profile_idc, the constraint flags, level_idc) and the ADTS object type, for each profile
/// x264 writes, and an audio-only segment names AAC alone.
#[test]
fn codecs_read_from_ts_packets_are_the_sps_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mp4");
    clip(&src, 2);
    let cases = [
        ("baseline", "3.0", &["-c:v", "libx264"][..]),
        ("main", "3.1", &["-c:v", "libx264"][..]),
        ("high", "4.0", &["-c:v", "libx264"][..]),
        ("", "", &["-vn"][..]),
    ];
    for (profile, level, video) in cases {
        let seg = dir.path().join(format!("seg-{profile}.ts"));
        let mut args = vec!["-i", &s(&src)]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        args.extend(video.iter().map(|a| a.to_string()));
        if !profile.is_empty() {
            args.extend(["-profile:v", profile, "-level", level].map(String::from));
        }
        args.extend(["-c:a", "aac", "-f", "mpegts"].map(String::from));
        args.push(s(&seg));
        ffmpeg(args.iter().map(String::as_str));
        let got = fleet::transcode::codecs::of_ts(&std::fs::read(&seg).unwrap()).unwrap();
        if profile.is_empty() {
            assert_eq!(got, "mp4a.40.2");
            continue;
        }
        // ffmpeg's own reading of the SPS, field by field.
        let trace = Command::new("ffmpeg")
            .args(["-hide_banner", "-i", &s(&seg), "-map", "0:v", "-c", "copy"])
            .args([
                "-bsf:v",
                "trace_headers",
                "-frames:v",
                "1",
                "-f",
                "null",
                "-",
            ])
            .output()
            .unwrap();
        let trace = String::from_utf8_lossy(&trace.stderr);
        let field = |name: &str| -> u32 {
            let line = trace
                .lines()
                .find(|l| l.split_whitespace().nth(4) == Some(name))
                .unwrap_or_else(|| panic!("{name} in {trace}"));
            line.rsplit(" = ").next().unwrap().trim().parse().unwrap()
        };
        let flags = (0..6).fold(0, |acc, i| {
            acc | (field(&format!("constraint_set{i}_flag")) << (7 - i))
        });
        let want = format!(
            "avc1.{:02x}{flags:02x}{:02x},mp4a.40.2",
            field("profile_idc"),
            field("level_idc")
        );
        assert_eq!(got, want, "{profile}");
    }
}

/// A worker on another ffmpeg release than the tests ran stops at once with one line, unless
/// told to go on; the release it runs is in the registry either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_refuses_an_untested_ffmpeg_and_registers_the_one_it_runs() {
    let cfg = crate::common::sdk().await;
    let table = crate::common::fresh_table(&cfg, "ffmpeg-version").await;
    let store = crate::common::store(&cfg, &table);
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("bin");
    std::fs::create_dir_all(&fake).unwrap();
    let script = fake.join("ffmpeg");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'ffmpeg version 7.0.2-static https://johnvansickle.com/ffmpeg/'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap());
    let run = |extra: &'static [&'static str], path: Option<String>| {
        let mut c = media::worker(&table, &dir.path().join("work"), extra);
        if let Some(p) = path {
            c.env("PATH", p);
        }
        async move {
            tokio::time::timeout(Duration::from_secs(60), c.output())
                .await
                .expect("the worker ends")
                .unwrap()
        }
    };
    let refused = run(&[], Some(path.clone())).await;
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("ffmpeg 7.0.2-static is not the release fleet is tested with (5.1"),
        "{err}"
    );
    let (workers, _) = store.workers().await.unwrap();
    assert!(
        workers.is_empty(),
        "a refused worker registered: {workers:?}"
    );

    let allowed = run(&["--exit-when-idle", "--allow-untested-ffmpeg"], Some(path)).await;
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    let real = run(&["--exit-when-idle"], None).await;
    assert!(
        real.status.success(),
        "{}",
        String::from_utf8_lossy(&real.stderr)
    );
    let (workers, _) = store.workers().await.unwrap();
    let mut seen: Vec<String> = workers.iter().filter_map(|w| w.ffmpeg.clone()).collect();
    seen.sort();
    assert_eq!(seen.len(), 2, "{workers:?}");
    assert!(seen[0].starts_with("5.1."), "{seen:?}");
    assert_eq!(seen[1], "7.0.2-static");
}

/// 30% zeroed fails with its hole and leaves nothing; 1% zeroed is published, warned.
async fn damaged_sources_fail_or_warn(st: &Stage) -> PathBuf {
    // 30% zeroed: failed as the video's fault, at once, with where the hole is.
    let item = st.state(ZEROED).await;
    assert_eq!(item.state, VideoState::Failed);
    assert_eq!(
        item.error_kind.as_deref(),
        Some(FailureKind::InvalidInput.as_str())
    );
    let reason = item.error.clone().unwrap_or_default();
    assert!(reason.contains("the source is damaged"), "{reason}");
    let range = reason.split(" at ").nth(1).unwrap_or_default();
    let from: f64 = range.split('-').next().unwrap().parse().unwrap();
    assert!(
        (6.0..=11.0).contains(&from),
        "hole starts at {from}: {reason}"
    );

    // 1% zeroed: published, with a warning that names the hole; the stream is whole.
    let item = st.state(SCRATCHED).await;
    assert_eq!(item.state, VideoState::Done, "{:?}", item.error);
    let warnings = item.warnings.clone().unwrap_or_default();
    let warned: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("the source is damaged"))
        .collect();
    assert_eq!(warned.len(), 1, "{warnings:?}");
    assert!(warned[0].contains(" s of 12.0 s"), "{}", warned[0]);
    let scratched = st.fetch(SCRATCHED).await;
    media::check_stream(&scratched, 12.0, Some((640, 360)), false);

    scratched
}

/// The live WebM: its decoded length is recorded and checked.
async fn a_source_without_duration_gets_the_decoded_one(st: &Stage) -> PathBuf {
    // No stated duration: the decode's own length is recorded and checked.
    let item = st.state(WEBM).await;
    assert_eq!(item.state, VideoState::Done, "{:?}", item.error);
    let d = item.duration_s.expect("a duration from the decode");
    assert!((d - 5.0).abs() < 0.3, "decoded {d} s of a 5 s recording");
    let webm = st.fetch(WEBM).await;
    media::check_stream(&webm, 5.0, Some((640, 360)), false);

    webm
}

/// An unknown second track is left out; an unknown only track fails the video.
async fn an_undecodable_track_is_left_out(st: &Stage) -> PathBuf {
    // An unknown second track is left out with a warning; the known one is published.
    let item = st.state(PHONE).await;
    assert_eq!(item.state, VideoState::Done, "{:?}", item.error);
    assert!(
        item.warnings
            .iter()
            .flatten()
            .any(|w| w == "audio track 2 left out: its codec (unknown) cannot be decoded"),
        "{:?}",
        item.warnings
    );
    let phone = st.fetch(PHONE).await;
    media::check_stream(&phone, 4.0, Some((640, 360)), false);
    let master = std::fs::read_to_string(phone.join("master.m3u8")).unwrap();
    assert!(media::audio_renditions(&master).is_empty(), "{master}");
    // Only unknown audio: the video's fault, said so.
    let item = st.state(ONLY_UNKNOWN).await;
    assert_eq!(item.state, VideoState::Failed);
    assert!(
        item.error
            .as_deref()
            .unwrap_or_default()
            .contains("none of the source's audio tracks can be decoded"),
        "{:?}",
        item.error
    );

    phone
}

/// Three microphone tracks become one programme in which every voice is heard.
async fn microphones_are_mixed(st: &Stage) -> PathBuf {
    // Three microphones: one programme, every voice in it, no menu.
    let item = st.state(MICS).await;
    assert_eq!(item.state, VideoState::Done, "{:?}", item.error);
    let mics = st.fetch(MICS).await;
    let vs = media::check_stream(&mics, 4.0, Some((640, 360)), false);
    let master = std::fs::read_to_string(mics.join("master.m3u8")).unwrap();
    assert!(media::audio_renditions(&master).is_empty(), "{master}");
    let seg = first_segment(&mics.join(&vs[0].uri));
    for hz in MIC_HZ {
        let v = band_volume(&seg, hz);
        assert!(v > -30.0, "the {hz} Hz voice at {v} dB");
    }
    let silent = band_volume(&seg, 1100);
    assert!(silent < -45.0, "control: 1100 Hz at {silent} dB");

    mics
}

/// The near-miss size keeps its top rung; the 60 fps source's low rungs run at 30.
async fn sizes_and_rates_fit_the_screen(st: &Stage) -> (PathBuf, PathBuf) {
    // 1920x1040 keeps a top rung at its own size.
    let near = st.fetch(NEAR_MISS).await;
    let vs = media::check_stream(&near, 3.0, Some((1920, 1040)), false);
    let top = vs
        .iter()
        .filter_map(|v| v.resolution)
        .max_by_key(|r| r.0 * r.1);
    assert_eq!(top, Some((1920, 1040)), "{vs:?}");

    // 1080p60: rungs below 720p at 30 fps, and a rung a weak link can hold.
    let sixty = st.fetch(SIXTY).await;
    let vs = media::check_stream(&sixty, 3.0, Some((1920, 1080)), false);
    for v in &vs {
        let (w, h) = v.resolution.unwrap();
        let fps = media::measured_fps(&sixty.join(&v.uri));
        if w.min(h) < 720 {
            assert!(fps <= 30.5, "{}: {fps} fps", v.uri);
        } else {
            assert!(fps > 59.0, "{}: {fps} fps", v.uri);
        }
    }
    let lowest = vs.iter().map(|v| v.bandwidth).min().unwrap();
    assert!(lowest <= 300_000, "lowest variant peaks at {lowest} b/s");

    (near, sixty)
}
