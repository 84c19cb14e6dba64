//! The sources a course library really holds (issue 8): each becomes a stream that plays and is
//! right (display aspect, frame rate, level, RFC 8216 peak, durations, audio tracks), or fails
//! with its reason. Then segments that go up while ffmpeg still runs. Last, a negative control
//! for every check of `common::checks`: a stream known to break the rule, and the check says so.

use crate::common::checks::{self, Seg};
use crate::common::eventually;
use crate::common::hostile::{self, Source};
use crate::common::media::{self, Clip};
use crate::common::stage::stage_files;
use fleet::domain::VideoState;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn ok<T>(r: Result<T, String>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(panic without a message)".into())
}

async fn wait_exit(child: &mut tokio::process::Child, what: &str, limit: Duration) {
    let status = tokio::time::timeout(limit, child.wait())
        .await
        .unwrap_or_else(|_| panic!("{what} did not exit within {limit:?}"))
        .unwrap();
    assert!(status.success(), "{what} exited with {status}");
}

/// The first segment of a rendition's playlist.
fn first_segment(playlist: &Path) -> PathBuf {
    ok(checks::read_media(playlist)).files[0].clone()
}

/// Video variants, largest picture first.
fn by_size(vs: &[media::Declared]) -> Vec<&media::Declared> {
    let mut v: Vec<_> = vs.iter().filter(|v| v.resolution.is_some()).collect();
    v.sort_by_key(|v| {
        let (w, h) = v.resolution.unwrap();
        std::cmp::Reverse(u64::from(w) * u64::from(h))
    });
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sources_become_right_streams_or_fail_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    std::fs::create_dir_all(&clips).unwrap();
    let files: Vec<(String, PathBuf)> = hostile::ALL
        .iter()
        .map(|s| (s.name.to_string(), s.make(&clips)))
        .collect();
    let st = stage_files("sources", dir, &files).await;
    let mut a = media::worker(&st.table, &st.work("a"), &["--exit-when-idle"])
        .spawn()
        .unwrap();
    let mut b = media::worker(&st.table, &st.work("b"), &["--exit-when-idle"])
        .spawn()
        .unwrap();
    wait_exit(&mut a, "worker a", Duration::from_secs(600)).await;
    wait_exit(&mut b, "worker b", Duration::from_secs(600)).await;

    // Every source is judged, and every wrong one reported, before the test fails.
    let mut wrong = Vec::new();
    let mut streams = Vec::new();
    let mut renditions = 0;
    for src in hostile::ALL {
        let item = st.state(src.name).await;
        if src.name == hostile::TRUNCATED.name {
            if let Err(p) = std::panic::catch_unwind(AssertUnwindSafe(|| truncated_fails(&item))) {
                wrong.push(format!("{}: {}", src.name, panic_text(p)));
            }
            continue;
        }
        if item.state != VideoState::Done {
            wrong.push(format!(
                "{}: {:?} ({:?}): {:?}",
                src.name, item.state, item.error_kind, item.error
            ));
            continue;
        }
        let stream = st.fetch(src.name).await;
        let source = clips_path(&st.dir, &src);
        let checked =
            std::panic::catch_unwind(AssertUnwindSafe(|| check_source(&src, &source, &stream)));
        match checked {
            Ok(n) => {
                renditions += n;
                streams.push(stream);
            }
            Err(p) => wrong.push(format!("{}: {}", src.name, panic_text(p))),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} sources came out wrong:\n- {}",
        wrong.len(),
        hostile::ALL.len(),
        wrong.join("\n- ")
    );
    // Every video rendition of every stream plays to its end, locked, once with each
    // alternate audio rendition of its group.
    let played = media::play_in_browser(&streams);
    assert_eq!(
        played.len(),
        media::PLAYERS.len() * renditions,
        "one report per (rendition, audio track) pair and player"
    );
    for track in [0, 1] {
        let with: Vec<_> = played.iter().filter(|r| r["audioTrack"] == track).collect();
        let rungs = with.len() / media::PLAYERS.len();
        assert!(
            rungs >= 4 && with.len() == rungs * media::PLAYERS.len(),
            "audio track {track} played with every rung (720p and 540p too) in every player: {with:?}"
        );
    }
}

fn clips_path(dir: &tempfile::TempDir, src: &Source) -> PathBuf {
    dir.path().join("clips").join(src.name)
}

/// A cut file is invalid input, said in words, on the first attempt.
fn truncated_fails(item: &fleet::domain::VideoItem) {
    assert_eq!(item.state, VideoState::Failed, "{:?}", item.error);
    assert_eq!(item.error_kind.as_deref(), Some("invalid_input"));
    assert_eq!(
        item.attempts, 1,
        "invalid input must not burn every attempt"
    );
    let err = item.error.clone().unwrap_or_default();
    assert!(
        err.contains("decoded") && (err.contains("20.0") || err.contains("20 s")),
        "the error says how much was decoded of the 20 s claimed: {err}"
    );
}

/// Checks one published stream against its source; returns how many renditions the player
/// will report (video variants and alternate audio renditions).
fn check_source(src: &Source, source: &Path, dir: &Path) -> usize {
    let vs = media::check_stream(dir, src.seconds, Some(src.display), false);
    let master = std::fs::read_to_string(dir.join("master.m3u8")).unwrap();
    let audio = media::audio_renditions(&master);
    // Constant frame rate, the one declared, everywhere.
    for v in &vs {
        if let Some(f) = v.frame_rate {
            ok(checks::check_frame_rate(&v.uri, &dir.join(&v.uri), f));
        }
    }
    let video = by_size(&vs);
    let name = src.name;
    if name == hostile::ANAMORPHIC_PAL.name {
        for v in &video {
            let (w, h) = v.resolution.unwrap();
            ok(checks::check_display_aspect(&v.uri, (w, h), 16.0 / 9.0));
            ok(checks::check_square_pixels(
                &v.uri,
                &first_segment(&dir.join(&v.uri)),
            ));
        }
    } else if name == hostile::INTERLACED_1080.name {
        // The control: idet sees the source's combing; then none in the top rendition.
        assert!(
            checks::check_progressive("source", source).is_err(),
            "idet should find the 1080i source interlaced: {:?}",
            checks::idet(source)
        );
        ok(checks::check_progressive(
            &video[0].uri,
            &dir.join(&video[0].uri),
        ));
        for v in &video {
            // One frame per field (Apple 1.15: 30i to 60p): 1080p50 fits level 4.2. Below
            // 720p, every other one: 25 (Apple: low tiers at 30 fps or less).
            let f = v.frame_rate.unwrap();
            let (w, h) = v.resolution.unwrap();
            let want = if w.min(h) < 720 { 25.0 } else { 50.0 };
            assert!(
                (f - want).abs() < 0.01,
                "{}: FRAME-RATE {f} from 1080i25, not {want}",
                v.uri
            );
        }
    } else if name == hostile::VFR_SCREEN.name {
        for v in &video {
            let f = v.frame_rate.unwrap();
            let (w, h) = v.resolution.unwrap();
            let want = if w.min(h) < 720 { 29.0 } else { 50.0 };
            assert!(
                f >= want,
                "{}: FRAME-RATE {f}: the cadence is 60, the average ~16",
                v.uri
            );
            // The picture lasts as long as the sound (8 s), its last frame held: the source's
            // video stream stops at 7.02 s.
            let frames: f64 =
                media::ffprobe_field(&dir.join(&v.uri), "v:0", "stream=nb_read_packets")
                    .parse()
                    .unwrap_or(0.0);
            assert!(
                frames >= f * src.seconds * 0.97,
                "{}: {frames} frames at {f} frames/s is {:.2} s of picture for {} s of sound",
                v.uri,
                frames / f,
                src.seconds
            );
        }
    } else if name == hostile::COVER_FIRST.name || name == hostile::PNG_FIRST.name {
        // The real video, not the square picture: its aspect, its length, real segments.
        for v in &video {
            let (w, h) = v.resolution.unwrap();
            ok(checks::check_display_aspect(&v.uri, (w, h), 16.0 / 9.0));
            assert!(v.bandwidth > 0, "{}: BANDWIDTH 0", v.uri);
            let d = media::probe_duration(&dir.join(&v.uri));
            assert!(
                (d - src.seconds).abs() <= 1.0,
                "{} lasts {d} s, the source's video {} s",
                v.uri,
                src.seconds
            );
            let m = ok(checks::read_media(&dir.join(&v.uri)));
            assert!(
                m.segs.iter().all(|s| s.seconds > 0.0),
                "{}: EXTINF:0",
                v.uri
            );
        }
    } else if name == hostile::STATIC_TAIL.name {
        // A bigger picture never declares less: players pick rungs by BANDWIDTH.
        for pair in video.windows(2) {
            assert!(
                pair[0].bandwidth > pair[1].bandwidth,
                "{} declares {} b/s, not above {} at {} b/s",
                pair[0].uri,
                pair[0].bandwidth,
                pair[1].uri,
                pair[1].bandwidth
            );
        }
    } else if name == hostile::PORTRAIT_60.name {
        // Within the level (check_stream), without giving up the HD rung.
        let (w, h) = video[0].resolution.unwrap();
        assert!(w.min(h) >= 720, "top rung {w}x{h} from 886x1920");
    } else if name == hostile::ULTRAWIDE.name {
        let (w, h) = video[0].resolution.unwrap();
        assert!(w >= 1920, "top rung {w}x{h} from 2580x1080");
    } else if name == hostile::TWO_AUDIO.name {
        two_audio_groups(&master, &vs, &audio, dir);
    } else if name == hostile::PQ_TRANSFER_ONLY.name || name == hostile::HLG_TRANSFER_ONLY.name {
        for v in &video {
            let seg = first_segment(&dir.join(&v.uri));
            let trc = media::ffprobe_field(&seg, "v:0", "stream=color_transfer");
            assert_eq!(trc, "bt709", "{}: {name} not tone-mapped", v.uri);
            // HDR reference white lands on SDR white (within 10%), not a stop below it.
            let white = media::center_luma(&seg);
            assert!(
                (0.9..=1.0).contains(&white),
                "{}: {name}'s 203 cd/m² patch at {:.1}% of SDR white",
                v.uri,
                white * 100.0
            );
        }
    }
    // One player run per video rendition, per alternate audio rendition if there are any.
    vs.len() * audio.iter().filter(|a| a.uri.is_some()).count().max(1)
}

/// Both tracks as alternate audio of one group: languages, names, the source's default.
fn two_audio_groups(
    master: &str,
    vs: &[media::Declared],
    audio: &[media::AudioRendition],
    dir: &Path,
) {
    assert_eq!(audio.len(), 2, "two EXT-X-MEDIA:TYPE=AUDIO in {master}");
    let group = &audio[0].group;
    assert!(
        !group.is_empty() && audio[1].group == *group,
        "one GROUP-ID"
    );
    // RFC 5646 wants the 2-letter subtag where one exists; accept the 3-letter one too.
    let primary = |a: &media::AudioRendition| {
        a.language
            .as_deref()
            .unwrap_or_else(|| panic!("{}: no LANGUAGE", a.name))
            .split('-')
            .next()
            .unwrap()
            .to_ascii_lowercase()
    };
    let langs: Vec<String> = audio.iter().map(primary).collect();
    assert!(
        ["en", "eng"].contains(&langs[0].as_str()) && ["fr", "fra"].contains(&langs[1].as_str()),
        "LANGUAGEs {langs:?}: English (the source's default) first, then French"
    );
    assert!(audio.iter().all(|a| !a.name.is_empty()), "NAME on both");
    assert!(
        audio.iter().all(|a| a.autoselect && a.channels.is_some()),
        "AUTOSELECT=YES and CHANNELS on both: {audio:?}"
    );
    // The source's tracks are mono (lavfi sine); each is published upmixed to stereo, and
    // check_stream has compared CHANNELS with the segments' channels.
    assert!(
        audio.iter().all(|a| a.channels.as_deref() == Some("2")),
        "mono tracks not published as stereo: {audio:?}"
    );
    assert_ne!(audio[0].name, audio[1].name);
    assert_eq!(
        audio.iter().map(|a| a.default).collect::<Vec<_>>(),
        [true, false],
        "DEFAULT=YES on English only"
    );
    for v in vs {
        assert_eq!(
            v.audio.as_deref(),
            Some(group.as_str()),
            "{}: plays with the audio group",
            v.uri
        );
    }
    // Two different tracks: the 440 Hz tone and the 880 Hz one.
    let tones: Vec<f64> = audio
        .iter()
        .map(|a| dominant_hz(&dir.join(a.uri.as_ref().unwrap())))
        .collect();
    assert!(
        (tones[0] - 440.0).abs() < 40.0 && (tones[1] - 880.0).abs() < 80.0,
        "tones {tones:?}: English is the 440 Hz track, French the 880 Hz one"
    );
}

/// Rough pitch of a tone: zero crossings per second of its first audio stream.
fn dominant_hz(path: &Path) -> f64 {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-map", "0:a:0", "-t", "2", "-ac", "1", "-ar", "48000", "-f", "s16le", "-",
        ])
        .output()
        .unwrap();
    let samples: Vec<i16> = out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    crossings as f64 / 2.0 / (samples.len() as f64 / 48000.0)
}

/// The largest number of finished local segments (`seg_*.ts`) seen at once in each rendition
/// folder under a work dir, sampled every ~100 ms on a thread of its own.
struct DiskSampler {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<(HashMap<String, usize>, bool)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DiskSampler {
    fn start(root: PathBuf) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new((HashMap::new(), false)));
        let (s, m) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let mut counts = HashMap::new();
                let mut any = false;
                walk(&root, 0, &mut counts, &mut any);
                let mut g = m.lock().unwrap();
                g.1 |= any;
                for (k, n) in counts {
                    let e = g.0.entry(k).or_insert(0);
                    *e = (*e).max(n);
                }
                drop(g);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Peak finished segments per rendition folder name, and whether any segment (finished or
    /// still being written) was ever seen, which proves the sampler looked in the right place.
    fn finish(mut self) -> (HashMap<String, usize>, bool) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.seen.lock().unwrap().clone()
    }
}

fn walk(dir: &Path, depth: u32, counts: &mut HashMap<String, usize>, any: &mut bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return; // the job's folder may go away under us
    };
    let mut here = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("seg_") {
            *any = true;
            here += usize::from(name.ends_with(".ts"));
        } else if depth < 5 && e.file_type().is_ok_and(|t| t.is_dir()) {
            walk(&e.path(), depth + 1, counts, any);
        }
    }
    if here > 0 {
        let rung = dir.file_name().unwrap().to_string_lossy().to_string();
        let e = counts.entry(rung).or_insert(0);
        *e = (*e).max(here);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_go_up_while_ffmpeg_runs_and_leave_the_local_disk() {
    let c = Clip::new("lecture 60 s.mp4", "640x360", "30", 60.0);
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    std::fs::create_dir_all(&clips).unwrap();
    let files = [(c.name.to_string(), c.make(&clips))];
    let st = stage_files("upload-live", dir, &files).await;
    let out_prefix = st.state(c.name).await.out_prefix;
    let work = st.work("a");
    let disk = DiskSampler::start(work.clone());
    // A slow preset, so that the encode lasts long enough to be watched.
    let mut w = media::worker(&st.table, &work, &["--exit-when-idle"])
        .env("FLEET_X264_PRESET", "medium")
        .spawn()
        .unwrap();
    let pid = w.id().expect("worker running");
    let first = eventually(
        Duration::from_secs(180),
        "a first .ts segment in the bucket",
        || async {
            let keys = fleet::blob::list_keys(&st.s3, &st.output.bucket, &format!("{out_prefix}/"))
                .await
                .ok()?;
            keys.into_iter()
                .map(|(k, _)| k)
                .find(|k| k.ends_with(".ts"))
        },
    )
    .await;
    let encoding = media::ffmpeg_children(pid);
    assert!(
        !encoding.is_empty(),
        "{first} appeared in the bucket only once ffmpeg had exited: segments must go up while \
         it encodes"
    );
    wait_exit(&mut w, "worker", Duration::from_secs(600)).await;
    let (peaks, saw_segments) = disk.finish();
    let item = st.state(c.name).await;
    assert_eq!(item.state, VideoState::Done, "{:?}", item.error);
    let stream = st.fetch(c.name).await;
    let vs = media::check_stream(&stream, c.seconds, Some(c.display()), false);
    assert!(
        saw_segments,
        "the sampler never saw a segment under {work:?}"
    );
    for v in &vs {
        let pl = stream.join(&v.uri);
        let total = ok(checks::read_media(&pl)).segs.len();
        let rung = pl
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let peak = peaks.get(&rung).copied().unwrap_or(0);
        assert!(
            total >= 8 && peak <= 4 && peak * 2 <= total,
            "{rung}: {peak} finished segments on local disk at once, of {total} in all: \
             each should be deleted once uploaded ({peaks:?})"
        );
    }
}

/// Negative controls: every check above rejects a stream known to break its rule (and
/// accepts the same stream made right). No worker or server; ffmpeg only.
mod controls {
    use super::*;
    use crate::common::hostile::ffmpeg;

    fn avc1_of(path: &Path) -> String {
        let profile = media::ffprobe_field(path, "v:0", "stream=profile");
        let level: u32 = media::ffprobe_field(path, "v:0", "stream=level")
            .parse()
            .unwrap();
        fleet::transcode::playlist::avc1(&profile, level)
    }

    #[test]
    fn the_rfc_peak_ignores_a_short_last_segment() {
        // Sizes measured on a 12.04 s still at 240p: 6 s, 6 s and one 0.04 s IDR frame.
        let segs = [
            Seg {
                bytes: 286_136,
                seconds: 6.0,
            },
            Seg {
                bytes: 219_020,
                seconds: 6.0,
            },
            Seg {
                bytes: 23_876,
                seconds: 0.04,
            },
        ];
        let peak = checks::rfc8216_peak(&segs, 6.0);
        assert!((peak - 286_136.0 * 8.0 / 6.0).abs() < 1.0, "{peak}");
        let single = 23_876.0 * 8.0 / 0.04;
        assert!(checks::check_declared("x", single as u64, peak).is_err());
        assert!(checks::check_declared("x", peak.ceil() as u64, peak).is_ok());
        assert!(checks::check_declared("x", (peak * 0.95) as u64, peak).is_err());
        // No run reaches half the target: the whole playlist's rate.
        let short = [Seg {
            bytes: 1000,
            seconds: 2.0,
        }];
        assert_eq!(checks::rfc8216_peak(&short, 6.0), 4000.0);
        // Runs of two: (6 + 0.04) counts, 0.04 alone does not.
        let mixed = [
            Seg {
                bytes: 600,
                seconds: 6.0,
            },
            Seg {
                bytes: 6000,
                seconds: 0.04,
            },
        ];
        assert!((checks::rfc8216_peak(&mixed, 6.0) - 6600.0 * 8.0 / 6.04).abs() < 1.0);
    }

    #[test]
    fn check_stream_rejects_bandwidth_inflated_by_a_short_last_segment() {
        let dir = tempfile::tempdir().unwrap();
        let src = hostile::STATIC_TAIL.make(dir.path());
        let stream = dir.path().join("stream");
        std::fs::create_dir_all(stream.join("240p")).unwrap();
        ffmpeg([
            "-i",
            src.to_str().unwrap(),
            "-vf",
            "scale=426:240,setsar=1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "400k",
            "-maxrate",
            "428k",
            "-bufsize",
            "600k",
            "-g",
            "50",
            "-keyint_min",
            "50",
            "-sc_threshold",
            "0",
            "-force_key_frames",
            "expr:gte(t,n_forced*2)",
            "-c:a",
            "aac",
            "-ar",
            "48000",
            "-b:a",
            "128k",
            "-f",
            "hls",
            "-hls_time",
            "6",
            "-hls_playlist_type",
            "vod",
            "-hls_segment_filename",
            stream.join("240p/seg_%05d.ts").to_str().unwrap(),
            stream.join("240p/index.m3u8").to_str().unwrap(),
        ]);
        let m = ok(checks::read_media(&stream.join("240p/index.m3u8")));
        let durs: Vec<f64> = m.segs.iter().map(|s| s.seconds).collect();
        assert_eq!(durs.len(), 3, "{durs:?}");
        assert!(durs[2] < 0.1, "a short last segment: {durs:?}");
        let rfc = checks::rfc8216_peak(&m.segs, m.target);
        let single = m
            .segs
            .iter()
            .map(|s| s.bytes as f64 * 8.0 / s.seconds)
            .fold(0.0, f64::max);
        assert!(single > 3.0 * rfc, "single {single} vs RFC {rfc}");
        let codecs = format!("{},mp4a.40.2", avc1_of(&m.files[0]));
        let master = |bandwidth: u64| {
            format!(
                "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
                 #EXT-X-STREAM-INF:BANDWIDTH={bandwidth},AVERAGE-BANDWIDTH={},\
                 CODECS=\"{codecs}\",RESOLUTION=426x240,FRAME-RATE=25.000,\
                 CLOSED-CAPTIONS=NONE\n240p/index.m3u8\n",
                checks::mean_rate(&m.segs).ceil() as u64
            )
        };
        // The same stream, declared right: accepted (so only BANDWIDTH can make it fail).
        let write = |m: String| {
            std::fs::write(stream.join("master.m3u8"), media::with_iframes(&stream, &m)).unwrap()
        };
        write(master(rfc.ceil() as u64));
        media::check_playlists(&stream, 12.04, Some((1280, 720)), false);
        // An I-frame playlist whose ranges miss the keyframes (shifted by one TS packet).
        let iframes = stream.join("240p/iframes.m3u8");
        let good = std::fs::read_to_string(&iframes).unwrap();
        let shifted: String = good
            .lines()
            .map(|l| match l.strip_prefix("#EXT-X-BYTERANGE:") {
                Some(r) => {
                    let (len, off) = r.split_once('@').unwrap();
                    let off: u64 = off.parse().unwrap();
                    format!("#EXT-X-BYTERANGE:{len}@{}\n", off + 188)
                }
                None => format!("{l}\n"),
            })
            .collect();
        std::fs::write(&iframes, shifted).unwrap();
        let err = std::panic::catch_unwind(|| {
            media::check_playlists(&stream, 12.04, Some((1280, 720)), false)
        })
        .expect_err("I-frame ranges that miss the keyframes");
        assert!(
            panic_text(err).contains("keyframe"),
            "an I-frame playlist must be true"
        );
        write(master(single.ceil() as u64));
        let err = std::panic::catch_unwind(|| {
            media::check_playlists(&stream, 12.04, Some((1280, 720)), false)
        })
        .expect_err("a single-segment peak is not the RFC 8216 peak");
        assert!(panic_text(err).contains("BANDWIDTH"));
    }

    #[test]
    fn a_variant_with_alternate_audio_must_declare_the_audio_too() {
        let dir = tempfile::tempdir().unwrap();
        let src = hostile::TWO_AUDIO.make(dir.path());
        let stream = dir.path().join("stream");
        // Video alone in the variant, each language in a rendition of its own (ffmpeg's own
        // master is replaced below by one written the way fleet writes it).
        ffmpeg([
            "-i",
            src.to_str().unwrap(),
            "-map",
            "0:v",
            "-map",
            "0:a:0",
            "-map",
            "0:a:1",
            // The 1280x720 source as a 360p rung.
            "-vf",
            "scale=640:360",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-ar",
            "48000",
            "-ac",
            "2",
            "-f",
            "hls",
            "-hls_time",
            "6",
            "-hls_playlist_type",
            "vod",
            "-var_stream_map",
            "v:0,agroup:audio,name:360p a:0,agroup:audio,name:audio_0 a:1,agroup:audio,name:audio_1",
            "-hls_segment_filename",
            stream.join("%v/seg_%05d.ts").to_str().unwrap(),
            stream.join("%v/index.m3u8").to_str().unwrap(),
        ]);
        let read = |r: &str| ok(checks::read_media(&stream.join(r).join("index.m3u8")));
        let (v, en, fr) = (read("360p"), read("audio_0"), read("audio_1"));
        let peak = |m: &checks::Media| checks::rfc8216_peak(&m.segs, m.target);
        let audio_peak = peak(&en).max(peak(&fr));
        let audio_mean = checks::mean_rate(&en.segs).max(checks::mean_rate(&fr.segs));
        let codecs = format!("{},mp4a.40.2", avc1_of(&v.files[0]));
        let master = |bandwidth: f64| {
            format!(
                "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
                 #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"English\",LANGUAGE=\"en\",\
                 DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio_0/index.m3u8\"\n\
                 #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Français\",LANGUAGE=\"fr\",\
                 DEFAULT=NO,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio_1/index.m3u8\"\n\
                 #EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{codecs}\",\
                 RESOLUTION=640x360,FRAME-RATE=30.000,CLOSED-CAPTIONS=NONE,AUDIO=\"audio\"\n\
                 360p/index.m3u8\n",
                bandwidth.ceil() as u64,
                (checks::mean_rate(&v.segs) + audio_mean).ceil() as u64
            )
        };
        let write = |m: String| {
            std::fs::write(stream.join("master.m3u8"), media::with_iframes(&stream, &m)).unwrap()
        };
        write(master(peak(&v) + audio_peak));
        media::check_playlists(&stream, 3.0, Some((640, 360)), false);
        // The video's peak alone: the audio is left out of BANDWIDTH.
        write(master(peak(&v)));
        let err = std::panic::catch_unwind(|| {
            media::check_playlists(&stream, 3.0, Some((640, 360)), false)
        })
        .expect_err("BANDWIDTH without the audio group's peak");
        assert!(panic_text(err).contains("BANDWIDTH"));
        // CHANNELS that the segments contradict.
        write(master(peak(&v) + audio_peak).replace("CHANNELS=\"2\"", "CHANNELS=\"6\""));
        let err = std::panic::catch_unwind(|| {
            media::check_playlists(&stream, 3.0, Some((640, 360)), false)
        })
        .expect_err("CHANNELS=6 for stereo");
        assert!(panic_text(err).contains("CHANNELS"));
    }

    #[test]
    fn table_a1_rejects_level_4_1_at_886x1920_60() {
        let dir = tempfile::tempdir().unwrap();
        let make = |rate: &str, level: Option<&str>, size: &str| {
            let out = dir.path().join(format!("{size}-{rate}-{level:?}.ts"));
            let mut a = vec![
                "-f".to_string(),
                "lavfi".into(),
                "-i".into(),
                format!("testsrc2=size={size}:rate={rate}"),
                "-t".into(),
                "1".into(),
                "-c:v".into(),
                "libx264".into(),
                "-preset".into(),
                "ultrafast".into(),
                "-pix_fmt".into(),
                "yuv420p".into(),
            ];
            if let Some(l) = level {
                a.extend(["-level".to_string(), l.to_string()]);
            }
            a.push(out.display().to_string());
            ffmpeg(a);
            out
        };
        // x264 only warns and writes 4.1: 6720 MBs x 60 = 403,200 MB/s > 245,760.
        let forced = make("60", Some("4.1"), "886x1920");
        assert_eq!(media::ffprobe_field(&forced, "v:0", "stream=level"), "41");
        let e = checks::check_h264_level("forced", &avc1_of(&forced), &forced, 60.0, 1e6)
            .expect_err("886x1920@60 is not level 4.1");
        assert!(e.contains("MaxMBPS"), "{e}");
        // The same picture at 30 fps fits 4.1.
        let thirty = make("30", Some("4.1"), "886x1920");
        ok(checks::check_h264_level(
            "thirty",
            &avc1_of(&thirty),
            &thirty,
            30.0,
            1e6,
        ));
        // CODECS must say what the bitstream says.
        let e = checks::check_h264_level("lie", "avc1.42e02a,mp4a.40.2", &thirty, 30.0, 1e6)
            .expect_err("CODECS 4.2 for a 4.1 bitstream");
        assert!(e.contains("bitstream says 41"), "{e}");
        // 2580x1080 needs level 5.0: true and within Apple's 5.2; forced to 4.2 it is false.
        let wide = make("30", None, "2580x1080");
        ok(checks::check_h264_level(
            "wide",
            &avc1_of(&wide),
            &wide,
            30.0,
            1e6,
        ));
        let wide42 = make("30", Some("4.2"), "2580x1080");
        let e = checks::check_h264_level("wide42", &avc1_of(&wide42), &wide42, 30.0, 1e6)
            .expect_err("2580x1080 is not level 4.2");
        assert!(e.contains("MaxFS"), "{e}");
        // Apple 1.3a: a ladder whose every variant is above 4.1 is refused.
        assert!(checks::check_some_variant_at_most_4_1(&["avc1.64002a", "avc1.640032"]).is_err());
        assert!(
            checks::check_some_variant_at_most_4_1(&["avc1.64002a,mp4a.40.2", "avc1.64001e"])
                .is_ok()
        );
        // Durations: a 2 s clip published as 1 s, a 600 s one missing 20 s.
        assert!(checks::check_duration("x", 1.0, 2.0).is_err());
        assert!(checks::check_duration("x", 2.1, 2.0).is_ok());
        assert!(checks::check_duration("x", 580.0, 600.0).is_err());
        assert!(checks::check_duration("x", 596.0, 600.0).is_ok());
        // The table itself.
        assert!(checks::check_table_a1(41, 1920, 1080, 60.0, 1e6, true).is_err());
        assert!(checks::check_table_a1(42, 1920, 1080, 60.0, 1e6, true).is_ok());
        assert!(checks::check_table_a1(42, 2580, 1080, 30.0, 1e6, true).is_err());
        assert!(checks::check_table_a1(41, 1920, 1080, 30.0, 63e6, true).is_err());
        assert!(checks::check_table_a1(41, 1920, 1080, 30.0, 60e6, true).is_ok());
        assert!(checks::check_table_a1(41, 1920, 1080, 30.0, 60e6, false).is_err());
        // A side of 257 MBs breaks sqrt(8 x 8192) = 256 even within MaxFS.
        assert!(checks::check_table_a1(41, 4112, 16, 1.0, 1e3, true).is_err());
    }

    #[test]
    fn a_master_without_closed_captions_none_is_rejected() {
        let good = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1,\
                    CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=640x360,CLOSED-CAPTIONS=NONE\n\
                    a/index.m3u8\n";
        assert!(checks::check_closed_captions(good).is_ok());
        let missing = good.replace(",CLOSED-CAPTIONS=NONE", "");
        assert!(checks::check_closed_captions(&missing).is_err());
        let group = good.replace("CLOSED-CAPTIONS=NONE", "CLOSED-CAPTIONS=\"cc\"");
        assert!(checks::check_closed_captions(&group).is_err());
    }

    #[test]
    fn master_attributes_split_outside_quotes_only() {
        let vs = media::variants(
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900,AVERAGE-BANDWIDTH=800,\
             CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=29.970,\
             CLOSED-CAPTIONS=NONE,AUDIO=\"aud,io\"\nt1/360p/index.m3u8\n",
        );
        assert_eq!(vs.len(), 1);
        let v = &vs[0];
        assert_eq!(v.codecs, "avc1.64001f,mp4a.40.2");
        assert_eq!((v.bandwidth, v.average), (900, 800));
        assert_eq!(v.resolution, Some((640, 360)));
        assert_eq!(v.frame_rate, Some(29.97));
        assert_eq!(v.closed_captions.as_deref(), Some("NONE"));
        assert_eq!(v.audio.as_deref(), Some("aud,io"));
        assert_eq!(v.uri, "t1/360p/index.m3u8");
    }

    #[test]
    fn audio_groups_must_be_whole() {
        let good = "#EXTM3U\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"t1/audio_0/index.m3u8\"\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"Français\",LANGUAGE=\"fr\",DEFAULT=NO,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"t1/audio_1/index.m3u8\"\n\
            #EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=640x360,CLOSED-CAPTIONS=NONE,AUDIO=\"audio\"\nt1/360p/index.m3u8\n";
        ok(checks::check_audio_groups(good));
        let a = media::audio_renditions(good);
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[1].name.as_str(), a[1].language.as_deref(), a[1].default),
            ("Français", Some("fr"), false)
        );
        for (bad, why) in [
            (good.replace("DEFAULT=NO", "DEFAULT=YES"), "two defaults"),
            (good.replace("DEFAULT=YES", "DEFAULT=NO"), "no default"),
            (
                good.replace("AUDIO=\"audio\"", "AUDIO=\"other\""),
                "unknown group",
            ),
            (
                good.replace("avc1.64001f,mp4a.40.2", "avc1.64001f"),
                "CODECS without the audio",
            ),
            (
                good.replace("NAME=\"Français\"", "NAME=\"English\""),
                "names not unique",
            ),
            (good.replace(",URI=\"t1/audio_1/index.m3u8\"", ""), "no URI"),
        ] {
            assert!(checks::check_audio_groups(&bad).is_err(), "{why} accepted");
        }
    }

    #[test]
    fn a_media_playlist_must_be_a_finished_vod() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s0.ts"), [0u8; 188]).unwrap();
        let text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n\
                    #EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:5.0,\ns0.ts\n#EXT-X-ENDLIST\n";
        let read = |t: &str| {
            std::fs::write(dir.path().join("index.m3u8"), t).unwrap();
            ok(checks::read_media(&dir.path().join("index.m3u8")))
        };
        ok(checks::check_media_playlist("good", &read(text)));
        for (bad, why) in [
            (text.replace("#EXT-X-PLAYLIST-TYPE:VOD\n", ""), "no type"),
            (text.replace("VOD", "EVENT"), "an event playlist"),
            (text.replace("#EXT-X-ENDLIST\n", ""), "no end"),
            (
                text.replace("#EXTINF:5.0", "#EXTINF:7.0"),
                "a segment over target",
            ),
            (text.replace("#EXTINF:5.0", "#EXTINF:0.000"), "EXTINF:0"),
            (
                text.replace("TARGETDURATION:6", "TARGETDURATION:10"),
                "target above 6",
            ),
        ] {
            assert!(
                checks::check_media_playlist(why, &read(&bad)).is_err(),
                "{why} accepted"
            );
        }
    }

    #[test]
    fn a_squeezed_rendition_and_non_square_pixels_are_rejected() {
        // 720x576 shown as is: 1.25:1, not the 16:9 the source displays.
        assert!(checks::check_display_aspect("squeezed", (720, 576), 16.0 / 9.0).is_err());
        assert!(checks::check_display_aspect("right", (1024, 576), 16.0 / 9.0).is_ok());
        assert!(checks::check_display_aspect("240p", (426, 240), 16.0 / 9.0).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let pal = hostile::ANAMORPHIC_PAL.make(dir.path());
        assert!(checks::check_square_pixels("pal", &pal).is_err());
        let square = Clip::new("square.mp4", "320x180", "25", 1.0).make(dir.path());
        ok(checks::check_square_pixels("square", &square));
    }

    #[test]
    fn idet_finds_the_combing_of_1080i_and_none_once_deinterlaced() {
        let dir = tempfile::tempdir().unwrap();
        let combed = hostile::INTERLACED_1080.make(dir.path());
        let d = checks::idet(&combed);
        assert!(
            checks::check_progressive("combed", &combed).is_err(),
            "idet missed the combing: {d:?}"
        );
        let clean = dir.path().join("clean.ts");
        ffmpeg([
            "-i",
            combed.to_str().unwrap(),
            "-vf",
            "bwdif=mode=send_field,scale=1280:720",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-an",
            clean.to_str().unwrap(),
        ]);
        ok(checks::check_progressive("deinterlaced", &clean));
    }

    #[test]
    fn the_frame_rate_check_rejects_a_vfr_average() {
        let dir = tempfile::tempdir().unwrap();
        let vfr = hostile::VFR_SCREEN.make(dir.path());
        // 60 declared, ~16 carried per second.
        let e = checks::check_frame_rate("vfr", &vfr, 60.0).expect_err("VFR is not 60 fps");
        assert!(e.contains("FRAME-RATE 60"), "{e}");
        let cfr = Clip::new("cfr.mp4", "320x180", "30", 2.0).make(dir.path());
        ok(checks::check_frame_rate("cfr", &cfr, 30.0));
    }

    #[test]
    fn every_hostile_source_has_its_property() {
        // The generators assert their property with ffprobe as they make each file.
        let dir = tempfile::tempdir().unwrap();
        for s in [
            hostile::COVER_FIRST,
            hostile::PNG_FIRST,
            hostile::TRUNCATED,
            hostile::TWO_AUDIO,
            hostile::PQ_TRANSFER_ONLY,
            hostile::HLG_TRANSFER_ONLY,
        ] {
            s.make(dir.path());
        }
        let two = dir.path().join(hostile::TWO_AUDIO.name);
        assert!(
            (dominant_hz(&two) - 440.0).abs() < 40.0,
            "{}",
            dominant_hz(&two)
        );
    }
}
