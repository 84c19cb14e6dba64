//! Operator mistakes (issue 20), through the built binaries against the local stack: each is
//! caught early with one line, never stops the fleet, and never "succeeds" with nothing done.

use crate::common::media::{self, Clip};
use crate::common::{self, fresh_table, store};
use fleet::blob;
use fleet::domain::VideoState;
use std::process::Output;

fn admin(table: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_fleet-admin"))
        .args(args)
        .args(["--table", table])
        .output()
        .expect("fleet-admin runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Every item of the store's table, through the real table.
async fn all_items(st: &fleet::store::dynamo::DynamoStore) -> Vec<fleet::domain::VideoItem> {
    fleet::admin::report::scan_all(st.client(), &st.config().table)
        .await
        .unwrap()
        .0
}

/// An error is one line on stderr, and the exit code says it failed.
fn one_line_error(o: &Output) -> String {
    let (_, err) = text(o);
    assert!(!o.status.success(), "succeeded: {:?}", text(o));
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    err
}

/// A wrong output bucket: `seed` refuses it before writing an item; videos seeded to an output
/// that vanished fail as their own fault (kind `output`, no encode) while both workers go on
/// and exit 0; `seed --update-output` points them at a good bucket and requeues them, and
/// they are then done there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_output_bucket_fails_its_videos_not_the_fleet_and_can_be_repointed() {
    let cfg = common::sdk().await;
    let s3 = fleet::aws::s3(&cfg);
    let table = fresh_table(&cfg, "wrong-out").await;
    let st = store(&cfg, &table);
    let (input, good) = media::buckets(&s3).await;
    let good_uri = format!("s3://{good}/hls/");
    let dir = tempfile::tempdir().unwrap();
    for i in 0..4 {
        let clip = Clip::new("c.mp4", "320x180", "25", 2.0).make(dir.path());
        blob::upload(
            &s3,
            &input,
            &format!("lessons/l{i}.mp4"),
            &clip,
            "video/mp4",
        )
        .await
        .unwrap();
    }
    let src = format!("s3://{input}/lessons/");
    let missing = common::unique("no-such");
    let out = admin(&table, &["seed", &src, &format!("s3://{missing}/hls/")]);
    let err = one_line_error(&out);
    assert!(
        err.contains(&format!("output bucket {missing} does not exist")),
        "{err}"
    );
    let items = all_items(&st).await;
    assert!(items.is_empty(), "seed wrote {} items", items.len());

    // Seeded while the bucket existed, then the bucket went away.
    let doomed = common::unique("doomed");
    blob::ensure_bucket(&s3, &doomed).await.unwrap();
    let out = admin(&table, &["seed", &src, &format!("s3://{doomed}/hls/")]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("added 4"), "{:?}", text(&out));
    s3.delete_bucket().bucket(&doomed).send().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let run =
        |name: &str| media::worker(&table, &work.path().join(name), &["--exit-when-idle"]).output();
    let (a, b) = tokio::join!(run("a"), run("b"));
    for w in [a.unwrap(), b.unwrap()] {
        assert!(
            w.status.success(),
            "a worker stopped: {}",
            String::from_utf8_lossy(&w.stderr)
        );
    }
    let items = all_items(&st).await;
    assert_eq!(items.len(), 4);
    for v in &items {
        assert_eq!(v.state, VideoState::Failed, "{v:?}");
        assert_eq!(v.error_kind.as_deref(), Some("output"), "{v:?}");
        assert!(
            v.error.as_deref().is_some_and(|e| e
                .contains(&format!("output bucket {doomed} does not exist"))
                && e.contains("--update-output")),
            "{v:?}"
        );
        assert_eq!(v.attempts, 1, "retried: {v:?}");
        assert!(v.ffmpeg_args.is_none(), "encoded for nothing: {v:?}");
    }

    // Repointed: all four pending again, then done in the good bucket. One gains a caption
    // file on the way: its captions write is conditioned on the version the repointing left.
    blob::put_bytes(
        &s3,
        &input,
        "lessons/l0.en.srt",
        b"1\n00:00:00,000 --> 00:00:01,000\nhello\n".to_vec(),
        "text/plain",
    )
    .await
    .unwrap();
    let repoint = || admin(&table, &["seed", &src, &good_uri, "--update-output"]);
    let out = repoint();
    let (said, _) = text(&out);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(
        said.contains("output: 4 video(s) now go to")
            && said.contains("4 of them failed for their output and are pending again")
            && said.contains("0 done video(s) queued for a captions-only redo, 1 waiting"),
        "{said}"
    );
    let items = all_items(&st).await;
    for v in &items {
        assert_eq!(v.state, VideoState::Pending, "{v:?}");
        assert_eq!(v.out_bucket, good);
        assert_eq!(v.attempts, 0);
    }
    let w = run("c").await.unwrap();
    assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    let items = all_items(&st).await;
    for v in &items {
        assert_eq!(v.state, VideoState::Done, "{v:?}");
        let master = format!("{}/master.m3u8", v.out_prefix);
        assert!(blob::size(&s3, &good, &master).await.is_ok(), "{master}");
    }
    // A second --update-output to the same place changes nothing.
    let out = repoint();
    assert!(
        text(&out).0.contains("output: 0 video(s) now go to"),
        "{:?}",
        text(&out)
    );
}

/// Typos: a prefix in the wrong case or of non-videos is an error naming what is there; a
/// missing input bucket is named once; a single key seeds one video; skipped keys are named;
/// `.mts` and `.3gp` are videos; `--help` lists the default extensions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typos_match_nothing_loudly_and_a_single_key_seeds_one_video() {
    let cfg = common::sdk().await;
    let s3 = fleet::aws::s3(&cfg);
    let table = fresh_table(&cfg, "typos").await;
    let (input, output) = media::buckets(&s3).await;
    for key in [
        "Week1/intro.mp4",
        "Week1/intro.en.srt",
        "Week1/intro2.mp4.txt",
        "Week1/camera.mts",
        "Week1/phone.3gp",
        "Week1/notes.txt",
        "Week2/more.mp4",
        "docs/readme.txt",
        "docs/slides.pdf",
    ] {
        blob::put_bytes(&s3, &input, key, b"x".to_vec(), "application/octet-stream")
            .await
            .unwrap();
    }
    let out_uri = format!("s3://{output}/hls/");
    let err = one_line_error(&admin(
        &table,
        &["seed", &format!("s3://{input}/week1/"), &out_uri],
    ));
    assert!(
        err.contains(&format!("nothing under s3://{input}/week1/"))
            && err.contains(&format!("did you mean s3://{input}/Week1/")),
        "{err}"
    );
    let err = one_line_error(&admin(
        &table,
        &["seed", &format!("s3://{input}/docs/"), &out_uri],
    ));
    assert!(
        err.contains(&format!(
            "no video under s3://{input}/docs/: 1 .pdf, 1 .txt found"
        )),
        "{err}"
    );
    let nope = common::unique("no-input");
    let err = one_line_error(&admin(
        &table,
        &["seed", &format!("s3://{nope}/x/"), &out_uri],
    ));
    assert!(
        err.contains(&format!("input bucket {nope} does not exist")),
        "{err}"
    );
    assert_eq!(err.matches(&nope).count(), 1, "named more than once: {err}");

    // A URI typo is about no place: no region in its line. Other errors put the place last.
    let err = one_line_error(&admin(&table, &["seed", "s3:/in/week1/", &out_uri]));
    assert!(!err.contains("region"), "{err}");
    let err = one_line_error(&admin(
        &table,
        &["seed", &format!("s3://{input}/week1/"), &out_uri],
    ));
    assert!(
        err.starts_with("fleet-admin: nothing under")
            && err.trim_end().ends_with("(region us-east-1)"),
        "{err}"
    );

    // audit of the same typo: an error, not "clean".
    let err = one_line_error(&admin(&table, &["audit", &format!("s3://{input}/week1/")]));
    assert!(
        err.contains(&format!(
            "nothing under s3://{input}/week1/ and no video seeded from it"
        )) && err.contains(&format!("did you mean s3://{input}/Week1/")),
        "{err}"
    );

    // One key: one video, mapped as if its folder had been seeded.
    let out = admin(
        &table,
        &["seed", &format!("s3://{input}/Week1/intro.mp4"), &out_uri],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("added 1,"), "{:?}", text(&out));
    let st = store(&cfg, &table);
    let items = all_items(&st).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].out_prefix, "hls/intro");
    // With its caption file, so that a later seed of the folder changes nothing.
    let captions = items[0].captions.clone().unwrap_or_default();
    assert_eq!(captions.len(), 1, "{captions:?}");

    let out = admin(&table, &["seed", &format!("s3://{input}/Week1/"), &out_uri]);
    let (said, _) = text(&out);
    assert!(
        said.contains("added 2, already present 1, skipped (not video) 2")
            && said.contains("skipped: Week1/intro2.mp4.txt, Week1/notes.txt")
            && !said.contains("captions changed"),
        "{said}"
    );
    let out = admin(
        &table,
        &["seed", &format!("s3://{input}/Week1/"), &out_uri, "--json"],
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["skipped_keys"],
        serde_json::json!(["Week1/intro2.mp4.txt", "Week1/notes.txt"])
    );
    assert_eq!(j["present"], 3);

    let help = admin(&table, &["seed", "--help"]);
    let (help, _) = text(&help);
    let flat: String = help.split_whitespace().collect();
    let listed = flat.split("[default:mp4").nth(1).unwrap_or_default();
    for ext in fleet::admin::seed::DEFAULT_EXTENSIONS.iter().skip(1) {
        assert!(
            listed.contains(&format!(",{ext}")),
            "--help misses {ext}: {help}"
        );
    }
}

/// A worker checks its table, the table's index and its credentials before the first claim,
/// and exits non-zero with one line within seconds; a table deleted under a running worker
/// stops it too (non-zero), instead of WARN for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_without_a_usable_table_or_credentials_stops_at_once() {
    let cfg = common::sdk().await;
    let work = tempfile::tempdir().unwrap();
    let quick = |table: &str| {
        let mut c = media::worker(table, work.path(), &[]);
        c.env("RUST_LOG", "warn");
        c
    };
    let within = |secs: u64, c: &mut tokio::process::Command| {
        let fut = c.output();
        async move {
            tokio::time::timeout(std::time::Duration::from_secs(secs), fut)
                .await
                .expect("the worker did not stop")
                .unwrap()
        }
    };
    let missing = common::unique("no-table");
    let out = within(20, &mut quick(&missing)).await;
    let err = one_line_error(&out);
    assert!(
        err.contains(&format!("table \"{missing}\" does not exist"))
            && err.contains("fleet-admin init"),
        "{err}"
    );

    // A table made by hand, without fleet's index.
    let bare = common::unique("bare-table");
    let ddb = fleet::aws::dynamodb(&cfg, std::time::Duration::from_secs(10));
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    ddb.create_table()
        .table_name(&bare)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let err = one_line_error(&within(20, &mut quick(&bare)).await);
    assert!(err.contains("has no ready index"), "{err}");

    // No credentials anywhere (no keys, no profile files, no instance metadata).
    let table = fresh_table(&cfg, "nocreds").await;
    let mut c = quick(&table);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let err = one_line_error(&within(30, &mut c).await);
    assert!(err.contains("no usable AWS credentials"), "{err}");
    assert!(!err.contains("transient"), "{err}");

    // Deleted while the worker runs (and has nothing to do): it stops, non-zero.
    let mut c = quick(&table);
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    ddb.delete_table().table_name(&table).send().await.unwrap();
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the worker went on after its table was deleted")
        .unwrap();
    let (_, err) = text(&out);
    assert!(!out.status.success(), "{err}");
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("cannot mend") && last.contains("does not exist"),
        "{err}"
    );
}

/// `--profile` beats `AWS_ACCESS_KEY_ID` in the environment, as in the AWS CLI; a misspelt
/// one is named as such even with keys in the environment; a command that writes first says
/// where and as whom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profile_flag_beats_environment_keys_and_writes_say_as_whom() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "profile").await;
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::write(
        &creds,
        "[other]\naws_access_key_id = AKIAOTHERPROFILE1234\naws_secret_access_key = s\n",
    )
    .unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, "[profile other]\nregion = us-east-1\n").unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_fleet-admin"))
            .args(["pause", "--table", &table])
            .args(extra)
            .env("AWS_SHARED_CREDENTIALS_FILE", &creds)
            .env("AWS_CONFIG_FILE", &config)
            .output()
            .unwrap()
    };
    let env_key = std::env::var("AWS_ACCESS_KEY_ID").unwrap();
    let out = run(&["--profile", "other"]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("writing to table {table} in region us-east-1"))
            && err.contains("with key ****1234 from profile other"),
        "{err}"
    );
    let out = run(&[]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let tail = &env_key[env_key.len().saturating_sub(4)..];
    assert!(
        err.contains(&format!("with key ****{tail} from the environment")),
        "{err}"
    );
    let err = one_line_error(&run(&["--profile", "othre"]));
    assert!(
        err.contains("no usable AWS credentials for profile othre"),
        "{err}"
    );
}

/// Pipes: a reader that stops early (`| grep -m1`) ends `report --watch` quietly with 0, and
/// tables in a pipe are plain aligned text, not box drawing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_quietly_and_pipes_get_plain_text() {
    use std::io::BufRead;
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "pipes").await;
    common::seed(&store(&cfg, &table), 3, "pipes").await;
    let out = admin(&table, &["report"]);
    let (said, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(said.contains("pending"), "{said}");
    assert!(
        !said.contains(['│', '┆', '─', '╭', '┌']),
        "box drawing in a pipe: {said}"
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fleet-admin"))
        .args(["report", "--summary", "--watch", "1", "--table", &table])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(!first.is_empty());
    drop(lines); // the reader goes away, as `grep -m1` does
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "exit {status:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Items written as a worker would leave them, for the listings below.
async fn item(st: &fleet::store::dynamo::DynamoStore, key: &str, state: VideoState, now: i64) {
    let src = fleet::domain::keys::S3Uri {
        bucket: "in".into(),
        key: key.into(),
    };
    let mut v = fleet::domain::video::seeded(&src, "out", key, 1000, now, 16);
    v.state = state;
    match state {
        VideoState::Done => {
            v.shard = None;
            v.output = Some(format!("s3://out/{key}/master.m3u8"));
        }
        VideoState::InProgress => {
            v.holder = Some("w-gone/0".into());
            v.claimed_at = Some(now - 20_000);
            v.lease_expires = Some(now - 7_000);
            v.progress = Some(fleet::domain::Progress {
                phase: "encode".into(),
                percent: Some(50.0),
                at: Some(now - 10_000),
                ..Default::default()
            });
        }
        _ => {}
    }
    assert!(st.insert_new(&v).await.unwrap());
}

/// `wait` takes durations and says why nothing moves (no live worker; paused); `report` holds
/// its ETA then and marks an expired lease; `report --state` lists those videos in text;
/// `retry` of a prefix whose videos are done says so and offers `--done`, which requeues them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_and_listing_say_why_and_what() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "why").await;
    let st = store(&cfg, &table);
    let now = chrono::Utc::now().timestamp_millis();
    item(&st, "week1/a.mp4", VideoState::Pending, now).await;
    item(&st, "week1/b.mp4", VideoState::InProgress, now).await;
    item(&st, "week2/c.mp4", VideoState::Done, now).await;

    let out = admin(&table, &["wait", "--timeout", "2s", "--interval", "1"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(124), "{err}");
    assert!(err.contains("wait: nothing moves: no live worker"), "{err}");
    // The 2 s timeout, plus at most one check's time on a busy machine.
    assert!(
        ["2s", "3s", "4s"]
            .iter()
            .any(|t| err.contains(&format!("still open after {t}"))),
        "{err}"
    );
    let out = admin(&table, &["wait", "--timeout", "1h30x"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("give seconds (90) or a duration"),
        "{:?}",
        text(&out)
    );

    let (said, _) = text(&admin(&table, &["report"]));
    assert!(said.contains("ETA none: no live worker"), "{said}");
    // Expired 7 s before the test's start, so a little more by now.
    assert!(
        said.lines().any(|l| l.contains("week1/b.mp4")
            && l.contains("expired ")
            && l.trim_end().ends_with("s ago")),
        "{said}"
    );
    // On a 64-column terminal (a pty from util-linux's `script`), the tables fit it.
    let shell = format!(
        "stty cols 64 rows 40; {} report --table {table}",
        env!("CARGO_BIN_EXE_fleet-admin")
    );
    let tty = std::process::Command::new("script")
        .args(["-qec", &shell, "/dev/null"])
        .output()
        .expect("script (util-linux) runs");
    let shown = String::from_utf8_lossy(&tty.stdout).replace('\r', "");
    let drawn: Vec<&str> = shown.lines().filter(|l| l.contains('│')).collect();
    assert!(
        drawn.len() >= 5,
        "no box-drawn table on a terminal: {shown}"
    );
    for l in &drawn {
        assert!(
            l.chars().count() <= 64,
            "wider than the terminal: {l:?}\n{shown}"
        );
    }
    assert!(admin(&table, &["pause"]).status.success());
    let (_, err) = text(&admin(
        &table,
        &["wait", "--timeout", "1", "--interval", "1"],
    ));
    assert!(err.contains("nothing moves: the fleet is paused"), "{err}");
    let (said, _) = text(&admin(&table, &["report"]));
    assert!(
        said.contains("ETA none: paused (fleet-admin resume)"),
        "{said}"
    );
    assert!(admin(&table, &["resume"]).status.success());

    let (said, _) = text(&admin(&table, &["report", "--state", "pending,done"]));
    let listing = said
        .split("videos pending, done (2)")
        .nth(1)
        .unwrap_or_default();
    assert!(
        listing.contains("week1/a.mp4")
            && listing.contains("week2/c.mp4")
            && listing.contains("s3://out/week2/c.mp4/master.m3u8")
            && !listing.contains("week1/b.mp4"),
        "{said}"
    );

    let err = one_line_error(&admin(&table, &["retry", "s3://in/week2/"]));
    assert!(
        err.contains("s3://in/week2/ has no failed video (1 done)") && err.contains("pass --done"),
        "{err}"
    );
    let out = admin(&table, &["retry", "--done", "s3://in/week2/"]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("requeued 1 of 1"), "{:?}", text(&out));
    let v = st
        .get(&fleet::domain::keys::video_id("in", "week2/c.mp4"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.state, VideoState::Pending);
}
