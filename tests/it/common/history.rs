//! The history checker: reads what worker processes recorded (`FLEET_HISTORY_FILE`, one JSON
//! line per lease or output operation, with its token and the wall times at which it was
//! invoked and returned) and checks the protocol's properties on it, against the final table.
//! All processes of a test run on one machine, so their wall times compare.

use fleet::domain::{VideoItem, VideoState};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// One recorded operation.
#[derive(Debug, Clone)]
pub struct Op {
    pub op: String,
    pub ok: bool,
    pub t0: i64,
    pub t1: i64,
    pub video: String,
    pub token: u64,
    pub expires: Option<i64>,
    pub key: Option<String>,
}

/// What a history held, for the test's log.
#[derive(Debug, Default)]
#[allow(dead_code)] // `ops` is read through Debug, in the test's log.
pub struct Summary {
    pub ops: usize,
    pub claims: usize,
    pub heartbeats: usize,
    pub fenced_puts: usize,
    /// Rendition uploads of an attempt begun after a newer attempt's claim returned: a stale
    /// holder still writing under its own `t<N>/` (garbage no master names), seen, not fatal.
    pub stale_uploads: usize,
}

/// Reads `file` and checks it against `items` (the table at the end of the run); panics with
/// the offending operations on a violation.
pub fn check(file: &Path, items: &[VideoItem]) -> Summary {
    let text = std::fs::read_to_string(file).expect("a history was recorded");
    let by_prefix: HashMap<&str, &VideoItem> =
        items.iter().map(|v| (v.out_prefix.as_str(), v)).collect();
    let mut ops = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let key = v["key"].as_str().map(str::to_string);
        // The worker's probe of the store's conditional writes: no video's output.
        if key
            .as_deref()
            .is_some_and(|k| k.contains("/.fleet-cas-probe-"))
        {
            continue;
        }
        // S3 operations are a video's through its output prefix; renditions carry `t<N>/`.
        let (video, token) = match (&key, v["video"].as_str()) {
            (_, Some(video)) => (video.to_string(), v["token"].as_u64().unwrap_or(0)),
            (Some(k), None) => {
                let Some((prefix, rest)) = by_prefix
                    .keys()
                    .filter_map(|p| k.strip_prefix(&format!("{p}/")).map(|r| (*p, r)))
                    .max_by_key(|(p, _)| p.len())
                else {
                    continue;
                };
                let token = v["token"].as_u64().or_else(|| {
                    rest.strip_prefix('t')
                        .and_then(|r| r.split('/').next())
                        .and_then(|n| n.parse().ok())
                });
                let Some(token) = token else { continue };
                (by_prefix[prefix].pk.clone(), token)
            }
            _ => continue,
        };
        ops.push(Op {
            op: v["op"].as_str().unwrap_or_default().to_string(),
            ok: v["ok"].as_bool().unwrap_or(false),
            t0: v["t0"].as_i64().unwrap_or(0),
            t1: v["t1"].as_i64().unwrap_or(0),
            video,
            token,
            expires: v["expires"].as_i64(),
            key,
        });
    }
    let mut s = Summary {
        ops: ops.len(),
        ..Summary::default()
    };
    let mut per_video: HashMap<&str, Vec<&Op>> = HashMap::new();
    for o in &ops {
        per_video.entry(o.video.as_str()).or_default().push(o);
    }
    for (video, mut ops) in per_video {
        ops.sort_by_key(|o| o.t1);
        let claims: Vec<&&Op> = ops.iter().filter(|o| o.op == "claim" && o.ok).collect();
        s.claims += claims.len();
        // A newer claim returned before `o` was invoked.
        let newer_claimed_before = |o: &Op| {
            claims
                .iter()
                .find(|c| c.token > o.token && c.t1 < o.t0)
                .map(|c| Op::clone(c))
        };
        for o in ops.iter().filter(|o| o.ok) {
            match o.op.as_str() {
                // One holder at a time: no fenced write of an older token takes effect once a
                // newer claim returned.
                "heartbeat" | "complete" | "fail" | "release" | "s3_put_fenced" => {
                    if let Some(c) = newer_claimed_before(o) {
                        panic!("{video}: {o:?} took effect after the newer claim {c:?}");
                    }
                }
                "s3_put" if newer_claimed_before(o).is_some() => s.stale_uploads += 1,
                _ => {}
            }
        }
        // Leases never move backwards.
        let mut last: HashMap<u64, i64> = HashMap::new();
        for o in ops.iter().filter(|o| o.op == "heartbeat" && o.ok) {
            s.heartbeats += 1;
            let e = o.expires.expect("a heartbeat's expiry");
            let prev = last.entry(o.token).or_insert(e);
            assert!(
                e >= *prev,
                "{video}: lease shortened {prev} -> {e} by {o:?}"
            );
            *prev = e;
        }
        // The master players fetch only ever moves to newer tokens.
        let masters: Vec<&&Op> = ops
            .iter()
            .filter(|o| {
                o.op == "s3_put_fenced"
                    && o.ok
                    && o.key
                        .as_deref()
                        .is_some_and(|k| k.ends_with("/master.m3u8"))
            })
            .collect();
        s.fenced_puts += masters.len();
        for w in masters.windows(2) {
            assert!(
                w[0].token <= w[1].token,
                "{video}: master went back: {:?} then {:?}",
                w[0],
                w[1]
            );
        }
        // Done only by the newest token, and its master is the last one published.
        let item = items
            .iter()
            .find(|v| v.pk == video)
            .expect("recorded video in the table");
        if item.state == VideoState::Done {
            let newest = claims.iter().map(|c| c.token).max().unwrap_or(0);
            assert_eq!(
                item.token, newest,
                "{video}: done by {} while {newest} claimed",
                item.token
            );
            let done: Vec<&&Op> = ops.iter().filter(|o| o.op == "complete" && o.ok).collect();
            assert!(
                done.iter().all(|d| d.token == item.token),
                "{video}: {done:?}"
            );
            if let Some(m) = masters.last() {
                assert_eq!(m.token, item.token, "{video}: last master {m:?}");
            }
        }
    }
    s
}
