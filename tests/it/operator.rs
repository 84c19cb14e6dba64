//! The operator's view through the built fleet-admin (issue 11): failures grouped after a run
//! with hostile sources, `show`'s reproducible command, `wait`'s exit codes, `retry`'s
//! refusals, the worker registry, and `report --summary`'s bounded reads.

use crate::common::hostile;
use crate::common::media::{self, Clip};
use crate::common::stage::{stage_files, Stage};
use crate::common::{self, eventually, fresh_table, seed, store};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

fn admin(table: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fleet-admin"))
        .args(args)
        .args(["--table", table])
        .output()
        .expect("fleet-admin runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_broken_sources_is_explained_grouped_reproducible_and_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    std::fs::create_dir_all(&clips).unwrap();
    let good = Clip::new("good.mp4", "320x240", "15", 2.0);
    let mut files: Vec<(String, PathBuf)> = vec![(good.name.to_string(), good.make(&clips))];
    for (i, bytes) in [
        b"not a video at all".to_vec(),
        b"still not a video".to_vec(),
    ]
    .into_iter()
    .enumerate()
    {
        let p = clips.join(format!("garbage{i}"));
        std::fs::write(&p, bytes).unwrap();
        files.push((format!("garbage {i}.mp4"), p));
    }
    let truncated = hostile::TRUNCATED.make(&clips);
    files.push((hostile::TRUNCATED.name.to_string(), truncated.clone()));
    let st: Stage = stage_files("operator", dir, &files).await;

    // `wait` blocks while the worker runs, and says by its exit code that some videos failed.
    let waiter = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleet-admin"))
        .args([
            "wait",
            "--interval",
            "1",
            "--timeout",
            "300",
            "--table",
            &st.table,
        ])
        .output();
    let waiter = tokio::spawn(waiter);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!waiter.is_finished(), "wait returned before the worker ran");
    let mut w = media::worker(&st.table, &st.work("a"), &["--exit-when-idle"])
        .spawn()
        .unwrap();
    assert!(w.wait().await.unwrap().success());
    let waited = tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("wait did not return once the queue drained")
        .unwrap()
        .unwrap();
    assert_eq!(waited.status.code(), Some(3), "{}", stdout(&waited));
    assert!(
        stdout(&waited).contains("1 done, 3 failed"),
        "{}",
        stdout(&waited)
    );

    // Failures grouped by kind and reason: the two unreadable files together.
    let r = json(&admin(&st.table, &["report", "--json"]));
    assert_eq!(r["schema_version"], 2);
    let groups = r["failures"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{groups:#?}");
    assert_eq!(groups[0]["count"], 2);
    assert_eq!(groups[0]["kind"], "invalid_input");
    assert_eq!(
        groups[0]["keys"],
        serde_json::json!([st.pk("garbage 0.mp4"), st.pk("garbage 1.mp4")])
    );
    assert_eq!(
        groups[1]["keys"],
        serde_json::json!([st.pk(hostile::TRUNCATED.name)])
    );
    let text = stdout(&admin(&st.table, &["report"]));
    assert!(text.contains("failed, by reason"), "{text}");
    assert!(text.contains("2  invalid_input"), "{text}");
    let only_failed = json(&admin(
        &st.table,
        &["report", "--json", "--state", "failed"],
    ));
    assert_eq!(only_failed["videos"].as_array().unwrap().len(), 3);

    // `show` prints every attempt's error and a command that reproduces the failed run: run
    // here (with `aws s3 cp` standing for a copy of the same bytes), it decodes the same 8 s.
    // The region given to fleet-admin goes to the AWS CLI too.
    let shown = json(&admin(
        &st.table,
        &[
            "show",
            &st.pk(hostile::TRUNCATED.name),
            "--json",
            "--region",
            "us-east-1",
        ],
    ));
    assert_eq!(shown["errors"].as_array().unwrap().len(), 1, "{shown:#}");
    assert!(shown["errors"][0]
        .as_str()
        .unwrap()
        .contains("invalid_input: the source is damaged"));
    let cmd = shown["reproduce"].as_str().expect("a command").to_string();
    assert!(cmd.starts_with("aws --region us-east-1 s3 cp "), "{cmd}");
    let text = stdout(&admin(
        &st.table,
        &[
            "show",
            &st.pk(hostile::TRUNCATED.name),
            "--region",
            "us-east-1",
        ],
    ));
    assert!(text.contains(&cmd), "{text}");
    let work = tempfile::tempdir().unwrap();
    let script =
        format!("aws() {{ for a; do last=$a; done; cp \"$FLEET_SRC\" \"$last\"; }}\n{cmd}\n");
    let ran = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .env("FLEET_SRC", &truncated)
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let playlist = std::fs::read_dir(work.path().join("out"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("index.m3u8"))
        .find(|p| p.exists())
        .expect("the command wrote a rendition playlist");
    let secs: f64 = std::fs::read_to_string(&playlist)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|l| {
            l.trim_end_matches(',')
                .split(',')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .sum();
    assert!(
        (secs - 8.0).abs() < 1.0,
        "reproduced {secs} s, the item says 8 s were decoded"
    );
    let garbage = stdout(&admin(&st.table, &["show", &st.pk("garbage 0.mp4")]));
    assert!(garbage.contains("ffmpeg never ran"), "{garbage}");

    // `retry` refuses a URI that matches nothing, writes nothing, and can preview.
    let typo = format!("s3://{}/no such.mp4", st.input.bucket);
    let refused = admin(&st.table, &["retry", &typo, &st.pk("garbage 0.mp4")]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no such.mp4"));
    assert_eq!(
        st.state("garbage 0.mp4").await.state,
        fleet::domain::VideoState::Failed
    );
    let preview = stdout(&admin(
        &st.table,
        &["retry", "--failed", "--kind", "invalid_input", "--dry-run"],
    ));
    assert!(preview.contains("would requeue 3"), "{preview}");
    let none = stdout(&admin(
        &st.table,
        &["retry", "--failed", "--kind", "transient", "--dry-run"],
    ));
    assert!(none.contains("would requeue 0"), "{none}");
    let bad = admin(&st.table, &["retry", "--failed", "--kind", "invalid-inptu"]);
    assert!(!bad.status.success(), "a misspelt kind is refused");
    assert_eq!(
        st.state("garbage 1.mp4").await.state,
        fleet::domain::VideoState::Failed
    );

    // The counters behind --summary agree with the table.
    let s = json(&admin(&st.table, &["report", "--summary", "--json"]));
    assert_eq!(
        s["counters"],
        serde_json::json!({"total": 4, "done": 1, "failed": 3})
    );
    let retried = stdout(&admin(
        &st.table,
        &["retry", "--failed", "--kind", "invalid_input"],
    ));
    assert!(retried.contains("requeued 3 of 3"), "{retried}");
    let s = json(&admin(&st.table, &["report", "--summary", "--json"]));
    assert_eq!(s["counters"]["failed"], 0);
    assert_eq!(s["open"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_shows_idle_and_silent_workers_and_the_summary_costs_the_same_at_any_size() {
    let cfg = common::sdk().await;
    let small = fresh_table(&cfg, "summary-small").await;
    let large = fresh_table(&cfg, "summary-large").await;
    let reg = fresh_table(&cfg, "registry").await;
    seed(&store(&cfg, &small), 10, "s").await;
    seed(&store(&cfg, &large), 1000, "l").await;
    seed(&store(&cfg, &reg), 5, "r").await;
    // Paused, so that the workers below claim nothing (the seeded sources do not exist).
    assert!(admin(&reg, &["pause"]).status.success());
    let work = tempfile::tempdir().unwrap();
    let spawn = |n: &str| {
        media::worker(&reg, &work.path().join(n), &["--registry-seconds", "0.5"])
            .spawn()
            .unwrap()
    };
    let mut idle = spawn("idle");
    let mut doomed = spawn("doomed");
    eventually(
        Duration::from_secs(30),
        "two registered workers",
        || async {
            let s = json(&admin(&reg, &["report", "--summary", "--json"]));
            (s["workers"].as_array().unwrap().len() == 2).then_some(())
        },
    )
    .await;
    doomed.kill().await.unwrap(); // SIGKILL: it cannot say goodbye
    let s = eventually(
        Duration::from_secs(30),
        "the killed worker silent",
        || async {
            let s = json(&admin(&reg, &["report", "--summary", "--json"]));
            let statuses: Vec<String> = s["workers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["status"].as_str().unwrap().to_string())
                .collect();
            let mut sorted = statuses.clone();
            sorted.sort();
            (sorted == ["idle", "silent"]).then_some(s)
        },
    )
    .await;
    let w = &s["workers"][0];
    assert_eq!(w["slots"], 1);
    assert_eq!(w["version"], env!("CARGO_PKG_VERSION"));
    let text = stdout(&admin(&reg, &["report"]));
    assert!(text.contains("idle") && text.contains("silent"), "{text}");
    idle.kill().await.unwrap();

    // Same requests and read units for 10 and 1,000 videos: no Scan. Three reads without
    // workers (counters, pause flag, registry Query), one BatchGetItem more per 100 workers.
    let cost = |t: &str| json(&admin(t, &["report", "--summary", "--json"]))["cost"].clone();
    let (c_small, c_large, c_reg) = (cost(&small), cost(&large), cost(&reg));
    assert_eq!(c_small, c_large);
    assert_eq!(c_small["requests"], 3, "{c_small}");
    assert_eq!(c_reg["requests"], 4, "{c_reg}");

    // `wait`: 124 when the queue does not drain in time, 0 at once on an empty table.
    let stuck = admin(&small, &["wait", "--timeout", "2", "--interval", "1"]);
    assert_eq!(stuck.status.code(), Some(124));
    let empty = fresh_table(&cfg, "wait-empty").await;
    let drained = admin(&empty, &["wait"]);
    assert_eq!(drained.status.code(), Some(0), "{}", stdout(&drained));
    // --recount sets the counters a library-seeded table never had.
    assert_eq!(
        json(&admin(&small, &["report", "--summary", "--json"]))["counters"]["total"],
        0
    );
    assert!(admin(&small, &["report", "--recount"]).status.success());
    assert_eq!(
        json(&admin(&small, &["report", "--summary", "--json"]))["counters"]["total"],
        10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_habits_flags_and_errors() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "habits").await;
    // --endpoint-url and --region replace the environment's.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleet-admin"))
        .args(["report", "--summary", "--json", "--table", &table])
        .args(["--region", "eu-west-3", "--endpoint-url"])
        .arg(std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap())
        .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
        .env_remove("AWS_REGION")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An error names the region it happened in.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleet-admin"))
        .args([
            "report",
            "--table",
            "no-such-table-here",
            "--region",
            "eu-west-3",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("region eu-west-3"), "{err}");
    // A profile that does not exist is named, with its cause.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleet-admin"))
        .args(["report", "--table", &table, "--profile", "nope-profile"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no usable AWS credentials") && err.contains("nope-profile"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_colour_codes_when_not_on_a_terminal() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "nocolour").await;
    let work = tempfile::tempdir().unwrap();
    let out = media::worker(&table, work.path(), &["--exit-when-idle"])
        .env("RUST_LOG", "info")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fleet-worker starting"), "{err}");
    assert!(
        !err.contains('\x1b'),
        "ANSI escape codes in a pipe: {err:?}"
    );
}
