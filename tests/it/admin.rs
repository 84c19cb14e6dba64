//! fleet-admin, the built binary, against DynamoDB Local and the S3 server: what an operator
//! types, and what it leaves in the table.

use crate::common::media::{self, Clip};
use crate::common::{self, eventually, fast_timings, fresh_table, store, store_with};
use fleet::blob;
use fleet::clock;
use fleet::domain::{FailureKind, VideoState};
use fleet::store::{Completion, Failure, VideoStore};
use futures::{stream, StreamExt};
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

/// Runs fleet-admin with the local stack's environment plus `env`.
fn admin(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_fleet-admin"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("fleet-admin runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "fleet-admin failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tiny object standing for a video: seed and audit look at keys, not content.
async fn put_stub(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    blob::put_bytes(s3, bucket, key, vec![1; 4], "video/mp4")
        .await
        .unwrap();
}

fn report(table: &str) -> Value {
    serde_json::from_str(&ok(&admin(&["report", "--json", "--table", table], &[])))
        .expect("report --json prints one JSON object")
}

/// Every item of the table, in key order.
async fn items(cfg: &aws_config::SdkConfig, table: &str) -> Vec<fleet::domain::VideoItem> {
    let ddb = fleet::aws::dynamodb(cfg, Duration::from_secs(30));
    let mut items = fleet::admin::report::scan_all(&ddb, table).await.unwrap().0;
    items.sort_by(|x, y| x.pk.cmp(&y.pk));
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_pages_through_thousands_of_objects_once_and_skips_what_is_not_video() {
    let cfg = common::sdk().await;
    let s3 = fleet::aws::s3(&cfg);
    let table = fresh_table(&cfg, "seed").await;
    let (ib, ob) = media::buckets(&s3).await;
    // 2,450 videos and 50 other objects: three ListObjectsV2 pages of 1,000.
    let odd = [
        "AI CERTs/Videos/a b+c ü 日本.mp4",
        "AI CERTs/Videos/sub dir/x.MOV",
    ];
    let keys: Vec<String> = (0..2500)
        .map(|i| match i {
            0 | 1 => odd[i].to_string(),
            _ if i % 50 == 25 => format!("AI CERTs/Videos/notes {i}.txt"),
            _ => format!("AI CERTs/Videos/batch/clip {i:04}.mp4"),
        })
        .collect();
    stream::iter(&keys)
        .for_each_concurrent(32, |k| put_stub(&s3, &ib, k))
        .await;
    let input = format!("s3://{ib}/AI CERTs/Videos/");
    let output = format!("s3://{ob}/hls/");
    let first = ok(&admin(&["seed", &input, &output, "--table", &table], &[]));
    assert!(
        first.contains("added 2450, already present 0, skipped (not video) 50"),
        "{first}"
    );
    let seeded = items(&cfg, &table).await;
    assert_eq!(seeded.len(), 2450);
    assert!(seeded.iter().all(|v| v.state == VideoState::Pending));
    // Keys with spaces, unicode and `+` round-trip byte for byte; extensions match any case.
    let store = store(&cfg, &table);
    let odd_item = store
        .get(&format!("s3://{ib}/{}", odd[0]))
        .await
        .unwrap()
        .expect("the unicode key is seeded under its exact name");
    assert_eq!(odd_item.src_key, odd[0]);
    assert_eq!(odd_item.out_prefix, "hls/a b+c ü 日本");
    assert!(store
        .get(&format!("s3://{ib}/{}", odd[1]))
        .await
        .unwrap()
        .is_some());

    let second = ok(&admin(&["seed", &input, &output, "--table", &table], &[]));
    assert!(
        second.contains("added 0, already present 2450, skipped (not video) 50"),
        "{second}"
    );
    let again = items(&cfg, &table).await;
    assert!(seeded == again, "a second seed changed items");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_never_resets_a_video_in_progress_done_or_failed() {
    let cfg = common::sdk().await;
    let s3 = fleet::aws::s3(&cfg);
    let table = fresh_table(&cfg, "reseed").await;
    let (ib, ob) = media::buckets(&s3).await;
    for i in 0..4 {
        put_stub(&s3, &ib, &format!("v/{i}.mp4")).await;
    }
    let (input, output) = (format!("s3://{ib}/v/"), format!("s3://{ob}/o/"));
    ok(&admin(&["seed", &input, &output, "--table", &table], &[]));
    let st = store(&cfg, &table);
    let a = st.claim("admin-test/0").await.unwrap().unwrap();
    let b = st.claim("admin-test/0").await.unwrap().unwrap();
    let c = st.claim("admin-test/0").await.unwrap().unwrap();
    st.complete(
        &b,
        &Completion {
            output: "s3://x/master.m3u8".into(),
            ffmpeg_args: vec![],
            duration_s: None,
            warnings: vec![],
            ladder: None,
        },
    )
    .await
    .unwrap();
    let failure = Failure {
        kind: FailureKind::InvalidInput,
        message: "not a video".into(),
        ffmpeg_args: None,
    };
    st.fail(&c, &failure).await.unwrap();
    let before = items(&cfg, &table).await;
    let out = ok(&admin(&["seed", &input, &output, "--table", &table], &[]));
    assert!(out.contains("added 0, already present 4"), "{out}");
    let after = items(&cfg, &table).await;
    assert_eq!(before, after, "seed touched existing items");
    let held = st.get(a.id()).await.unwrap().unwrap();
    assert_eq!((held.state, held.token), (VideoState::InProgress, a.token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_json_matches_the_table_and_retry_requeues_only_failed_videos() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "report").await;
    let st = store_with(&cfg, &table, fast_timings(), 3, clock::system(), None);
    let keys = common::seed(&st, 6, "mixed").await;
    let done = st.claim("host-a:1:x/0").await.unwrap().unwrap();
    st.complete(
        &done,
        &Completion {
            output: format!("s3://out/{}/master.m3u8", done.video.out_prefix),
            ffmpeg_args: vec!["ffmpeg".into(), "-i".into(), "in.mp4".into()],
            duration_s: Some(12.5),
            warnings: vec![],
            ladder: None,
        },
    )
    .await
    .unwrap();
    let failed = st.claim("host-a:1:x/0").await.unwrap().unwrap();
    st.fail(
        &failed,
        &Failure {
            kind: FailureKind::InvalidInput,
            message: "ffmpeg exited with 1: moov atom not found".into(),
            ffmpeg_args: Some(vec!["ffmpeg".into(), "-i".into(), "bad.mp4".into()]),
        },
    )
    .await
    .unwrap();
    let running = st.claim("host-b:2:y/1").await.unwrap().unwrap();
    st.heartbeat(&running, None).await.unwrap();

    let r = report(&table);
    assert_eq!(r["counts"]["total"], 6);
    assert_eq!(r["counts"]["done"], 1);
    assert_eq!(r["counts"]["failed"], 1);
    assert_eq!(r["counts"]["in_progress"], 1);
    assert_eq!(r["counts"]["pending"], 3);
    let videos = r["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 6);
    for v in videos {
        let source = v["source"].as_str().unwrap();
        assert!(
            keys.iter().any(|k| k == source),
            "{source} not in the table"
        );
        let item = st.get(source).await.unwrap().unwrap();
        assert_eq!(v["key"], item.src_key.as_str(), "key is the full input key");
        assert_eq!(v["state"], item.state.as_str());
        assert_eq!(v["attempts"], item.attempts);
        assert_eq!(v["worker"].as_str(), item.holder.as_deref());
        assert_eq!(v["output"].as_str(), item.output.as_deref());
        assert_eq!(v["error"].as_str(), item.error.as_deref());
    }
    let line = |pk: &str| videos.iter().find(|v| v["source"] == pk).unwrap().clone();
    let f = line(failed.id());
    assert_eq!(f["state"], "failed");
    assert!(f["error"].as_str().unwrap().contains("moov atom not found"));
    assert_eq!(f["ffmpeg_args"][2], "bad.mp4");
    let d = line(done.id());
    assert_eq!(
        d["output"].as_str().unwrap(),
        format!("s3://out/{}/master.m3u8", done.video.out_prefix)
    );
    assert_eq!(line(running.id())["worker"], "host-b:2:y/1");

    // retry --failed requeues the failed video; naming the running one leaves it alone.
    let out = ok(&admin(&["retry", "--failed", "--table", &table], &[]));
    assert!(out.contains("requeued 1 of 1"), "{out}");
    let out = ok(&admin(&["retry", running.id(), "--table", &table], &[]));
    assert!(out.contains("requeued 0 of 1"), "{out}");
    let again = st.get(failed.id()).await.unwrap().unwrap();
    assert_eq!((again.state, again.attempts), (VideoState::Pending, 0));
    let held = st.get(running.id()).await.unwrap().unwrap();
    assert_eq!(
        (held.state, held.token, held.holder.as_deref()),
        (VideoState::InProgress, running.token, Some("host-b:2:y/1"))
    );
    // The requeued video is claimable again and its holder can finish it.
    let r = report(&table);
    assert_eq!(r["counts"]["failed"], 0);
    assert_eq!(r["counts"]["pending"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_lets_a_running_worker_finish_its_video_and_resume_lets_it_go_on() {
    let cfg = common::sdk().await;
    let s3 = fleet::aws::s3(&cfg);
    let table = fresh_table(&cfg, "pause").await;
    let st = store(&cfg, &table);
    let (ib, ob) = media::buckets(&s3).await;
    let dir = tempfile::tempdir().unwrap();
    let clips = [
        Clip::new("p1.mp4", "640x360", "30", 8.0),
        Clip::new("p2.mp4", "320x180", "30", 2.0),
        Clip::new("p3.mp4", "320x180", "30", 2.0),
    ];
    let files: Vec<_> = clips
        .iter()
        .map(|c| (c.name.to_string(), c.make(dir.path())))
        .collect();
    let input = fleet::domain::keys::S3Uri {
        bucket: ib.clone(),
        key: "in/".into(),
    };
    let output = fleet::domain::keys::S3Uri {
        bucket: ob,
        key: "hls/".into(),
    };
    media::upload_and_seed(&st, &s3, &files, &input, &output).await;
    let mut worker = media::worker(&table, &dir.path().join("work"), &["--exit-when-idle"])
        .env("FLEET_X264_PRESET", "medium")
        .spawn()
        .unwrap();
    let busy = eventually(Duration::from_secs(60), "the worker to claim", || async {
        let r = report(&table);
        (r["counts"]["in_progress"] == 1).then(|| {
            r["videos"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["state"] == "in_progress")
                .unwrap()["source"]
                .as_str()
                .unwrap()
                .to_string()
        })
    })
    .await;
    let out = ok(&admin(&["pause", "--table", &table], &[]));
    assert!(out.contains("paused"), "{out}");
    assert_eq!(report(&table)["paused"], true);
    eventually(
        Duration::from_secs(120),
        "the held video to finish",
        || async {
            (st.get(&busy).await.unwrap().unwrap().state == VideoState::Done).then_some(())
        },
    )
    .await;
    // Paused: nothing more is claimed, and the worker waits rather than exiting.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let r = report(&table);
    assert_eq!(
        (r["counts"]["done"].clone(), r["counts"]["pending"].clone()),
        (Value::from(1), Value::from(2))
    );
    assert!(
        worker.try_wait().unwrap().is_none(),
        "a paused worker with work left must wait, not exit"
    );
    ok(&admin(&["resume", "--table", &table], &[]));
    let status = tokio::time::timeout(Duration::from_secs(180), worker.wait())
        .await
        .expect("the worker finished after resume")
        .unwrap();
    assert!(status.success());
    let r = report(&table);
    assert_eq!(
        (r["counts"]["done"].clone(), r["paused"].clone()),
        (Value::from(3), Value::from(false))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_finds_unseeded_orphaned_and_unpublished_videos_and_fix_repairs_them() {
    let cfg = common::sdk().await;
    let s3 = fleet::aws::s3(&cfg);
    let table = fresh_table(&cfg, "audit").await;
    let (ib, ob) = media::buckets(&s3).await;
    for k in ["a.mp4", "b.mp4", "c.mp4"] {
        put_stub(&s3, &ib, &format!("src/{k}")).await;
    }
    let (input, output) = (format!("s3://{ib}/src/"), format!("s3://{ob}/out/"));
    ok(&admin(&["seed", &input, &output, "--table", &table], &[]));
    let st = store(&cfg, &table);
    // b is done and published, then its master is deleted; a's source is deleted; d is never
    // seeded. c stays pending and fine.
    let b_pk = format!("s3://{ib}/src/b.mp4");
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(st.claim("audit/0").await.unwrap().unwrap());
    }
    let at = held.iter().position(|l| l.id() == b_pk).unwrap();
    let lease = held.remove(at);
    for l in &held {
        st.release(l, "test").await.unwrap();
    }
    let master = format!("{}/master.m3u8", lease.video.out_prefix);
    blob::put_bytes(
        &s3,
        &ob,
        &master,
        b"#EXTM3U\n".to_vec(),
        "application/vnd.apple.mpegurl",
    )
    .await
    .unwrap();
    st.complete(
        &lease,
        &Completion {
            output: format!("s3://{ob}/{master}"),
            ffmpeg_args: vec![],
            duration_s: None,
            warnings: vec![],
            ladder: None,
        },
    )
    .await
    .unwrap();
    let clean = admin(&["audit", &input, "--table", &table], &[]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );

    s3.delete_object()
        .bucket(&ob)
        .key(&master)
        .send()
        .await
        .unwrap();
    s3.delete_object()
        .bucket(&ib)
        .key("src/a.mp4")
        .send()
        .await
        .unwrap();
    put_stub(&s3, &ib, "src/d ü.mp4").await;
    let before = items(&cfg, &table).await;

    let found = admin(&["audit", &input, "--json", "--table", &table], &[]);
    assert_eq!(found.status.code(), Some(3), "findings exit with 3");
    let r: Value = serde_json::from_slice(&found.stdout).unwrap();
    assert_eq!(
        r["unseeded"],
        serde_json::json!([format!("s3://{ib}/src/d ü.mp4")])
    );
    assert_eq!(
        r["source_missing"],
        serde_json::json!([format!("s3://{ib}/src/a.mp4")])
    );
    assert_eq!(r["output_missing"], serde_json::json!([b_pk]));
    let after = items(&cfg, &table).await;
    assert_eq!(before, after, "audit without --fix wrote to the table");

    let fixed = ok(&admin(&["audit", &input, "--fix", "--table", &table], &[]));
    assert!(
        fixed.contains("fixed: seeded 1, deleted 1, requeued 1"),
        "{fixed}"
    );
    let d = st
        .get(&format!("s3://{ib}/src/d ü.mp4"))
        .await
        .unwrap()
        .expect("d seeded");
    assert_eq!(
        (d.out_bucket.as_str(), d.out_prefix.as_str()),
        (ob.as_str(), "out/d ü")
    );
    assert!(st
        .get(&format!("s3://{ib}/src/a.mp4"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        st.get(&b_pk).await.unwrap().unwrap().state,
        VideoState::Pending
    );
    let second = ok(&admin(&["audit", &input, "--table", &table], &[]));
    assert!(second.trim_end().ends_with("clean"), "{second}");
}

/// A command line, its extra environment, and a word its error must contain.
type Case<'a> = (Vec<&'a str>, &'a [(&'a str, &'a str)], &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_error_and_writes_nothing() {
    let cfg = common::sdk().await;
    let s3 = fleet::aws::s3(&cfg);
    let table = fresh_table(&cfg, "bad").await;
    let (ib, ob) = media::buckets(&s3).await;
    put_stub(&s3, &ib, "v/a.mp4").await;
    let input = format!("s3://{ib}/v/");
    let output = format!("s3://{ob}/o/");
    // No keys in the environment, empty config files, no instance metadata.
    let empty = tempfile::NamedTempFile::new().unwrap();
    let empty = empty.path().to_str().unwrap().to_string();
    let no_creds = [
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("AWS_SESSION_TOKEN", ""),
        ("AWS_CONFIG_FILE", empty.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", empty.as_str()),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let missing_table = format!("{table}-missing");
    let cases: Vec<Case> = vec![
        (
            vec!["seed", "bucket/prefix", &output, "--table", &table],
            &[],
            "s3://",
        ),
        (
            vec!["seed", "s3://", &output, "--table", &table],
            &[],
            "bucket",
        ),
        (
            vec![
                "seed",
                "s3://fleet-it-no-such-bucket-x/v/",
                &output,
                "--table",
                &table,
            ],
            &[],
            "fleet-it-no-such-bucket-x",
        ),
        (
            vec!["seed", &input, &output, "--table", &missing_table],
            &[],
            "fleet-admin init",
        ),
        (
            vec!["report", "--table", &missing_table],
            &[],
            "does not exist",
        ),
        (
            vec!["seed", &input, &output, "--table", &table],
            &no_creds,
            "credentials",
        ),
    ];
    for (args, env, expect) in &cases {
        let out = admin(args, env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.to_lowercase().contains(&expect.to_lowercase()),
            "{args:?}: error does not mention {expect:?}: {err}"
        );
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: not a one-line error: {err}"
        );
    }
    assert!(
        items(&cfg, &table).await.is_empty(),
        "a failed command wrote"
    );
    let ddb = fleet::aws::dynamodb(&cfg, Duration::from_secs(10));
    assert!(
        fleet::admin::require_table(&ddb, &missing_table)
            .await
            .is_err(),
        "a failed command created the table"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimate_prices_the_open_videos_of_a_seeded_table() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "estimate").await;
    let st = store(&cfg, &table);
    let now = chrono::Utc::now().timestamp_millis();
    let item = |name: &str, bytes: u64| {
        fleet::domain::video::seeded(
            &fleet::domain::keys::S3Uri {
                bucket: "in".into(),
                key: format!("course/{name}"),
            },
            "out",
            &format!("hls/{name}"),
            bytes,
            now,
            fleet::store::schema::schema().ready_shards,
        )
    };
    // One probed video sets the bitrate: 450 MB for 600 s is 6 Mb/s.
    let mut done = item("done.mp4", 450_000_000);
    done.state = VideoState::Done;
    done.duration_s = Some(600.0);
    done.ready_at = None;
    done.shard = None;
    assert!(st.insert_new(&done).await.unwrap());
    // Two open ones: 2.7 GB (an hour at 6 Mb/s) and 1.35 GB (half an hour).
    for (n, b) in [
        ("one hour.mp4", 2_700_000_000),
        ("half an hour.mp4", 1_350_000_000),
    ] {
        assert!(st.insert_new(&item(n, b)).await.unwrap());
    }

    let json = |extra: &[&str]| -> Value {
        let mut args = vec!["--table", &table, "estimate", "--json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&ok(&admin(&args, &[]))).unwrap()
    };
    let e = json(&["--instances", "2", "--rate-control", "fixed"]);
    let found = &e["found"];
    assert_eq!(found["batch"]["videos"], 2);
    assert_eq!(found["probed"], 0);
    assert_eq!(found["bitrate_measured"], true);
    let content = found["batch"]["content_s"].as_f64().unwrap();
    assert!((content - 5_400.0).abs() < 1e-6, "{content}");
    // Busy 5,400 × 1.23 / 4 = 1,660.5 instance-s; boot and idle tail 2 × 1,080; the uneven
    // end 2 × (1,660.5 / 2) / 2.
    let hours = e["estimate"]["instance_hours"].as_f64().unwrap();
    let want = (1_660.5 + 2.0 * 1_080.0 + 830.25) / 3600.0;
    assert!((hours - want).abs() < 1e-9, "{hours} vs {want}");
    let lines = e["estimate"]["lines"].as_array().unwrap();
    let usd = |item: &str| {
        lines
            .iter()
            .find(|l| l["item"] == item)
            .unwrap_or_else(|| panic!("no {item} in {lines:?}"))["usd"]
            .as_f64()
            .unwrap()
    };
    assert!((usd("compute") - want * 0.136).abs() < 1e-9);
    assert!(usd("NAT gateway") > 0.0, "NAT by default");
    let total = e["estimate"]["total_usd"].as_f64().unwrap();
    let per_hour = e["estimate"]["per_content_hour_usd"].as_f64().unwrap();
    assert!((per_hour - total / 1.5).abs() < 1e-9);
    assert_eq!(
        e["mediaconvert"]["normalized_minutes_per_content_hour"],
        480.0
    );

    // Endpoints take the NAT line to zero; the analysis adds CPU.
    let e2 = json(&["--instances", "2", "--network", "endpoints"]);
    let lines2 = e2["estimate"]["lines"].as_array().unwrap();
    assert!(lines2.iter().all(|l| l["item"] != "NAT gateway"));
    assert!(e2["estimate"]["instance_hours"].as_f64().unwrap() > hours);

    // For people: the bill, the total per content-hour and MediaConvert's list price beside.
    let text = ok(&admin(&["--table", &table, "estimate"], &[]));
    for want in [
        "open videos: 2",
        "compute",
        "total",
        "per content-hour",
        "MediaConvert",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
}
