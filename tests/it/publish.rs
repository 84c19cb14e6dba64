//! What a course platform needs beside the playlists (issue 15): a representative poster, not
//! the black first frame of a fade-in; scrubbing thumbnails; and `stream.json`, the one
//! document that says what was published.

use crate::common::media;
use crate::common::published;
use crate::common::stage::stage_files;
use fleet::domain::VideoState;
use std::path::Path;
use std::process::Command;

/// A 23 s clip that fades in from black over its first 3 s.
fn fade_in(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("fade in.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=1280x720:rate=30,fade=in:st=0:d=3")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-t",
            "23",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lesson_is_published_with_its_poster_thumbnails_and_description() {
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    std::fs::create_dir_all(&clips).unwrap();
    let fade = fade_in(&clips);
    let first = clips.join("first.png");
    let grab = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&fade)
        .args(["-frames:v", "1"])
        .arg(&first)
        .status()
        .unwrap();
    assert!(grab.success());
    let m4a = clips.join("talk.m4a");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=300",
        ])
        .args(["-t", "4", "-c:a", "aac"])
        .arg(&m4a)
        .status()
        .unwrap();
    assert!(made.success());
    let st = stage_files(
        "publish",
        dir,
        &[("fade in.mp4".into(), fade), ("talk.m4a".into(), m4a)],
    )
    .await;
    media::until_idle(
        &mut media::worker(&st.table, &st.work("a"), &["--exit-when-idle"]),
        300,
    )
    .await;
    let item = st.state("fade in.mp4").await;
    assert_eq!(item.state, VideoState::Done, "{:?}", item.error);

    let stream = st.fetch("fade in.mp4").await;
    // check_stream validates stream.json, the poster's size and the thumbnails' tiling.
    let vs = media::check_stream(&stream, 23.0, Some((1280, 720)), false);
    // The poster is a picture, not the black first frame of the fade-in (the control).
    let (first_mean, _) = published::luma(&first);
    assert!(
        first_mean < 20.0,
        "control: the first frame is black ({first_mean})"
    );
    let (mean, spread) = published::luma(&stream.join("poster.jpg"));
    assert!(
        mean > 50.0 && spread > 100.0,
        "poster luma mean {mean}, spread {spread}"
    );
    // stream.json says what is there, and who published it.
    let doc = published::check_description(&stream).unwrap();
    assert_eq!(doc["video"], item.pk.as_str());
    assert_eq!(doc["attempt"]["token"], item.token);
    assert_eq!(doc["attempt"]["kind"], "full");
    assert_eq!(doc["source"]["video_codec"], "h264");
    assert_eq!(doc["source"]["size_bytes"], item.size_bytes);
    assert_eq!(doc["master"]["uri"], item.output.clone().unwrap().as_str());
    assert_eq!(doc["renditions"].as_array().unwrap().len(), vs.len());
    assert_eq!(doc["thumbnails"]["count"], 5, "23 s at one every 5 s");
    assert_eq!(doc["poster"]["width"], 1280);

    let audio_only = st.fetch("talk.m4a").await;
    let vs = media::check_stream(&audio_only, 4.0, None, false);
    assert_eq!(vs.len(), 1);
    let doc = published::check_description(&audio_only).unwrap();
    assert!(doc["poster"].is_null());

    media::play_in_browser(&[stream, audio_only]);
}

#[test]
fn a_description_that_breaks_its_schema_is_refused() {
    let good = serde_json::json!({
        "schema_version": 1,
        "video": "s3://in/a.mp4",
        "source": {"uri": "s3://in/a.mp4", "size_bytes": 10, "duration_s": 4.0,
                   "video_codec": "h264", "audio_codecs": ["aac"]},
        "master": {"path": "master.m3u8", "key": "a/master.m3u8", "uri": "s3://out/a/master.m3u8"},
        "renditions": [{"playlist": "t1/360p/index.m3u8", "width": 640, "height": 360,
                        "frame_rate": 30.0, "bandwidth": 900000, "average_bandwidth": 800000,
                        "codecs": "avc1.64001e,mp4a.40.2"}],
        "audio": [], "text": [], "iframes": [],
        "poster": null, "thumbnails": null, "warnings": [],
        "attempt": {"token": 1, "holder": "w/0", "attempts": 1, "kind": "full",
                    "claimed_at": null, "published_at": "2026-12-06T00:00:00.000Z",
                    "job_seconds": 1.5}
    });
    published::validate(&good).unwrap();
    let mut no_renditions = good.clone();
    no_renditions["renditions"] = serde_json::json!([]);
    assert!(published::validate(&no_renditions).is_err());
    let mut extra = good.clone();
    extra["surprise"] = serde_json::json!(1);
    assert!(published::validate(&extra).is_err());
    let mut bad_codec = good;
    bad_codec["renditions"][0]["codecs"] = serde_json::json!("h264");
    assert!(published::validate(&bad_codec).is_err());
}
