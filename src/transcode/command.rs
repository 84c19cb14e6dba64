//! The ffmpeg command: one process that decodes the source once and encodes every rendition.
//!
//! H.264 High (level 4.1, yuv420p whatever the source) + AAC-LC 48 kHz stereo, capped VBR,
//! an IDR every 2 s forced at exact times with scene-cut keyframes off, so that 6 s segments
//! line up across renditions; constant frame rate; VOD playlists.

use super::probe::Probe;
use crate::domain::ladder::{display_size, select, Ladder, Rendition};
use std::path::Path;

/// Segment length, seconds (Apple's recommendation).
pub const SEGMENT_SECONDS: u32 = 6;
/// Keyframe interval, seconds: segments are cut on these.
pub const GOP_SECONDS: u32 = 2;

/// What ffmpeg will make.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Video renditions (empty for an audio-only source).
    pub renditions: Vec<Rendition>,
    /// Whether every rendition carries the source's audio.
    pub audio: bool,
    /// Output frame rate as a number per rendition (same order).
    pub fps: Vec<f64>,
    /// Tone-map HDR to SDR (BT.709).
    pub tonemap: bool,
    /// AAC bitrate, kb/s.
    pub audio_kbps: u32,
    /// x264 preset.
    pub preset: String,
}

impl Plan {
    /// Folder names of the variants, in ffmpeg's order.
    pub fn variant_names(&self) -> Vec<String> {
        if self.renditions.is_empty() {
            vec!["audio".to_string()]
        } else {
            self.renditions.iter().map(|r| r.name.clone()).collect()
        }
    }
}

/// Decides the renditions for `probe` from `ladder`.
pub fn plan(probe: &Probe, ladder: &Ladder, preset: &str) -> Plan {
    let (renditions, fps, tonemap) = match &probe.video {
        Some(v) => {
            let (w, h) = display_size(v.width, v.height, v.rotation);
            let rs = select(ladder, w, h);
            let src_fps = v.fps.min(60.0);
            // Level 4.1 allows 1080p at 30 fps: halve higher rates above 720p.
            let fps = rs
                .iter()
                .map(|r| {
                    if r.width.min(r.height) > 720 && src_fps > 30.5 {
                        src_fps / 2.0
                    } else {
                        src_fps
                    }
                })
                .collect();
            (rs, fps, v.hdr)
        }
        None => (Vec::new(), Vec::new(), false),
    };
    Plan {
        renditions,
        audio: probe.has_audio,
        fps,
        tonemap,
        audio_kbps: ladder.audio_kbps,
        preset: preset.to_string(),
    }
}

fn s(x: impl ToString) -> String {
    x.to_string()
}

/// The full argv (program first) that turns `input` into `out_dir/<variant>/index.m3u8`.
pub fn argv(plan: &Plan, input: &Path, out_dir: &Path) -> Vec<String> {
    let mut a: Vec<String> = [
        "ffmpeg",
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
    ]
    .map(s)
    .to_vec();
    a.extend(["-i".into(), input.display().to_string()]);
    let n = plan.renditions.len();
    if n > 0 {
        let tonemap = if plan.tonemap {
            "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=hable:desat=0,\
             zscale=t=bt709:m=bt709:r=tv,"
        } else {
            ""
        };
        let splits: String = (0..n).map(|i| format!("[s{i}]")).collect();
        let mut graph = format!("[0:v:0]{tonemap}format=yuv420p,split={n}{splits}");
        for (i, r) in plan.renditions.iter().enumerate() {
            graph.push_str(&format!(
                ";[s{i}]fps={:.4},scale={}:{}:flags=bicubic,setsar=1[v{i}]",
                plan.fps[i], r.width, r.height
            ));
        }
        a.extend(["-filter_complex".into(), graph]);
    }
    let mut stream_map = Vec::new();
    for (i, r) in plan.renditions.iter().enumerate() {
        a.extend(["-map".into(), format!("[v{i}]")]);
        if plan.audio {
            a.extend(["-map".into(), "0:a:0".into()]);
        }
        let gop = (plan.fps[i] * f64::from(GOP_SECONDS)).round() as u32;
        let k = r.video_kbps;
        a.extend([
            format!("-c:v:{i}"),
            s("libx264"),
            format!("-b:v:{i}"),
            format!("{k}k"),
            format!("-maxrate:v:{i}"),
            format!("{}k", k * 107 / 100),
            format!("-bufsize:v:{i}"),
            format!("{}k", k * 3 / 2),
            format!("-g:v:{i}"),
            s(gop),
            format!("-keyint_min:v:{i}"),
            s(gop),
        ]);
        stream_map.push(if plan.audio {
            format!("v:{i},a:{i},name:{}", r.name)
        } else {
            format!("v:{i},name:{}", r.name)
        });
    }
    if n == 0 {
        a.extend(["-map".into(), "0:a:0".into()]);
        stream_map.push("a:0,name:audio".into());
    } else {
        a.extend(
            [
                "-preset",
                &plan.preset,
                "-profile:v",
                "high",
                "-level:v",
                "4.1",
                "-pix_fmt",
                "yuv420p",
                "-sc_threshold",
                "0",
                "-force_key_frames",
                &format!("expr:gte(t,n_forced*{GOP_SECONDS})"),
            ]
            .map(s),
        );
    }
    if plan.audio {
        a.extend(
            [
                "-c:a",
                "aac",
                "-b:a",
                &format!("{}k", plan.audio_kbps),
                "-ar",
                "48000",
                "-ac",
                "2",
            ]
            .map(s),
        );
    }
    a.extend(
        [
            "-max_muxing_queue_size",
            "4096",
            "-f",
            "hls",
            "-hls_time",
            &SEGMENT_SECONDS.to_string(),
            "-hls_playlist_type",
            "vod",
            "-hls_list_size",
            "0",
            "-hls_segment_type",
            "mpegts",
            "-hls_flags",
            "independent_segments+temp_file",
            "-var_stream_map",
            &stream_map.join(" "),
            "-progress",
            "pipe:1",
            "-nostats",
        ]
        .map(s),
    );
    a.extend([
        "-hls_segment_filename".into(),
        out_dir.join("%v/seg_%05d.ts").display().to_string(),
        out_dir.join("%v/index.m3u8").display().to_string(),
    ]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcode::probe::{Probe, VideoStream};

    fn probe(w: u32, h: u32, fps: f64, audio: bool) -> Probe {
        Probe {
            video: Some(VideoStream {
                width: w,
                height: h,
                rotation: 0,
                frame_rate: None,
                fps,
                hdr: false,
            }),
            has_audio: audio,
            duration_s: Some(10.0),
        }
    }

    #[test]
    fn one_decode_many_encodes() {
        let p = plan(
            &probe(1920, 1080, 60.0, true),
            &Ladder::default(),
            "veryfast",
        );
        assert_eq!(p.renditions.len(), 5);
        assert_eq!(p.fps[0], 30.0, "1080p60 is halved to stay within level 4.1");
        assert_eq!(p.fps[1], 60.0);
        let a = argv(&p, Path::new("/in.mp4"), Path::new("/out"));
        assert_eq!(a.iter().filter(|x| *x == "-i").count(), 1);
        let map = &a[a.iter().position(|x| x == "-var_stream_map").unwrap() + 1];
        assert_eq!(map, "v:0,a:0,name:1080p v:1,a:1,name:720p v:2,a:2,name:540p v:3,a:3,name:360p v:4,a:4,name:240p");
        assert!(a.contains(&"-sc_threshold".to_string()));
        let gop0 = &a[a.iter().position(|x| x == "-g:v:0").unwrap() + 1];
        let gop1 = &a[a.iter().position(|x| x == "-g:v:1").unwrap() + 1];
        assert_eq!((gop0.as_str(), gop1.as_str()), ("60", "120"));
    }

    #[test]
    fn audio_only_and_video_only() {
        let mut p = probe(640, 360, 30.0, false);
        let v = plan(&p, &Ladder::default(), "veryfast");
        let a = argv(&v, Path::new("i"), Path::new("o"));
        assert!(!a.contains(&"0:a:0".to_string()));
        assert!(!a.contains(&"aac".to_string()));
        p.video = None;
        p.has_audio = true;
        let au = plan(&p, &Ladder::default(), "veryfast");
        assert_eq!(au.variant_names(), ["audio"]);
        let a = argv(&au, Path::new("i"), Path::new("o"));
        assert!(!a.contains(&"-filter_complex".to_string()));
        assert!(a.contains(&"a:0,name:audio".to_string()));
    }
}
