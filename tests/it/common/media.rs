//! Clips generated with ffmpeg (never committed), buckets, worker processes, and an
//! independent check of a published stream.

use super::checks;
use fleet::admin::seed;
use fleet::blob;
use fleet::domain::keys::S3Uri;
use fleet::store::dynamo::DynamoStore;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How to make a test clip.
#[derive(Debug, Clone)]
pub struct Clip {
    pub name: &'static str,
    pub size: &'static str,
    pub rate: &'static str,
    pub seconds: f64,
    pub pix_fmt: &'static str,
    pub audio: bool,
    pub rotate: Option<i32>,
    /// HDR10: HEVC 10-bit, BT.2020 primaries, PQ transfer.
    pub hdr: bool,
    /// Variable frame rate: every frame for 2 s, then every third one (phone-style VFR).
    pub vfr: bool,
}

impl Clip {
    pub const fn new(
        name: &'static str,
        size: &'static str,
        rate: &'static str,
        seconds: f64,
    ) -> Self {
        Self {
            name,
            size,
            rate,
            seconds,
            pix_fmt: "yuv420p",
            audio: true,
            rotate: None,
            hdr: false,
            vfr: false,
        }
    }

    /// Displayed width and height.
    pub fn display(&self) -> (u32, u32) {
        let (w, h) = self.size.split_once('x').unwrap();
        let (w, h) = (w.parse().unwrap(), h.parse().unwrap());
        if self.rotate.is_some_and(|r| r % 180 != 0) {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// Writes the clip into `dir`.
    pub fn make(&self, dir: &Path) -> PathBuf {
        let out = dir.join(self.name);
        let tmp = dir.join(format!("tmp-{}.mp4", self.name.replace('/', "_")));
        let mut c = Command::new("ffmpeg");
        c.args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={}:rate={}", self.size, self.rate));
        if self.audio {
            c.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]);
        }
        c.args(["-t", &self.seconds.to_string()]);
        if self.vfr {
            c.args(["-vf", "select='lt(n,60)+not(mod(n,3))'", "-fps_mode", "vfr"]);
        }
        if self.hdr {
            c.args([
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p10le",
            ])
            .args(["-x265-params", "log-level=error"])
            .args(["-color_primaries", "bt2020", "-color_trc", "smpte2084"])
            .args(["-colorspace", "bt2020nc", "-tag:v", "hvc1"]);
        } else {
            c.args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                self.pix_fmt,
            ]);
        }
        if self.audio {
            c.args(["-c:a", "aac"]);
        }
        c.arg(&tmp);
        assert!(
            c.status().expect("ffmpeg installed").success(),
            "making {}",
            self.name
        );
        let mut r = Command::new("ffmpeg");
        r.args(["-v", "error", "-y", "-i"])
            .arg(&tmp)
            .args(["-c", "copy"]);
        if let Some(deg) = self.rotate {
            r.arg("-metadata:s:v:0").arg(format!("rotate={deg}"));
        }
        r.args(["-f", "mp4"]).arg(&out);
        assert!(r.status().unwrap().success());
        std::fs::remove_file(tmp).ok();
        out
    }
}

/// Fresh input and output buckets.
pub async fn buckets(s3: &aws_sdk_s3::Client) -> (String, String) {
    let (i, o) = (super::unique("in"), super::unique("out"));
    for b in [&i, &o] {
        blob::ensure_bucket(s3, b).await.unwrap_or_else(|e| {
            panic!("creating bucket {b}: {e:?} (is the S3 server up? scripts/local-stack start)")
        });
    }
    (i, o)
}

/// Uploads files to `s3://bucket/prefix<name>` and seeds the prefix into the store.
pub async fn upload_and_seed(
    store: &DynamoStore,
    s3: &aws_sdk_s3::Client,
    files: &[(String, PathBuf)],
    input: &S3Uri,
    output: &S3Uri,
) -> seed::SeedSummary {
    for (name, path) in files {
        let key = format!("{}{name}", input.key);
        blob::upload(s3, &input.bucket, &key, path, "video/mp4")
            .await
            .unwrap();
    }
    let exts: Vec<String> = seed::DEFAULT_EXTENSIONS
        .iter()
        .map(|s| s.to_string())
        .chain(["m4a".into()])
        .collect();
    let plan = seed::SeedPlan {
        input,
        output,
        extensions: &exts,
        default_caption_language: "und",
        dry_run: false,
        update_output: false,
    };
    seed::seed(store, s3, &plan, |_| {}).await.unwrap()
}

/// Runs `worker` (given `--exit-when-idle`) to its end, at most `secs` seconds; it must exit 0.
pub async fn until_idle(worker: &mut tokio::process::Command, secs: u64) {
    let status = tokio::time::timeout(std::time::Duration::from_secs(secs), worker.status())
        .await
        .expect("worker exits when idle")
        .unwrap();
    assert!(status.success(), "worker exited with {status}");
}

/// A `fleet-worker` process on `table` with short leases and fast retries.
pub fn worker(table: &str, work_dir: &Path, extra: &[&str]) -> tokio::process::Command {
    worker_via(
        &[env!("CARGO_BIN_EXE_fleet-worker")],
        table,
        work_dir,
        extra,
    )
}

/// Like [`worker`], for another build of the worker run through `program` (its first word is
/// the executable, e.g. an emulator followed by the binary).
pub fn worker_via(
    program: &[&str],
    table: &str,
    work_dir: &Path,
    extra: &[&str],
) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(program[0]);
    c.args(&program[1..]).args(["--table", table]);
    // Test defaults, unless `extra` sets the flag itself (clap refuses a flag given twice).
    for (flag, value) in [
        ("--concurrency", "1"),
        ("--lease-seconds", "3"),
        ("--heartbeat-seconds", "1"),
        ("--skew-seconds", "0.5"),
        ("--idle-max-seconds", "1"),
        ("--retry-base-seconds", "0"),
    ] {
        if !extra.contains(&flag) {
            c.args([flag, value]);
        }
    }
    c.arg("--work-dir")
        .arg(work_dir)
        .args(extra)
        .env("FLEET_X264_PRESET", "ultrafast")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    c
}

/// Downloads every object under `prefix` into `dir`, keeping relative paths.
pub async fn download_prefix(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    dir: &Path,
) -> usize {
    let keys = blob::list_keys(s3, bucket, prefix).await.unwrap();
    for (k, _) in &keys {
        let rel = k.strip_prefix(prefix).unwrap().trim_start_matches('/');
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, blob::get_bytes(s3, bucket, k).await.unwrap()).unwrap();
    }
    keys.len()
}

/// One variant line of a master playlist.
#[derive(Debug)]
pub struct Declared {
    pub uri: String,
    pub bandwidth: u64,
    pub average: u64,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
    pub codecs: String,
    /// `CLOSED-CAPTIONS`, unquoted (`NONE`).
    pub closed_captions: Option<String>,
    /// `AUDIO`: the group of alternate audio renditions the variant plays with.
    pub audio: Option<String>,
}

/// Parses a master playlist's variants (attribute values may be quoted and hold commas).
pub fn variants(master: &str) -> Vec<Declared> {
    let lines: Vec<&str> = master.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(attrs) = l.strip_prefix("#EXT-X-STREAM-INF:") else {
            continue;
        };
        let attrs = checks::attributes(attrs);
        let get = |k: &str| {
            attrs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let uri = lines[i + 1..]
            .iter()
            .map(|u| u.trim())
            .find(|u| !u.is_empty() && !u.starts_with('#'))
            .unwrap_or_else(|| panic!("no URI after {l}"));
        out.push(Declared {
            uri: uri.to_string(),
            bandwidth: get("BANDWIDTH").expect("BANDWIDTH").parse().unwrap(),
            average: get("AVERAGE-BANDWIDTH")
                .expect("AVERAGE-BANDWIDTH")
                .parse()
                .unwrap(),
            resolution: get("RESOLUTION").map(|r| {
                let (w, h) = r.split_once('x').unwrap();
                (w.parse().unwrap(), h.parse().unwrap())
            }),
            frame_rate: get("FRAME-RATE").map(|f| f.parse().unwrap()),
            codecs: get("CODECS").unwrap_or_default(),
            closed_captions: get("CLOSED-CAPTIONS"),
            audio: get("AUDIO"),
        });
    }
    out
}

/// One `#EXT-X-MEDIA:TYPE=AUDIO` line of a master playlist.
#[derive(Debug, Clone)]
pub struct AudioRendition {
    pub group: String,
    pub name: String,
    pub language: Option<String>,
    pub default: bool,
    pub autoselect: bool,
    pub channels: Option<String>,
    pub uri: Option<String>,
}

/// The alternate audio renditions a master lists, in order.
pub fn audio_renditions(master: &str) -> Vec<AudioRendition> {
    master
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-MEDIA:"))
        .map(checks::attributes)
        .filter(|a| a.iter().any(|(k, v)| k == "TYPE" && v == "AUDIO"))
        .map(|a| {
            let get = |k: &str| a.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
            AudioRendition {
                group: get("GROUP-ID").unwrap_or_default(),
                name: get("NAME").unwrap_or_default(),
                language: get("LANGUAGE"),
                default: get("DEFAULT").as_deref() == Some("YES"),
                autoselect: get("AUTOSELECT").as_deref() == Some("YES"),
                channels: get("CHANNELS"),
                uri: get("URI"),
            }
        })
        .collect()
}

/// ffprobe's duration of a local playlist or file, seconds.
pub fn probe_duration(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "default=nw=1:nk=1",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe cannot read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no duration for {}", path.display()))
}

fn ok<T>(r: Result<T, String>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// Checks a downloaded stream the way a strict player would, independently of the worker's
/// own arithmetic (see [`checks`]). Returns the variants.
/// `source_display` is the source's displayed size (rotation and sample aspect ratio applied):
/// no rendition is larger, and every RESOLUTION keeps its aspect ratio within 2%.
/// With `expect_high`, the video must be H.264 High (the production presets); otherwise CODECS
/// must merely agree with the bitstream (x264's ultrafast emits Constrained Baseline).
pub fn check_stream(
    dir: &Path,
    source_seconds: f64,
    source_display: Option<(u32, u32)>,
    expect_high: bool,
) -> Vec<Declared> {
    let vs = check_playlists(dir, source_seconds, source_display, expect_high);
    check_published(dir, &vs);
    vs
}

/// The playlist and segment half of [`check_stream`], for streams made by hand (the negative
/// controls), which have no `stream.json`, poster or thumbnails.
pub fn check_playlists(
    dir: &Path,
    source_seconds: f64,
    source_display: Option<(u32, u32)>,
    expect_high: bool,
) -> Vec<Declared> {
    let master = std::fs::read_to_string(dir.join("master.m3u8")).expect("master.m3u8 published");
    let vs = variants(&master);
    assert!(!vs.is_empty(), "no variants in {master}");
    assert!(master.starts_with("#EXTM3U\n") && master.contains("#EXT-X-VERSION:"));
    // Every segment starts with an IDR: Apple asks for the tag so players may switch anywhere.
    assert!(master.contains("#EXT-X-INDEPENDENT-SEGMENTS"));
    ok(checks::check_closed_captions(&master));
    ok(checks::check_audio_groups(&master));
    // Apple 6.1: an I-frame playlist per video variant, for scrubbing, and a true one.
    let iframes = checks::iframe_infs(&master);
    let video_variants = vs.iter().filter(|v| v.resolution.is_some()).count();
    assert_eq!(iframes.len(), video_variants, "I-frame playlists: {master}");
    for inf in &iframes {
        let rendition = inf.uri.replace("iframes.m3u8", "index.m3u8");
        let m = ok(checks::read_media(&dir.join(&rendition)));
        let seconds: f64 = m.segs.iter().map(|s| s.seconds).sum();
        ok(checks::check_iframe_playlist(dir, inf, seconds));
        let declared = vs
            .iter()
            .find(|v| v.uri == rendition)
            .expect("a variant per I-frame playlist");
        assert_eq!(Some(inf.resolution), declared.resolution, "{}", inf.uri);
        assert!(
            declared.codecs.starts_with(&inf.codecs),
            "{}: CODECS {}",
            inf.uri,
            inf.codecs
        );
    }
    ok(checks::check_some_variant_at_most_4_1(
        &vs.iter().map(|v| v.codecs.as_str()).collect::<Vec<_>>(),
    ));
    // Apple 1.32: playback starts with the first variant listed, which should be the one
    // averaging about 2 Mb/s; the others follow from the highest BANDWIDTH down.
    let near = |v: &Declared| (v.average as f64 - 2e6).abs();
    assert!(
        vs.iter().all(|v| near(&vs[0]) <= near(v)),
        "the first variant is not the one nearest 2 Mb/s: {master}"
    );
    assert!(
        vs[1..].windows(2).all(|w| w[0].bandwidth >= w[1].bandwidth),
        "variants after the first are not highest first: {master}"
    );
    let d = probe_duration(&dir.join("master.m3u8"));
    ok(checks::check_duration("the stream", d, source_seconds));
    // Alternate audio: each rendition complete, AAC at 48 kHz, no picture, the source's length;
    // its group's highest peak and mean go into every variant that plays with it.
    let mut groups: std::collections::HashMap<String, (f64, f64)> = Default::default();
    for a in audio_renditions(&master) {
        let uri = a.uri.clone().expect("checked: every rendition has a URI");
        let path = dir.join(&uri);
        let m = ok(checks::read_media(&path));
        ok(checks::check_media_playlist(&uri, &m));
        let first = &m.files[0];
        assert_eq!(
            ffprobe_field(first, "a:0", "stream=codec_name"),
            "aac",
            "{uri}: no AAC audio in its segments"
        );
        assert_eq!(ffprobe_field(first, "a:0", "stream=sample_rate"), "48000");
        if let Some(ch) = &a.channels {
            assert_eq!(
                &ffprobe_field(first, "a:0", "stream=channels"),
                ch,
                "{uri}: CHANNELS vs its segments"
            );
        }
        assert_eq!(
            ffprobe_field(first, "v:0", "stream=codec_name"),
            "",
            "{uri}: an audio rendition carries video"
        );
        let pd = probe_duration(&path);
        ok(checks::check_duration(&uri, pd, source_seconds));
        let (peak, mean) = (
            checks::rfc8216_peak(&m.segs, m.target),
            checks::mean_rate(&m.segs),
        );
        let g = groups.entry(a.group.clone()).or_default();
        *g = (g.0.max(peak), g.1.max(mean));
    }
    let mut durations: Option<Vec<i64>> = None;
    for v in &vs {
        let pl_path = dir.join(&v.uri);
        let m = ok(checks::read_media(&pl_path));
        ok(checks::check_media_playlist(&v.uri, &m));
        let first = &m.files[0];
        let own_peak = checks::rfc8216_peak(&m.segs, m.target);
        let (audio_peak, audio_mean) = match &v.audio {
            Some(g) => groups[g],
            None => (0.0, 0.0),
        };
        // RFC 8216 §4.3.4.2: the peak of the variant with the richest audio it can play with.
        ok(checks::check_declared(
            &format!("{}: BANDWIDTH (RFC 8216 peak)", v.uri),
            v.bandwidth,
            own_peak + audio_peak,
        ));
        let mean = checks::mean_rate(&m.segs) + audio_mean;
        assert!(
            (v.average as f64 - mean).abs() <= mean * 0.10,
            "{}: AVERAGE-BANDWIDTH {} vs measured mean {mean}",
            v.uri,
            v.average
        );
        assert!(v.average <= v.bandwidth && v.average > 0);
        if v.codecs.contains("mp4a") && v.audio.is_none() {
            let rate = ffprobe_field(first, "a:0", "stream=sample_rate");
            assert_eq!(rate, "48000", "{}: AAC at 48 kHz", v.uri);
        }
        let durs: Vec<i64> = m
            .segs
            .iter()
            .map(|s| (s.seconds * 10.0).round() as i64)
            .collect();
        match &durations {
            None => durations = Some(durs),
            Some(first) => assert_eq!(first, &durs, "segment durations differ across renditions"),
        }
        let pd = probe_duration(&pl_path);
        ok(checks::check_duration(&v.uri, pd, source_seconds));
        if let (Some((w, h)), Some((sw, sh))) = (v.resolution, source_display) {
            assert!(
                w <= sw && h <= sh,
                "{} upscaled: {w}x{h} from {sw}x{sh}",
                v.uri
            );
            assert_eq!((w % 2, h % 2), (0, 0));
            assert_eq!(w > h, sw > sh, "aspect flipped");
            ok(checks::check_display_aspect(
                &v.uri,
                (w, h),
                f64::from(sw) / f64::from(sh),
            ));
        }
        if v.resolution.is_some() {
            // Apple's authoring spec: FRAME-RATE on every video variant, at most 60.
            let fps = v.frame_rate.expect("FRAME-RATE declared for video");
            assert!(fps > 0.0 && fps <= 60.0, "{}: FRAME-RATE {fps}", v.uri);
            ok(checks::check_square_pixels(&v.uri, first));
            // The level: CODECS = bitstream, at most 5.2, true for size, rate and peak.
            ok(checks::check_h264_level(
                &v.uri, &v.codecs, first, fps, own_peak,
            ));
            let out = Command::new("ffprobe")
                .args([
                    "-v",
                    "error",
                    "-select_streams",
                    "v:0",
                    "-show_entries",
                    "stream=profile,pix_fmt",
                    "-of",
                    "default=nw=1:nk=1",
                ])
                .arg(first)
                .output()
                .unwrap();
            let txt = String::from_utf8_lossy(&out.stdout);
            assert!(txt.contains("yuv420p"), "{}: {txt}", v.uri);
            let declared_profile = match &v.codecs.get(5..7) {
                Some("64") => "High",
                Some("4d") => "Main",
                Some("42") => "Baseline",
                other => panic!("unexpected CODECS {other:?}"),
            };
            assert!(
                txt.contains(declared_profile),
                "{}: CODECS {} but the bitstream is {txt}",
                v.uri,
                v.codecs
            );
            if expect_high {
                assert!(
                    v.codecs.starts_with("avc1.64"),
                    "not H.264 High: {}",
                    v.codecs
                );
            }
        }
    }
    vs
}

/// What is published beside the playlists: `stream.json` (valid, naming only files that are
/// there, one rendition per variant), and for a stream with a picture the poster at the top
/// rung's size and thumbnails that tile the duration; for audio only, neither, and a warning
/// that says so.
pub fn check_published(dir: &Path, vs: &[Declared]) {
    let doc = ok(super::published::check_description(dir));
    assert_eq!(
        doc["renditions"].as_array().map(Vec::len),
        Some(vs.len()),
        "stream.json renditions"
    );
    let top = vs
        .iter()
        .filter_map(|v| v.resolution)
        .max_by_key(|(w, h)| w * h);
    let Some(top) = top else {
        assert!(
            doc["poster"].is_null() && doc["thumbnails"].is_null(),
            "{doc}"
        );
        assert!(
            doc["warnings"]
                .to_string()
                .contains("audio only: no poster"),
            "{doc}"
        );
        return;
    };
    assert_eq!(
        super::published::image_size(&dir.join("poster.jpg")),
        top,
        "poster size"
    );
    let m = ok(checks::read_media(&dir.join(&vs[0].uri)));
    let duration: f64 = m.segs.iter().map(|s| s.seconds).sum();
    ok(super::published::check_thumbnails(dir, &doc, duration));
}

/// The web players every stream is played in.
pub const PLAYERS: [&str; 3] = ["hls.js", "shaka", "video.js"];

/// Plays every rendition of every stream (folders holding `master.m3u8`) in hls.js, Shaka
/// Player and Video.js inside headless Chromium (tests/player/play.mjs), each to its end, and
/// checks each stream's text tracks against its `captions.expected.json` (none when absent)
/// and, in Shaka, its `thumbnails.vtt`;
/// fails unless all of them play without error at their declared resolution. Returns the
/// reports of the renditions (one per rendition and player; `check` is `variant` or `audio`).
pub fn play_in_browser(dirs: &[PathBuf]) -> Vec<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/player/play.mjs");
    for package in ["hls.js", "shaka-player", "video.js"] {
        assert!(
            Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/player/node_modules"
            ))
            .join(package)
            .exists(),
            "the players are not installed: run scripts/player-setup"
        );
    }
    let out = Command::new("node")
        .arg(script)
        .args(dirs)
        .output()
        .expect("node installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "a rendition did not play, or a text track was wrong, in a player:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON report per line"))
        .collect();
    for player in PLAYERS {
        let texts = reports
            .iter()
            .filter(|r| r["player"] == player && r["check"] == "text")
            .count();
        assert_eq!(texts, dirs.len(), "{player}: one text check per stream");
    }
    // Shaka reads each stream's scrubbing thumbnails back (start, middle, end).
    let with_thumbs = dirs
        .iter()
        .filter(|d| d.join("thumbnails.vtt").exists())
        .count();
    let thumbs = reports
        .iter()
        .filter(|r| r["check"] == "thumbnails")
        .count();
    assert_eq!(
        thumbs, with_thumbs,
        "one thumbnails check per stream that has them"
    );
    let renditions: Vec<serde_json::Value> = reports
        .into_iter()
        .filter(|r| r["check"] == "variant")
        .collect();
    assert!(!renditions.is_empty(), "the players reported nothing");
    renditions
}

/// One field of one stream of a media file, as ffprobe prints it (first occurrence: an MPEG-TS
/// file lists its streams again under its program).
pub fn ffprobe_field(path: &Path, stream: &str, entry: &str) -> String {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            entry,
        ])
        // Counting packets reads the whole (small) file; it makes `nb_read_packets` available.
        .args(["-of", "default=nw=1:nk=1", "-count_packets"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The mean luma of the middle sixteenth of `path`'s first frame, as a share of the range
/// from black (16) to SDR white (235).
pub fn center_luma(path: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args([
            "-vf",
            "crop=iw/4:ih/4:iw*3/8:ih*3/8,format=yuv420p,signalstats,\
             metadata=mode=print:key=lavfi.signalstats.YAVG:file=-",
            "-frames:v",
            "1",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let y: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("lavfi.signalstats.YAVG="))
        .unwrap_or_else(|| panic!("no YAVG for {}: {text}", path.display()))
        .parse()
        .unwrap();
    (y - 16.0) / 219.0
}

/// Every line ffprobe prints for `entry` of `stream` (no counting of packets).
pub fn ffprobe_lines(path: &Path, stream: &str, entry: &str) -> Vec<String> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            stream,
            "-show_entries",
            entry,
        ])
        .args(["-of", "default=nw=1:nk=1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

/// Video frames per second of a rendition as played: packets over duration (constant frame
/// rate means this equals the declared FRAME-RATE).
pub fn measured_fps(playlist: &Path) -> f64 {
    let packets: f64 = ffprobe_field(playlist, "v:0", "stream=nb_read_packets")
        .parse()
        .unwrap_or(0.0);
    packets / probe_duration(playlist)
}

/// Live (not zombie) `ffmpeg` children of `pid`, from every thread's `children` list.
pub fn ffmpeg_children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let list = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        for child in list
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            let comm = std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(')').map(|(_, r)| r.trim_start());
            let alive = state.is_some_and(|s| !s.starts_with('Z') && !s.starts_with('X'));
            if comm.trim() == "ffmpeg" && alive {
                out.push(child);
            }
        }
    }
    out
}

/// Adds an I-frame playlist to every video variant of a hand-made test stream (written with
/// fleet's own keyframe reader, then checked by `check_stream` like the worker's), returning
/// the master with its `EXT-X-I-FRAME-STREAM-INF` lines.
pub fn with_iframes(stream: &Path, master: &str) -> String {
    use fleet::transcode::iframes;
    let mut out = master.to_string();
    for v in variants(master) {
        let Some((w, h)) = v.resolution else { continue };
        let pl = stream.join(&v.uri);
        let m = super::checks::read_media(&pl).unwrap();
        let mut entries = Vec::new();
        let mut header = 0;
        for (i, f) in m.files.iter().enumerate() {
            let kf = iframes::scan(&std::fs::read(f).unwrap());
            if i == 0 {
                header = kf.header;
            }
            let uri = f.file_name().unwrap().to_string_lossy().to_string();
            entries.extend(kf.keyframes.into_iter().map(|k| iframes::Entry {
                uri: uri.clone(),
                keyframe: k,
            }));
        }
        let first = m.files[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let end = entries[0].keyframe.pts + m.segs.iter().map(|s| s.seconds).sum::<f64>();
        let (text, sizes) = iframes::playlist(&entries, (&first, header), end);
        std::fs::write(pl.with_file_name("iframes.m3u8"), text).unwrap();
        let (bw, avg) = fleet::transcode::playlist::bitrates(&sizes, 2.0);
        let video = v.codecs.split(',').next().unwrap();
        out.push_str(&format!(
            "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={bw},AVERAGE-BANDWIDTH={avg},CODECS=\"{video}\",\
             RESOLUTION={w}x{h},URI=\"{}\"\n",
            v.uri.replace("index.m3u8", "iframes.m3u8")
        ));
    }
    out
}
