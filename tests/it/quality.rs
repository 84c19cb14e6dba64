//! Quality per bit (issue 19): the quality bench's gate on a small corpus, and the adaptive
//! ladder as a worker publishes it.

#[allow(dead_code)]
#[path = "../../benches/support/corpus.rs"]
mod corpus;

use crate::common::media;
use crate::common::published;
use crate::common::stage::stage_files;
use corpus::Title;
use fleet::domain::VideoState;

/// The gate, as the bench holds it, on 8 s titles at 640x360: every rung within 0.5 dB mean
/// PSNR and 0.002 1st-percentile SSIM of today's fixed ladder (a rung left out is scored as
/// the smaller rung a player shows instead, scaled up); bytes fall on the static titles; fast
/// motion stays at the fixed bitrates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_rate_control_saves_bytes_on_static_titles_within_the_quality_gate() {
    let dir = tempfile::tempdir().unwrap();
    let mut saved = Vec::new();
    for t in [Title::Slides, Title::FastMotion, Title::Upscaled] {
        let src = corpus::make(&dir.path().join("corpus"), t, (640, 360), 8);
        let work = dir.path().join(t.name().replace(' ', "-"));
        let r = corpus::compare(&src, &work, "veryfast").await;
        let rows: Vec<String> = r
            .rows
            .iter()
            .map(|x| {
                format!(
                    "{} crf {:?} served by {:?}: {:?} -> {:?}",
                    x.rung, x.crf, x.served_by, x.fixed.score, x.adaptive_score
                )
            })
            .collect();
        for row in &r.rows {
            assert_eq!(r.gate(row), None, "{}: {rows:#?}", t.name());
        }
        let (f, a) = r.ladder_bytes();
        let share = 1.0 - a as f64 / f as f64;
        saved.push((t, share));
        match t {
            Title::Slides => {
                assert!(share >= 0.30, "slides saved {share:.3}: {rows:#?}");
                assert!(r.rows.iter().all(|x| x.crf.is_some()), "{rows:#?}");
            }
            // Made at a quarter of the size (whether its 360p is left out at 8 s is a near
            // thing here; the worker test below shows it on 12 s).
            Title::Upscaled => {
                assert!(share >= 0.20, "upscaled saved {share:.3}: {rows:#?}");
            }
            // At the cap capped CRF starves keyframes: every rung stays fixed.
            _ => {
                assert!(
                    r.rows.iter().all(|x| x.unchanged()),
                    "fast motion is left at its fixed bitrates: {rows:#?}"
                );
            }
        }
    }
    eprintln!("ladder bytes saved: {saved:?}");
}

/// A 12 s clip made at 160x90 and scaled up to 640x360, and a slide clip, through a worker:
/// the adaptive ladder is what the item (`show`'s `ladder` line), `stream.json` and the bucket
/// say, and the streams still play.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_publishes_the_adaptive_ladder_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    let soft = corpus::make(&clips, Title::Upscaled, (640, 360), 12);
    let slides = corpus::make(&clips, Title::Slides, (640, 360), 12);
    let st = stage_files(
        "quality",
        dir,
        &[("soft.mp4".into(), soft), ("slides.mp4".into(), slides)],
    )
    .await;
    media::until_idle(
        &mut media::worker(
            &st.table,
            &st.work("a"),
            &["--exit-when-idle", "--rate-control", "adaptive"],
        ),
        600,
    )
    .await;

    let item = st.state("soft.mp4").await;
    assert_eq!(item.state, VideoState::Done, "{:?}", item.error);
    let ladder = item
        .ladder
        .clone()
        .expect("the item says how it was encoded");
    assert!(
        ladder.starts_with("adaptive: 240p ")
            && ladder.contains("; 360p left out: adds nothing visible over 240p"),
        "{ladder}"
    );
    let soft = st.fetch("soft.mp4").await;
    let stream = soft.clone();
    let vs = media::check_stream(&stream, 12.0, Some((640, 360)), false);
    let heights: Vec<u32> = vs
        .iter()
        .filter_map(|v| v.resolution)
        .map(|r| r.1)
        .collect();
    assert!(!heights.contains(&360) && heights.contains(&240), "{vs:?}");
    let doc = published::check_description(&stream).unwrap();
    assert_eq!(doc["encoding"]["rate_control"], "adaptive");
    assert_eq!(doc["encoding"]["left_out"][0]["name"], "360p");
    // The left-out rung was never encoded: nothing of it is in the bucket.
    let folder = stream.join(format!("t{}", item.token)).join("360p");
    assert!(!folder.exists(), "{}", folder.display());
    assert!(stream
        .join(format!("t{}", item.token))
        .join("240p")
        .exists());

    let item = st.state("slides.mp4").await;
    assert_eq!(item.state, VideoState::Done, "{:?}", item.error);
    let stream = st.fetch("slides.mp4").await;
    let mut vs = media::check_stream(&stream, 12.0, Some((640, 360)), false);
    assert_eq!(vs.len(), 3, "{vs:?}");
    let doc = published::check_description(&stream).unwrap();
    let crf = doc["encoding"]["crf"].as_object().unwrap();
    assert_eq!(crf.len(), 3, "every slide rung has a CRF: {doc}");
    assert!(item.ladder.unwrap().contains("360p CRF "));
    // A bigger picture never declares less than a smaller one.
    vs.sort_by_key(|v| std::cmp::Reverse(v.resolution.map(|r| r.1)));
    let bw: Vec<u64> = vs.iter().map(|v| v.bandwidth).collect();
    assert!(bw.windows(2).all(|p| p[0] > p[1]), "{bw:?}");
    media::play_in_browser(&[soft, stream]);
}

/// `--rate-control fixed`: every rung at its ladder bitrate, every rung kept, and the item
/// and `stream.json` say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_control_fixed_keeps_the_ladder_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    let soft = corpus::make(&clips, Title::Upscaled, (640, 360), 12);
    let st = stage_files("quality-fixed", dir, &[("soft.mp4".into(), soft)]).await;
    media::until_idle(
        &mut media::worker(
            &st.table,
            &st.work("a"),
            &["--exit-when-idle", "--rate-control", "fixed"],
        ),
        300,
    )
    .await;
    let item = st.state("soft.mp4").await;
    assert_eq!(item.state, VideoState::Done, "{:?}", item.error);
    let stream = st.fetch("soft.mp4").await;
    let vs = media::check_stream(&stream, 12.0, Some((640, 360)), false);
    assert_eq!(vs.len(), 3, "{vs:?}");
    let doc = published::check_description(&stream).unwrap();
    assert_eq!(doc["encoding"]["rate_control"], "fixed");
    assert!(doc["encoding"]["crf"].as_object().unwrap().is_empty());
    // The configured ladder, whole: the item says nothing of it.
    assert!(doc["encoding"]["left_out"].as_array().unwrap().is_empty());
    assert_eq!(item.ladder, None);
    let argv = item.ffmpeg_args.unwrap().join(" ");
    assert!(
        argv.contains("-b:v:0 800k") && !argv.contains("-crf"),
        "{argv}"
    );
}

/// The inverted ladder, through a worker: a 20 s still fading to black and back, then
/// to bars, at the fixed bitrates with x264 veryfast, measures its 540p above its 720p (the
/// bench: 226 kb/s against 126). The master leaves the 540p out, BANDWIDTH falls with size,
/// the 540p's uploaded files are deleted, and the item and `stream.json` say why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smaller_picture_that_costs_more_than_a_bigger_one_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let fade = corpus::make(&dir.path().join("clips"), Title::Fade, (1280, 720), 20);
    let st = stage_files("quality-inverted", dir, &[("fade.mp4".into(), fade)]).await;
    media::until_idle(
        &mut media::worker(
            &st.table,
            &st.work("a"),
            &[
                "--exit-when-idle",
                "--rate-control",
                "fixed",
                "--preset",
                "veryfast",
            ],
        ),
        300,
    )
    .await;
    let item = st.state("fade.mp4").await;
    assert_eq!(item.state, VideoState::Done, "{:?}", item.error);
    let ladder = item.ladder.clone().expect("a rung was left out");
    assert!(ladder.contains("540p left out: it measured"), "{ladder}");
    let stream = st.fetch("fade.mp4").await;
    let mut vs = media::check_stream(&stream, 20.0, Some((1280, 720)), true);
    vs.sort_by_key(|v| std::cmp::Reverse(v.resolution.map(|r| r.1)));
    let heights: Vec<u32> = vs
        .iter()
        .filter_map(|v| v.resolution)
        .map(|r| r.1)
        .collect();
    assert!(!heights.contains(&540) && heights[0] == 720, "{vs:?}");
    let bw: Vec<u64> = vs.iter().map(|v| v.bandwidth).collect();
    assert!(bw.windows(2).all(|p| p[0] > p[1]), "{bw:?}");
    let doc = published::check_description(&stream).unwrap();
    assert_eq!(doc["encoding"]["rate_control"], "fixed");
    assert_eq!(doc["encoding"]["left_out"][0]["name"], "540p");
    let t = stream.join(format!("t{}", item.token));
    assert!(!t.join("540p").exists() && t.join("720p").exists());
}
