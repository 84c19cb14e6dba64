//! Captions (issue 14): every caption a lesson has is published as a WebVTT rendition, timed
//! against the published video, named and flagged in the master, and listed and shown on time
//! by hls.js, Shaka Player and Video.js; bad caption files cost the video nothing but a
//! warning; captions added later are published without encoding the video again.

use crate::common::media::{self, Clip};
use crate::common::stage::{stage_files, Stage};
use fleet::admin::seed;
use fleet::blob;
use fleet::domain::VideoState;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Cues with a boundary crosser (5.0-7.5 over the 6 s boundary) and one after the 14 s clip.
const EN_SRT: &str = "1\n00:00:01,000 --> 00:00:02,500\nHello, learners.\n\n2\n\
00:00:05,000 --> 00:00:07,500\nThis cue crosses a segment boundary.\n\n3\n\
00:00:09,000 --> 00:00:10,000\n<i>Last</i> one.\n\n4\n00:00:20,000 --> 00:00:21,000\nAfter the end.\n";
const PT_VTT: &str = "WEBVTT\n\nNOTE translated\n\n00:00:01.500 --> 00:00:03.000\nOlá, alunos.\n\n\
intro-2\n00:00:08.000 --> 00:00:09.000 align:start\nAté já.\n";
const SDH_SRT: &str = "1\n00:00:00,500 --> 00:00:01,500\n[soft music]\n\n2\n00:00:03,000 --> 00:00:04,000\n[door closes]\n";
const FORCED_VTT: &str = "WEBVTT\n\n00:00:11.000 --> 00:00:12.000\nSign: EXIT\n";
/// Line 6 is not a time range.
const BROKEN_SRT: &str =
    "1\n00:00:01,000 --> 00:00:02,000\nGut.\n\n2\n00:00:03 -> 00:00:04\nKaputt.\n";

/// Latin-1 bytes, as old caption tools write them.
fn latin1_srt() -> Vec<u8> {
    b"1\r\n00:00:02,000 --> 00:00:03,000\r\nTr\xe8s bien, caf\xe9 cr\xe8me.\r\n\r\n2\r\n00:00:12,000 --> 00:00:13,000\r\n\xc0 bient\xf4t.\r\n".to_vec()
}

fn write(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
    let p = dir.join(name.replace('/', "_"));
    std::fs::write(&p, body).unwrap();
    p
}

fn run_ok(c: &mut Command, what: &str) {
    let out = c.output().expect("ffmpeg installed");
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Pop-on "HOLA" loaded from 3;20 and shown by its end-of-caption at 00:00:04;00 (drop-frame:
/// 4.004 s), erased at 6;00. Odd parity: `c84f 4cc1` is "HOLA".
const ES_SCC: &str =
    "Scenarist_SCC V1.0\n\n00:00:03;20\t9420 9420 94ae 94ae 9470 9470 c84f 4cc1\n\n\
00:00:04;00\t942f 942f\n\n00:00:06;00\t942c 942c\n";

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/media")
        .join(name)
}

/// Sources with captions inside: an MP4 with a mov_text track (English; MP4 keeps no title),
/// an MKV with a titled Spanish ASS track (styling, a `\N` break) and a PGS bitmap track, and
/// an MP4 whose H.264 carries CEA-608 in its SEI (`tests/media/make_608.py`: "HELLO CAPTIONS"
/// at 1.0 s, "SECOND LINE" at 4.0 s).
fn with_embedded(dir: &Path, base: &Path) -> [PathBuf; 3] {
    // Without the cue after the end: a subtitle stream longer than the picture makes the
    // container longer than the video (a different edge, not this test's).
    let within = &EN_SRT[..EN_SRT.find("4\n00:00:20").unwrap()];
    let srt = write(dir, "embedded.srt", within.as_bytes());
    let ass = write(
        dir,
        "embedded.ass",
        b"[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, Bold\nStyle: Default,Arial,20,&H00FFFFFF,0\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\nDialogue: 0,0:00:04.00,0:00:05.50,Default,,0,0,0,,{\\an8}Bold & plain\\Nsecond line\n",
    );
    let sup = dir.join("bitmap.sup");
    run_ok(
        Command::new("python3").arg(script("make_sup.py")).arg(&sup),
        "making a PGS track",
    );
    let mp4 = dir.join("embedded.mp4");
    run_ok(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(base)
            .arg("-i")
            .arg(&srt)
            .args(["-map", "0", "-map", "1", "-c:v", "copy", "-c:a", "copy"])
            .args(["-c:s", "mov_text", "-metadata:s:s:0", "language=eng"])
            .arg(&mp4),
        "muxing mov_text",
    );
    let mkv = dir.join("styled.mkv");
    run_ok(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(base)
            .arg("-i")
            .arg(&ass)
            .arg("-i")
            .arg(&sup)
            .args(["-map", "0", "-map", "1", "-map", "2", "-c", "copy"])
            .args([
                "-metadata:s:s:0",
                "language=spa",
                "-metadata:s:s:0",
                "title=Notas",
            ])
            .arg(&mkv),
        "muxing ASS and a bitmap track",
    );
    let cc = dir.join("cc608.mp4");
    run_ok(
        Command::new("python3")
            .arg(script("make_608.py"))
            .arg(&cc)
            .arg("8"),
        "making a CEA-608 source",
    );
    [mp4, mkv, cc]
}

/// Where the source's video starts on its own clock, seconds (an MKV muxed from an MP4 with
/// AAC starts its streams 21 ms in).
fn video_offset(source: &Path) -> f64 {
    let start = |entry: &str| -> f64 {
        media::ffprobe_lines(source, "v:0", entry)
            .first()
            .and_then(|l| l.parse().ok())
            .unwrap_or(0.0)
    };
    start("stream=start_time") - start("format=start_time")
}

/// `#EXT-X-MEDIA:TYPE=SUBTITLES` lines as attribute maps, in master order.
fn subtitle_media(master: &str) -> Vec<HashMap<String, String>> {
    master
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-MEDIA:TYPE=SUBTITLES,"))
        .map(attributes)
        .collect()
}

/// An attribute list (`A=B,C="d,e"`) as a map, quotes removed.
fn attributes(list: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = list;
    while !rest.is_empty() {
        let (k, v) = rest.split_once('=').unwrap();
        let (value, next) = if let Some(q) = v.strip_prefix('"') {
            let end = q.find('"').unwrap();
            (&q[..end], q[end + 1..].trim_start_matches(','))
        } else {
            match v.split_once(',') {
                Some((a, b)) => (a, b),
                None => (v, ""),
            }
        };
        out.insert(k.to_string(), value.to_string());
        rest = next;
    }
    out
}

/// The PTS of the first video packet of a TS segment, read by ffprobe.
fn first_video_pts(ts: &Path) -> i64 {
    media::ffprobe_field(ts, "v:0", "packet=pts")
        .lines()
        .next()
        .unwrap()
        .trim_end_matches(',')
        .parse()
        .unwrap()
}

/// A published subtitle rendition: its playlist and segment texts.
struct Rendition {
    playlist: String,
    segments: Vec<String>,
}

fn rendition(stream: &Path, uri: &str) -> Rendition {
    let p = stream.join(uri);
    let playlist = std::fs::read_to_string(&p).unwrap();
    let segments = playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|s| std::fs::read_to_string(p.parent().unwrap().join(s)).unwrap())
        .collect();
    Rendition { playlist, segments }
}

/// Every cue start (seconds) in a rendition's segments, each once.
fn starts(r: &Rendition) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    for s in &r.segments {
        for l in s.lines().filter(|l| l.contains("-->")) {
            let t = l.split(" --> ").next().unwrap();
            let secs = vtt_seconds(t);
            if !out.iter().any(|x| (x - secs).abs() < 1e-6) {
                out.push(secs);
            }
        }
    }
    out
}

fn vtt_seconds(t: &str) -> f64 {
    let parts: Vec<f64> = t.split(':').map(|p| p.parse().unwrap()).collect();
    parts.iter().fold(0.0, |acc, p| acc * 60.0 + p)
}

/// The first segment of the first variant of a downloaded stream.
fn first_variant_segment(stream: &Path, master: &str) -> PathBuf {
    let uri = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap();
    let playlist = stream.join(uri);
    let first = std::fs::read_to_string(&playlist)
        .unwrap()
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap()
        .to_string();
    playlist.parent().unwrap().join(first)
}

/// Checks every subtitle rendition from outside: VOD, the video's segment count, an
/// X-TIMESTAMP-MAP in every segment whose MPEGTS is the published video's first PTS less the
/// video's `offset` into its source (so cue time 0 is the source's time 0), empty segments
/// plain, cue starts within 50 ms of `expected`. Writes `captions.expected.json` for the player
/// check from `expected` (per rendition: language and cue starts as in the source file).
fn check_renditions(stream: &Path, offset: f64, expected: &[(&str, Vec<f64>)]) -> Vec<Rendition> {
    let master = std::fs::read_to_string(stream.join("master.m3u8")).unwrap();
    let media = subtitle_media(&master);
    assert_eq!(
        media.len(),
        expected.len(),
        "subtitle renditions:\n{master}"
    );
    let pts = first_video_pts(&first_variant_segment(stream, &master))
        - (offset * 90_000.0).round() as i64;
    let video_segments = std::fs::read_to_string(
        stream.join(
            master
                .lines()
                .find(|l| !l.starts_with('#') && !l.is_empty())
                .unwrap(),
        ),
    )
    .unwrap()
    .matches("#EXTINF")
    .count();
    let mut out = Vec::new();
    let mut json = Vec::new();
    for (m, (lang, want)) in media.iter().zip(expected) {
        assert_eq!(m["LANGUAGE"], *lang, "{master}");
        assert_eq!(m["GROUP-ID"], "subs");
        assert_eq!(m["AUTOSELECT"], "YES");
        let r = rendition(stream, &m["URI"]);
        assert!(
            r.playlist.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"),
            "{}",
            r.playlist
        );
        assert!(r.playlist.ends_with("#EXT-X-ENDLIST\n"));
        assert_eq!(
            r.segments.len(),
            video_segments,
            "aligned to the video's segments"
        );
        let map = format!("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{pts},LOCAL:00:00:00.000\n");
        for s in &r.segments {
            assert!(s.starts_with(&map), "segment header {s:?}, want {map:?}");
        }
        let got = starts(&r);
        assert!(
            got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 0.05),
            "cues of {lang}: {got:?}, want {want:?}"
        );
        json.push(serde_json::json!({"language": lang, "name": m["NAME"], "starts": want}));
        out.push(r);
    }
    for l in master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-STREAM-INF"))
    {
        assert!(l.contains(",SUBTITLES=\"subs\""), "{l}");
        assert!(l.contains("CLOSED-CAPTIONS=NONE"), "{l}");
    }
    std::fs::write(
        stream.join("captions.expected.json"),
        serde_json::to_string(&json).unwrap(),
    )
    .unwrap();
    // stream.json lists the same tracks, and the rest of what was published checks out.
    media::check_published(stream, &media::variants(&master));
    let doc = crate::common::published::check_description(stream).unwrap();
    let listed: Vec<(&str, &str)> = doc["text"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["language"].as_str().unwrap()))
        .collect();
    let declared: Vec<(&str, &str)> = media
        .iter()
        .map(|m| (m["NAME"].as_str(), m["LANGUAGE"].as_str()))
        .collect();
    assert_eq!(listed, declared, "stream.json text tracks");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_caption_is_published_timed_and_bad_ones_only_warn() {
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    std::fs::create_dir_all(&clips).unwrap();
    let base = Clip::new("lesson.mp4", "640x360", "30", 14.0).make(&clips);
    let [embedded, styled, cc] = with_embedded(&clips, &base);
    let styled_offset = video_offset(&styled);
    let files: Vec<(String, PathBuf)> = vec![
        ("lesson.mp4".into(), base.clone()),
        (
            "lesson.en.srt".into(),
            write(&clips, "a", EN_SRT.as_bytes()),
        ),
        (
            "lesson.pt-BR.vtt".into(),
            write(&clips, "b", PT_VTT.as_bytes()),
        ),
        (
            "lesson.en.sdh.srt".into(),
            write(&clips, "c", SDH_SRT.as_bytes()),
        ),
        (
            "lesson.en.forced.vtt".into(),
            write(&clips, "d", FORCED_VTT.as_bytes()),
        ),
        ("lesson.fr.srt".into(), write(&clips, "e", &latin1_srt())),
        (
            "lesson.de.srt".into(),
            write(&clips, "f", BROKEN_SRT.as_bytes()),
        ),
        (
            "lesson.es.scc".into(),
            write(&clips, "g", ES_SCC.as_bytes()),
        ),
        (
            "notes for nobody.srt".into(),
            write(&clips, "h", EN_SRT.as_bytes()),
        ),
        ("embedded.mp4".into(), embedded),
        ("styled.mkv".into(), styled),
        ("cc608.mp4".into(), cc),
        ("plain.mp4".into(), base),
    ];
    let videos = [
        "lesson.mp4",
        "embedded.mp4",
        "styled.mkv",
        "cc608.mp4",
        "plain.mp4",
    ];
    let st = stage_captions("captions", dir, &files, videos.len()).await;
    media::until_idle(
        &mut media::worker(&st.table, &st.work("a"), &["--exit-when-idle"]),
        600,
    )
    .await;
    for v in videos {
        let item = st.state(v).await;
        assert_eq!(item.state, VideoState::Done, "{v}: {:?}", item.error);
    }

    // Sidecars: six tracks, the broken one a warning naming its first bad line.
    let lesson = st.state("lesson.mp4").await;
    let warnings = lesson.warnings.clone().unwrap_or_default();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("lesson.de.srt left out: line 6: expected a time range"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].contains("lesson.en.srt: 1 cues that start after the video ends were dropped"),
        "{warnings:?}"
    );
    let stream = st.fetch("lesson.mp4").await;
    let r = check_renditions(
        &stream,
        0.0,
        &[
            ("en", vec![11.0]),
            // Apple: the regular tracks of a language carry its forced cues too.
            ("en", vec![0.5, 3.0, 11.0]),
            ("en", vec![1.0, 5.0, 9.0, 11.0]),
            ("es", vec![4.004]),
            ("fr", vec![2.0, 12.0]),
            ("pt-BR", vec![1.5, 8.0]),
        ],
    );
    let master = std::fs::read_to_string(stream.join("master.m3u8")).unwrap();
    let media_lines = subtitle_media(&master);
    let names: Vec<&str> = media_lines.iter().map(|m| m["NAME"].as_str()).collect();
    assert_eq!(
        names,
        [
            "English (forced)",
            "English (SDH)",
            "English",
            "Español",
            "Français",
            "Português (Brasil)"
        ]
    );
    let flags: Vec<(&str, &str)> = media_lines
        .iter()
        .map(|m| (m["DEFAULT"].as_str(), m["FORCED"].as_str()))
        .collect();
    assert_eq!(
        flags,
        [
            ("NO", "YES"),
            ("NO", "NO"),
            ("YES", "NO"),
            ("NO", "NO"),
            ("NO", "NO"),
            ("NO", "NO")
        ]
    );
    assert_eq!(
        media_lines[1]["CHARACTERISTICS"],
        "public.accessibility.transcribes-spoken-dialog,public.accessibility.describes-music-and-sound"
    );
    let sdh_only = media_lines
        .iter()
        .enumerate()
        .all(|(i, m)| i == 1 || !m.contains_key("CHARACTERISTICS"));
    assert!(sdh_only, "{master}");
    // The cue across the 6 s boundary is in segments 0 and 1 with its full times; the cue
    // after the end is gone; the Latin-1 file is UTF-8 now; SCC text decoded.
    let en = &r[2];
    let crossing = "00:00:05.000 --> 00:00:07.500\nThis cue crosses a segment boundary.";
    assert!(en.segments[0].contains(crossing) && en.segments[1].contains(crossing));
    assert!(!en.segments.iter().any(|s| s.contains("After the end")));
    assert!(r[3].segments[0].contains("HOLA"), "{}", r[3].segments[0]);
    assert!(
        r[4].segments[0].contains("Très bien, café crème."),
        "{}",
        r[4].segments[0]
    );
    assert_eq!(
        r[0].segments[0].lines().count(),
        3,
        "an empty segment is plain"
    );

    // Embedded: mov_text by its language; ASS text without styling, titled, `&` escaped;
    // the bitmap track a warning.
    let emb = st.fetch("embedded.mp4").await;
    check_renditions(&emb, 0.0, &[("en", vec![1.0, 5.0, 9.0])]);
    let m = std::fs::read_to_string(emb.join("master.m3u8")).unwrap();
    assert_eq!(subtitle_media(&m)[0]["NAME"], "English");
    let styled = st.fetch("styled.mkv").await;
    let r = check_renditions(&styled, styled_offset, &[("es", vec![4.0])]);
    let m = std::fs::read_to_string(styled.join("master.m3u8")).unwrap();
    assert_eq!(subtitle_media(&m)[0]["NAME"], "Notas");
    assert!(
        r[0].segments[0].contains("Bold &amp; plain\nsecond line"),
        "{}",
        r[0].segments[0]
    );
    let item = st.state("styled.mkv").await;
    let w = item.warnings.unwrap_or_default();
    assert!(
        w.len() == 1 && w[0].contains("hdmv_pgs_subtitle") && w[0].contains("OCR"),
        "{w:?}"
    );

    // CEA-608 in the SEI: a WebVTT rendition, and none left in the published video, so
    // CLOSED-CAPTIONS=NONE is true.
    let cc = st.fetch("cc608.mp4").await;
    let r = check_renditions(&cc, 0.0, &[("und", vec![1.0, 4.0])]);
    assert!(
        r[0].segments[0].contains("HELLO CAPTIONS"),
        "{}",
        r[0].segments[0]
    );
    let m = std::fs::read_to_string(cc.join("master.m3u8")).unwrap();
    assert_eq!(subtitle_media(&m)[0]["NAME"], "Unknown (SDH)");
    let seg = first_variant_segment(&cc, &m);
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args(["-show_entries", "stream=closed_captions", "-of", "csv=p=0"])
        .arg(&seg)
        .output()
        .unwrap();
    let first = |o: &[u8]| {
        String::from_utf8_lossy(o)
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(first(&out.stdout), "0", "608 data left in the video");
    let source_cc = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args([
            "-read_intervals",
            "%+#30",
            "-show_entries",
            "stream=closed_captions",
        ])
        .args(["-of", "csv=p=0"])
        .arg(clips.join("cc608.mp4"))
        .output()
        .unwrap();
    assert_eq!(first(&source_cc.stdout), "1", "control: the source has 608");

    // No caption at all: no group, no warning.
    let plain = st.fetch("plain.mp4").await;
    let m = std::fs::read_to_string(plain.join("master.m3u8")).unwrap();
    assert!(!m.contains("SUBTITLES"), "{m}");
    assert!(st.state("plain.mp4").await.warnings.is_none());

    media::play_in_browser(&[stream, emb, styled, cc, plain]);
}

/// Stages `files` (videos and caption files) and checks that seed counted what it attached.
async fn stage_captions(
    name: &str,
    dir: tempfile::TempDir,
    files: &[(String, PathBuf)],
    videos: usize,
) -> Stage {
    let st = stage_files(name, dir, files).await;
    let summary = reseed(&st).await;
    assert_eq!(summary.present as usize, videos);
    assert_eq!(
        (summary.captions, summary.unmatched_captions),
        (7, 1),
        "{summary:?}"
    );
    st
}

async fn reseed(st: &Stage) -> seed::SeedSummary {
    let exts: Vec<String> = seed::DEFAULT_EXTENSIONS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let plan = seed::SeedPlan {
        input: &st.input,
        output: &st.output,
        extensions: &exts,
        default_caption_language: "und",
        dry_run: false,
        update_output: false,
    };
    seed::seed(&st.store, &st.s3, &plan, |_| {}).await.unwrap()
}

/// A folder holding an `ffmpeg` that logs each argv (one line) to `log`, then runs the real one.
fn logging_ffmpeg(dir: &Path, log: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("ffmpeg");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec /usr/bin/ffmpeg \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

async fn run_worker(st: &Stage, path: &str) {
    run_worker_with(st, path, &[]).await;
}

async fn run_worker_with(st: &Stage, path: &str, extra: &[&str]) {
    let args: Vec<&str> = ["--exit-when-idle"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    media::until_idle(
        media::worker(&st.table, &st.work("a"), &args).env("PATH", path),
        300,
    )
    .await;
}

/// Every file of a downloaded stream but the master and stream.json (the two documents a
/// redo rewrites), with its bytes.
fn files_of(stream: &Path) -> HashMap<PathBuf, Vec<u8>> {
    let mut out = HashMap::new();
    let mut stack = vec![stream.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !["master.m3u8", "stream.json"]
                .contains(&p.file_name().unwrap().to_str().unwrap())
            {
                out.insert(
                    p.strip_prefix(stream).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captions_added_later_are_published_without_encoding_again() {
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    std::fs::create_dir_all(&clips).unwrap();
    let clip = Clip::new("talk.mp4", "640x360", "30", 14.0).make(&clips);
    let log = dir.path().join("ffmpeg.log");
    let bin = logging_ffmpeg(dir.path(), &log);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let st = stage_files("captions-later", dir, &[("talk.mp4".into(), clip)]).await;
    let started = std::time::Instant::now();
    run_worker(&st, &path).await;
    let full = started.elapsed();
    let first = st.state("talk.mp4").await;
    assert_eq!(first.state, VideoState::Done);
    assert!(std::fs::read_to_string(&log).unwrap().contains("libx264"));
    let before = files_of(&st.fetch("talk.mp4").await);
    std::fs::remove_file(&log).unwrap();

    // A caption file arrives; seed notices and queues a captions-only redo.
    let key = format!("{}talk.en.srt", st.input.key);
    let srt = write(st.dir.path(), "talk.en.srt", EN_SRT.as_bytes());
    blob::upload(&st.s3, &st.input.bucket, &key, &srt, "text/plain")
        .await
        .unwrap();
    let s = reseed(&st).await;
    assert_eq!((s.captions, s.caption_redos, s.present), (1, 1, 1), "{s:?}");
    let queued = st.state("talk.mp4").await;
    assert_eq!(queued.state, VideoState::Pending);
    assert_eq!(queued.redo, Some(fleet::domain::video::Redo::Captions));
    assert_eq!(
        reseed(&st).await.caption_redos,
        0,
        "a second run changes nothing"
    );

    let started = std::time::Instant::now();
    run_worker(&st, &path).await;
    let took = started.elapsed();
    let after_item = st.state("talk.mp4").await;
    assert_eq!(after_item.state, VideoState::Done, "{:?}", after_item.error);
    assert_eq!(after_item.redo, None);
    assert_eq!(
        after_item.ffmpeg_args, first.ffmpeg_args,
        "the encode's argv is kept"
    );
    let ran = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!ran.contains("libx264"), "the redo ran an encode:\n{ran}");
    let stream = st.fetch("talk.mp4").await;
    let after = files_of(&stream);
    for (f, bytes) in &before {
        assert_eq!(after.get(f), Some(bytes), "{} changed or went", f.display());
    }
    check_renditions(&stream, 0.0, &[("en", vec![1.0, 5.0, 9.0])]);
    let master = std::fs::read_to_string(stream.join("master.m3u8")).unwrap();
    assert!(master.contains(&format!("URI=\"t{}/sub_0/index.m3u8\"", after_item.token)));
    let doc = crate::common::published::check_description(&stream).unwrap();
    assert_eq!(doc["attempt"]["kind"], "captions");
    assert_eq!(doc["attempt"]["token"], after_item.token);
    assert_eq!(
        doc["thumbnails"]["sprites"][0], "t1/thumbs/sprite_000.jpg",
        "kept"
    );
    eprintln!(
        "captions-only redo: {:.1} s wall for the worker process, {} ffmpeg runs; the full job \
         of the same clip: {:.1} s",
        took.as_secs_f64(),
        ran.lines().count(),
        full.as_secs_f64()
    );

    // The file is fixed again: a second redo replaces the subtitle folder and removes the old.
    let fixed = EN_SRT.replace("Hello, learners.", "Hello again.");
    std::fs::write(&srt, fixed).unwrap();
    blob::upload(&st.s3, &st.input.bucket, &key, &srt, "text/plain")
        .await
        .unwrap();
    assert_eq!(reseed(&st).await.caption_redos, 1);
    // Without a grace period: the replaced subtitle folder goes with the rest (the grace
    // itself is edges::a_redo_keeps_the_old_stream_readable_until_the_grace_ends).
    run_worker_with(&st, &path, &["--redo-grace-seconds", "0"]).await;
    let last = st.state("talk.mp4").await;
    assert_eq!(last.state, VideoState::Done);
    let keys = blob::list_keys(&st.s3, &st.output.bucket, &format!("{}/", last.out_prefix))
        .await
        .unwrap();
    let subs: Vec<&str> = keys
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.contains("/sub_"))
        .collect();
    assert!(
        subs.iter()
            .all(|k| k.contains(&format!("/t{}/sub_0/", last.token))),
        "older subtitle folders must go: {subs:?}"
    );
    let stream = st.fetch("talk.mp4").await;
    let r = check_renditions(&stream, 0.0, &[("en", vec![1.0, 5.0, 9.0])]);
    assert!(r[0].segments[0].contains("Hello again."));
    media::play_in_browser(&[stream]);
}
