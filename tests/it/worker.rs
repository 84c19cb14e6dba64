//! fleet-worker processes against DynamoDB Local, the S3 server and real ffmpeg.

use crate::common::eventually;
use crate::common::media::{self, Clip};
use crate::common::stage::{stage_files, Stage};
use fleet::domain::VideoState;
use std::path::PathBuf;
use std::time::Duration;

async fn stage(name: &str, clips: &[Clip], extra: &[(String, Vec<u8>)]) -> Stage {
    let dir = tempfile::tempdir().unwrap();
    let clips_dir = dir.path().join("clips");
    std::fs::create_dir_all(&clips_dir).unwrap();
    let mut files: Vec<(String, PathBuf)> = clips
        .iter()
        .map(|c| (c.name.to_string(), c.make(&clips_dir)))
        .collect();
    for (name, bytes) in extra {
        let p = clips_dir.join(format!("extra-{}", files.len()));
        std::fs::write(&p, bytes).unwrap();
        files.push((name.clone(), p));
    }
    stage_files(name, dir, &files).await
}

async fn wait_ok(child: &mut tokio::process::Child, what: &str) {
    let status = tokio::time::timeout(Duration::from_secs(240), child.wait())
        .await
        .unwrap_or_else(|_| panic!("{what} did not exit"))
        .unwrap();
    assert!(status.success(), "{what} exited with {status}");
}

fn signal(child: &tokio::process::Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_turn_fourteen_clips_into_playable_streams() {
    let mut clips = vec![
        Clip::new("a 640x360 30.mp4", "640x360", "30", 4.0),
        Clip::new("b 1280x720 25.mp4", "1280x720", "25", 3.0),
        Clip::new("c portrait.mp4", "360x640", "30", 3.0),
        Clip::new("d tiny 4x3.mp4", "320x240", "15", 3.0),
        Clip::new("e 60fps.mp4", "480x270", "60", 3.0),
        Clip::new("f yuv444.mp4", "640x480", "24", 3.0),
        Clip::new("g yuv422.mov", "854x480", "30", 3.0),
        Clip::new("h no audio.mp4", "426x240", "30", 3.0),
        Clip::new("i ntsc ü.mp4", "640x360", "30000/1001", 3.0),
        Clip::new("j 960x540.mkv", "960x540", "30", 3.0),
        Clip::new("k rotated.mp4", "640x360", "30", 3.0),
        Clip::new("l two segments+.mp4", "640x360", "30", 13.0),
        Clip::new("m hdr10.mp4", "640x360", "24", 3.0),
        Clip::new("n vfr phone.mp4", "640x360", "30", 6.0),
    ];
    clips[5].pix_fmt = "yuv444p";
    clips[6].pix_fmt = "yuv422p";
    clips[7].audio = false;
    clips[10].rotate = Some(90);
    clips[12].hdr = true;
    clips[13].vfr = true;
    let st = stage("e2e", &clips, &[]).await;
    // The production preset, so that the High profile can be asserted.
    let mut a = media::worker(&st.table, &st.work("a"), &["--exit-when-idle"])
        .env("FLEET_X264_PRESET", "veryfast")
        .spawn()
        .unwrap();
    let mut b = media::worker(&st.table, &st.work("b"), &["--exit-when-idle"])
        .env("FLEET_X264_PRESET", "veryfast")
        .spawn()
        .unwrap();
    wait_ok(&mut a, "worker a").await;
    wait_ok(&mut b, "worker b").await;
    let mut holders = std::collections::HashSet::new();
    let mut streams = Vec::new();
    let mut renditions = 0;
    for c in &clips {
        let item = st.state(c.name).await;
        assert_eq!(item.state, VideoState::Done, "{}: {:?}", c.name, item.error);
        assert_eq!(
            item.output.as_deref(),
            Some(format!("s3://{}/{}/master.m3u8", st.output.bucket, item.out_prefix).as_str())
        );
        holders.insert(item.holder.unwrap().split('/').next().unwrap().to_string());
        let dir = st.fetch(c.name).await;
        let vs = media::check_stream(&dir, c.seconds, Some(c.display()), true);
        renditions += vs.len();
        streams.push(dir.clone());
        if c.name.starts_with("b ") {
            assert_eq!(vs.len(), 5, "720p source: 720/540/360/240/144");
        }
        if c.name.starts_with("k ") {
            let (w, h) = vs[0].resolution.unwrap();
            assert!(h > w, "rotation honoured: {w}x{h}");
        }
        if !c.audio {
            assert!(!vs[0].codecs.contains("mp4a"));
        }
        if c.vfr {
            // Made constant: as many frames per second as FRAME-RATE declares, throughout.
            for v in &vs {
                let fps = media::measured_fps(&dir.join(&v.uri));
                let declared = v.frame_rate.unwrap();
                assert!(
                    (fps - declared).abs() <= declared * 0.03,
                    "{}: {fps} fps played vs FRAME-RATE {declared}",
                    v.uri
                );
            }
        }
        if c.hdr {
            // Tone-mapped to SDR: BT.709, 8-bit (check_stream saw yuv420p), no PQ left.
            let pl = std::fs::read_to_string(dir.join(&vs[0].uri)).unwrap();
            let seg = fleet::transcode::playlist::segments(&pl)[0].uri.clone();
            let path = dir.join(&vs[0].uri).parent().unwrap().join(seg);
            let trc = media::ffprobe_field(&path, "v:0", "stream=color_transfer");
            assert_eq!(trc, "bt709", "HDR source not tone-mapped");
        }
    }
    assert_eq!(holders.len(), 2, "both workers took part");
    // What a web player does with them: every rendition of every stream, played to its end.
    let played = media::play_in_browser(&streams);
    assert_eq!(
        played.len(),
        media::PLAYERS.len() * renditions,
        "one report per rendition and player"
    );
    // Output keys keep the input's relative path, extension dropped, unicode and + intact.
    let item = st.state("i ntsc ü.mp4").await;
    assert_eq!(item.out_prefix, "hls/i ntsc ü");
    assert_eq!(
        st.state("l two segments+.mp4").await.out_prefix,
        "hls/l two segments+"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_inputs_fail_fast_with_readable_errors_and_the_worker_goes_on() {
    let good = Clip::new("good.mp4", "320x180", "30", 2.0);
    let mut random = vec![0u8; 200_000];
    for (i, b) in random.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2654435761) >> 13) as u8;
    }
    let dir = tempfile::tempdir().unwrap();
    let whole = Clip::new("whole.mp4", "640x360", "30", 3.0).make(dir.path());
    let bytes = std::fs::read(&whole).unwrap();
    let truncated = bytes[..bytes.len() / 2].to_vec();
    let extra = vec![
        ("empty.mp4".to_string(), Vec::new()),
        (
            "notes.mp4".to_string(),
            b"this is a text file, not a video\n".to_vec(),
        ),
        ("noise.mp4".to_string(), random),
        ("truncated.mp4".to_string(), truncated),
    ];
    let st = stage("invalid", std::slice::from_ref(&good), &extra).await;
    // An audio-only source, made without a video stream.
    let audio_path = st.dir.path().join("audio.m4a");
    assert!(std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=300",
            "-t",
            "3",
            "-c:a",
            "aac"
        ])
        .arg(&audio_path)
        .status()
        .unwrap()
        .success());
    media::upload_and_seed(
        &st.store,
        &st.s3,
        &[("audio only.m4a".into(), audio_path)],
        &st.input,
        &st.output,
    )
    .await;

    let mut w = media::worker(&st.table, &st.work("a"), &["--exit-when-idle"])
        .spawn()
        .unwrap();
    wait_ok(&mut w, "worker").await;
    for (name, _) in &extra {
        let item = st.state(name).await;
        assert_eq!(item.state, VideoState::Failed, "{name}");
        assert_eq!(
            item.attempts, 1,
            "{name}: invalid input must not burn every attempt"
        );
        assert_eq!(
            item.error_kind.as_deref(),
            Some("invalid_input"),
            "{name}: {:?}",
            item.error
        );
        let err = item.error.unwrap();
        assert!(!err.is_empty() && err.len() < 2000, "{name}: {err}");
    }
    assert!(st
        .state("empty.mp4")
        .await
        .error
        .unwrap()
        .contains("empty (0 bytes)"));
    assert_eq!(
        st.state("good.mp4").await.state,
        VideoState::Done,
        "the worker went on"
    );
    let audio = st.state("audio only.m4a").await;
    assert_eq!(audio.state, VideoState::Done, "{:?}", audio.error);
    let dir = st.fetch("audio only.m4a").await;
    let vs = media::check_stream(&dir, 3.0, None, false);
    assert_eq!(
        (vs.len(), vs[0].codecs.as_str(), vs[0].resolution),
        (1, "mp4a.40.2", None)
    );
    let played = media::play_in_browser(&[dir]);
    assert_eq!(played.len(), media::PLAYERS.len());
    assert!(
        played.iter().all(|p| p["width"] == 0),
        "audio only: no picture"
    );
}

/// A clip long enough to be caught mid-transcode.
fn long_clip() -> Clip {
    Clip::new("long lecture.mp4", "1280x720", "30", 20.0)
}

async fn wait_encoding(st: &Stage, name: &str) -> fleet::domain::VideoItem {
    eventually(Duration::from_secs(60), "encoding to start", || async {
        let item = st.state(name).await;
        (item
            .progress
            .as_ref()
            .is_some_and(|p| p.phase == "encode" && p.percent.unwrap_or(0.0) > 0.0))
        .then_some(item)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_video_is_finished_by_another_after_expiry() {
    let c = long_clip();
    let st = stage("kill9", std::slice::from_ref(&c), &[]).await;
    // Fixed rate control: the kill lands in the encode, not in the source analysis before it.
    let mut a = media::worker(&st.table, &st.work("a"), &["--rate-control", "fixed"])
        .env("FLEET_X264_PRESET", "fast")
        .spawn()
        .unwrap();
    let held = wait_encoding(&st, c.name).await;
    signal(&a, "-KILL");
    let _ = a.wait().await;
    // An attempt that got further (encoded, then failed verification) had also written its
    // I-frame playlists: plant one where it would be.
    let planted = format!("{}/t{}/360p/iframes.m3u8", held.out_prefix, held.token);
    fleet::blob::put_bytes(
        &st.s3,
        &st.output.bucket,
        &planted,
        b"#EXTM3U\n".to_vec(),
        "application/vnd.apple.mpegurl",
    )
    .await
    .unwrap();
    let mut b = media::worker(&st.table, &st.work("b"), &["--exit-when-idle"])
        .spawn()
        .unwrap();
    wait_ok(&mut b, "worker b").await;
    let item = st.state(c.name).await;
    assert_eq!(item.state, VideoState::Done);
    assert!(item.token > held.token);
    assert_ne!(item.holder, held.holder);
    assert_eq!(item.lapsed, 1, "the takeover counted the lapsed lease");
    media::check_stream(&st.fetch(c.name).await, c.seconds, Some(c.display()), false);
    // The dead attempt had uploaded segments under its own t<token>/; once the video is done
    // they are removed, and only the winner's renditions remain.
    let keys = fleet::blob::list_keys(&st.s3, &st.output.bucket, &format!("{}/", item.out_prefix))
        .await
        .unwrap();
    let base = format!("{}/", item.out_prefix);
    assert!(
        keys.iter()
            .any(|(k, _)| k.starts_with(&format!("{base}t{}/", item.token))),
        "the winner's renditions are there"
    );
    let stale: Vec<_> = keys
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{base}t{}/", held.token)))
        .collect();
    assert!(
        stale.is_empty(),
        "superseded attempt left behind: {stale:?}"
    );
    // What players and a CDN read off each object: immutable renditions, a master that may
    // change when the video is redone.
    let cache = fleet::worker::upload::CacheControl::default();
    let winner = format!("{base}t{}/", item.token);
    let pick = |suffix: &str| {
        keys.iter()
            .map(|(k, _)| k.clone())
            .find(|k| k.starts_with(&winner) && k.ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix} under {winner}"))
    };
    for (key, control, mime) in [
        (
            format!("{base}master.m3u8"),
            &cache.master,
            "application/vnd.apple.mpegurl",
        ),
        (
            pick("/index.m3u8"),
            &cache.media,
            "application/vnd.apple.mpegurl",
        ),
        (
            pick("/iframes.m3u8"),
            &cache.media,
            "application/vnd.apple.mpegurl",
        ),
        (pick(".ts"), &cache.media, "video/mp2t"),
    ] {
        let head = st
            .s3
            .head_object()
            .bucket(&st.output.bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.cache_control(), Some(control.as_str()), "{key}");
        assert_eq!(head.content_type(), Some(mime), "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_ffmpeg_is_killed_and_its_video_retried_with_the_reason() {
    let c = long_clip();
    let st = stage("stall", std::slice::from_ref(&c), &[]).await;
    let mut w = media::worker(
        &st.table,
        &st.work("a"),
        &["--exit-when-idle", "--stall-seconds", "3"],
    )
    .env("FLEET_X264_PRESET", "fast")
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let pid = w.id().unwrap();
    wait_encoding(&st, c.name).await;
    // Freeze ffmpeg itself: the worker and its heartbeat go on, so only the stall limit can
    // free the video.
    let ff = eventually(Duration::from_secs(30), "ffmpeg running", || async {
        media::ffmpeg_children(pid).first().copied()
    })
    .await;
    assert!(std::process::Command::new("kill")
        .args(["-STOP", &ff.to_string()])
        .status()
        .unwrap()
        .success());
    let mut stderr = String::new();
    use tokio::io::AsyncReadExt;
    let mut pipe = w.stderr.take().unwrap();
    let (status, _) = tokio::time::timeout(Duration::from_secs(240), async {
        tokio::join!(w.wait(), pipe.read_to_string(&mut stderr))
    })
    .await
    .expect("the worker finished");
    assert!(status.unwrap().success(), "{stderr}");
    let item = st.state(c.name).await;
    assert_eq!(
        (item.state, item.attempts, item.lapsed),
        (VideoState::Done, 2, 0),
        "killed after the stall, retried, done: {stderr}"
    );
    assert!(
        stderr.contains("ffmpeg stalled: no progress for 3 s"),
        "{stderr}"
    );
    // The reason stays on the item for operators (`fleet-admin show`), after the video is done.
    let errors = item.errors.clone().unwrap_or_default();
    assert!(
        errors.len() == 1 && errors[0].contains("ffmpeg stalled: no progress for 3 s"),
        "{errors:?}"
    );
    // The frozen ffmpeg was killed, not left behind.
    assert!(
        !std::path::Path::new(&format!("/proc/{ff}/comm")).exists() || {
            let stat = std::fs::read_to_string(format!("/proc/{ff}/stat")).unwrap_or_default();
            stat.contains(") Z")
        }
    );
}

/// The holder's wall clock (libfaketime, preloaded) steps 30 s back, ten of its 3 s leases,
/// in the middle of its encode, while another worker waits beside it: its heartbeats count from
/// the claim's clock plus monotonic time, so the lease stays ahead, nobody takes the video
/// over, and it is done on its one attempt. (With expiries from the stepped wall clock every
/// heartbeat after the step is refused as shortening the lease and the other worker takes the
/// video over: token 2.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_wall_clock_steps_back_keeps_its_video() {
    let lib = std::path::Path::new("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1");
    assert!(
        lib.exists(),
        "libfaketime is missing: scripts/local-stack start installs it (apt-get install faketime)"
    );
    let c = long_clip();
    let st = stage("faketime", std::slice::from_ref(&c), &[]).await;
    let offset = st.dir.path().join("faketime");
    std::fs::write(&offset, "+0s").unwrap();
    let mut a = media::worker(
        &st.table,
        &st.work("a"),
        &["--exit-when-idle", "--rate-control", "fixed"],
    )
    .env("LD_PRELOAD", lib)
    .env("FAKETIME_TIMESTAMP_FILE", &offset)
    .env("FAKETIME_NO_CACHE", "1")
    .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
    .env("FLEET_X264_PRESET", "fast")
    .spawn()
    .unwrap();
    let held = wait_encoding(&st, c.name).await;
    std::fs::write(&offset, "-30s").unwrap();
    let mut b = media::worker(&st.table, &st.work("b"), &["--exit-when-idle"])
        .spawn()
        .unwrap();
    wait_ok(&mut a, "worker a").await;
    wait_ok(&mut b, "worker b").await;
    let item = st.state(c.name).await;
    assert_eq!(
        (item.state, item.token, item.attempts, item.lapsed),
        (VideoState::Done, held.token, 1, 0),
        "{item:?}"
    );
    media::check_stream(&st.fetch(c.name).await, 20.0, Some((1280, 720)), false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_worker_resumed_after_takeover_publishes_nothing() {
    let c = long_clip();
    let st = stage("sigstop", std::slice::from_ref(&c), &[]).await;
    // Fixed rate control: the stop lands in the encode, not in the source analysis before it.
    let mut a = media::worker(
        &st.table,
        &st.work("a"),
        &["--exit-when-idle", "--rate-control", "fixed"],
    )
    .env("FLEET_X264_PRESET", "fast")
    .spawn()
    .unwrap();
    let held = wait_encoding(&st, c.name).await;
    signal(&a, "-STOP");
    let mut b = media::worker(&st.table, &st.work("b"), &["--exit-when-idle"])
        .spawn()
        .unwrap();
    wait_ok(&mut b, "worker b").await;
    let won = st.state(c.name).await;
    assert_eq!(won.state, VideoState::Done);
    assert!(won.token > held.token);
    signal(&a, "-CONT");
    wait_ok(&mut a, "worker a after SIGCONT").await;
    let after = st.state(c.name).await;
    assert_eq!(
        (after.token, after.holder.clone(), after.state),
        (won.token, won.holder.clone(), VideoState::Done)
    );
    let dir = st.fetch(c.name).await;
    let master = std::fs::read_to_string(dir.join("master.m3u8")).unwrap();
    for v in media::variants(&master) {
        assert!(
            v.uri.starts_with(&format!("t{}/", won.token)),
            "master points at another attempt: {}",
            v.uri
        );
    }
    media::check_stream(&dir, c.seconds, Some(c.display()), false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_within_the_drain_window_and_another_worker_finishes() {
    let c = long_clip();
    let st = stage("sigterm", std::slice::from_ref(&c), &[]).await;
    let mut a = media::worker(&st.table, &st.work("a"), &["--drain-seconds", "2"])
        .env("FLEET_X264_PRESET", "fast")
        .spawn()
        .unwrap();
    wait_encoding(&st, c.name).await;
    let t0 = std::time::Instant::now();
    signal(&a, "-TERM");
    wait_ok(&mut a, "worker a after SIGTERM").await;
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "took {:?} to drain",
        t0.elapsed()
    );
    let released = st.state(c.name).await;
    assert_eq!(
        (released.state, released.attempts),
        (VideoState::Pending, 0),
        "{released:?}"
    );
    assert!(
        std::fs::read_dir(st.work("a")).unwrap().next().is_none(),
        "job folder left behind"
    );
    let mut b = media::worker(&st.table, &st.work("b"), &["--exit-when-idle"])
        .spawn()
        .unwrap();
    wait_ok(&mut b, "worker b").await;
    assert_eq!(st.state(c.name).await.state, VideoState::Done);
}

/// A tmpfs of `mb` megabytes, unmounted on drop: a disk that is really full. Where mounting is
/// not permitted (not root, no CAP_SYS_ADMIN), the worker is told to keep more free space than
/// any disk has instead, which takes the same path through the worker; it says so loudly.
struct SmallDisk {
    path: PathBuf,
    mounted: bool,
}

impl SmallDisk {
    fn mount(path: PathBuf, mb: u32) -> Self {
        std::fs::create_dir_all(&path).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!(
                "NOTE: cannot mount a tmpfs here; simulating a full disk with \
                 --disk-reserve-mb instead"
            );
        }
        Self { path, mounted }
    }

    /// Worker flags that make this disk too small.
    fn flags(&self) -> Vec<&'static str> {
        if self.mounted {
            vec!["--exit-when-idle"]
        } else {
            vec!["--exit-when-idle", "--disk-reserve-mb", "1000000000000"]
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = std::process::Command::new("umount")
                .arg(&self.path)
                .status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gives_videos_back_and_stops_the_worker_without_burning_attempts() {
    let clips = [
        Clip::new("disk a.mp4", "320x180", "30", 2.0),
        Clip::new("disk b.mp4", "320x180", "30", 2.0),
    ];
    let st = stage("fulldisk", &clips, &[]).await;
    let disk = SmallDisk::mount(st.dir.path().join("tiny"), 8);
    let mut w = media::worker(&st.table, &disk.path, &disk.flags())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(60), async {
        let mut err = String::new();
        use tokio::io::AsyncReadExt;
        w.stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .await
            .unwrap();
        (w.wait().await.unwrap(), err)
    })
    .await
    .expect("the worker gave up on its own");
    let (status, stderr) = out;
    assert!(!status.success(), "an unhealthy worker exits non-zero");
    assert!(
        stderr.contains("consecutive failures this worker cannot mend")
            && stderr.contains("not enough disk"),
        "{stderr}"
    );
    let mut explained = 0;
    for c in &clips {
        let item = st.state(c.name).await;
        assert_eq!(
            (item.state, item.attempts),
            (VideoState::Pending, 0),
            "{}: a full disk is not the video's fault",
            c.name
        );
        explained += usize::from(item.error.is_some_and(|e| e.contains("not enough disk")));
    }
    assert!(explained >= 1, "the reason is kept for the report");
    drop(disk);
    // On a machine with room, the same videos go through.
    let mut ok = media::worker(&st.table, &st.work("roomy"), &["--exit-when-idle"])
        .spawn()
        .unwrap();
    wait_ok(&mut ok, "a worker with disk space").await;
    for c in &clips {
        assert_eq!(st.state(c.name).await.state, VideoState::Done);
    }
}
