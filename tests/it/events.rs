//! Completion events (issue 15), through moto's EventBridge into an SQS queue, read back the
//! way a course platform subscribed to the bus would read them.

use crate::common::media::{self, Clip};
use crate::common::moto::{self, Moto, Subscribed};
use crate::common::stage::stage_files;
use fleet::domain::VideoState;
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

fn admin(table: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fleet-admin"))
        .args(["--table", table])
        .args(args)
        .output()
        .unwrap()
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["detail-type"] == t).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_hears_of_done_failed_requeued_and_replayed_videos() {
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    std::fs::create_dir_all(&clips).unwrap();
    let good = Clip::new("good.mp4", "320x180", "30", 4.0).make(&clips);
    let empty = clips.join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let st = stage_files(
        "events",
        dir,
        &[("good.mp4".into(), good), ("empty.mp4".into(), empty)],
    )
    .await;
    let sub = Subscribed::create(&moto::shared_url(), &format!("{}-bus", st.table)).await;
    let mut w = media::worker(
        &st.table,
        &st.work("a"),
        &["--exit-when-idle", "--event-bus", &sub.bus],
    )
    .spawn()
    .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(300), w.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let events = sub.receive(2, Duration::from_secs(30)).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e["source"] == "fleet"));

    // Done: what a platform needs without another call, and the stream.json it names exists.
    let done = of_type(&events, "Video Done");
    assert_eq!(done.len(), 1, "{events:?}");
    let d = &done[0]["detail"];
    let item = st.state("good.mp4").await;
    assert_eq!(d["video"], item.pk.as_str());
    assert_eq!(d["state"], "done");
    assert_eq!(d["token"], item.token);
    assert_eq!(d["output"]["master"], item.output.clone().unwrap().as_str());
    let doc_uri = d["output"]["stream_json"].as_str().unwrap();
    let key = doc_uri
        .strip_prefix(&format!("s3://{}/", st.output.bucket))
        .unwrap();
    let doc = fleet::blob::get_bytes(&st.s3, &st.output.bucket, key)
        .await
        .expect("the stream.json the event names");
    let doc: Value = serde_json::from_slice(&doc).unwrap();
    assert_eq!(doc["attempt"]["token"], d["token"]);
    let first_done_id = d["event_id"].as_str().unwrap().to_string();

    // Failed: the reason and whose fault.
    let failed = of_type(&events, "Video Failed");
    assert_eq!(failed.len(), 1, "{events:?}");
    let f = &failed[0]["detail"];
    assert_eq!(f["error_kind"], "invalid_input");
    assert!(f["error"].as_str().unwrap().contains("empty"), "{f}");
    assert_ne!(f["event_id"], d["event_id"]);

    // An operator's requeue is an event too.
    let empty_uri = st.pk("empty.mp4");
    let out = admin(&st.table, &["--event-bus", &sub.bus, "retry", &empty_uri]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requeued = sub.receive(1, Duration::from_secs(30)).await;
    assert_eq!(requeued.len(), 1);
    assert_eq!(requeued[0]["detail-type"], "Video Requeued");
    assert_eq!(requeued[0]["detail"]["state"], "pending");
    assert_eq!(st.state("empty.mp4").await.state, VideoState::Pending);

    // Replay: the done video's event again, with the id of its first send.
    let prefix = format!("s3://{}/{}", st.input.bucket, st.input.key);
    let out = admin(
        &st.table,
        &["--event-bus", &sub.bus, "events", "replay", &prefix],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replayed = sub.receive(1, Duration::from_secs(30)).await;
    assert_eq!(
        replayed.len(),
        1,
        "only done and failed videos: {replayed:?}"
    );
    assert_eq!(replayed[0]["detail-type"], "Video Done");
    assert_eq!(replayed[0]["detail"]["event_id"], first_done_id.as_str());
    assert!(
        sub.receive(1, Duration::from_secs(2)).await.is_empty(),
        "nothing more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_a_dead_bus_refused_are_owed_and_sent_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    std::fs::create_dir_all(&clips).unwrap();
    let mut moto = Moto::start(dir.path());
    let good = Clip::new("later.mp4", "320x180", "30", 3.0).make(&clips);
    let st = stage_files("events-owed", dir, &[("later.mp4".into(), good)]).await;
    let bus = format!("{}-bus", st.table);
    moto.stop();
    let mut w = media::worker(
        &st.table,
        &st.work("a"),
        &["--event-bus", &bus, "--events-retry-seconds", "1"],
    )
    .env("AWS_ENDPOINT_URL_EVENTBRIDGE", moto.url())
    .spawn()
    .unwrap();
    // The video is done whatever the bus does, and its event is owed in the table.
    let owed = crate::common::eventually(Duration::from_secs(120), "an owed event", || async {
        let v = st.state("later.mp4").await;
        let owed = st.store.owed_events(10).await.unwrap();
        (v.state == VideoState::Done && owed.len() == 1).then_some(owed)
    })
    .await;
    let owed_id = owed[0].0.clone();
    let out = admin(&st.table, &["report"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("events owed: 1"), "{text}");

    // The bus comes back (a new moto: its bus, rule and queue made again); the worker sends.
    // The worker is held (SIGSTOP) while they are made: a send between the bus and its rule
    // would be accepted by a bus that delivers it nowhere.
    let pid = w.id().unwrap().to_string();
    let signal = |s: &str| {
        let ok = std::process::Command::new("kill")
            .args([s, &pid])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    signal("-STOP");
    moto.restart();
    let sub = Subscribed::create(&moto.url(), &bus).await;
    signal("-CONT");
    let events = sub.receive(1, Duration::from_secs(60)).await;
    assert_eq!(events.len(), 1, "the owed event arrives");
    assert_eq!(events[0]["detail-type"], "Video Done");
    assert_eq!(events[0]["detail"]["event_id"], owed_id.as_str());
    crate::common::eventually(Duration::from_secs(30), "owed events settled", || async {
        st.store
            .owed_events(10)
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    let _ = w.kill().await;
}

/// A video whose holders all died is given up by a claimer, which never waits on the bus: its
/// "Video Failed" is owed in the table for the workers' re-send loop.
#[tokio::test]
async fn a_video_given_up_by_a_claimer_owes_its_failed_event() {
    use fleet::store::dynamo::{DynamoStore, StoreConfig};
    use fleet::store::VideoStore;
    let cfg = crate::common::sdk().await;
    let table = crate::common::fresh_table(&cfg, "abandon-ev").await;
    let mut c = StoreConfig::new(&table);
    c.timings = fleet::domain::LeaseTimings::new(
        Duration::from_millis(600),
        Duration::from_millis(200),
        Duration::from_millis(100),
        Duration::from_millis(100),
    )
    .unwrap();
    c.retry = fleet::domain::RetryPolicy {
        max_attempts: 1,
        base: Duration::ZERO,
        cap: Duration::ZERO,
    };
    c.owe_abandoned_events = true;
    let client = fleet::aws::dynamodb(&cfg, Duration::from_secs(10));
    let s = DynamoStore::new(client, c, fleet::clock::system());
    let v = crate::common::seed(&s, 1, "ab").await;
    crate::common::eventually(Duration::from_secs(5), "claim", || async {
        s.claim("dies").await.unwrap()
    })
    .await;
    crate::common::eventually(Duration::from_secs(5), "abandonment", || async {
        assert!(s.claim("next").await.unwrap().is_none());
        let item = s.get(&v[0]).await.unwrap().unwrap();
        (item.state == VideoState::Failed).then_some(())
    })
    .await;
    let owed = s.owed_events(10).await.unwrap();
    assert_eq!(owed.len(), 1);
    let e: fleet::events::Event = serde_json::from_str(&owed[0].1).unwrap();
    assert_eq!(e.kind, fleet::events::Kind::Failed);
    assert_eq!(e.detail["error_kind"], "abandoned");
    assert_eq!(e.detail["video"], v[0].as_str());
    assert_eq!(s.owed_count().await.unwrap(), 1);
}
