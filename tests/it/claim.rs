//! The claim engine against DynamoDB Local: exclusivity under contention, expiry and fencing,
//! bounded attempts, no Scan, and retries through injected throttling and lost responses.

use crate::common::faults::{FaultInterceptor, Faults, Mode};
use crate::common::{self, eventually, fast_timings, fresh_table, seed, store, store_with};
use fleet::clock::{self, OffsetClock};
use fleet::domain::{FailureKind, VideoState};
use fleet::error::StoreError;
use fleet::store::{Completion, Failure, Lease, VideoStore};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One claim-to-complete interval, for the exclusivity check.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Held {
    pub video: String,
    pub token: u64,
    pub holder: String,
    pub from_ms: i64,
    pub to_ms: i64,
}

fn done(lease: &Lease) -> Completion {
    Completion {
        output: format!("s3://out/{}/master.m3u8", lease.video.out_prefix),
        ffmpeg_args: vec!["ffmpeg".into()],
        duration_s: Some(1.0),
        warnings: vec![],
        ladder: None,
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Claims and completes until nothing is claimable, recording every interval.
pub async fn claim_loop(store: Arc<dyn VideoStore>, holder: String, log: Arc<Mutex<Vec<Held>>>) {
    let mut idle = 0;
    while idle < 3 {
        let lease = match store.claim(&holder).await {
            Ok(Some(l)) => l,
            Ok(None) => {
                idle += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) if e.is_retryable() => continue,
            Err(e) => panic!("claim failed: {e:?}"),
        };
        idle = 0;
        let from_ms = now_ms();
        tokio::time::sleep(Duration::from_millis(rand::random_range(0..5))).await;
        store
            .complete(&lease, &done(&lease))
            .await
            .expect("complete");
        log.lock().unwrap().push(Held {
            video: lease.id().to_string(),
            token: lease.token,
            holder: holder.clone(),
            from_ms,
            to_ms: now_ms(),
        });
    }
}

/// Every video completed exactly once and no two holders' intervals overlap.
pub fn check_exclusive(log: &[Held], videos: &[String]) {
    let mut by_video: HashMap<&str, Vec<&Held>> = HashMap::new();
    for h in log {
        by_video.entry(&h.video).or_default().push(h);
    }
    for v in videos {
        let held = by_video.get(v.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(
            held.len(),
            1,
            "{v} completed {} times: {held:?}",
            held.len()
        );
    }
    for (v, held) in &by_video {
        for (i, a) in held.iter().enumerate() {
            for b in &held[i + 1..] {
                assert!(
                    a.to_ms < b.from_ms || b.to_ms < a.from_ms,
                    "two live holders of {v}: {a:?} and {b:?}"
                );
            }
        }
    }
}

async fn states(
    store: &fleet::store::dynamo::DynamoStore,
    videos: &[String],
) -> HashMap<VideoState, usize> {
    let mut out = HashMap::new();
    for v in videos {
        let item = store.get(v).await.unwrap().expect("item exists");
        *out.entry(item.state).or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_claimers_complete_each_video_exactly_once() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "claim16").await;
    let s = store(&cfg, &table);
    let videos = seed(&s, 300, "c16").await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let st: Arc<dyn VideoStore> = Arc::new(store(&cfg, &table));
            tokio::spawn(claim_loop(st, format!("task-{i}"), log.clone()))
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let log = log.lock().unwrap().clone();
    check_exclusive(&log, &videos);
    let counts = states(&s, &videos).await;
    assert_eq!(counts.get(&VideoState::Done), Some(&300), "{counts:?}");
    // Every claimer did some of the work: contention was real.
    let holders: std::collections::HashSet<_> = log.iter().map(|h| &h.holder).collect();
    assert!(
        holders.len() >= 8,
        "only {} claimers won anything",
        holders.len()
    );
}

#[tokio::test]
async fn the_exclusivity_check_can_fail() {
    // Negative control: two holders overlapping on one video, and a video completed twice,
    // are both caught.
    let h = |holder: &str, a, b| Held {
        video: "v".into(),
        token: 1,
        holder: holder.into(),
        from_ms: a,
        to_ms: b,
    };
    let overlapping = vec![h("a", 0, 10), h("b", 5, 15)];
    assert!(std::panic::catch_unwind(|| check_exclusive(&overlapping, &[])).is_err());
    assert!(std::panic::catch_unwind(|| check_exclusive(&overlapping, &["v".into()])).is_err());
    check_exclusive(&[h("a", 0, 10)], &["v".into()]);
}

#[tokio::test]
async fn a_holder_that_stops_heartbeating_loses_the_video_and_is_fenced() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "expiry").await;
    let a = store(&cfg, &table);
    let b = store(&cfg, &table);
    let videos = seed(&a, 1, "exp").await;

    let la = a.claim("A").await.unwrap().expect("A claims");
    assert_eq!(la.token, 1);
    // A heartbeats once: extends and keeps the token.
    let r = a.heartbeat(&la, None).await.unwrap();
    assert!(r.expires >= la.expires);
    // While A's lease is live, B finds nothing.
    assert!(b.claim("B").await.unwrap().is_none());

    // A stops heartbeating; B takes over only after expiry + skew.
    let lb = eventually(Duration::from_secs(10), "takeover by B", || async {
        b.claim("B").await.unwrap()
    })
    .await;
    let t = fast_timings();
    assert!(
        now_ms() > r.expires + fleet::domain::lease::ms(t.skew),
        "taken over early"
    );
    assert!(
        lb.token > la.token,
        "token must grow: {} -> {}",
        la.token,
        lb.token
    );

    // The old holder is fenced: heartbeat, complete, fail and release are all rejected.
    assert!(matches!(
        a.heartbeat(&la, None).await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(matches!(
        a.complete(&la, &done(&la)).await,
        Err(StoreError::LeaseLost { .. })
    ));
    let f = Failure {
        kind: FailureKind::Transient,
        message: "x".into(),
        ffmpeg_args: None,
    };
    assert!(matches!(
        a.fail(&la, &f).await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(matches!(
        a.release(&la, "test").await,
        Err(StoreError::LeaseLost { .. })
    ));
    match a.heartbeat(&la, None).await {
        Err(StoreError::LeaseLost {
            holder, now_token, ..
        }) => {
            assert_eq!(holder.as_deref(), Some("B"));
            assert_eq!(now_token, Some(lb.token));
        }
        other => panic!("expected LeaseLost, got {other:?}"),
    }

    b.complete(&lb, &done(&lb)).await.unwrap();
    let item = a.get(&videos[0]).await.unwrap().unwrap();
    assert_eq!(item.state, VideoState::Done);
    assert_eq!(item.token, lb.token);
    assert_eq!(item.holder.as_deref(), Some("B"));
    assert!(
        item.shard.is_none(),
        "a done video must leave the ready index"
    );
    // Complete is idempotent for the winner and still rejected for the loser.
    b.complete(&lb, &done(&lb)).await.unwrap();
    assert!(matches!(
        a.complete(&la, &done(&la)).await,
        Err(StoreError::LeaseLost { .. })
    ));
}

#[tokio::test]
async fn a_taker_within_the_skew_budget_never_takes_a_live_lease() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "skew").await;
    let t = fast_timings();
    let holder = store(&cfg, &table);
    let skew_ms = fleet::domain::lease::ms(t.skew);
    // The taker's clock runs a full skew budget ahead of the holder's.
    let ahead = store_with(
        &cfg,
        &table,
        t,
        3,
        Arc::new(OffsetClock { offset_ms: skew_ms }),
        None,
    );
    seed(&holder, 1, "skew").await;
    let l = holder.claim("H").await.unwrap().unwrap();
    // Until the holder's lease has really expired, the fast-clock taker finds nothing. Only a
    // claim that came back before the expiry was decided while the lease was live: one that
    // ends later (a slow server on a busy machine) may rightly win, and ends the loop.
    let mut checked = 0;
    loop {
        let took = ahead.claim("T").await.unwrap();
        if now_ms() >= l.expires {
            break;
        }
        assert!(took.is_none(), "took a live lease");
        checked += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(checked > 0, "no claim came back while the lease was live");
    // Negative control: a taker beyond the budget (2 s ahead with 0.5 s allowed) takes the
    // lease while the holder is still inside its own lease: the budget is what protects us.
    // A 30 s lease here, so that even a slow server answers well inside it.
    let long = fleet::domain::LeaseTimings::new(
        Duration::from_secs(30),
        Duration::from_secs(10),
        t.skew,
        t.margin,
    )
    .unwrap();
    let table2 = fresh_table(&cfg, "skew2").await;
    let h2 = store_with(&cfg, &table2, long, 3, clock::system(), None);
    let rogue = store_with(
        &cfg,
        &table2,
        long,
        3,
        Arc::new(OffsetClock { offset_ms: 32_000 }),
        None,
    );
    seed(&h2, 1, "skew2").await;
    let l2 = h2.claim("H").await.unwrap().unwrap();
    assert!(
        rogue.claim("R").await.unwrap().is_some(),
        "a rogue clock should win early"
    );
    assert!(now_ms() < l2.expires);
}

#[tokio::test]
async fn a_late_heartbeat_never_shortens_the_lease() {
    // A heartbeat computed 20 s earlier (held in the network and delivered late) lands after a
    // newer one: the lease keeps the newer expiry, and the holder is told it still holds the
    // video.
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "late-beat").await;
    let holder = store(&cfg, &table);
    seed(&holder, 1, "late-beat").await;
    let l = holder.claim("H").await.unwrap().unwrap();
    let newer = holder.heartbeat(&l, None).await.unwrap();
    let mut late = l.clone();
    late.anchor.0 -= 20_000;
    let stored = |store: &fleet::store::dynamo::DynamoStore| {
        let store = store.clone();
        let id = l.id().to_string();
        async move {
            store
                .get(&id)
                .await
                .unwrap()
                .unwrap()
                .lease_expires
                .unwrap()
        }
    };
    assert_eq!(stored(&holder).await, newer.expires);
    let old = holder
        .heartbeat(&late, None)
        .await
        .expect("still the holder's");
    assert_eq!(
        stored(&holder).await,
        newer.expires,
        "the late heartbeat shortened the lease"
    );
    assert_eq!(old.expires, newer.expires, "told the expiry that holds");
    // A newer one still extends it.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let later = holder.heartbeat(&l, None).await.unwrap();
    assert!(later.expires > newer.expires);
    assert_eq!(stored(&holder).await, later.expires);
}

#[tokio::test]
async fn attempts_are_bounded_and_failed_videos_are_not_claimed_again() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "attempts").await;
    let s = store(&cfg, &table);
    let videos = seed(&s, 2, "att").await;
    let transient = Failure {
        kind: FailureKind::Transient,
        message: "S3 reset the connection".into(),
        ffmpeg_args: Some(vec!["ffmpeg".into(), "-i".into(), "x".into()]),
    };
    // Fail every attempt of whichever video we get until both are failed.
    let mut results = Vec::new();
    while let Some(l) = s.claim("W").await.unwrap() {
        results.push((l.id().to_string(), s.fail(&l, &transient).await.unwrap()));
        assert!(
            results.len() <= 6,
            "more than max_attempts claims: {results:?}"
        );
    }
    assert_eq!(results.len(), 6, "{results:?}");
    for v in &videos {
        let item = s.get(v).await.unwrap().unwrap();
        assert_eq!(item.state, VideoState::Failed);
        assert_eq!(item.attempts, 3);
        assert_eq!(item.error.as_deref(), Some("S3 reset the connection"));
        assert_eq!(item.error_kind.as_deref(), Some("transient"));
        assert_eq!(item.ffmpeg_args.as_ref().map(Vec::len), Some(3));
        assert!(item.shard.is_none() && item.ready_at.is_none());
    }
    assert!(s.claim("W").await.unwrap().is_none());

    // Invalid input fails at once, burning one attempt only.
    let table = fresh_table(&cfg, "invalid").await;
    let s = store(&cfg, &table);
    let v = seed(&s, 1, "inv").await;
    let l = s.claim("W").await.unwrap().unwrap();
    let bad = Failure {
        kind: FailureKind::InvalidInput,
        message: "moov atom not found".into(),
        ffmpeg_args: None,
    };
    assert_eq!(s.fail(&l, &bad).await.unwrap(), VideoState::Failed);
    let item = s.get(&v[0]).await.unwrap().unwrap();
    assert_eq!((item.state, item.attempts), (VideoState::Failed, 1));
    assert!(s.claim("W").await.unwrap().is_none());
}

#[tokio::test]
async fn a_video_whose_holders_keep_dying_is_given_up() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "abandon").await;
    let t = fleet::domain::LeaseTimings::new(
        Duration::from_millis(600),
        Duration::from_millis(200),
        Duration::from_millis(100),
        Duration::from_millis(100),
    )
    .unwrap();
    let s = store_with(&cfg, &table, t, 2, clock::system(), None);
    let v = seed(&s, 1, "ab").await;
    // Two holders claim and vanish.
    for i in 0..2 {
        eventually(Duration::from_secs(5), "claim", || async {
            s.claim(&format!("dies-{i}")).await.unwrap()
        })
        .await;
    }
    // The next claimer finds the attempts used up and gives the video up instead.
    let item = eventually(Duration::from_secs(5), "abandonment", || async {
        assert!(s.claim("next").await.unwrap().is_none());
        let item = s.get(&v[0]).await.unwrap().unwrap();
        (item.state == VideoState::Failed).then_some(item)
    })
    .await;
    assert_eq!(item.error_kind.as_deref(), Some("abandoned"));
    assert_eq!(item.attempts, 2);
    assert!(s
        .stats()
        .snapshot()
        .iter()
        .any(|(k, v)| *k == "abandoned" && *v == 1));
}

#[tokio::test]
async fn release_returns_the_video_and_the_attempt_at_once() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "release").await;
    let s = store(&cfg, &table);
    let v = seed(&s, 1, "rel").await;
    let l = s.claim("A").await.unwrap().unwrap();
    s.release(&l, "shutdown").await.unwrap();
    let item = s.get(&v[0]).await.unwrap().unwrap();
    assert_eq!((item.state, item.attempts), (VideoState::Pending, 0));
    let l2 = s
        .claim("B")
        .await
        .unwrap()
        .expect("released video is claimable at once");
    assert!(l2.token > l.token);
    // A released lease is never extended again.
    assert!(matches!(
        s.heartbeat(&l, None).await,
        Err(StoreError::LeaseLost { .. })
    ));
}

#[tokio::test]
async fn a_video_that_stalls_every_holder_is_given_up_after_its_attempts() {
    // A holder that fenced itself (its lease could not be renewed in time) hands the video
    // back at once, but keeps the attempt, counted as lapsed: a video that starves every
    // worker it runs on stops after the attempts allowed (3 here) instead of going round for
    // ever, as it did when that release returned the attempt like a shutdown's.
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "stalls").await;
    let s = store(&cfg, &table);
    let v = seed(&s, 1, "stall").await;
    for i in 1..=3u32 {
        let l = s
            .claim(&format!("W{i}"))
            .await
            .unwrap()
            .expect("claimable at once after a stalled holder's release");
        s.release_stalled(&l, "the lease could not be renewed in time")
            .await
            .unwrap();
        let item = s.get(&v[0]).await.unwrap().unwrap();
        assert_eq!(
            (item.state, item.attempts, item.lapsed),
            (VideoState::Pending, i, i)
        );
    }
    assert!(s.claim("W4").await.unwrap().is_none(), "attempts used up");
    let item = s.get(&v[0]).await.unwrap().unwrap();
    assert_eq!(item.state, VideoState::Failed);
    let why = item.error.unwrap_or_default();
    assert!(why.contains("3 ended with a lapsed lease"), "{why}");
}

fn faulty(cfg: &aws_config::SdkConfig) -> (Arc<Faults>, aws_sdk_dynamodb::Client) {
    let faults = Arc::new(Faults::default());
    let client = fleet::aws::dynamodb_with(cfg, Duration::from_secs(10), |b| {
        b.interceptor(FaultInterceptor(faults.clone()))
    });
    (faults, client)
}

#[tokio::test]
async fn the_claim_path_never_scans() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "noscan").await;
    let (faults, client) = faulty(&cfg);
    let s = store_with(
        &cfg,
        &table,
        fast_timings(),
        3,
        clock::system(),
        Some(client),
    );
    seed(&s, 40, "ns").await;
    faults.clear_ops();
    let mut n = 0;
    while let Some(l) = s.claim("W").await.unwrap() {
        s.heartbeat(&l, None).await.unwrap();
        s.complete(&l, &done(&l)).await.unwrap();
        n += 1;
    }
    assert_eq!(n, 40);
    let ops = faults.ops();
    assert!(
        ops.iter().any(|o| o == "Query"),
        "the count itself works: {ops:?}"
    );
    assert!(
        !ops.iter().any(|o| o == "Scan"),
        "the claim path scanned: {ops:?}"
    );
    let allowed = ["Query", "BatchGetItem", "PutItem", "UpdateItem", "GetItem"];
    assert!(ops.iter().all(|o| allowed.contains(&o.as_str())), "{ops:?}");
}

#[tokio::test]
async fn throttling_and_lost_responses_are_retried_without_false_losses() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "faults").await;
    let (faults, client) = faulty(&cfg);
    let s = store_with(
        &cfg,
        &table,
        fast_timings(),
        3,
        clock::system(),
        Some(client),
    );
    let v = seed(&s, 1, "f").await;

    // A claim that was applied but answered 500: the SDK retries, the retry's condition fails
    // against our own write, and ALL_OLD shows it was ours: adopted, not orphaned.
    faults.inject("PutItem", Mode::ApplyThenServerError, 1);
    let l = s.claim("W").await.unwrap().expect("claim adopted");
    assert_eq!(l.token, 1);
    assert!(s
        .stats()
        .snapshot()
        .iter()
        .any(|(k, v)| *k == "adopted" && *v == 1));

    // Heartbeats throttled before being applied, then applied but answered "throttled":
    // both retried by the SDK; the lease is still ours.
    faults.inject("UpdateItem", Mode::ThrottleWithoutApplying, 1);
    s.heartbeat(&l, None)
        .await
        .expect("heartbeat through a throttle");
    faults.inject("UpdateItem", Mode::ApplyThenThrottle, 1);
    s.heartbeat(&l, None)
        .await
        .expect("idempotent heartbeat through a lost response");

    // Index queries throttled: retried.
    faults.inject("UpdateItem", Mode::ApplyThenServerError, 1);
    s.complete(&l, &done(&l))
        .await
        .expect("complete retried after a lost response");
    let item = s.get(&v[0]).await.unwrap().unwrap();
    assert_eq!(item.state, VideoState::Done);

    // Throttling beyond the SDK's attempts is a typed, retryable error, not a lease loss.
    let table = fresh_table(&cfg, "faults2").await;
    let (faults, client) = faulty(&cfg);
    let s = store_with(
        &cfg,
        &table,
        fast_timings(),
        3,
        clock::system(),
        Some(client),
    );
    seed(&s, 1, "f2").await;
    faults.inject("Query", Mode::ThrottleWithoutApplying, 100);
    let err = s.claim("W").await.unwrap_err();
    assert!(matches!(err, StoreError::Throttled { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        faults.injected().len() >= 3,
        "the SDK retried: {:?}",
        faults.injected()
    );
}

/// Seeds `n` pending videos that all fall in one shard of the `ready` index.
async fn seed_in_one_shard(
    store: &fleet::store::dynamo::DynamoStore,
    n: usize,
    tag: &str,
) -> Vec<String> {
    use fleet::domain::keys::{shard_of, S3Uri};
    let shards = fleet::store::schema::schema().ready_shards;
    let (mut out, mut i) = (Vec::new(), 0);
    while out.len() < n {
        let src = S3Uri {
            bucket: "in".into(),
            key: format!("{tag}/video {i}.mp4"),
        };
        i += 1;
        let pk = fleet::domain::keys::video_id(&src.bucket, &src.key);
        if shard_of(&pk, shards) != "s00" {
            continue;
        }
        let item = fleet::domain::video::seeded(
            &src,
            "out",
            &format!("hls/{tag}/{i}"),
            1,
            now_ms(),
            shards,
        );
        assert!(store.insert_new(&item).await.unwrap());
        out.push(pk);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_jobs_never_hide_claimable_videos_of_their_shard() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "hidden").await;
    // A 10 s lease, so that claiming dozens of videos one after another on a busy machine
    // cannot outlast the first lease before the heartbeats start.
    let t = fleet::domain::LeaseTimings::new(
        Duration::from_secs(10),
        Duration::from_secs(1),
        Duration::from_millis(500),
        Duration::from_millis(300),
    )
    .unwrap();
    let st = store_with(&cfg, &table, t, 3, clock::system(), None);
    // Long jobs in one shard, held past their first possible takeover time (lease 10 s + skew
    // 0.5 s) by heartbeats: more than the page of oldest entries a claimer reads per shard, so
    // that an index still holding them would fill every page with them.
    let held = st.config().page as usize + 8;
    seed_in_one_shard(&st, held, "long").await;
    let mut leases = Vec::new();
    for i in 0..held {
        leases.push(
            st.claim(&format!("long/{i}"))
                .await
                .unwrap()
                .expect("claimable"),
        );
    }
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        // All at once, so that a slow server cannot stretch a round past the lease.
        for r in futures::future::join_all(leases.iter().map(|l| st.heartbeat(l, None))).await {
            r.expect("still ours");
        }
    }
    // A video that becomes claimable now in the same shard (a retry, a release, a later seed):
    // the next claim must find it, not the live leases.
    let fresh = seed_in_one_shard(&st, 1, "fresh").await;
    let got = st.claim("newcomer").await.unwrap();
    assert_eq!(
        got.map(|l| l.id().to_string()),
        Some(fresh[0].clone()),
        "a claimable video is hidden behind running jobs"
    );
    for l in &leases {
        st.heartbeat(l, None)
            .await
            .expect("the running jobs were not disturbed");
    }
}

/// Items a claimer cannot decode (written by hand, or by another version) are skipped, never
/// claimed and never an error that stops the claim: the good video beside them in the same
/// shard is claimed, and the bad ones are left as they were for `fleet-admin audit`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_that_cannot_be_decoded_are_skipped_and_the_claim_goes_on() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "undecodable").await;
    let st = store(&cfg, &table);
    let bad = seed_in_one_shard(&st, 3, "bad").await;
    for pk in &bad {
        st.client()
            .update_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk.clone()))
            .update_expression("SET attempts = :x")
            .expression_attribute_values(":x", AttributeValue::S("many".into()))
            .send()
            .await
            .unwrap();
        assert!(
            st.get(pk).await.is_err(),
            "{pk} was meant to be undecodable"
        );
    }
    let good = seed_in_one_shard(&st, 1, "good").await;
    let lease = st
        .claim("claimer")
        .await
        .expect("undecodable items do not fail the claim")
        .expect("the good video is claimed");
    assert_eq!(lease.id(), good[0]);
    assert_eq!(
        st.claim("claimer")
            .await
            .unwrap()
            .map(|l| l.id().to_string()),
        None
    );
    for pk in &bad {
        let raw = st
            .client()
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk.clone()))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        assert_eq!(raw["attempts"], AttributeValue::S("many".into()), "{pk}");
        assert_eq!(raw["state"], AttributeValue::S("pending".into()), "{pk}");
    }
}

/// Released, retried and orphaned videos are claimed ahead of a fresh backlog seeded before
/// them, and a flood of re-entries still leaves fresh work one claim in four.
#[tokio::test]
async fn a_video_that_re_enters_is_claimed_ahead_of_the_fresh_backlog() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "reentry").await;
    let s = store(&cfg, &table);
    let fresh = seed(&s, 30, "backlog").await;
    let lane = |l: &Lease| l.video.shard.clone().unwrap_or_default();
    // Claim 0: nothing re-entered yet, a fresh video.
    let first = s.claim("W").await.unwrap().expect("fresh work");
    let v = first.id().to_string();
    s.release(&first, "drain").await.unwrap();
    // Claim 1: the released video, ahead of 29 older fresh ones.
    let again = s.claim("W").await.unwrap().unwrap();
    assert_eq!(again.id(), v, "released video first");
    assert!(lane(&again).starts_with('r'), "{}", lane(&again));
    let transient = Failure {
        kind: FailureKind::Transient,
        message: "S3 reset the connection".into(),
        ffmpeg_args: None,
    };
    assert_eq!(
        s.fail(&again, &transient).await.unwrap(),
        VideoState::Pending
    );
    // Claim 2: the retried video.
    let orphan = s.claim("W").await.unwrap().unwrap();
    assert_eq!(orphan.id(), v, "retried video first");
    // Claim 3 visits the fresh lane first, whatever waits in the other.
    let other = s.claim("W").await.unwrap().unwrap();
    assert_ne!(other.id(), v, "one claim in four goes to fresh work");
    assert!(fresh.contains(&other.id().to_string()));
    s.complete(&other, &done(&other)).await.unwrap();
    // `orphan` is never heartbeated: once its lease lapses, claim 4 takes it over.
    tokio::time::sleep(Duration::from_millis(3_600)).await;
    let taken = s.claim("W").await.unwrap().unwrap();
    assert_eq!(taken.id(), v, "orphaned video first");
    assert_eq!((taken.video.attempts, taken.video.lapsed), (3, 1));

    // Eight re-entered videos waiting: of the next eight claims exactly two are fresh.
    s.complete(&taken, &done(&taken)).await.unwrap();
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(s.claim("W").await.unwrap().unwrap());
    }
    let reentered: Vec<String> = held.iter().map(|l| l.id().to_string()).collect();
    for l in &held {
        assert_eq!(s.fail(l, &transient).await.unwrap(), VideoState::Pending);
    }
    let mut fresh_claims = 0;
    for _ in 0..8 {
        let l = s.claim("W").await.unwrap().unwrap();
        if !reentered.contains(&l.id().to_string()) {
            fresh_claims += 1;
        }
    }
    assert_eq!(fresh_claims, 2, "one claim in four is fresh work");
}

/// "Nothing to do" is said only when it is known: a race lost and a read the table throttled
/// (unprocessed keys) answer `Contended`, a shard that could not be read among empty ones
/// answers the error, and only a read of every shard finding nothing answers `Empty`.
#[tokio::test]
async fn a_claim_says_empty_only_when_every_shard_was_read_and_held_nothing() {
    use fleet::store::Claim;
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "outcomes").await;
    let (faults, client) = faulty(&cfg);
    let s = store_with(
        &cfg,
        &table,
        fast_timings(),
        3,
        clock::system(),
        Some(client.clone()),
    );
    let stat = |name: &str| {
        s.stats()
            .snapshot()
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .unwrap()
    };
    let attempts = client
        .config()
        .retry_config()
        .map_or(3, |r| r.max_attempts()) as usize;
    faults.inject("Query", Mode::ThrottleWithoutApplying, attempts);
    let err = s.claim_next("W").await.unwrap_err();
    assert!(matches!(err, StoreError::Throttled { .. }), "{err:?}");
    assert!(matches!(s.claim_next("W").await.unwrap(), Claim::Empty));
    assert_eq!(stat("empty"), 1);

    seed(&s, 1, "o").await;
    faults.inject("BatchGetItem", Mode::UnprocessedKeys, 1);
    assert!(matches!(s.claim_next("W").await.unwrap(), Claim::Contended));
    assert_eq!((stat("unprocessed"), stat("contended")), (1, 1));
    faults.inject("PutItem", Mode::LoseRace, 1);
    assert!(matches!(s.claim_next("W").await.unwrap(), Claim::Contended));
    assert_eq!((stat("lost"), stat("contended")), (1, 2));
    assert_eq!(
        faults.injected().len(),
        attempts + 2,
        "{:?}",
        faults.injected()
    );
    let Claim::Won(lease) = s.claim_next("W").await.unwrap() else {
        panic!("the video is claimable");
    };
    assert_eq!(lease.token, 1);
    assert_eq!(
        stat("empty"),
        1,
        "no claim said empty while the video waited"
    );
}

/// A wall clock that a test steps while it runs.
#[derive(Debug, Default)]
struct Stepped(std::sync::atomic::AtomicI64);

impl fleet::clock::Clock for Stepped {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The holder's wall clock steps 30 s back mid-job (ten leases), then 30 s forward: its
/// heartbeats keep extending the lease from the claim's clock, and a taker with a true clock
/// never takes the video while the holder works. (Computed from the stepped wall clock, every
/// heartbeat after the step back would be refused as shortening the lease, the holder told it
/// still holds it, and the lease would lapse under it.)
#[tokio::test]
async fn a_holder_whose_clock_steps_keeps_its_lease_and_no_one_takes_it() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "stepped").await;
    let clock = Arc::new(Stepped::default());
    let holder = store_with(&cfg, &table, fast_timings(), 3, clock.clone(), None);
    let taker = store(&cfg, &table);
    seed(&holder, 1, "stepped").await;
    let l = holder.claim("H").await.unwrap().unwrap();
    let mut last = l.expires;
    for step in [-30_000, 30_000] {
        clock.0.store(step, std::sync::atomic::Ordering::Relaxed);
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(800)).await;
            let r = holder.heartbeat(&l, None).await.expect("still ours");
            assert!(
                r.expires > last,
                "the lease moved forward: {} after {last}",
                r.expires
            );
            last = r.expires;
            let stored = holder.get(l.id()).await.unwrap().unwrap().lease_expires;
            assert_eq!(stored, Some(last));
            assert!(
                taker.claim("T").await.unwrap().is_none(),
                "taken while held"
            );
        }
    }
    assert!(holder.complete(&l, &done(&l)).await.is_ok());
}
