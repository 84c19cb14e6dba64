//! Worker benchmark (`cargo bench --bench worker`, local stack running): the same clip, the
//! same ladder, the same machine, in one run:
//! - `fleet-worker` end to end (S3 in, S3 out, DynamoDB), process start to exit, vs the bare
//!   ffmpeg command it ran (its recorded argv) on a local copy of the source; alternated three
//!   times, medians compared. Also the time from claim to ffmpeg's start (download + probe),
//!   and, within each worker run, its whole CPU against its own encode's (ffmpeg and ffprobe
//!   wrapped to log their CPU), with the local S3 server's CPU over the same run.
//! - throughput of 1 vs 2 slots on the same set of clips.
//!
//! Under `cargo test` it does nothing.

#[path = "support/common.rs"]
mod common;

use fleet::domain::keys::S3Uri;
use fleet::store::dynamo::{create_table, DynamoStore, StoreConfig};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    common::bench_main("worker", run);
}

fn clip(dir: &Path, name: &str, size: &str, seconds: u32) -> PathBuf {
    let out = dir.join(name);
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={size}:rate=30"))
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            &seconds.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "fast",
        ])
        .args(["-b:v", "4M", "-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(&out)
        .status()
        .expect("ffmpeg installed")
        .success();
    assert!(ok);
    out
}

struct Env {
    cfg: aws_config::SdkConfig,
    s3: aws_sdk_s3::Client,
    input: String,
    output: String,
}

/// A fresh table seeded with `files` uploaded under a fresh input bucket.
async fn stage(env: &Env, files: &[PathBuf]) -> (String, DynamoStore) {
    let table = common::unique("w");
    let ddb = fleet::aws::dynamodb(&env.cfg, Duration::from_secs(30));
    create_table(&ddb, &table).await.expect("local stack up?");
    let store = DynamoStore::new(ddb, StoreConfig::new(&table), fleet::clock::system());
    let prefix = common::unique("p");
    for f in files {
        let key = format!("{prefix}/{}", f.file_name().unwrap().to_string_lossy());
        fleet::blob::upload(&env.s3, &env.input, &key, f, "video/mp4")
            .await
            .unwrap();
    }
    let input = S3Uri {
        bucket: env.input.clone(),
        key: format!("{prefix}/"),
    };
    let output = S3Uri {
        bucket: env.output.clone(),
        key: format!("{prefix}/"),
    };
    let exts = vec!["mp4".to_string()];
    let plan = fleet::admin::seed::SeedPlan {
        input: &input,
        output: &output,
        extensions: &exts,
        default_caption_language: "und",
        dry_run: false,
        update_output: false,
    };
    fleet::admin::seed::seed(&store, &env.s3, &plan, |_| {})
        .await
        .unwrap();
    (table, store)
}

/// Bytes under `dir`, recursively (files that vanish while walking count as 0).
fn du(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => du(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// Runs one fleet-worker to exhaustion; returns wall time, its JSON log lines and the most
/// bytes its work dir held at once (sampled every 20 ms).
fn worker(table: &str, work: &Path, concurrency: usize) -> (Duration, Vec<serde_json::Value>, u64) {
    worker_with(table, work, concurrency, &[])
}

/// [`worker`] with extra flags.
fn worker_with(
    table: &str,
    work: &Path,
    concurrency: usize,
    extra: &[&str],
) -> (Duration, Vec<serde_json::Value>, u64) {
    let t = Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (done, work) = (done.clone(), work.to_path_buf());
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(du(&work));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let out = Command::new(env!("CARGO_BIN_EXE_fleet-worker"))
        .args(["--table", table, "--exit-when-idle", "--log-format", "json"])
        .args(["--concurrency", &concurrency.to_string()])
        .args(["--idle-max-seconds", "1"])
        .args(extra)
        .arg("--work-dir")
        .arg(work)
        .env("RUST_LOG", "info")
        .envs(
            WRAPPED
                .get()
                .map(|(bin, log)| {
                    let path = format!(
                        "{}:{}",
                        bin.display(),
                        std::env::var("PATH").unwrap_or_default()
                    );
                    [
                        ("PATH", path),
                        ("FLEET_BENCH_CPU_LOG", log.display().to_string()),
                    ]
                })
                .into_iter()
                .flatten(),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = t.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak_disk = sampler.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs = String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (took, logs, peak_disk)
}

fn log_ms(logs: &[serde_json::Value], message: &str) -> Vec<f64> {
    logs.iter()
        .filter(|l| l["message"] == message)
        .filter_map(|l| l["ms"].as_f64())
        .collect()
}

/// The worker's recorded argv, pointed at `src` and `out` instead of its job folder.
fn bare_argv(recorded: &[String], src: &Path, out: &Path) -> Vec<String> {
    fleet::admin::show::rebase(recorded, src, out).expect("an ffmpeg argv with -i")
}

/// CPU seconds (user + system) of this process's waited-for children and their descendants
/// (the worker and the ffmpeg it waited for), from /proc/self/stat's cutime and cstime.
fn children_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    // After "pid (comm) ", state is field 3: cutime and cstime are fields 16 and 17.
    let ticks: f64 = fields[13].parse::<f64>().unwrap() + fields[14].parse::<f64>().unwrap();
    let hz: f64 = String::from_utf8(
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    ticks / hz
}

/// CPU seconds the local S3 server (a process named `garage` or `minio`) has used so far:
/// it shares this machine's cores with the encode, which S3 on AWS does not.
fn s3_server_cpu_s() -> f64 {
    let hz = 100.0; // USER_HZ on Linux.
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|c| matches!(c.trim(), "garage" | "minio"))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .map(|stat| {
            let f: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
            (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / hz
        })
        .sum()
}

/// The folder of the ffmpeg and ffprobe wrappers, and the log they append to.
static WRAPPED: std::sync::OnceLock<(PathBuf, PathBuf)> = std::sync::OnceLock::new();

/// Puts bash wrappers for ffmpeg and ffprobe first on the worker's PATH: each runs the real
/// program and appends its CPU seconds (bash's `times` for its child) and its arguments to a
/// log. The worker's overhead is then measured within one run, as its whole CPU less its
/// encode's, free of the few percent a busy machine moves two separate runs.
fn wrap_ffmpeg(dir: &Path) {
    let bin = dir.join("wrapped");
    std::fs::create_dir_all(&bin).unwrap();
    for program in ["ffmpeg", "ffprobe"] {
        let real = String::from_utf8(
            Command::new("sh")
                .args(["-c", &format!("command -v {program}")])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let script = format!(
            "#!/bin/bash\n{} \"$@\"\nrc=$?\nlog=\"$FLEET_BENCH_CPU_LOG\"\n\
             times > \"$log.$$\"\n{{ tail -n1 \"$log.$$\" | tr -d '\\n'; echo \" {program} $*\"; }} \
             >> \"$log\"\nrm -f \"$log.$$\"\nexit $rc\n",
            real.trim()
        );
        let path = bin.join(program);
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    WRAPPED.set((bin, dir.join("cpu.log"))).unwrap();
}

/// What a logged ffmpeg/ffprobe run was for, from its arguments.
fn what_run(args: &str) -> &'static str {
    [
        ("-version", "version check"),
        ("-skip_frame", "poster and thumbnails"),
        ("closed_captions", "CEA-608 probe"),
        ("-show_format", "source probe"),
        ("ffprobe", "ffprobe"),
    ]
    .iter()
    .find(|(k, _)| args.contains(k))
    .map_or("ffmpeg", |(_, v)| v)
}

/// `0m1.250s` as seconds.
fn bash_time(t: &str) -> f64 {
    let (m, s) = t.trim_end_matches('s').split_once('m').unwrap();
    m.parse::<f64>().unwrap() * 60.0 + s.parse::<f64>().unwrap()
}

/// The wrapped runs logged since the log was last taken: (CPU seconds, program and arguments).
fn take_cpu_log() -> Vec<(f64, String)> {
    let log = &WRAPPED.get().unwrap().1;
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let _ = std::fs::remove_file(log);
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ' ');
            let cpu = bash_time(f.next()?) + bash_time(f.next()?);
            Some((cpu, f.next()?.to_string()))
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn run() {
    let cfg = fleet::aws::sdk_config().await;
    let s3 = fleet::aws::s3(&cfg);
    let env = Env {
        cfg,
        input: common::unique("in"),
        output: common::unique("out"),
        s3,
    };
    for b in [&env.input, &env.output] {
        fleet::blob::ensure_bucket(&env.s3, b).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    // 40 s, the clip; FLEET_BENCH_SECONDS for another length.
    let seconds: u32 = std::env::var("FLEET_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let src = clip(dir.path(), "bench 720p.mp4", "1280x720", seconds);
    let size = std::fs::metadata(&src).unwrap().len();
    println!(
        "clip: 1280x720 30 fps {seconds} s, {:.1} MB; preset veryfast (the default)",
        size as f64 / 1e6
    );

    // What the poster and the thumbnails (two more branches of the same decode, two image
    // outputs) add to a job: the worker with them (the default) and with --thumbnail-seconds 0,
    // alternated.
    let (mut with, mut without, mut with_cpu, mut without_cpu) = (vec![], vec![], vec![], vec![]);
    // Not with FLEET_BENCH_RATIO_ONLY: the overhead table alone.
    let stills_rounds = if std::env::var_os("FLEET_BENCH_RATIO_ONLY").is_some() {
        0
    } else {
        3
    };
    for round in 0..stills_rounds {
        for (off, times, cpus) in [
            (false, &mut with, &mut with_cpu),
            (true, &mut without, &mut without_cpu),
        ] {
            let (table, _) = stage(&env, std::slice::from_ref(&src)).await;
            let extra: &[&str] = if off {
                &["--thumbnail-seconds", "0"]
            } else {
                &[]
            };
            let cpu0 = children_cpu_s();
            let work = dir.path().join(format!("stills{round}{off}"));
            let (took, _, _) = worker_with(&table, &work, 1, extra);
            cpus.push(children_cpu_s() - cpu0);
            times.push(took.as_secs_f64());
        }
    }
    if stills_rounds > 0 {
        let (w, wo) = (median(with), median(without));
        let (wc, woc) = (median(with_cpu), median(without_cpu));
        println!(
            "poster and thumbnails: fleet-worker {w:.2} s with them vs {wo:.2} s without \
             (--thumbnail-seconds 0), ratio {:.3}; CPU {wc:.2} vs {woc:.2} CPU-s, ratio {:.3} \
             (medians of 3)",
            w / wo,
            wc / woc
        );
    }
    if std::env::var_os("FLEET_BENCH_STILLS_ONLY").is_some() {
        return;
    }

    let (mut fleet_s, mut bare_s, mut before_ffmpeg) = (vec![], vec![], vec![]);
    let (mut in_worker_encode, mut tail, mut disk) = (vec![], vec![], vec![]);
    let (mut cpu, mut bare_cpu) = (vec![], vec![]);
    // Within each worker run: its encode's CPU, its other ffmpeg/ffprobe runs', its own.
    let (mut encode_cpu, mut helpers_cpu, mut own_cpu) = (vec![], vec![], vec![]);
    let (mut helpers_seen, mut server_cpu) = (String::new(), vec![]);
    wrap_ffmpeg(dir.path());
    for round in 0..3 {
        let (table, store) = stage(&env, std::slice::from_ref(&src)).await;
        take_cpu_log();
        let (cpu0, server0) = (children_cpu_s(), s3_server_cpu_s());
        let (took, logs, peak) = worker(&table, &dir.path().join(format!("work{round}")), 1);
        cpu.push(children_cpu_s() - cpu0);
        server_cpu.push(s3_server_cpu_s() - server0);
        let runs = take_cpu_log();
        let (encode, helpers): (Vec<_>, Vec<_>) = runs
            .iter()
            .partition(|(_, args)| args.contains("var_stream_map"));
        assert_eq!(encode.len(), 1, "one encode per job: {runs:?}");
        let helper_sum: f64 = helpers.iter().map(|h| h.0).sum();
        encode_cpu.push(encode[0].0);
        helpers_cpu.push(helper_sum);
        own_cpu.push(cpu[round] - encode[0].0 - helper_sum);
        helpers_seen = helpers
            .iter()
            .map(|(c, a)| format!("{} {c:.2}", what_run(a)))
            .collect::<Vec<_>>()
            .join("; ");
        disk.push(peak as f64);
        let items = fleet::admin::report::scan_all(store.client(), &table)
            .await
            .unwrap()
            .0;
        assert_eq!(items[0].state, fleet::domain::VideoState::Done);
        let argv = items[0].ffmpeg_args.clone().unwrap();
        let out = dir.path().join(format!("bare{round}"));
        let bare = bare_argv(&argv, &src, &out);
        // ffmpeg does not create the per-rendition folders; the worker makes them first too.
        for name in fleet::admin::show::folders(&argv) {
            std::fs::create_dir_all(out.join(name)).unwrap();
        }
        let (t, cpu0) = (Instant::now(), children_cpu_s());
        let ok = Command::new(&bare[0])
            .args(&bare[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "bare ffmpeg failed: {bare:?}");
        bare_s.push(t.elapsed().as_secs_f64());
        bare_cpu.push(children_cpu_s() - cpu0);
        fleet_s.push(took.as_secs_f64());
        let (start, encoded, published) = (
            log_ms(&logs, "ffmpeg starting")[0],
            log_ms(&logs, "encoded")[0],
            log_ms(&logs, "published")[0],
        );
        before_ffmpeg.push(start);
        in_worker_encode.push((encoded - start) / 1000.0);
        tail.push(published - encoded);
        println!(
            "round {round}: fleet-worker {:.2} s, bare ffmpeg {:.2} s",
            took.as_secs_f64(),
            bare_s[round]
        );
    }
    let (f, b) = (median(fleet_s), median(bare_s));
    println!(
        "end to end: fleet-worker {f:.2} s vs bare ffmpeg {b:.2} s (medians of 3): ratio {:.3}",
        f / b
    );
    println!(
        "claim to ffmpeg start (download {:.1} MB + probe): median {:.0} ms, {:.1}% of the encode",
        size as f64 / 1e6,
        median(before_ffmpeg.clone()),
        median(before_ffmpeg) / 10.0 / b
    );
    println!(
        "where the rest goes: ffmpeg inside the worker (uploading as it encodes) {:.2} s vs \
         {b:.2} s bare; after ffmpeg (stills, last uploads, master, complete) {:.0} ms; \
         the remainder is process start, claim and exit",
        median(in_worker_encode),
        median(tail)
    );

    // CPU time is what an instance pays for, and unlike wall time it does not depend on how
    // much of the two cores the local S3 server took while the worker uploaded.
    println!(
        "CPU: fleet-worker and its ffmpeg {:.2} CPU-s vs bare ffmpeg {:.2} CPU-s (medians of 3): \
         ratio {:.3} (per round {})",
        median(cpu.clone()),
        median(bare_cpu.clone()),
        median(cpu.clone()) / median(bare_cpu.clone()),
        cpu.iter()
            .zip(&bare_cpu)
            .map(|(w, b)| format!("{:.3}", w / b))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let overhead: Vec<f64> = cpu.iter().zip(&encode_cpu).map(|(w, e)| w / e).collect();
    println!(
        "CPU within each worker run: {:.2} CPU-s in all = its encode {:.2} + its other ffmpeg \
         and ffprobe runs {:.2} + fleet-worker itself {:.2} (medians of 3): the worker's total \
         over its own encode {:.3} (per round {})",
        median(cpu.clone()),
        median(encode_cpu),
        median(helpers_cpu),
        median(own_cpu),
        median(overhead.clone()),
        overhead
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("the other runs, CPU-s (last round): {helpers_seen}");
    println!(
        "the local S3 server took {:.2} CPU-s of the same two cores during each worker run \
         (median of 3): uploads S3 on AWS receives off the instance",
        median(server_cpu)
    );
    let per_content = median(cpu) / f64::from(seconds);
    println!(
        "CPU: {per_content:.2} CPU-seconds per content-second (fleet-worker and its ffmpeg, every \
         rung, 720p30 source; median of 3); at 4 vCPU per c6g.xlarge that is {:.2} \
         instance-hours per content-hour if a Graviton2 vCPU encodes like this machine's core",
        per_content / 4.0
    );

    let bare_out = du(&dir.path().join("bare0"));
    println!(
        "peak local disk per job: median {:.1} MB for a {:.1} MB source whose stream is {:.1} MB \
         (bare ffmpeg's output folder): source + {:.1} MB",
        median(disk.clone()) / 1e6,
        size as f64 / 1e6,
        bare_out as f64 / 1e6,
        (median(disk) - size as f64) / 1e6
    );
    if std::env::var_os("FLEET_BENCH_RATIO_ONLY").is_some() {
        return;
    }
    // The same figure for a video ten times longer: segments leave the disk as they go up, so
    // the job's disk is its source plus a few segments, whatever the length.
    let long_s = 300;
    let long = clip(dir.path(), "bench long.mp4", "1280x720", long_s);
    let long_size = std::fs::metadata(&long).unwrap().len();
    let (table, _) = stage(&env, std::slice::from_ref(&long)).await;
    let (took, logs, peak) = worker(&table, &dir.path().join("work-long"), 1);
    let segs = logs
        .iter()
        .find(|l| l["message"] == "segments uploaded")
        .and_then(|l| l["peak_local_segments"].as_u64());
    println!(
        "{long_s} s clip ({:.1} MB) in {:.1} s: peak local disk {:.1} MB = source + {:.1} MB; \
         at most {segs:?} segment files on disk at once",
        long_size as f64 / 1e6,
        took.as_secs_f64(),
        peak as f64 / 1e6,
        (peak as f64 - long_size as f64) / 1e6
    );

    hdr_order(dir.path());

    let clips: Vec<PathBuf> = (0..4)
        .map(|i| clip(dir.path(), &format!("slot {i}.mp4"), "1280x720", 10))
        .collect();
    for slots in [1, 2] {
        let (table, _) = stage(&env, &clips).await;
        let (took, _, _) = worker(&table, &dir.path().join(format!("slots{slots}")), slots);
        println!(
            "{slots} slot(s): 4 clips of 10 s 720p in {:.1} s: {:.2} videos/min",
            took.as_secs_f64(),
            4.0 * 60.0 / took.as_secs_f64()
        );
    }
}

/// Why tone mapping runs after the downscale: the worker's HDR chain (zscale to linear light,
/// hable, back to BT.709) on a 4K 10-bit PQ source to a 1080p top rung, at the source's size
/// then scaled, against scaled first (what the worker does). Decode and filter only, to a null
/// sink: the encode after it is the same either way.
fn hdr_order(dir: &Path) {
    let src = dir.join("hdr 4k pq.mp4");
    let seconds = 2;
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=3840x2160:rate=30")
        .args([
            "-t",
            &seconds.to_string(),
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
        ])
        .args(["-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error"])
        .args(["-color_trc", "smpte2084", "-color_primaries", "bt2020"])
        .args(["-colorspace", "bt2020nc", "-tag:v", "hvc1"])
        .arg(&src)
        .status()
        .expect("ffmpeg installed")
        .success();
    assert!(ok, "making the 4K PQ clip");
    let tonemap = "setparams=color_trc=smpte2084:color_primaries=bt2020:colorspace=bt2020nc,\
                   zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,\
                   tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv";
    let scale = "scale=1920:1080:flags=bicubic";
    let frames = f64::from(seconds * 30);
    let mut fps = vec![];
    for (what, graph) in [
        (
            "tone-mapped at 3840x2160, then scaled",
            format!("{tonemap},{scale},format=yuv420p"),
        ),
        (
            "scaled to 1920x1080, then tone-mapped",
            format!("{scale},{tonemap},format=yuv420p"),
        ),
    ] {
        let t = Instant::now();
        let ok = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(&src)
            .args(["-vf", &graph, "-f", "null", "-"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "{graph}");
        let f = frames / t.elapsed().as_secs_f64();
        println!("HDR 4K PQ to a 1080p rung, {what}: {f:.1} frames/s (decode + filter)");
        fps.push(f);
    }
    println!(
        "HDR: tone-mapping after the downscale is {:.1}x faster",
        fps[1] / fps[0]
    );
}
