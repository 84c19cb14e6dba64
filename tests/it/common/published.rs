//! Checks of what a stream publishes beside its playlists, read from a downloaded stream:
//! `stream.json` against its JSON Schema and against the files it names, the poster, and the
//! scrubbing thumbnails (cues tiling the duration, each rectangle inside its sprite sheet).

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const SCHEMA: &str = include_str!("../../../schema/stream.schema.json");

/// `stream.json` of the stream in `dir`: valid against `schema/stream.schema.json`, and every
/// file it names is there. Returns the document.
pub fn check_description(dir: &Path) -> Result<Value, String> {
    let text = std::fs::read(dir.join("stream.json")).map_err(|e| format!("stream.json: {e}"))?;
    let doc: Value = serde_json::from_slice(&text).map_err(|e| format!("stream.json: {e}"))?;
    validate(&doc)?;
    let mut named: Vec<&str> = vec![doc["master"]["path"].as_str().unwrap_or_default()];
    for list in ["renditions", "audio", "text", "iframes"] {
        for x in doc[list].as_array().into_iter().flatten() {
            named.push(x["playlist"].as_str().unwrap_or_default());
        }
    }
    for opt in ["poster", "thumbnails"] {
        if let Some(p) = doc[opt]["path"].as_str() {
            named.push(p);
        }
    }
    for s in doc["thumbnails"]["sprites"]
        .as_array()
        .into_iter()
        .flatten()
    {
        named.push(s.as_str().unwrap_or_default());
    }
    for n in named {
        if !dir.join(n).is_file() {
            return Err(format!("stream.json names {n}, which was not published"));
        }
    }
    Ok(doc)
}

/// Validates a document against the schema.
pub fn validate(doc: &Value) -> Result<(), String> {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    let v = jsonschema::validator_for(&schema).map_err(|e| format!("the schema: {e}"))?;
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("stream.json is not valid: {}", errors.join("; ")))
    }
}

/// Width and height of an image, by ffprobe.
pub fn image_size(path: &Path) -> (u32, u32) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    let (w, h) = s.trim().split_once(',').expect("an image");
    (w.parse().unwrap(), h.parse().unwrap())
}

/// Mean luma and its spread (max - min) of an image, by ffmpeg's `signalstats`.
pub fn luma(path: &Path) -> (f64, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg(format!("movie={},signalstats", path.display()))
        .args([
            "-show_entries",
            "frame_tags=lavfi.signalstats.YAVG,lavfi.signalstats.YLOW,lavfi.signalstats.YHIGH",
            "-of",
            "json",
        ])
        .output()
        .unwrap();
    let j: Value = serde_json::from_slice(&out.stdout).expect("ffprobe JSON");
    let tags = &j["frames"][0]["tags"];
    let f = |k: &str| tags[k].as_str().unwrap_or("0").parse::<f64>().unwrap();
    (
        f("lavfi.signalstats.YAVG"),
        f("lavfi.signalstats.YHIGH") - f("lavfi.signalstats.YLOW"),
    )
}

/// The thumbnails of the stream in `dir` (as `doc` describes them): cues that tile
/// `[0, duration)` with no gap or overlap, the last ending within 0.5 s of `duration`, each
/// rectangle inside its sprite sheet, one cue per `interval_s`. Returns the cue count.
pub fn check_thumbnails(dir: &Path, doc: &Value, duration: f64) -> Result<usize, String> {
    let vtt = std::fs::read_to_string(dir.join("thumbnails.vtt")).map_err(|e| e.to_string())?;
    if !vtt.starts_with("WEBVTT") {
        return Err("thumbnails.vtt is not WebVTT".into());
    }
    let secs = |t: &str| -> f64 {
        t.split(':')
            .map(|p| p.parse::<f64>().unwrap())
            .fold(0.0, |a, p| a * 60.0 + p)
    };
    let mut at = 0.0;
    let mut n = 0;
    let mut sizes = std::collections::HashMap::new();
    for cue in vtt.split("\n\n").filter(|c| c.contains("-->")) {
        let mut lines = cue.lines();
        let (a, b) = lines.next().unwrap().split_once(" --> ").unwrap();
        let (start, end) = (secs(a), secs(b));
        if (start - at).abs() > 1e-3 || end <= start {
            return Err(format!(
                "cue {n} spans {start}..{end}, expected to start at {at}"
            ));
        }
        at = end;
        let target = lines.next().ok_or("a cue without a target")?;
        let (file, frag) = target.split_once("#xywh=").ok_or("no #xywh")?;
        let r: Vec<u32> = frag.split(',').map(|x| x.parse().unwrap()).collect();
        let size = *sizes
            .entry(file.to_string())
            .or_insert_with(|| image_size(&dir.join(file)));
        if r[0] + r[2] > size.0 || r[1] + r[3] > size.1 {
            return Err(format!("cue {n}: {frag} lies outside {file} ({size:?})"));
        }
        n += 1;
    }
    if (at - duration).abs() > 0.5 {
        return Err(format!("the cues end at {at}, the stream at {duration}"));
    }
    let want = doc["thumbnails"]["count"].as_u64().unwrap_or(0) as usize;
    let interval = doc["thumbnails"]["interval_s"].as_f64().unwrap_or(0.0);
    if n != want || n != (duration / interval).ceil() as usize {
        return Err(format!(
            "{n} cues; stream.json says {want}, one per {interval} s of {duration}"
        ));
    }
    Ok(n)
}
