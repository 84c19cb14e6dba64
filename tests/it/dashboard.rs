//! `fleet-admin dashboard`, the built binary, with a real worker and the page in headless
//! Chromium (tests/dashboard/dashboard.mjs): the page updates while the worker runs, and plays
//! a finished stream through the dashboard's proxy. Writes docs/dashboard-*.png with FLEET_SCREENSHOTS=docs.

use crate::common::eventually;
use crate::common::media::{self, Clip};
use crate::common::stage::stage_files;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// A GET over HTTP/1.0, so that the answer is neither chunked nor kept alive: status, the
/// content type, body.
async fn get(base: &str, path: &str) -> (u16, String, Vec<u8>) {
    let authority = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = tokio::net::TcpStream::connect(authority).await.unwrap();
    let req = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers");
    let head = String::from_utf8_lossy(&buf[..split]).to_lowercase();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let ctype = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type:"))
        .unwrap_or("")
        .trim()
        .to_string();
    (status, ctype, buf[split + 4..].to_vec())
}

async fn api(base: &str, path: &str) -> Value {
    let (status, _, body) = get(base, path).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// `encodeURIComponent`, near enough: everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>, what: &str, secs: u64) -> String {
    tokio::time::timeout(Duration::from_secs(secs), lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap()
        .unwrap_or_else(|| panic!("{what}: the process ended first"))
}

fn piped(c: &mut tokio::process::Command) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = c.stdout(Stdio::piped()).kill_on_drop(true).spawn().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_updates_while_a_worker_runs_and_plays_a_done_stream() {
    let node_modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/player/node_modules");
    assert!(
        node_modules.join("playwright-core").exists(),
        "the player is not installed: run scripts/player-setup"
    );
    let dir = tempfile::tempdir().unwrap();
    let clips = [
        Clip::new("dash a.mp4", "640x360", "30", 30.0),
        Clip::new("dash b.mp4", "640x360", "30", 6.0),
    ];
    let mut files: Vec<(String, PathBuf)> = clips
        .iter()
        .map(|c| (c.name.to_string(), c.make(dir.path())))
        .collect();
    // Not a video: a failure for the page to group.
    let broken = dir.path().join("broken");
    std::fs::write(&broken, b"this is a text file, not a video\n").unwrap();
    files.push(("dash broken.mp4".into(), broken));
    let st = stage_files("dash", dir, &files).await;

    let (_dash, mut out) = piped(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_fleet-admin"))
            .args(["dashboard", "--table", &st.table])
            .args(["--port", "0", "--refresh", "1"]),
    );
    let first = next_line(&mut out, "the dashboard's URL", 60).await;
    let base = first
        .strip_prefix("dashboard: ")
        .unwrap_or_else(|| panic!("first line: {first}"))
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let (status, ctype, page) = get(&base, "/").await;
    assert_eq!((status, ctype.as_str()), (200, "text/html; charset=utf-8"));
    assert!(String::from_utf8_lossy(&page).contains(r#"<script src="/hls.min.js">"#));
    let (status, _, hls_js) = get(&base, "/hls.min.js").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&hls_js[..2000]).contains("Apache License"));
    assert_eq!(get(&base, "/app.js").await.0, 200);
    let r = eventually(Duration::from_secs(30), "a first snapshot", || async {
        let r = api(&base, "/api/report").await;
        (r["counts"]["total"] == 3).then_some(r)
    })
    .await;
    assert_eq!(r["counts"]["done"], 0);
    assert!(r["stale_error"].is_null(), "{r}");

    // The page, watched from before the worker starts until it has shown both videos done.
    // Into docs/ (the committed screenshots) only when asked: FLEET_SCREENSHOTS=docs. Otherwise
    // a scratch folder, so that a test run leaves the checkout clean.
    let scratch = tempfile::tempdir().unwrap();
    let shots = match std::env::var("FLEET_SCREENSHOTS").as_deref() {
        Ok("docs") => Path::new(env!("CARGO_MANIFEST_DIR")).join("docs"),
        _ => scratch.path().to_path_buf(),
    };
    let (mut node, mut seen) = piped(
        tokio::process::Command::new("node")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/dashboard/dashboard.mjs"
            ))
            .arg(&base)
            .arg(&shots)
            .arg("2"),
    );
    let ready = next_line(&mut seen, "the page's first snapshot", 90).await;
    assert!(ready.contains(r#""event":"ready""#), "{ready}");
    let mut worker = media::worker(&st.table, &st.work("a"), &["--exit-when-idle"])
        .spawn()
        .unwrap();
    let line = next_line(&mut seen, "the page's result", 360).await;
    let status = tokio::time::timeout(Duration::from_secs(30), node.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "node: {status}: {line}");
    let res: Value = serde_json::from_str(&line).unwrap();
    eprintln!("the page saw: {res}");
    let w = tokio::time::timeout(Duration::from_secs(120), worker.wait())
        .await
        .expect("the worker exits when idle")
        .unwrap();
    assert!(w.success(), "worker: {w}");

    // Updated while the worker ran: it showed 0 done, then more, up to 2, over several polls.
    let done_seen: Vec<u64> = serde_json::from_value(res["doneSeen"].clone()).unwrap();
    assert_eq!(done_seen.first(), Some(&0), "{res}");
    assert_eq!(done_seen.last(), Some(&2), "{res}");
    assert!(done_seen.windows(2).all(|w| w[0] < w[1]), "{res}");
    assert!(res["updates"].as_u64().unwrap() >= 2, "{res}");
    // It showed a running video (with its progress bar), the failure grouped, the worker.
    assert_eq!(res["sawRunning"], true, "{res}");
    assert_eq!(res["failureGroups"][0], "1 × invalid_input", "{res}");
    assert!(res["workerStatus"].as_array().unwrap().len() == 1, "{res}");
    assert!(res["pageErrors"].as_array().unwrap().is_empty(), "{res}");
    // Played a done stream through the proxy, past 1 s, with no fatal hls.js error.
    assert!(res["fatal"].is_null(), "{res}");
    assert!(res["currentTime"].as_f64().unwrap() > 1.0, "{res}");
    assert!(res["width"].as_u64().unwrap() > 0, "{res}");
    // Both done lessons show their poster; hovering the scrub bar's middle shows the thumbnail
    // of that moment, cut from a sprite sheet of the stream.
    assert_eq!(res["posters"], 2, "{res}");
    let thumb = &res["thumbnail"];
    assert_eq!(thumb["shown"], true, "{res}");
    assert!(
        thumb["image"]
            .as_str()
            .unwrap()
            .contains("thumbs/sprite_000.jpg"),
        "{res}"
    );
    assert!(thumb["cue"]["start"].as_f64().is_some(), "{res}");
    for name in ["dashboard-live.png", "dashboard-player.png"] {
        let png = std::fs::read(shots.join(name)).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() < 1_500_000,
            "{name}"
        );
    }

    // The API agrees, and so does its history (one sample per refresh, done never falling).
    let r = eventually(Duration::from_secs(10), "the final snapshot", || async {
        let r = api(&base, "/api/report").await;
        (r["counts"]["done"] == 2 && r["counts"]["failed"] == 1).then_some(r)
    })
    .await;
    let bad_pk = st.pk("dash broken.mp4");
    assert_eq!(r["failures"][0]["keys"][0], bad_pk.as_str(), "{r}");
    assert!(!r["workers"].as_array().unwrap().is_empty());
    let h = api(&base, "/api/history").await;
    let dones: Vec<u64> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["done"].as_u64().unwrap())
        .collect();
    assert!(dones.len() >= 3 && dones[0] == 0 && *dones.last().unwrap() == 2);
    assert!(dones.windows(2).all(|w| w[0] <= w[1]), "{dones:?}");
    let last_t = h.as_array().unwrap().last().unwrap()["t"].as_i64().unwrap();
    let newer = api(&base, &format!("/api/history?since={last_t}")).await;
    assert!(newer
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["t"].as_i64() > Some(last_t)));

    // The proxy: a done video's master and, through its relative URIs, a variant and a segment.
    let hls = format!("/hls/{}", encode(&st.pk("dash a.mp4")));
    let (status, ctype, master) = get(&base, &format!("{hls}/master.m3u8")).await;
    let master = String::from_utf8(master).unwrap();
    assert_eq!(status, 200, "{master}");
    assert_eq!(ctype, "application/vnd.apple.mpegurl");
    assert!(master.starts_with("#EXTM3U"), "{master}");
    let variant = &media::variants(&master)[0].uri;
    let (status, _, pl) = get(&base, &format!("{hls}/{variant}")).await;
    let pl = String::from_utf8(pl).unwrap();
    assert!(
        status == 200 && pl.starts_with("#EXTM3U"),
        "{variant}: {pl}"
    );
    let seg = &fleet::transcode::playlist::segments(&pl)[0].uri;
    let seg = match variant.rsplit_once('/') {
        Some((folder, _)) => format!("{folder}/{seg}"),
        None => seg.clone(),
    };
    let (status, ctype, bytes) = get(&base, &format!("{hls}/{seg}")).await;
    assert_eq!((status, ctype.as_str()), (200, "video/mp2t"), "{seg}");
    assert!(bytes.len() > 1000 && bytes[0] == 0x47, "an MPEG-TS segment");
    // A failed video, an unknown one, a missing file, and paths out of the prefix.
    for (path, want) in [
        (format!("/hls/{}/master.m3u8", encode(&bad_pk)), 404),
        (
            format!("/hls/{}/master.m3u8", encode("s3://nope/x.mp4")),
            404,
        ),
        (format!("{hls}/nothing-here.m3u8"), 404),
        (format!("{hls}/../master.m3u8"), 400),
        (format!("{hls}/%2E%2E/%2E%2E/master.m3u8"), 400),
    ] {
        assert_eq!(get(&base, &path).await.0, want, "{path}");
    }
}

/// The page's poll carries summaries: no video's ffmpeg arguments or error history, at most
/// five keys per failure group, and one page of done videos; the other pages on request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_sends_summaries_and_pages_done_videos() {
    let cfg = crate::common::sdk().await;
    let table = crate::common::fresh_table(&cfg, "dash-pages").await;
    let st = crate::common::store(&cfg, &table);
    let now = chrono::Utc::now().timestamp_millis();
    let argv: Vec<String> = (0..200).map(|i| format!("-argument-{i:04}")).collect();
    let items: Vec<_> = (0..250)
        .map(|i| {
            let src = fleet::domain::keys::S3Uri {
                bucket: "in".into(),
                key: format!("lesson {i:03}.mp4"),
            };
            let mut v = fleet::domain::video::seeded(&src, "out", &format!("o/{i}"), 1, now, 16);
            v.state = if i < 230 {
                fleet::domain::VideoState::Done
            } else {
                fleet::domain::VideoState::Failed
            };
            v.shard = None;
            v.ffmpeg_args = Some(argv.clone());
            v.errors = Some(vec!["attempt 1: the same long story".repeat(20)]);
            v.error = Some("broken".into());
            v.error_kind = Some("invalid_input".into());
            v.output = Some(format!("s3://out/o/{i}/master.m3u8"));
            v
        })
        .collect();
    futures::future::try_join_all(items.iter().map(|v| st.insert_new(v)))
        .await
        .unwrap();
    let (_dash, mut out) = piped(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_fleet-admin"))
            .args(["dashboard", "--table", &table])
            .args(["--port", "0", "--refresh", "1"]),
    );
    let first = next_line(&mut out, "the dashboard's URL", 60).await;
    let base = first.strip_prefix("dashboard: ").unwrap().to_string();
    let (_, _, body) = eventually(Duration::from_secs(30), "a first snapshot", || async {
        let got = get(&base, "/api/report").await;
        let v: Value = serde_json::from_slice(&got.2).ok()?;
        (v["counts"]["total"] == 250).then_some(got)
    })
    .await;
    let r: Value = serde_json::from_slice(&body).unwrap();
    // Every item carries ~2.4 KB of argv and ~600 B of history; none of it is sent.
    assert!(body.len() < 60_000, "{} bytes a poll", body.len());
    let text = String::from_utf8_lossy(&body);
    assert!(!text.contains("-argument-0001"), "ffmpeg arguments sent");
    assert!(!text.contains("long story"), "error histories sent");
    assert_eq!(r["done_total"], 230);
    assert_eq!(r["videos"].as_array().unwrap().len(), 100);
    assert_eq!(r["failures"][0]["count"], 20);
    assert_eq!(r["failures"][0]["keys"].as_array().unwrap().len(), 5);
    let last = api(&base, "/api/report?done_page=2").await;
    assert_eq!(last["videos"].as_array().unwrap().len(), 30);
    assert_eq!(last["done_page"], 2);
}
