//! Faults with real servers: DynamoDB Local and the S3 server restarted mid-run, latency and
//! connection resets between the workers and both, and videos no worker can process.

use crate::common::media::{self, Clip};
use crate::common::proxy::FaultProxy;
use crate::common::servers::{self, Dynamo, Garage};
use crate::common::stage::{stage_files, Stage};
use crate::common::{eventually, fast_timings, store_with, unique};
use fleet::domain::keys::S3Uri;
use fleet::domain::VideoState;
use fleet::store::dynamo::{create_table, DynamoStore};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

async fn wait_ok(child: &mut tokio::process::Child, what: &str) {
    let status = tokio::time::timeout(Duration::from_secs(300), child.wait())
        .await
        .unwrap_or_else(|_| panic!("{what} did not exit"))
        .unwrap();
    assert!(status.success(), "{what} exited with {status}");
}

fn clips(dir: &std::path::Path, n: usize, seconds: f64) -> Vec<(String, PathBuf)> {
    (0..n)
        .map(|i| {
            let name: &'static str = Box::leak(format!("fault {i}.mp4").into_boxed_str());
            let c = Clip::new(name, "640x360", "30", seconds);
            (c.name.to_string(), c.make(dir))
        })
        .collect()
}

/// Where the workers of a test record their history (`FLEET_HISTORY_FILE`).
fn history(dir: &std::path::Path) -> PathBuf {
    dir.join("history.jsonl")
}

/// Every video `done` exactly once, its stream whole and pointing at the winner's renditions,
/// and the workers' recorded history (see [`history`]) free of protocol violations.
async fn all_done_once(
    store: &DynamoStore,
    s3: &aws_sdk_s3::Client,
    pks: &[String],
    dir: &std::path::Path,
    seconds: f64,
) {
    let mut items = Vec::new();
    for pk in pks {
        items.push(store.get(pk).await.unwrap().expect("seeded"));
    }
    let summary = crate::common::history::check(&history(dir), &items);
    eprintln!("history: {summary:?}");
    assert!(summary.claims >= pks.len(), "{summary:?}");
    for pk in pks {
        let item = store.get(pk).await.unwrap().expect("seeded");
        assert_eq!(item.state, VideoState::Done, "{pk}: {:?}", item.error);
        let local = dir.join("fetched").join(&item.out_prefix);
        media::download_prefix(
            s3,
            &item.out_bucket,
            &format!("{}/", item.out_prefix),
            &local,
        )
        .await;
        let master = std::fs::read_to_string(local.join("master.m3u8")).unwrap();
        for v in media::variants(&master) {
            assert!(
                v.uri.starts_with(&format!("t{}/", item.token)),
                "{pk}: {}",
                v.uri
            );
        }
        media::check_stream(&local, seconds, Some((640, 360)), false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_and_s3_restarted_mid_run_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut ddb = Dynamo::start(&dir.path().join("ddb"));
    let mut garage = Garage::start(&dir.path().join("garage"));
    let ddb_cfg = servers::sdk_at(&ddb.url(), servers::fleet_key()).await;
    let s3 = fleet::aws::s3(&servers::sdk_at(&garage.url(), servers::fleet_key()).await);
    let table = unique("restart");
    create_table(
        &fleet::aws::dynamodb(&ddb_cfg, Duration::from_secs(30)),
        &table,
    )
    .await
    .unwrap();
    let store = store_with(
        &ddb_cfg,
        &table,
        fast_timings(),
        3,
        fleet::clock::system(),
        None,
    );
    let (ib, ob) = media::buckets(&s3).await;
    let input = S3Uri {
        bucket: ib,
        key: "in/".into(),
    };
    let output = S3Uri {
        bucket: ob.clone(),
        key: "hls/".into(),
    };
    let files = clips(dir.path(), 4, 12.0);
    media::upload_and_seed(&store, &s3, &files, &input, &output).await;
    let pks: Vec<String> = files
        .iter()
        .map(|(n, _)| format!("s3://{}/in/{n}", input.bucket))
        .collect();
    let spawn = |n: &str| {
        media::worker(
            &table,
            &dir.path().join(format!("work-{n}")),
            &[
                "--exit-when-idle",
                "--lease-seconds",
                "20",
                "--heartbeat-seconds",
                "2",
            ],
        )
        .env("AWS_ENDPOINT_URL_DYNAMODB", ddb.url())
        .env("AWS_ENDPOINT_URL_S3", garage.url())
        .env("FLEET_X264_PRESET", "medium")
        .env("FLEET_HISTORY_FILE", history(dir.path()))
        .spawn()
        .unwrap()
    };
    let (mut a, mut b) = (spawn("a"), spawn("b"));
    // DynamoDB goes away while videos are held and heartbeated, and comes back with its data.
    eventually(Duration::from_secs(120), "a video encoding", || async {
        for pk in &pks {
            if let Ok(Some(i)) = store.get(pk).await {
                if i.progress.is_some_and(|p| p.phase == "encode") {
                    return Some(());
                }
            }
        }
        None
    })
    .await;
    tokio::task::block_in_place(|| ddb.restart());
    // The S3 server goes away while segments are going up.
    eventually(Duration::from_secs(120), "segments uploading", || async {
        let keys = fleet::blob::list_keys(&s3, &ob, "hls/").await.ok()?;
        keys.iter().any(|(k, _)| k.ends_with(".ts")).then_some(())
    })
    .await;
    tokio::task::block_in_place(|| garage.restart());
    wait_ok(&mut a, "worker a").await;
    wait_ok(&mut b, "worker b").await;
    all_done_once(&store, &s3, &pks, dir.path(), 12.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_and_connection_resets_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = clips(dir.path(), 4, 12.0);
    let st: Stage = stage_files("resets", dir, &files).await;
    let ddb = FaultProxy::to_endpoint_in("AWS_ENDPOINT_URL_DYNAMODB").await;
    let s3 = FaultProxy::to_endpoint_in("AWS_ENDPOINT_URL_S3").await;
    for p in [&ddb, &s3] {
        p.faults.latency_ms.store(2, Ordering::Relaxed);
        p.faults.reset_per_10k.store(100, Ordering::Relaxed);
    }
    let spawn = |n: &str| {
        media::worker(
            &st.table,
            &st.work(n),
            &[
                "--exit-when-idle",
                "--lease-seconds",
                "10",
                "--heartbeat-seconds",
                "2",
            ],
        )
        .env("AWS_ENDPOINT_URL_DYNAMODB", ddb.url())
        .env("AWS_ENDPOINT_URL_S3", s3.url())
        .env("FLEET_HISTORY_FILE", history(st.dir.path()))
        .spawn()
        .unwrap()
    };
    let (mut a, mut b) = (spawn("a"), spawn("b"));
    wait_ok(&mut a, "worker a").await;
    wait_ok(&mut b, "worker b").await;
    let resets =
        ddb.faults.resets.load(Ordering::Relaxed) + s3.faults.resets.load(Ordering::Relaxed);
    assert!(
        resets > 0,
        "the proxy reset no connection: the test proved nothing"
    );
    eprintln!("resets injected: {resets}");
    let pks: Vec<String> = files.iter().map(|(n, _)| st.pk(n)).collect();
    all_done_once(&st.store, &st.s3, &pks, st.dir.path(), 12.0).await;
}

/// Two worker processes against a throttled table: the proxy answers 15% of DynamoDB requests
/// `ProvisionedThroughputExceededException` and half the claims' consistent reads with every
/// key unprocessed (heartbeats every second meet it too). Every video is done once, its stream
/// whole, and the recorded history is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_table_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = clips(dir.path(), 4, 8.0);
    let st: Stage = stage_files("throttled", dir, &files).await;
    let ddb = FaultProxy::to_endpoint_in("AWS_ENDPOINT_URL_DYNAMODB").await;
    ddb.faults.throttle_per_10k.store(1_500, Ordering::Relaxed);
    ddb.faults
        .unprocessed_per_10k
        .store(5_000, Ordering::Relaxed);
    let spawn = |n: &str| {
        media::worker(
            &st.table,
            &st.work(n),
            &[
                "--exit-when-idle",
                "--lease-seconds",
                "10",
                "--heartbeat-seconds",
                "1",
            ],
        )
        .env("AWS_ENDPOINT_URL_DYNAMODB", ddb.url())
        .env("FLEET_RATE_CONTROL", "fixed")
        .env("FLEET_HISTORY_FILE", history(st.dir.path()))
        .spawn()
        .unwrap()
    };
    let (mut a, mut b) = (spawn("a"), spawn("b"));
    wait_ok(&mut a, "worker a").await;
    wait_ok(&mut b, "worker b").await;
    let (throttled, unprocessed) = (
        ddb.faults.throttled.load(Ordering::Relaxed),
        ddb.faults.unprocessed.load(Ordering::Relaxed),
    );
    eprintln!("throttled: {throttled}, batch reads answered unprocessed: {unprocessed}");
    assert!(throttled > 0 && unprocessed > 0, "no fault injected");
    let pks: Vec<String> = files.iter().map(|(n, _)| st.pk(n)).collect();
    all_done_once(&st.store, &st.s3, &pks, st.dir.path(), 8.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videos_no_worker_can_process_fail_with_their_reason_and_the_rest_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let good = Clip::new("good.mp4", "320x180", "30", 2.0).make(dir.path());
    let mut files = vec![("good.mp4".to_string(), good.clone())];
    // Larger than the worker's disk can ever hold (a 300 MB tmpfs; a job needs its source
    // plus 256 MB of working room): only where a tmpfs can be mounted.
    let work = dir.path().join("tiny");
    std::fs::create_dir_all(&work).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=300m", "tmpfs"])
        .arg(&work)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        let huge = dir.path().join("huge.mp4");
        std::fs::write(&huge, vec![0u8; 60 << 20]).unwrap();
        files.push(("huge.mp4".to_string(), huge));
    } else {
        eprintln!("NOTE: cannot mount a tmpfs here; the larger-than-disk video is not tested");
    }
    let st = stage_files("unprocessable", tempfile::tempdir().unwrap(), &files).await;
    // A source in a bucket whose reads answer 403 (see FaultProxy::deny_bucket).
    let denied = unique("denied");
    fleet::blob::ensure_bucket(&st.s3, &denied).await.unwrap();
    let denied_in = S3Uri {
        bucket: denied.clone(),
        key: "in/".into(),
    };
    let secret_file = [("secret.mp4".to_string(), good)];
    media::upload_and_seed(&st.store, &st.s3, &secret_file, &denied_in, &st.output).await;
    let proxy = FaultProxy::to_endpoint_in("AWS_ENDPOINT_URL_S3").await;
    *proxy.faults.deny_bucket.lock().unwrap() = Some(denied.clone());
    let mut w = media::worker(
        &st.table,
        &work,
        &["--exit-when-idle", "--disk-reserve-mb", "1"],
    )
    .env("AWS_ENDPOINT_URL_S3", proxy.url())
    .spawn()
    .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(180), w.wait())
        .await
        .expect("the worker finished")
        .unwrap();
    if mounted {
        let _ = std::process::Command::new("umount").arg(&work).status();
    }
    assert!(
        status.success(),
        "the videos' trouble is not the worker's: {status}"
    );
    assert!(proxy.faults.denied.load(Ordering::Relaxed) >= 3);
    assert_eq!(st.state("good.mp4").await.state, VideoState::Done);
    let secret_pk = format!("s3://{denied}/in/secret.mp4");
    let secret = st.store.get(&secret_pk).await.unwrap().unwrap();
    assert_eq!((secret.state, secret.attempts), (VideoState::Failed, 3));
    let e = secret.error.unwrap_or_default();
    assert!(
        e.contains("source not readable") && e.contains("denied"),
        "{e}"
    );
    if mounted {
        let huge = st.state("huge.mp4").await;
        assert_eq!((huge.state, huge.attempts), (VideoState::Failed, 3));
        let e = huge.error.unwrap_or_default();
        assert!(e.contains("can ever hold"), "{e}");
    }
}

/// A body cut off mid-stream resumes where it stopped, and a burst of resets longer than the
/// SDK's default three tries is outlasted. Both faults are deterministic: every connection is
/// cut after 24 chunks (384 KiB), so a 6 MiB source can only arrive in 16 or more GETs (a
/// part restarted from its first byte never would), and the 4 connections after that are
/// reset at once, so an upload needs a fifth try.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_download_resumes_and_a_burst_of_resets_is_outlasted() {
    let cfg = crate::common::sdk().await;
    let direct = fleet::aws::s3(&cfg);
    let (bucket, _) = media::buckets(&direct).await;
    let dir = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..6 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let key = "in/cut off ü.mp4";
    fleet::blob::put_bytes(&direct, &bucket, key, bytes.clone(), "video/mp4")
        .await
        .unwrap();
    let proxy = FaultProxy::to_endpoint_in("AWS_ENDPOINT_URL_S3").await;
    let via = fleet::aws::s3(&servers::sdk_at(&proxy.url(), servers::fleet_key()).await);

    proxy.faults.cut_after_chunks.store(24, Ordering::Relaxed);
    let dest = dir.path().join("source");
    let got = fleet::blob::download(&via, &bucket, key, bytes.len() as u64, &dest)
        .await
        .expect("a download cut off every 384 KiB completes");
    let cuts = proxy.faults.resets.swap(0, Ordering::Relaxed);
    assert_eq!(got, bytes.len() as u64);
    assert!(std::fs::read(&dest).unwrap() == bytes, "bytes differ");
    assert!(cuts >= 15, "only {cuts} cuts: the body was not cut off");
    eprintln!("download survived {cuts} cuts");

    proxy.faults.cut_after_chunks.store(0, Ordering::Relaxed);
    proxy.faults.reset_next.store(4, Ordering::Relaxed);
    fleet::blob::put_bytes(
        &via,
        &bucket,
        "out/seg.ts",
        vec![7u8; 200_000],
        "video/mp2t",
    )
    .await
    .expect("an upload outlasts 4 resets in a row");
    assert_eq!(proxy.faults.resets.load(Ordering::Relaxed), 4);
    assert_eq!(
        fleet::blob::size(&direct, &bucket, "out/seg.ts")
            .await
            .unwrap(),
        200_000
    );
}

/// A master PUT that S3 holds without answering ends its attempt at the lease's deadline,
/// recorded as a transient failure with the reason, instead of hanging on (a stale master
/// landing long after a takeover) or giving the lease up in silence; the retry publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_upload_that_hangs_ends_its_attempt_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let files = clips(dir.path(), 1, 4.0);
    let name = files[0].0.clone();
    let st: Stage = stage_files("hung-master", dir, &files).await;
    let s3 = FaultProxy::to_endpoint_in("AWS_ENDPOINT_URL_S3").await;
    *s3.faults.stall_matching.lock().unwrap() = Some("master.m3u8".into());
    let mut w = media::worker(
        &st.table,
        &st.work("a"),
        &[
            "--exit-when-idle",
            "--lease-seconds",
            "6",
            "--heartbeat-seconds",
            "2",
            // Time to lift the hold before the retry is due.
            "--retry-base-seconds",
            "10",
        ],
    )
    .env("AWS_ENDPOINT_URL_S3", s3.url())
    .spawn()
    .unwrap();
    eventually(Duration::from_secs(120), "the master PUT held", || async {
        (s3.faults.stalled.load(Ordering::Relaxed) > 0).then_some(())
    })
    .await;
    let held = std::time::Instant::now();
    // Without the bound the SDK waits out its 30 s read timeout, 8 times.
    let item = eventually(Duration::from_secs(40), "the attempt to end", || async {
        let item = st.state(&name).await;
        item.error
            .as_deref()
            .is_some_and(|e| e.contains("master playlist"))
            .then_some(item)
    })
    .await;
    eprintln!(
        "attempt ended {:.1} s after the master PUT was held",
        held.elapsed().as_secs_f64()
    );
    assert_eq!(item.error_kind.as_deref(), Some("transient"), "{item:?}");
    assert_eq!(item.token, 1);
    *s3.faults.stall_matching.lock().unwrap() = None;
    wait_ok(&mut w, "worker").await;
    let item = st.state(&name).await;
    assert_eq!(item.state, VideoState::Done, "{:?}", item.error);
    assert_eq!(item.attempts, 2);
    let local = st.fetch(&name).await;
    let master = std::fs::read_to_string(local.join("master.m3u8")).unwrap();
    for v in media::variants(&master) {
        assert!(v.uri.starts_with(&format!("t{}/", item.token)), "{}", v.uri);
    }
    media::check_stream(&local, 4.0, Some((640, 360)), false);
}

/// A holder whose heartbeats hang (the proxy holds every heartbeat UpdateItem, nothing else)
/// stops itself at its deadline and, since nobody took over, hands the video on at once with
/// a fenced release, instead of leaving it held until lease + skew. The stalled attempt counts
/// once, as lapsed, by that release (a video that stalls every holder is bounded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_cannot_heartbeat_self_fences_and_hands_the_video_on() {
    let dir = tempfile::tempdir().unwrap();
    let files = clips(dir.path(), 1, 60.0);
    let name = files[0].0.clone();
    let st: Stage = stage_files("self-fence", dir, &files).await;
    let ddb = FaultProxy::to_endpoint_in("AWS_ENDPOINT_URL_DYNAMODB").await;
    // Heartbeats are the only writes that carry `:exp`; the claim does not, so the first
    // heartbeat of the job hangs. The slow preset keeps the encode going well past the lease.
    *ddb.faults.stall_matching.lock().unwrap() = Some("\":exp\"".into());
    let mut w = media::worker(
        &st.table,
        &st.work("a"),
        &[
            "--exit-when-idle",
            "--lease-seconds",
            "6",
            "--heartbeat-seconds",
            "2",
        ],
    )
    .env("AWS_ENDPOINT_URL_DYNAMODB", ddb.url())
    .env("FLEET_X264_PRESET", "slow")
    .spawn()
    .unwrap();
    let item = eventually(Duration::from_secs(60), "the video handed on", || async {
        let item = st.state(&name).await;
        item.error
            .as_deref()
            .is_some_and(|e| e.contains("released: the lease could not be renewed in time"))
            .then_some(item)
    })
    .await;
    assert!(ddb.faults.stalled.load(Ordering::Relaxed) > 0);
    // Handed on at once by the release (the worker may already have claimed it again), the
    // stalled attempt counted as lapsed by it.
    assert_eq!(item.lapsed, 1, "{item:?}");
    *ddb.faults.stall_matching.lock().unwrap() = None;
    wait_ok(&mut w, "worker").await;
    let item = st.state(&name).await;
    assert_eq!(item.state, VideoState::Done, "{:?}", item.error);
    assert_eq!(
        (item.attempts, item.lapsed),
        (2, 1),
        "no takeover lapse on top: {item:?}"
    );
    media::check_stream(&st.fetch(&name).await, 60.0, Some((640, 360)), false);
}
