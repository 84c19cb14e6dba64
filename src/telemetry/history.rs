//! A record of this process's lease and output operations, one JSON line each, when
//! `FLEET_HISTORY_FILE` names a file (every process of a run may append to the same one):
//! what the history checker of the chaos and fault tests reads. Each line holds the operation,
//! its outcome, the video or object, the fencing token when there is one, and the wall time at
//! which it was invoked and at which it returned. Off, it costs one check of a `OnceLock`.

use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Mutex, OnceLock};

static FILE: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();

fn file() -> Option<&'static Mutex<std::fs::File>> {
    FILE.get_or_init(|| {
        let path = std::env::var_os("FLEET_HISTORY_FILE")?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(Mutex::new)
    })
    .as_ref()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// An operation in flight: its invocation time.
#[derive(Debug, Clone, Copy)]
pub struct Invoked(Option<i64>);

/// Notes the invocation of an operation (nothing when no history is kept).
pub fn invoke() -> Invoked {
    Invoked(file().map(|_| now_ms()))
}

impl Invoked {
    /// Records the operation `op` as returned now, with `fields` (an object).
    pub fn done(self, op: &str, ok: bool, fields: Value) {
        let (Some(t0), Some(f)) = (self.0, file()) else {
            return;
        };
        let mut line =
            json!({"op": op, "ok": ok, "t0": t0, "t1": now_ms(), "pid": std::process::id()});
        if let (Some(l), Value::Object(extra)) = (line.as_object_mut(), fields) {
            l.extend(extra);
        }
        if let Ok(mut f) = f.lock() {
            // One write per line, in append mode: lines of processes sharing a file never mix.
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}
