//! Running in an autoscaling group: the scaler Lambda's handler against DynamoDB Local and a
//! group in moto, and a worker reacting to what EC2 tells its instance (spot notices,
//! termination, rebalance) through a stand-in for the instance metadata service, calling
//! either moto's Auto Scaling (protection, self-removal) or, for the termination hook's calls
//! moto lacks, the stand-in's.

use crate::common::ec2::Ec2;
use crate::common::group::Group;
use crate::common::media::{self, Clip};
use crate::common::moto;
use crate::common::stage::{stage_files, Stage};
use crate::common::{eventually, fresh_table, sdk, seed, store};
use fleet::domain::VideoState;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Runs `fleet-scaler --once` (the Lambda's handler, outside Lambda) on `group`; returns its
/// stdout lines.
async fn scaler_once(table: &str, group: &Group, idle_minutes: &str) -> Vec<Value> {
    scaler_once_via(
        &[env!("CARGO_BIN_EXE_fleet-scaler")],
        table,
        group,
        idle_minutes,
        None,
    )
    .await
}

/// Like [`scaler_once`], for another build of the scaler run through `program` (its first
/// word is the executable, e.g. an emulator followed by the binary), and with the table at
/// `dynamodb` when it is not in the local stack's DynamoDB.
pub async fn scaler_once_via(
    program: &[&str],
    table: &str,
    group: &Group,
    idle_minutes: &str,
    dynamodb: Option<&str>,
) -> Vec<Value> {
    let mut c = tokio::process::Command::new(program[0]);
    if let Some(url) = dynamodb {
        c.env("AWS_ENDPOINT_URL_DYNAMODB", url);
    }
    let out = c
        .args(&program[1..])
        .arg("--once")
        .env("FLEET_TABLE", table)
        .env("FLEET_ASG_NAME", &group.name)
        .env("FLEET_SLOTS_PER_INSTANCE", "2")
        .env("FLEET_IDLE_MINUTES", idle_minutes)
        .env("FLEET_METRIC_NAMESPACE", "fleet-test")
        .env("AWS_ENDPOINT_URL_AUTO_SCALING", &group.url)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "fleet-scaler failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn emf(lines: &[Value]) -> &Value {
    lines
        .iter()
        .find(|l| l.get("_aws").is_some())
        .expect("an EMF line")
}

fn tick(lines: &[Value]) -> &Value {
    lines
        .iter()
        .find(|l| l.get("desired").is_some())
        .expect("the tick")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scaler_counts_the_backlog_through_the_index_and_sizes_the_group() {
    let cfg = sdk().await;
    let table = fresh_table(&cfg, "scaler").await;
    let st = store(&cfg, &table);
    seed(&st, 5, "scaler").await;
    let running = fleet::store::VideoStore::claim(&st, "w/0").await.unwrap();
    assert!(running.is_some());

    let b = st.backlog().await.unwrap();
    let fresh = fleet::store::schema::schema().ready_shards;
    let shards = fresh + fleet::domain::keys::Lane::Reentry.shards(fresh);
    assert_eq!((b.open, b.claimable), (5, 4), "{b:?}");
    assert!(b.oldest_claimable.is_some());
    assert_eq!(
        b.cost.requests,
        1 + 3 * shards,
        "the counters, then (a small backlog) two counts and one oldest per shard of both lanes, no Scan"
    );

    // From zero (a group in moto): a seed scales out at once, one instance per two open
    // videos; the group launches them protected from scale-in.
    let group = Group::create(&moto::shared_url(), "scaler", 0, 10).await;
    let lines = scaler_once(&table, &group, "15").await;
    assert_eq!(group.desired().await, 3);
    let members = group.members().await;
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(members
        .iter()
        .all(|m| m.protected && m.state == "InService"));
    let m = emf(&lines);
    assert_eq!(m["_aws"]["CloudWatchMetrics"][0]["Namespace"], "fleet-test");
    assert_eq!(
        (m["Backlog"].as_f64(), m["Claimable"].as_f64()),
        (Some(5.0), Some(4.0))
    );
    assert_eq!(m["Running"].as_f64(), Some(1.0));
    assert_eq!(m["DesiredInstances"].as_f64(), Some(3.0));
    assert_eq!(
        tick(&lines)["queries"].as_u64(),
        Some(u64::from(1 + 3 * shards))
    );
    assert_eq!(tick(&lines)["counted"].as_bool(), Some(true));

    // An empty backlog keeps the group through the idle period, remembering since when...
    let empty = fresh_table(&cfg, "scaler-empty").await;
    let lines = scaler_once(&empty, &group, "60").await;
    assert_eq!(tick(&lines)["desired"].as_u64(), Some(3));
    assert_eq!(group.desired().await, 3);
    let since = store(&cfg, &empty)
        .scaler_memory()
        .await
        .unwrap()
        .idle_since;
    assert!(since.is_some(), "idle since not remembered");
    // ... and the item it remembers it in is not a video to the operator's report.
    let report = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleet-admin"))
        .args(["--table", &empty, "report"])
        .output()
        .await
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    // Past the idle period (0 minutes here), the group shrinks, but never below its protected
    // instances (busy, or still booting): asked below them, the group would have to take a
    // booting one, or could not shrink at all.
    let lines = scaler_once(&empty, &group, "0").await;
    assert_eq!(tick(&lines)["protected"].as_u64(), Some(3));
    assert_eq!(group.desired().await, 3, "three protected");
    let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
    group.protect(&ids[..2], false).await;
    scaler_once(&empty, &group, "0").await;
    assert_eq!(group.desired().await, 1, "one still protected");
    let left = group.members().await;
    assert_eq!(left.len(), 1, "the group took the two idle ones: {left:?}");
    assert_eq!(left[0].id, ids[2]);
    group.protect(&ids[2..], false).await;
    scaler_once(&empty, &group, "0").await;
    assert_eq!(group.desired().await, 0);
    assert_eq!(
        store(&cfg, &empty)
            .scaler_memory()
            .await
            .unwrap()
            .idle_since,
        since
    );
}

async fn stage(name: &str, clips: &[Clip]) -> Stage {
    let dir = tempfile::tempdir().unwrap();
    let clips_dir = dir.path().join("clips");
    std::fs::create_dir_all(&clips_dir).unwrap();
    let files: Vec<(String, PathBuf)> = clips
        .iter()
        .map(|c| (c.name.to_string(), c.make(&clips_dir)))
        .collect();
    stage_files(name, dir, &files).await
}

/// A worker on instance `ec2`, in group `fleet-workers` with hook `fleet-drain`.
fn member(st: &Stage, ec2: &Ec2, n: &str, extra: &[&str]) -> tokio::process::Command {
    let mut c = media::worker(&st.table, &st.work(n), extra);
    c.env("FLEET_ASG_NAME", "fleet-workers")
        .env("FLEET_LIFECYCLE_HOOK", "fleet-drain")
        .env("FLEET_IMDS_POLL_SECONDS", "0.2")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &ec2.endpoint)
        .env("AWS_ENDPOINT_URL_AUTO_SCALING", &ec2.endpoint);
    c
}

fn protections(ec2: &Ec2) -> Vec<(String, String)> {
    ec2.calls_of("SetInstanceProtection")
        .into_iter()
        .map(|c| {
            (
                c.params["InstanceIds.member.1"].clone(),
                c.params["ProtectedFromScaleIn"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_notice_drains_the_worker_and_hands_the_video_over() {
    let c = Clip::new("spot lecture.mp4", "1280x720", "30", 20.0);
    let st = stage("spot", std::slice::from_ref(&c)).await;
    let ec2 = Ec2::start("i-0spot").await;
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    // A drain window longer than the notice: the reclaim time, not the window, must decide.
    let mut a = member(&st, &ec2, "a", &["--drain-seconds", "300"])
        .env("FLEET_X264_PRESET", "fast")
        .env(
            "AWS_EMF_AGENT_ENDPOINT",
            format!("udp://{}", udp.local_addr().unwrap()),
        )
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(60), "encoding to start", || async {
        let item = st.state(c.name).await;
        item.progress
            .as_ref()
            .is_some_and(|p| p.phase == "encode")
            .then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "scale-in protection", || async {
        protections(&ec2)
            .contains(&("i-0spot".to_string(), "true".to_string()))
            .then_some(())
    })
    .await;

    // The notice alone (the group has not begun terminating the instance), reclaiming in 22 s:
    // what still runs is released 20 s before, whatever the drain window.
    let reclaim = chrono::Utc::now() + chrono::TimeDelta::seconds(22);
    ec2.set(
        "spot/instance-action",
        Some(&format!(
            r#"{{"action":"terminate","time":"{}"}}"#,
            reclaim.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )),
    );
    let t0 = std::time::Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(60), a.wait())
        .await
        .expect("worker did not leave after the spot notice")
        .unwrap();
    assert!(status.success(), "worker exited with {status}");
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t0.elapsed()
    );
    let released = st.state(c.name).await;
    assert_eq!(
        (released.state, released.attempts),
        (VideoState::Pending, 0),
        "the video waits out no lease: {released:?}"
    );
    assert!(
        ec2.calls_of("CompleteLifecycleAction").is_empty(),
        "no hook to complete while the group is not terminating the instance"
    );
    assert_eq!(
        ec2.untokened(),
        0,
        "every metadata read used an IMDSv2 token"
    );

    // Worker b takes the video over; its per-video metrics reach the agent's UDP port.
    let ec2b = Ec2::start("i-0b").await;
    let mut b = member(&st, &ec2b, "b", &["--exit-when-idle"])
        .env(
            "AWS_EMF_AGENT_ENDPOINT",
            format!("udp://{}", udp.local_addr().unwrap()),
        )
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(240), b.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    assert_eq!(st.state(c.name).await.state, VideoState::Done);
    let p = protections(&ec2b);
    assert_eq!(
        p.iter().map(|(_, on)| on.as_str()).collect::<Vec<_>>(),
        ["false", "true", "false"],
        "cleared at start (a crashed predecessor may have left it on), protected while busy, \
         then not: {p:?}"
    );
    let mut lines = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = udp.recv(&mut buf) {
        lines.push(serde_json::from_slice::<Value>(&buf[..n]).unwrap());
    }
    let video = lines
        .iter()
        .find(|l| l.get("VideosDone").is_some())
        .unwrap_or_else(|| panic!("no per-video metrics in {lines:?}"));
    let content = video["ContentSeconds"].as_f64().unwrap();
    assert!((content - 20.0).abs() < 0.5, "{video}");
    let size = st
        .s3
        .head_object()
        .bucket(&st.input.bucket)
        .key(format!("{}{}", st.input.key, c.name))
        .send()
        .await
        .unwrap()
        .content_length()
        .unwrap();
    assert_eq!(video["BytesIn"].as_f64(), Some(size as f64));
    assert!(video["BytesOut"].as_f64().unwrap() > 10_000.0, "{video}");
    assert!(video["Speed"].as_f64().unwrap() > 0.0);
    assert_eq!(video["video"], st.pk(c.name));
    assert!(
        lines.iter().any(|l| l.get("FreeSlots").is_some()),
        "no per-worker metrics in {lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_recommendation_stops_claims_but_finishes_the_job_in_hand() {
    let clips = [
        Clip::new("first.mp4", "640x360", "30", 6.0),
        Clip::new("second.mp4", "640x360", "30", 6.0),
    ];
    let st = stage("rebalance", &clips).await;
    let ec2 = Ec2::start("i-0rebal").await;
    let mut a = member(&st, &ec2, "a", &["--rebalance-wait-seconds", "10"])
        .spawn()
        .unwrap();
    let taken = eventually(Duration::from_secs(60), "a claim", || async {
        for c in &clips {
            if st.state(c.name).await.state == VideoState::InProgress {
                return Some(c.name);
            }
        }
        None
    })
    .await;
    ec2.set(
        "events/recommendations/rebalance",
        Some(r#"{"noticeTime":"2026-11-27T15:00:00Z"}"#),
    );
    eventually(
        Duration::from_secs(120),
        "the job in hand to finish",
        || async { (st.state(taken).await.state == VideoState::Done).then_some(()) },
    )
    .await;
    let other = clips.iter().map(|c| c.name).find(|n| *n != taken).unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        st.state(other).await.state,
        VideoState::Pending,
        "claimed after the recommendation"
    );
    eventually(Duration::from_secs(10), "protection lifted", || async {
        (protections(&ec2).last().map(|(_, on)| on.as_str()) == Some("false")).then_some(())
    })
    .await;
    // No replacement came (no capacity rebalancing): after the wait, claiming goes on.
    eventually(Duration::from_secs(120), "claims to resume", || async {
        (st.state(other).await.state == VideoState::Done).then_some(())
    })
    .await;
    // The group terminates the instance: it leaves at once and completes the hook.
    ec2.set("autoscaling/target-lifecycle-state", Some("Terminated"));
    let status = tokio::time::timeout(Duration::from_secs(30), a.wait())
        .await
        .expect("worker did not leave")
        .unwrap();
    assert!(status.success());
    let done = ec2.calls_of("CompleteLifecycleAction");
    assert_eq!(done.len(), 1, "{:?}", ec2.calls());
    assert_eq!(done[0].params["LifecycleHookName"], "fleet-drain");
    assert_eq!(done[0].params["InstanceId"], "i-0rebal");
    assert_eq!(done[0].params["LifecycleActionResult"], "CONTINUE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_gives_up_asks_the_group_to_replace_its_instance() {
    let st = stage("give-up", &[Clip::new("fine.mp4", "320x240", "15", 2.0)]).await;
    // The group in moto (SetInstanceHealth is a call moto covers); the metadata from the
    // stand-in.
    let group = Group::create(&moto::shared_url(), "give-up", 1, 4).await;
    let me = group.members().await.remove(0);
    let ec2 = Ec2::start(&me.id).await;
    // An ffmpeg built without a filter fleet needs (it passes the start check, then every
    // encode fails "No such filter"): the machine's trouble, three times in a row. (A missing
    // ffmpeg stops the worker at start, before it claims anything: systemd's restart limit
    // marks that instance unhealthy.)
    let broken = tempfile::tempdir().unwrap();
    let ffmpeg = broken.path().join("ffmpeg");
    std::fs::write(
        &ffmpeg,
        "#!/bin/sh
if [ \"$1\" = -version ]; then echo 'ffmpeg version 5.1.8-0+deb12u1'; exit 0; fi
\
         echo \"[AVFilterGraph @ 0x1] No such filter: 'bwdif'\" >&2
exit 1
",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ffmpeg, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        broken.path().display(),
        std::env::var("PATH").unwrap()
    );
    let status = tokio::time::timeout(
        Duration::from_secs(120),
        member(&st, &ec2, "a", &[])
            .env("PATH", path)
            .env("FLEET_ASG_NAME", &group.name)
            .env("AWS_ENDPOINT_URL_AUTO_SCALING", &group.url)
            .status(),
    )
    .await
    .expect("worker did not give up")
    .unwrap();
    assert!(!status.success(), "a worker that gives up exits non-zero");
    let sick = group.members().await;
    assert!(
        sick.iter()
            .any(|m| m.id == me.id && m.health == "Unhealthy"),
        "the group sees its instance unhealthy: {sick:?}"
    );
    assert_eq!(
        st.state("fine.mp4").await.state,
        VideoState::Pending,
        "the video is not blamed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_termination_lets_the_job_in_hand_finish() {
    // An instance refresh, a capacity rebalance or its own removal: the group terminates the
    // instance through the drain hook. The job in hand finishes, however long past the drain
    // window, with the termination held open by heartbeats; nothing new is claimed.
    let clips = [
        Clip::new("long lesson.mp4", "1280x720", "30", 16.0),
        Clip::new("next lesson.mp4", "1280x720", "30", 16.0),
    ];
    let st = stage("finish", &clips).await;
    let ec2 = Ec2::start("i-0refresh").await;
    let mut a = member(
        &st,
        &ec2,
        "a",
        &["--drain-seconds", "1", "--rate-control", "fixed"],
    )
    .env("FLEET_X264_PRESET", "fast")
    .env("FLEET_LIFECYCLE_HEARTBEAT_SECONDS", "1")
    .spawn()
    .unwrap();
    let (taken, other) = eventually(Duration::from_secs(60), "encoding to start", || async {
        for (c, o) in [(&clips[0], &clips[1]), (&clips[1], &clips[0])] {
            let item = st.state(c.name).await;
            if item.progress.as_ref().is_some_and(|p| p.phase == "encode") {
                return Some((c.name, o.name));
            }
        }
        None
    })
    .await;
    ec2.set("autoscaling/target-lifecycle-state", Some("Terminated"));
    let t0 = std::time::Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(240), a.wait())
        .await
        .expect("worker did not leave")
        .unwrap();
    assert!(status.success(), "worker exited with {status}");
    let done = st.state(taken).await;
    assert_eq!(
        (done.state, done.attempts),
        (VideoState::Done, 1),
        "finished, not released: {done:?}"
    );
    assert_eq!(
        st.state(other).await.state,
        VideoState::Pending,
        "nothing claimed after the termination began"
    );
    let calls = ec2.calls();
    let beats: Vec<_> = calls
        .iter()
        .filter(|c| c.action == "RecordLifecycleActionHeartbeat")
        .collect();
    let waited = t0.elapsed().as_secs();
    assert!(
        waited >= 3 && beats.len() as u64 + 2 >= waited.min(10),
        "{} heartbeats over {waited} s",
        beats.len()
    );
    assert_eq!(beats[0].params["LifecycleHookName"], "fleet-drain");
    assert_eq!(beats[0].params["InstanceId"], "i-0refresh");
    let last = calls.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.params["InstanceId"].as_str()),
        ("CompleteLifecycleAction", "i-0refresh"),
        "the hook completed last, once: {calls:?}"
    );
    assert_eq!(ec2.calls_of("CompleteLifecycleAction").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_instance_removes_itself_from_the_group() {
    // The fleet's second way down, which needs no scaler: a group in moto with one instance,
    // launched protected; its worker lifts the protection once up and idle, and after the idle
    // period terminates its instance with a decrement.
    let cfg = crate::common::sdk().await;
    let table = fresh_table(&cfg, "idle-remove").await;
    let work = tempfile::tempdir().unwrap();
    let group = Group::create(&moto::shared_url(), "idle", 1, 4).await;
    let me = group.members().await.remove(0);
    assert!(me.protected, "launched protected");
    let ec2 = Ec2::start(&me.id).await;
    let mut a = media::worker(&table, work.path(), &[])
        .env("FLEET_ASG_NAME", &group.name)
        .env("FLEET_IMDS_POLL_SECONDS", "0.2")
        .env("FLEET_IDLE_REMOVE_MINUTES", "0.05")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &ec2.endpoint)
        .env("AWS_ENDPOINT_URL_AUTO_SCALING", &group.url)
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(30), "protection lifted", || async {
        (!group.members().await.iter().any(|m| m.protected)).then_some(())
    })
    .await;
    let t0 = std::time::Instant::now();
    eventually(Duration::from_secs(30), "the instance gone", || async {
        group.members().await.is_empty().then_some(())
    })
    .await;
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "not before the idle period"
    );
    assert_eq!(group.desired().await, 0, "desired capacity lowered with it");
    // The group's termination reaches the instance; the worker leaves (moto lacks the hook
    // calls: its completion is tested against the stand-in above).
    ec2.set("autoscaling/target-lifecycle-state", Some("Terminated"));
    let status = tokio::time::timeout(Duration::from_secs(30), a.wait())
        .await
        .expect("worker did not leave")
        .unwrap();
    assert!(status.success(), "worker exited with {status}");
}
