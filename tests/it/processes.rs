//! Claimers in separate processes: the test binary re-runs itself as a child, so no shared
//! memory, client or runtime can hide a race.

use crate::claim::{check_exclusive, claim_loop, Held};
use crate::common::{self, fresh_table, seed, store};
use fleet::domain::VideoState;
use fleet::store::VideoStore;
use std::io::Write;
use std::sync::{Arc, Mutex};

const PROCESSES: usize = 4;
const CLAIMERS_PER_PROCESS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimers_in_four_processes_complete_each_video_exactly_once() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "procs").await;
    let s = store(&cfg, &table);
    let videos = seed(&s, 300, "procs").await;
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            tokio::process::Command::new(&exe)
                .args([
                    "processes::child_claimer",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                ])
                .env("FLEET_CHILD_TABLE", &table)
                .env("FLEET_CHILD_ID", p.to_string())
                .env("FLEET_CHILD_LOG", dir.path().join(format!("{p}.jsonl")))
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn child")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().await.unwrap().success(), "a child claimer failed");
    }
    let mut log = Vec::new();
    for p in 0..PROCESSES {
        let text = std::fs::read_to_string(dir.path().join(format!("{p}.jsonl"))).unwrap();
        log.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Held>(l).unwrap()),
        );
    }
    check_exclusive(&log, &videos);
    let procs: std::collections::HashSet<_> = log
        .iter()
        .map(|h| h.holder.split('/').next().unwrap().to_string())
        .collect();
    assert_eq!(procs.len(), PROCESSES, "every process won work");
    for v in &videos {
        assert_eq!(
            s.get(v).await.unwrap().unwrap().state,
            VideoState::Done,
            "{v}"
        );
    }
}

/// Run only by the test above, as a separate process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper: runs as a child process of claimers_in_four_processes_complete_each_video_exactly_once"]
async fn child_claimer() {
    let table = std::env::var("FLEET_CHILD_TABLE").expect("run by the parent test");
    let id = std::env::var("FLEET_CHILD_ID").unwrap();
    let cfg = common::sdk().await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..CLAIMERS_PER_PROCESS)
        .map(|i| {
            let st: Arc<dyn VideoStore> = Arc::new(store(&cfg, &table));
            tokio::spawn(claim_loop(st, format!("p{id}/c{i}"), log.clone()))
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut f = std::fs::File::create(std::env::var("FLEET_CHILD_LOG").unwrap()).unwrap();
    for h in log.lock().unwrap().iter() {
        writeln!(f, "{}", serde_json::to_string(h).unwrap()).unwrap();
    }
}
