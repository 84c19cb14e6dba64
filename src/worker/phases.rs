//! The phases of one job, each testable on its own: fetch the source (and decide the plan),
//! encode and upload at once, verify what was encoded against what the source claims, publish
//! the master. Each returns a [`JobError`] that says whose fault a failure is.

use super::ctx::{Encoded, Job, Source};
use super::fenced;
use super::upload::Uploader;
use super::WorkerConfig;
use crate::blob;
use crate::domain::damage::Verdict;
use crate::domain::quality::{self, RateControl};
use crate::domain::video::FailureKind;
use crate::error::JobError;
use crate::error::TranscodeError;
use crate::store::Completion;
use crate::transcode::command::{self, AudioLayout, Plan};
use crate::transcode::playlist::{self, AudioMedia, Variant};
use crate::transcode::probe::{self, Probe};
use crate::transcode::{analysis, codecs, run, stills, timeline};
use std::path::Path;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Working room a job needs on local disk beyond its source: the segments on their way up
/// (a few per rendition) and ffmpeg's temporary files. Segments are deleted once uploaded, so
/// this does not grow with the video's length.
const WORK_ROOM: u64 = 256 << 20;
/// Frame timestamps read to measure a variable frame rate, seconds of the source.
const CADENCE_WINDOW_S: u32 = 600;

/// A job's own folder under the work dir (removed when dropped).
pub fn job_dir(cfg: &WorkerConfig) -> Result<tempfile::TempDir, JobError> {
    tempfile::Builder::new()
        .prefix(&format!("job-{}-", std::process::id()))
        .tempdir_in(&cfg.work_dir)
        .map_err(|e| {
            JobError::local(format!(
                "cannot create a job folder in {}: {e}",
                cfg.work_dir.display()
            ))
        })
}

/// Whether the work dir can hold a `size`-byte source: `Ok` if it can now; the video's fault
/// if it never could on this worker (its disk, less the reserve, is smaller than the job);
/// this machine's trouble if it could but the disk is full now.
pub fn disk_check(
    size: u64,
    free: u64,
    total: u64,
    reserve: u64,
    dir: &Path,
) -> Result<(), JobError> {
    let need = size.saturating_add(WORK_ROOM);
    let dir = dir.display();
    if reserve < total && need > total - reserve {
        return Err(JobError::Video {
            kind: FailureKind::Transient,
            message: format!(
                "the source needs {need} bytes of disk ({size} + {WORK_ROOM} working room), more \
                 than this worker's work dir {dir} can ever hold ({total} bytes, {reserve} kept \
                 free): give workers bigger disks"
            ),
            argv: None,
        });
    }
    if free < need.saturating_add(reserve) {
        return Err(JobError::local(format!(
            "not enough disk in {dir}: {free} bytes free, {need} needed for a {size}-byte \
             source and {reserve} kept free"
        )));
    }
    Ok(())
}

/// Phase 1: download the source at full speed, probe it and decide the plan.
pub async fn fetch_source(job: &Job<'_>, dir: &Path) -> Result<Source, JobError> {
    let (v, cfg, s3) = (&job.lease.video, &job.ctx.cfg, &job.ctx.s3);
    let size = job
        .unless_cancelled(async {
            blob::size(s3, &v.src_bucket, &v.src_key)
                .await
                .map_err(JobError::source)
        })
        .await?;
    if size == 0 {
        return Err(JobError::invalid("the source object is empty (0 bytes)"));
    }
    let free = fs4::available_space(dir).unwrap_or(u64::MAX);
    let total = fs4::total_space(dir).unwrap_or(u64::MAX);
    disk_check(size, free, total, cfg.disk_reserve_bytes, &cfg.work_dir)?;
    let path = dir.join("source");
    job.unless_cancelled(async {
        blob::download(s3, &v.src_bucket, &v.src_key, size, &path)
            .await
            .map_err(JobError::source)
    })
    .await?;
    job.phase("encode", Some(0.0));
    let probe = job
        .unless_cancelled(async { Ok(probe::probe(&path).await?) })
        .await?;
    if probe.has_audio() && !probe.audio.iter().any(|a| a.decodable()) {
        let codecs: Vec<&str> = probe.audio.iter().map(|a| a.codec.as_str()).collect();
        return Err(JobError::invalid(format!(
            "none of the source's audio tracks can be decoded by this ffmpeg (codecs: {})",
            codecs.join(", ")
        )));
    }
    let cadence = match &probe.video {
        Some(vs) if command::looks_variable(vs) => {
            let c = job
                .unless_cancelled(async {
                    Ok(probe::cadence(&path, vs.index, CADENCE_WINDOW_S).await?)
                })
                .await?;
            info!(average = vs.fps, cadence = ?c, "variable frame rate");
            c
        }
        _ => None,
    };
    let mut plan = command::plan(&probe, &cfg.ladder, &cfg.preset, cadence);
    plan.stills = stills_for(&plan, &probe, cfg);
    Ok(Source { path, probe, plan })
}

/// The poster and thumbnails, sized from the plan's top rendition.
fn stills_for(plan: &Plan, probe: &Probe, cfg: &WorkerConfig) -> Option<stills::Stills> {
    plan.renditions.first().and_then(|top| {
        stills::plan(
            (top.width, top.height),
            probe.duration_s,
            cfg.thumbnail_interval_s,
        )
    })
}

/// Phase 1b, for a full encode only (a captions-only redo encodes nothing): with adaptive
/// rate control, each rung's from an analysis of the source, and the rungs it does not need
/// left out (then the stills follow the new top rung).
pub async fn choose_rates(job: &Job<'_>, source: &mut Source, dir: &Path) -> Result<(), JobError> {
    let cfg = &job.ctx.cfg;
    if cfg.rate_control == RateControl::Adaptive {
        job.phase("analyse", None);
        adapt(job, &source.path, &source.probe, &mut source.plan, dir).await?;
        job.phase("encode", Some(0.0));
        source.plan.stills = stills_for(&source.plan, &source.probe, cfg);
    }
    Ok(())
}

/// Chooses each rung's rate control from a short analysis of the source and leaves out the
/// rungs this title does not need ([`analysis`]). An analysis that fails leaves the ladder at
/// its fixed bitrates with a warning: the encode, not the analysis, decides whether the source
/// is good.
async fn adapt(
    job: &Job<'_>,
    path: &Path,
    probe: &Probe,
    plan: &mut Plan,
    dir: &Path,
) -> Result<(), JobError> {
    let Some(duration) = probe.duration_s.filter(|d| *d > 0.0) else {
        return Ok(());
    };
    if plan.renditions.is_empty() {
        return Ok(());
    }
    let work = dir.join("analysis");
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let started = std::time::Instant::now();
    let found = match tokio::fs::create_dir_all(&work).await {
        Ok(()) => {
            analysis::analyse(
                plan,
                &absolute,
                duration,
                &work,
                job.cancel,
                job.ctx.cfg.stall,
            )
            .await
        }
        Err(source) => Err(TranscodeError::Local {
            program: "ffmpeg",
            source,
        }),
    };
    let _ = tokio::fs::remove_dir_all(&work).await;
    match found {
        Ok(a) => {
            a.apply(plan);
            plan.rate_control = RateControl::Adaptive;
            info!(
                ms = started.elapsed().as_millis() as u64,
                ladder = plan.ladder_summary().unwrap_or_default(),
                "rate control chosen"
            );
        }
        // A shutdown can kill ffmpeg a moment before the token fires: still a cancellation.
        Err(TranscodeError::Cancelled) => return Err(TranscodeError::Cancelled.into()),
        Err(_) if job.cancel.is_cancelled() => return Err(TranscodeError::Cancelled.into()),
        Err(e) => {
            warn!(error = %e, "source analysis failed; every rung at its fixed bitrate");
            plan.warnings.push(format!(
                "the source analysis failed, so every rung is at its fixed bitrate: {e}"
            ));
        }
    }
    Ok(())
}

/// The streams whose decoded frames the encode logs, with the stretch each should cover on
/// the decode's timeline (ffmpeg starts it at the file's start).
fn logged_streams(probe: &Probe, plan: &Plan, out: &Path) -> Vec<timeline::Logged> {
    let logged = |index: u32, start_s: f64, duration_s: Option<f64>| {
        let start = (start_s - probe.start_s).max(0.0);
        timeline::Logged {
            index,
            file: timeline::log_file(out, index),
            start,
            end: duration_s.map(|d| start + d).or(probe.duration_s),
        }
    };
    let video = probe
        .video
        .as_ref()
        .filter(|_| !plan.renditions.is_empty())
        .map(|v| logged(v.index, v.start_s, v.duration_s));
    let audio = plan.audio_sources().into_iter().filter_map(|i| {
        let a = probe.audio.iter().find(|a| a.index == i)?;
        Some(logged(i, a.start_s, a.duration_s))
    });
    video.into_iter().chain(audio).collect()
}

/// Phase 2: run ffmpeg, uploading each segment as soon as it is closed.
pub async fn encode_and_upload(
    job: &Job<'_>,
    source: &Source,
    dir: &Path,
) -> Result<Encoded, JobError> {
    let (v, plan) = (&job.lease.video, &source.plan);
    let out = dir.join("out");
    for name in plan.folders() {
        tokio::fs::create_dir_all(out.join(&name))
            .await
            .map_err(|e| JobError::local(format!("creating output folder: {e}")))?;
    }
    let argv = command::argv(plan, &source.path, &out);
    let mut uploader = Uploader::new(
        job.ctx.s3.clone(),
        v.out_bucket.clone(),
        format!("{}/t{}", v.out_prefix, job.lease.token),
        out.clone(),
        (
            plan.folders(),
            plan.renditions.iter().map(|r| r.name.clone()).collect(),
        ),
        job.ctx.cfg.cache.clone(),
    );
    // The time before ffmpeg starts is fleet's overhead on top of the encode; the worker
    // benchmark reads it from this line.
    info!(
        ms = job.started.elapsed().as_millis() as u64,
        "ffmpeg starting"
    );
    let encode = job.cancel.child_token();
    let encoded = CancellationToken::new();
    let (ff, up) = tokio::join!(
        async {
            let r = run::run(
                &argv,
                source.probe.duration_s,
                job.progress,
                &encode,
                job.ctx.cfg.stall,
            )
            .await;
            encoded.cancel();
            r
        },
        async {
            let r = uploader.follow(&encoded, job.cancel).await;
            if r.is_err() {
                encode.cancel();
            }
            r
        }
    );
    up?;
    let errors = ff.map_err(|e| JobError::from(e).with_argv(&argv))?;
    let (damage, decoded_s) = timeline::assess(&logged_streams(&source.probe, plan, &out), &errors);
    job.phase("upload", Some(100.0));
    let renditions = job.unless_cancelled(uploader.finish()).await?;
    info!(
        peak_local_segments = uploader.peak_local_segments(),
        "segments uploaded"
    );
    Ok(Encoded {
        argv,
        renditions,
        damage,
        decoded_s,
    })
}

/// Phase 3: what was encoded must be what the source holds. A truncated or partly
/// undecodable source still probes with its full duration (a faststart MP4 keeps its index)
/// and ffmpeg can exit 0 after decoding a fraction of it, or fill a damaged middle with a
/// frozen picture and silence: that is a failed video (or, for a little damage, a warned
/// one), not a good stream. First the holes the decoder left ([`Assessment::verdict`]); then
/// each rendition is compared with its own stream's stated duration (else the file's, else
/// the decoded length), within a tenth of it, at least 1 s and at most a segment. Returns the
/// warnings to publish.
pub fn verify(
    source: &Source,
    encoded: &Encoded,
    max_damaged_share: f64,
) -> Result<Vec<String>, JobError> {
    let mut warnings = Vec::new();
    match encoded.damage.verdict(max_damaged_share) {
        Verdict::Clean => {}
        Verdict::Warn(w) => warnings.push(w),
        Verdict::Fail(reason) => return Err(JobError::invalid(reason)),
    }
    let (probe, plan) = (&source.probe, &source.plan);
    let file = probe.duration_s.or(encoded.decoded_s);
    for (folder, r) in plan.folders().iter().zip(&encoded.renditions) {
        let track = match &plan.audio {
            AudioLayout::Group(ts) if !plan.renditions.is_empty() => {
                ts.iter().find(|t| &t.folder == folder)
            }
            _ => None,
        };
        let expected = match (track, &plan.audio) {
            // A mix lasts as long as its longest voice.
            (Some(t), _) => probe
                .audio
                .iter()
                .filter(|a| t.sources.contains(&a.index))
                .filter_map(|a| a.duration_s)
                .reduce(f64::max)
                .or(file),
            // Video-only variants (no audio, or audio in a group): the video stream's own.
            (None, AudioLayout::None | AudioLayout::Group(_)) if !plan.renditions.is_empty() => {
                probe.video.as_ref().and_then(|v| v.duration_s).or(file)
            }
            _ => file,
        };
        let Some(expected) = expected else {
            continue;
        };
        let got = r.duration();
        let tolerance = (expected * 0.1).clamp(1.0, f64::from(command::SEGMENT_SECONDS));
        if got + tolerance < expected {
            return Err(JobError::invalid(format!(
                "decoded {got:.1} s of {expected:.1} s ({folder}): the source is truncated or \
                 partly undecodable"
            )));
        }
    }
    Ok(warnings)
}

/// Phase 4: the master playlist, from what was measured (RFC 8216 peak, mean, the bitstream's
/// CODECS), written last and only while the lease is certainly ours.
pub async fn publish(
    job: &Job<'_>,
    source: &Source,
    encoded: &Encoded,
    (subtitles, mut warnings): (Vec<playlist::SubtitleMedia>, Vec<String>),
    stills: super::stills::Published,
) -> Result<Completion, JobError> {
    let plan = &source.plan;
    // CODECS comes from each rendition's bitstream, read from its first segment in-process.
    let all_codecs = futures::future::try_join_all(
        encoded
            .renditions
            .iter()
            .map(|r| codecs::of_segment(&r.first_segment)),
    )
    .await?;
    let (variants, iframes, inverted) = variants(plan, encoded, &all_codecs, job.lease.token);
    let mut shown = plan.clone();
    for p in &inverted {
        if let Some(i) = shown.renditions.iter().position(|r| r.name == p.name) {
            shown.prune(i, p.reason.clone());
        }
        remove_rendition(job, &p.name).await;
    }
    let audio = audio_media(plan, job.lease.token);
    let master =
        playlist::with_subtitles(&playlist::master(&variants, &audio, &iframes), &subtitles);
    // The plan's own (tracks left out or mixed) first: they change what is heard.
    warnings.splice(0..0, plan.warnings.iter().cloned());
    warnings.extend(stills.warnings.iter().cloned());
    let output = fenced::put_master(job, master, &encoded.argv).await?;
    for (name, bytes) in &stills.beside_master {
        let key = format!("{}/{name}", job.lease.video.out_prefix);
        fenced::put_fenced(job, (name, &key), bytes.clone(), &encoded.argv).await?;
    }
    let parts = super::describe::Parts {
        variants: &variants,
        audio: &audio,
        subtitles: &subtitles,
        iframes: &iframes,
        stills: &stills,
        warnings: &warnings,
        plan: &shown,
    };
    let doc = super::describe::describe(job, &source.probe, parts);
    super::describe::put(job, &doc, &encoded.argv).await?;
    Ok(Completion {
        output,
        ffmpeg_args: encoded.argv.clone(),
        duration_s: source.probe.duration_s.or(encoded.decoded_s),
        warnings,
        ladder: shown.ladder_summary(),
    })
}

/// Removes what was uploaded of a rendition the master leaves out. Best effort: a failure
/// leaves files no master points at, removed with the attempt's others when the video is
/// next redone.
async fn remove_rendition(job: &Job<'_>, name: &str) {
    let v = &job.lease.video;
    let prefix = format!("{}/t{}/{name}/", v.out_prefix, job.lease.token);
    let removed = super::leftovers::bounded(async {
        let keys = blob::list_keys(&job.ctx.s3, &v.out_bucket, &prefix).await?;
        let keys: Vec<String> = keys.into_iter().map(|k| k.0).collect();
        blob::delete_keys(&job.ctx.s3, &v.out_bucket, &keys).await
    })
    .await;
    match removed {
        Some(Ok(n)) => info!(rendition = name, deleted = n, "left-out rendition removed"),
        Some(Err(e)) => {
            warn!(rendition = name, error = %e, "could not remove a left-out rendition")
        }
        None => {}
    }
}

/// Whether the video variants carry no sound of their own (it is in an audio group).
fn grouped(plan: &Plan) -> bool {
    matches!(plan.audio, AudioLayout::Group(_)) && !plan.renditions.is_empty()
}

/// The master's variants and I-frame variants, from what was measured: each variant's RFC
/// 8216 peak and mean, its bitstream's CODECS, and then the ladder's declared bandwidths.
/// A smaller picture that declares as much as a bigger one is left out (returned, with why):
/// a player would switch "up" to it.
fn variants(
    plan: &Plan,
    encoded: &Encoded,
    all_codecs: &[String],
    token: u64,
) -> (
    Vec<Variant>,
    Vec<playlist::IFrameVariant>,
    Vec<quality::Pruned>,
) {
    let rates: Vec<(u64, u64)> = encoded
        .renditions
        .iter()
        .map(|r| playlist::bitrates(&r.segments, r.target))
        .collect();
    let nv = plan.variant_names().len();
    // With an audio group, each variant's BANDWIDTH is the largest playable combination: its
    // video plus the group's largest audio (Apple 9.13, RFC 8216 §4.3.4.2).
    let (audio_peak, audio_avg) = rates[nv..]
        .iter()
        .fold((0, 0), |(p, a), r| (p.max(r.0), a.max(r.1)));
    let mut variants = Vec::new();
    let mut iframes = Vec::new();
    for (i, name) in plan.variant_names().iter().enumerate() {
        let r = plan.renditions.get(i);
        if let (Some(r), Some(sizes)) = (r, &encoded.renditions[i].iframes) {
            iframes.push(iframe_variant(name, token, sizes, &all_codecs[i], r));
        }
        let mut codecs = all_codecs[i].clone();
        if grouped(plan) {
            codecs.push(',');
            codecs.push_str(playlist::AAC_LC);
        }
        variants.push(Variant {
            uri: format!("t{token}/{name}/index.m3u8"),
            bandwidth: rates[i].0 + audio_peak,
            average_bandwidth: rates[i].1 + audio_avg,
            codecs,
            resolution: r.map(|r| (r.width, r.height)),
            frame_rate: r.map(|_| plan.fps[i]),
        });
    }
    let declared =
        playlist::ladder_bandwidths(&variants.iter().map(|v| v.bandwidth).collect::<Vec<_>>());
    for (v, bw) in variants.iter_mut().zip(declared) {
        v.bandwidth = bw;
    }
    let mut left_out = Vec::new();
    if !plan.renditions.is_empty() {
        let bws: Vec<u64> = variants.iter().map(|v| v.bandwidth).collect();
        let dropped = quality::inverted(&bws);
        for &i in &dropped {
            let above = (0..i)
                .filter(|k| !dropped.contains(k))
                .min_by_key(|k| bws[*k])
                .unwrap_or(0);
            left_out.push(quality::Pruned {
                name: plan.renditions[i].name.clone(),
                reason: format!(
                    "it measured {} b/s, no less than the bigger {} ({} b/s): a player would \
                     switch \"up\" to a smaller picture",
                    bws[i], plan.renditions[above].name, bws[above]
                ),
            });
        }
        let gone = |uri: &str| {
            left_out
                .iter()
                .any(|p| uri == format!("t{token}/{}/index.m3u8", p.name))
                || left_out
                    .iter()
                    .any(|p| uri == format!("t{token}/{}/iframes.m3u8", p.name))
        };
        variants.retain(|v| !gone(&v.uri));
        iframes.retain(|f| !gone(&f.uri));
    }
    (variants, iframes, left_out)
}

/// One rendition's I-frame variant: its keyframes' sizes give its bandwidths.
fn iframe_variant(
    name: &str,
    token: u64,
    sizes: &[(u64, f64)],
    codecs: &str,
    r: &crate::domain::ladder::Rendition,
) -> playlist::IFrameVariant {
    let target = sizes.iter().map(|(_, d)| *d).fold(1.0, f64::max).ceil();
    let (bandwidth, average_bandwidth) = playlist::bitrates(sizes, target);
    playlist::IFrameVariant {
        uri: format!("t{token}/{name}/iframes.m3u8"),
        bandwidth,
        average_bandwidth,
        codecs: codecs
            .split(',')
            .find(|c| c.starts_with("avc1"))
            .unwrap_or_default()
            .to_string(),
        resolution: (r.width, r.height),
    }
}

/// The alternate audio renditions, when the sound is in a group.
fn audio_media(plan: &Plan, token: u64) -> Vec<AudioMedia> {
    match &plan.audio {
        AudioLayout::Group(ts) if grouped(plan) => ts
            .iter()
            .map(|t| AudioMedia {
                uri: format!("t{token}/{}/index.m3u8", t.folder),
                name: t.name.clone(),
                language: t.language.clone(),
                default: t.default,
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_video_larger_than_the_disk_is_its_own_fault_a_full_disk_is_the_machines() {
        let dir = Path::new("/w");
        let gb = 1u64 << 30;
        assert!(disk_check(gb, 10 * gb, 20 * gb, 64 << 20, dir).is_ok());
        assert!(matches!(
            disk_check(30 * gb, 10 * gb, 20 * gb, 64 << 20, dir),
            Err(JobError::Video {
                kind: FailureKind::Transient,
                ..
            })
        ));
        assert!(matches!(
            disk_check(5 * gb, 2 * gb, 20 * gb, 64 << 20, dir),
            Err(JobError::Local { .. })
        ));
        // A reserve larger than the disk is the machine's configuration, not the video.
        assert!(matches!(
            disk_check(1 << 20, 8 << 20, 8 << 20, 64 << 20, dir),
            Err(JobError::Local { .. })
        ));
    }
}
