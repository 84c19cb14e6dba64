//! Publication fenced in S3 itself: a holder's master PUT held in the network and delivered
//! after a newer holder published never becomes what players fetch. Runs on moto's S3, which
//! enforces `If-Match`/`If-None-Match` as AWS S3 does (the local Garage ignores them).

use crate::common::eventually;
use crate::common::media;
use crate::common::moto;
use crate::common::proxy::FaultProxy;
use crate::common::stage::{stage_files_at, Stage};
use fleet::domain::VideoState;
use std::time::Duration;

/// The fencing token of the object at `key` in the stage's output, as workers read it.
async fn master_token(st: &Stage, key: &str) -> Option<u64> {
    fleet::blob::cas::current(&st.s3, &st.output.bucket, key)
        .await
        .unwrap()
        .token
}

fn signal(child: &tokio::process::Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let ok = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// Holder A's master PUT is held by the proxy, then A is suspended past its lease (a stalled
/// VM). B takes the video over, publishes, marks it done and removes A's renditions. Then the
/// held PUT is delivered: S3 refuses it (412), the master stays B's, every file it names is
/// there, and A, resumed, records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_master_put_delivered_late_never_replaces_the_newer_stream() {
    let url = moto::shared_url();
    let dir = tempfile::tempdir().unwrap();
    let c = media::Clip::new("lesson one.mp4", "640x360", "30", 4.0);
    let (name, clip) = (c.name.to_string(), c.make(dir.path()));
    let st: Stage = stage_files_at("fenced-master", dir, &[(name.clone(), clip)], Some(&url)).await;
    let proxy = FaultProxy::start(url.trim_start_matches("http://").parse().unwrap()).await;
    *proxy.faults.hold_put.lock().unwrap() = Some("master.m3u8".into());
    let history = st.dir.path().join("history.jsonl");
    let lease = [
        "--lease-seconds",
        "6",
        "--heartbeat-seconds",
        "2",
        "--skew-seconds",
        "0.5",
    ];
    let mut a = media::worker(
        &st.table,
        &st.work("a"),
        &[&lease[..], &["--exit-when-idle"]].concat(),
    )
    .env("AWS_ENDPOINT_URL_S3", proxy.url())
    .env("FLEET_RATE_CONTROL", "fixed")
    .env("FLEET_HISTORY_FILE", &history)
    .spawn()
    .unwrap();
    eventually(Duration::from_secs(90), "A's master PUT held", || async {
        (!proxy.faults.held.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    signal(&a, "-STOP");
    let item = st.state(&name).await;
    assert_eq!((item.state, item.token), (VideoState::InProgress, 1));

    let mut b = media::worker(
        &st.table,
        &st.work("b"),
        &[&lease[..], &["--exit-when-idle"]].concat(),
    );
    b.env("AWS_ENDPOINT_URL_S3", &url)
        .env("FLEET_RATE_CONTROL", "fixed")
        .env("FLEET_HISTORY_FILE", &history);
    media::until_idle(&mut b, 120).await;
    let done = st.state(&name).await;
    assert_eq!((done.state, done.token), (VideoState::Done, 2), "{done:?}");
    let a_files = fleet::blob::list_keys(
        &st.s3,
        &st.output.bucket,
        &format!("{}/t1/", done.out_prefix),
    )
    .await
    .unwrap();
    assert!(a_files.is_empty(), "B removed A's renditions: {a_files:?}");

    let statuses = proxy.deliver_held().await;
    assert_eq!(statuses, vec![412], "S3 refuses the stale master");
    signal(&a, "-CONT");
    let status = tokio::time::timeout(Duration::from_secs(60), a.wait())
        .await
        .expect("A exits")
        .unwrap();
    assert!(status.success(), "A exited with {status}");

    let after = st.state(&name).await;
    assert_eq!(
        (after.state, after.token, after.rev),
        (VideoState::Done, 2, done.rev),
        "A recorded nothing: {after:?}"
    );
    let key = format!("{}/master.m3u8", done.out_prefix);
    assert_eq!(master_token(&st, &key).await, Some(2));
    let summary = crate::common::history::check(&history, std::slice::from_ref(&after));
    eprintln!("history: {summary:?}");
    assert_eq!((summary.claims, summary.fenced_puts), (2, 1), "{summary:?}");
    let local = st.fetch(&name).await;
    let master = std::fs::read_to_string(local.join("master.m3u8")).unwrap();
    for v in media::variants(&master) {
        assert!(v.uri.starts_with("t2/"), "{}", v.uri);
    }
    media::check_stream(&local, 4.0, Some((640, 360)), false);
}

/// A master left in the output by another table (a table recreated over the same output: its
/// tokens start again at 1) carries a higher token than this table ever gave. The table says
/// our lease is the newest, so the worker replaces it, on the first attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_left_by_another_table_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let c = media::Clip::new("lesson two.mp4", "640x360", "30", 4.0);
    let (name, clip) = (c.name.to_string(), c.make(dir.path()));
    let st: Stage = stage_files_at("foreign-master", dir, &[(name.clone(), clip)], None).await;
    let prefix = st.state(&name).await.out_prefix;
    let key = format!("{prefix}/master.m3u8");
    st.s3
        .put_object()
        .bucket(&st.output.bucket)
        .key(&key)
        .metadata("fleet-token", "5")
        .body(b"#EXTM3U\n".to_vec().into())
        .send()
        .await
        .unwrap();
    let mut w = media::worker(&st.table, &st.work("a"), &["--exit-when-idle"]);
    w.env("FLEET_RATE_CONTROL", "fixed");
    media::until_idle(&mut w, 120).await;
    let item = st.state(&name).await;
    assert_eq!(
        (item.state, item.token, item.attempts),
        (VideoState::Done, 1, 1),
        "{item:?}"
    );
    assert_eq!(master_token(&st, &key).await, Some(1));
    media::check_stream(&st.fetch(&name).await, 4.0, Some((640, 360)), false);
}

/// The history checker's negative controls: histories that break the protocol are refused.
mod checker {
    use crate::common::history::check;
    use fleet::domain::video::seeded;
    use fleet::domain::{keys::S3Uri, VideoItem, VideoState};

    fn run(lines: &[&str]) {
        let item: VideoItem = VideoItem {
            state: VideoState::Done,
            token: 2,
            ..seeded(
                &S3Uri {
                    bucket: "in".into(),
                    key: "v.mp4".into(),
                },
                "out",
                "hls/v",
                1,
                0,
                16,
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("h.jsonl");
        std::fs::write(&f, lines.join("\n")).unwrap();
        check(&f, &[item]);
    }

    const CLAIMS: [&str; 2] = [
        r#"{"op":"claim","ok":true,"t0":0,"t1":10,"video":"s3://in/v.mp4","token":1,"expires":100}"#,
        r#"{"op":"claim","ok":true,"t0":200,"t1":210,"video":"s3://in/v.mp4","token":2,"expires":300}"#,
    ];

    #[test]
    fn a_clean_history_passes() {
        let master2 = r#"{"op":"s3_put_fenced","ok":true,"t0":220,"t1":230,"key":"hls/v/master.m3u8","token":2}"#;
        let done2 =
            r#"{"op":"complete","ok":true,"t0":240,"t1":250,"video":"s3://in/v.mp4","token":2}"#;
        run(&[CLAIMS[0], CLAIMS[1], master2, done2]);
    }

    #[test]
    #[should_panic(expected = "took effect after the newer claim")]
    fn a_stale_holders_write_after_a_takeover_is_found() {
        let stale = r#"{"op":"heartbeat","ok":true,"t0":220,"t1":230,"video":"s3://in/v.mp4","token":1,"expires":400}"#;
        run(&[CLAIMS[0], CLAIMS[1], stale]);
    }

    #[test]
    #[should_panic(expected = "master went back")]
    fn a_master_going_back_to_an_older_token_is_found() {
        let m2 = r#"{"op":"s3_put_fenced","ok":true,"t0":220,"t1":230,"key":"hls/v/master.m3u8","token":2}"#;
        let m1 = r#"{"op":"s3_put_fenced","ok":true,"t0":100,"t1":240,"key":"hls/v/master.m3u8","token":1}"#;
        run(&[CLAIMS[0], CLAIMS[1], m2, m1]);
    }

    #[test]
    #[should_panic(expected = "lease shortened")]
    fn a_lease_moving_backwards_is_found() {
        let h1 = r#"{"op":"heartbeat","ok":true,"t0":20,"t1":30,"video":"s3://in/v.mp4","token":1,"expires":500}"#;
        let h2 = r#"{"op":"heartbeat","ok":true,"t0":40,"t1":50,"video":"s3://in/v.mp4","token":1,"expires":400}"#;
        run(&[CLAIMS[0], h1, h2]);
    }
}
