//! A job's text tracks: read every caption the source has (sidecar files attached by `seed`,
//! text subtitle streams inside it, CEA-608 in its video), publish each as a WebVTT rendition
//! aligned to the published video's segments, and say what was left out. A caption that
//! cannot be read never costs the video: it becomes a warning on the item, naming the file
//! or track and the first bad line.

use super::ctx::Job;
use super::ctx::JobCtx;
use super::ctx::{Encoded, Source};
use crate::blob;
use crate::domain::captions::cues::{self, Cue};
use crate::domain::captions::{
    merge_forced, name_tracks, scc, segment, NamedTrack, TrackInfo, TrackOrigin,
};
use crate::domain::language;
use crate::domain::VideoItem;
use crate::error::{BlobError, JobError};
use crate::transcode::playlist::SubtitleMedia;
use crate::transcode::probe::{self, Probe};
use crate::transcode::subtitles;
use futures::{StreamExt, TryStreamExt};
use std::path::Path;

/// Uploads in flight while publishing subtitle segments.
const PARALLEL_PUTS: usize = 8;

/// The tracks read, with what had to be left out.
#[derive(Debug, Default)]
pub struct Tracks {
    /// Each readable track with its cues, in publishing order: sidecars (by key), then the
    /// source's text streams (file order), then CEA-608.
    pub tracks: Vec<(TrackInfo, Vec<Cue>)>,
    /// One line per caption left out.
    pub warnings: Vec<String>,
}

/// Reads every caption of `video` whose source is at `path`. Only S3 trouble that may pass
/// fails the attempt (a transient error would otherwise drop a caption for good).
pub async fn gather(
    ctx: &JobCtx,
    video: &VideoItem,
    path: &Path,
    probe: &Probe,
    dir: &Path,
) -> Result<Tracks, JobError> {
    let mut out = Tracks::default();
    sidecars(ctx, video, dir, &mut out).await?;
    for s in &probe.subtitles {
        let what = format!(
            "subtitle track #{} ({}{})",
            s.index,
            s.codec,
            s.language
                .as_deref()
                .map(|l| format!(", {l}"))
                .unwrap_or_default()
        );
        if !s.is_text() {
            out.warnings.push(format!(
                "{what} left out: bitmap subtitles cannot become WebVTT without OCR"
            ));
            continue;
        }
        let info = TrackInfo {
            origin: TrackOrigin::Embedded { index: s.index },
            language: s.language.as_deref().map_or("und".into(), language::bcp47),
            title: s.title.clone(),
            sdh: s.hearing_impaired,
            forced: s.forced,
        };
        let vtt = subtitles::embedded(path, s.index, dir).await?;
        add(&mut out, info, &what, vtt);
    }
    let cc = match &probe.video {
        Some(v) => probe::closed_captions(path, v.index).await?,
        None => false,
    };
    if let Some(v) = probe.video.as_ref().filter(|_| cc) {
        // CC1 carries the programme's own language as a rule: the first audio track's.
        let info = TrackInfo {
            origin: TrackOrigin::Cea608,
            language: probe
                .audio
                .first()
                .and_then(|a| a.language.as_deref())
                .map_or("und".into(), language::bcp47),
            title: None,
            sdh: true,
            forced: false,
        };
        let vtt = subtitles::cea608(path, v.index, dir).await?;
        add(&mut out, info, "CEA-608 captions in the video", vtt);
    }
    Ok(out)
}

/// Adds a converted track, or a warning when it could not be read or holds no cue.
fn add(out: &mut Tracks, info: TrackInfo, what: &str, vtt: subtitles::Converted) {
    match vtt.map(|t| cues::parse_vtt(&t).map_err(|e| e.to_string())) {
        Ok(Ok(c)) if !c.is_empty() => out.tracks.push((info, c)),
        Ok(Ok(_)) => out
            .warnings
            .push(format!("{what} left out: it holds no cue")),
        Ok(Err(e)) | Err(e) => out.warnings.push(format!("{what} left out: {e}")),
    }
}

async fn sidecars(
    ctx: &JobCtx,
    video: &VideoItem,
    dir: &Path,
    out: &mut Tracks,
) -> Result<(), JobError> {
    for c in video.captions.iter().flatten() {
        let uri = format!("s3://{}/{}", video.src_bucket, c.key);
        let what = format!("caption file {uri}");
        let bytes = match blob::get_bytes(&ctx.s3, &video.src_bucket, &c.key).await {
            Ok(b) => b,
            Err(e @ (BlobError::NotFound { .. } | BlobError::Denied { .. })) => {
                out.warnings
                    .push(format!("{what} left out: {}", crate::error::chain(&e)));
                continue;
            }
            Err(e) => return Err(JobError::source(e)),
        };
        let info = TrackInfo {
            origin: TrackOrigin::Sidecar { key: c.key.clone() },
            language: c.language.clone(),
            title: None,
            sdh: c.sdh,
            forced: c.forced,
        };
        let lower = c.key.to_ascii_lowercase();
        let parsed = if lower.ends_with(".scc") {
            match scc::retime(&cues::decode(&bytes)) {
                Ok(retimed) => {
                    let file = dir.join("sidecar.scc");
                    tokio::fs::write(&file, retimed)
                        .await
                        .map_err(|e| JobError::local(format!("writing {}: {e}", file.display())))?;
                    subtitles::scc(&file, dir)
                        .await?
                        .and_then(|t| cues::parse_vtt(&t).map_err(|e| e.to_string()))
                }
                Err(e) => Err(e.to_string()),
            }
        } else {
            let text = cues::decode(&bytes);
            // The extension is a hint: a `.srt` that is really WebVTT is read as such.
            let vtt = text.trim_start_matches('\u{feff}').starts_with("WEBVTT");
            if vtt || lower.ends_with(".vtt") {
                cues::parse_vtt(&text)
            } else {
                cues::parse_srt(&text)
            }
            .map_err(|e| e.to_string())
        };
        match parsed {
            Ok(c) if !c.is_empty() => out.tracks.push((info, c)),
            Ok(_) => out
                .warnings
                .push(format!("{what} left out: it holds no cue")),
            Err(e) => out.warnings.push(format!("{what} left out: {e}")),
        }
    }
    Ok(())
}

/// Where the published stream sits on the caption clock: the video's segment durations and
/// target, where its first segment starts (seconds of the source) and the 90 kHz PTS of the
/// source's time 0 in the published TS.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// EXTINF of each segment of a published rendition.
    pub durations: Vec<f64>,
    /// Its EXT-X-TARGETDURATION.
    pub target: f64,
    /// Where its first segment starts on the caption clock, seconds.
    pub first: f64,
    /// The PTS of caption time 0.
    pub mpegts: i64,
}

impl Timeline {
    /// Reads the clock off a published rendition's first segment (on local disk). ffmpeg
    /// shifts the source's timeline to start at 0 and the TS muxer adds its delay: the first
    /// packet's PTS is where the stream's own start (`stream_start - file_start` into the
    /// source) landed.
    pub async fn read(
        first_segment: &Path,
        durations: Vec<f64>,
        target: f64,
        probe: &Probe,
    ) -> Result<Self, JobError> {
        let (stream, start) = match &probe.video {
            Some(v) => ("v:0", v.start_s),
            None => ("a:0", probe.audio.first().map_or(0.0, |a| a.start_s)),
        };
        let pts = subtitles::first_pts(first_segment, stream)
            .await?
            .ok_or_else(|| JobError::Transient {
                message: format!(
                    "cannot read the first timestamp of {}",
                    first_segment.display()
                ),
                argv: None,
            })?;
        let first = (start - probe.start_s).max(0.0);
        Ok(Self {
            durations,
            target,
            first,
            mpegts: pts - (first * 90_000.0).round() as i64,
        })
    }
}

/// Names the tracks, writes each as `<remote>/sub_<i>/` (playlist and segments) and returns
/// the master's renditions, plus a warning for each track whose cues all start after the
/// video ends. `remote` is the attempt's prefix (`<out prefix>/t<token>`), `rel` the same
/// relative to the master (`t<token>`).
pub async fn publish(
    ctx: &JobCtx,
    video: &VideoItem,
    (remote, rel): (&str, &str),
    tracks: Vec<(TrackInfo, Vec<Cue>)>,
    audio_language: Option<&str>,
    timeline: &Timeline,
) -> Result<(Vec<SubtitleMedia>, Vec<String>), JobError> {
    let mut tracks = tracks;
    merge_forced(&mut tracks);
    let (infos, cue_lists): (Vec<TrackInfo>, Vec<Vec<Cue>>) = tracks.into_iter().unzip();
    let named = name_tracks(infos, audio_language);
    let mut media = Vec::new();
    let mut warnings = Vec::new();
    let mut files = Vec::new();
    for (i, (t, cues)) in named.iter().zip(&cue_lists).enumerate() {
        let r = segment::segments(cues, &timeline.durations, timeline.first, timeline.mpegts);
        if r.kept == 0 {
            warnings.push(format!(
                "{} left out: all its {} cues start after the video ends",
                describe(video, t),
                r.dropped
            ));
            continue;
        }
        if r.dropped > 0 {
            warnings.push(format!(
                "{}: {} cues that start after the video ends were dropped",
                describe(video, t),
                r.dropped
            ));
        }
        let folder = format!("sub_{i}");
        for (n, s) in r.segments.into_iter().enumerate() {
            files.push((format!("{remote}/{folder}/{}", segment::segment_name(n)), s));
        }
        files.push((
            format!("{remote}/{folder}/index.m3u8"),
            segment::playlist(&timeline.durations, timeline.target),
        ));
        media.push(SubtitleMedia {
            uri: format!("{rel}/{folder}/index.m3u8"),
            name: t.name.clone(),
            language: t.info.language.clone(),
            default: t.default,
            forced: t.info.forced,
            sdh: t.info.sdh,
        });
    }
    // A default left out with its track: the first remaining non-forced one takes over.
    if !media.iter().any(|m| m.default) {
        if let Some(m) = media.iter_mut().find(|m| !m.forced) {
            m.default = true;
        }
    }
    let cache = &ctx.cfg.cache.media;
    futures::stream::iter(files)
        .map(|(key, body)| async move {
            blob::put_cached(
                &ctx.s3,
                &video.out_bucket,
                &key,
                body.into_bytes(),
                blob::content_type(&key),
                Some(cache),
            )
            .await
            .map_err(JobError::output)
        })
        .buffer_unordered(PARALLEL_PUTS)
        .try_collect::<Vec<()>>()
        .await?;
    Ok((media, warnings))
}

fn describe(video: &VideoItem, t: &NamedTrack) -> String {
    match &t.info.origin {
        TrackOrigin::Sidecar { key } => format!("caption file s3://{}/{key}", video.src_bucket),
        TrackOrigin::Embedded { index } => format!("subtitle track #{index} ({})", t.name),
        TrackOrigin::Cea608 => "CEA-608 captions in the video".into(),
    }
}

/// The job's caption phase, first half: read every track (while ffmpeg encodes).
pub async fn read(job: &Job<'_>, source: &Source, dir: &Path) -> Result<Tracks, JobError> {
    let v = &job.lease.video;
    job.unless_cancelled(gather(job.ctx, v, &source.path, &source.probe, dir))
        .await
}

/// The job's caption phase, second half: publish the tracks read, timed on the rendition
/// just encoded. Returns the master's subtitle renditions and every warning.
pub async fn publish_read(
    job: &Job<'_>,
    source: &Source,
    encoded: &Encoded,
    read: Tracks,
) -> Result<(Vec<SubtitleMedia>, Vec<String>), JobError> {
    let Tracks {
        tracks,
        mut warnings,
    } = read;
    let Some(r) = encoded.renditions.first().filter(|_| !tracks.is_empty()) else {
        return Ok((Vec::new(), warnings));
    };
    let durations = r.segments.iter().map(|(_, d)| *d).collect();
    let timeline = Timeline::read(&r.first_segment, durations, r.target, &source.probe).await?;
    let v = &job.lease.video;
    let rel = format!("t{}", job.lease.token);
    let remote = format!("{}/{rel}", v.out_prefix);
    let (media, more) = job
        .unless_cancelled(publish(
            job.ctx,
            v,
            (&remote, &rel),
            tracks,
            audio_language(&source.probe).as_deref(),
            &timeline,
        ))
        .await?;
    warnings.extend(more);
    Ok((media, warnings))
}

/// The language of the track a viewer hears first, RFC 5646.
pub fn audio_language(probe: &Probe) -> Option<String> {
    probe
        .audio
        .first()
        .and_then(|a| a.language.as_deref())
        .map(language::bcp47)
}
