//! CODECS from the bitstream that was actually produced: x264's `-profile` is only a ceiling,
//! so the first segment of each rendition is read. Read in-process from its TS packets (the
//! H.264 sequence parameter set's first three bytes, the ADTS header's object type): an ffprobe
//! per rendition cost CPU and a process start per job for three bytes.

use super::iframes::{pat_pmt_pid, pmt_streams, read_segment, section, TS};
use crate::error::TranscodeError;
use std::path::Path;

/// PMT stream types fleet's segments carry.
const H264: u8 = 0x1B;
const AAC_ADTS: u8 = 0x0F;

/// Payload bytes of a stream gathered before giving up on its header: SPS and ADTS both sit at
/// the start of the first access unit.
const ENOUGH: usize = 4096;

/// The RFC 6381 CODECS value of a produced segment.
pub async fn of_segment(path: &Path) -> Result<String, TranscodeError> {
    of_ts(&read_segment(path).await?).ok_or_else(|| TranscodeError::Local {
        program: "the segment reader",
        source: std::io::Error::other(format!(
            "{} holds no H.264 SPS or ADTS header to name its codecs",
            path.display()
        )),
    })
}

/// The CODECS of an MPEG-TS buffer: each H.264 and AAC stream of its program map, in order
/// (`avc1.PPCCLL` from the SPS's profile_idc, constraint flags and level_idc; `mp4a.40.N` from
/// the ADTS object type). `None` unless every such stream's header is found: a CODECS that
/// names the audio and not the video would mislead a player.
pub fn of_ts(ts: &[u8]) -> Option<String> {
    let mut pmt_pid = None;
    let mut streams: Vec<(u8, u16)> = Vec::new();
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    for p in ts.chunks_exact(TS) {
        if p[0] != 0x47 {
            continue;
        }
        let pusi = p[1] & 0x40 != 0;
        let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
        let payload_at = match (p[3] >> 4) & 0x3 {
            1 => 4,
            3 => (5 + usize::from(p[4])).min(TS),
            // 2: adaptation field only; 0: reserved.
            _ => continue,
        };
        let payload = &p[payload_at..];
        if pid == 0 && pusi {
            pmt_pid = section(payload).and_then(pat_pmt_pid);
        } else if Some(pid) == pmt_pid && pusi && streams.is_empty() {
            streams = section(payload).map(pmt_streams).unwrap_or_default();
            streams.retain(|(kind, _)| [H264, AAC_ADTS].contains(kind));
            payloads = vec![Vec::new(); streams.len()];
        } else if let Some(i) = streams.iter().position(|s| s.1 == pid) {
            // The stream's bytes from its first PES start on, header included (it may run past
            // the first packet); the header is skipped once gathered.
            let buf = &mut payloads[i];
            if (pusi || !buf.is_empty()) && buf.len() < ENOUGH {
                buf.extend_from_slice(payload);
            }
        }
        if !streams.is_empty() && payloads.iter().all(|b| b.len() >= ENOUGH) {
            break;
        }
    }
    let codecs: Option<Vec<String>> = streams
        .iter()
        .zip(&payloads)
        .map(|(&(kind, _), pes)| {
            let es = pes.get(9 + usize::from(*pes.get(8)?)..)?;
            match kind {
                H264 => sps_codec(es),
                _ => adts_codec(es),
            }
        })
        .collect();
    codecs.filter(|c| !c.is_empty()).map(|c| c.join(","))
}

/// `avc1.PPCCLL` from the first SPS NAL (type 7) after an Annex B start code. The three bytes
/// after its NAL header cannot hold an emulation-prevention byte: profile_idc is never 0.
fn sps_codec(es: &[u8]) -> Option<String> {
    let at = es
        .windows(4)
        .position(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 7)?;
    let b = es.get(at + 4..at + 7)?;
    Some(format!("avc1.{:02x}{:02x}{:02x}", b[0], b[1], b[2]))
}

/// `mp4a.40.N` from the first ADTS header: N is the profile field plus one (2 for AAC-LC).
fn adts_codec(es: &[u8]) -> Option<String> {
    let at = es
        .windows(2)
        .position(|w| w[0] == 0xff && w[1] & 0xf6 == 0xf0)?;
    let profile = es.get(at + 2)? >> 6;
    Some(format!("mp4a.40.{}", profile + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sps_names_profile_constraints_and_level() {
        let es = [
            0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac,
        ];
        assert_eq!(sps_codec(&es).as_deref(), Some("avc1.64001f"));
        let es = [0, 0, 1, 0x27, 0x42, 0xe0, 0x1e];
        assert_eq!(sps_codec(&es).as_deref(), Some("avc1.42e01e"));
        assert_eq!(sps_codec(&[0, 0, 1, 0x65, 1, 2, 3]), None);
    }

    #[test]
    fn the_adts_profile_is_the_object_type_less_one() {
        assert_eq!(
            adts_codec(&[0xff, 0xf1, 0x50, 0x80]).as_deref(),
            Some("mp4a.40.2")
        );
        assert_eq!(
            adts_codec(&[0x00, 0xff, 0xf9, 0x10, 0x80]).as_deref(),
            Some("mp4a.40.1")
        );
        assert_eq!(adts_codec(&[0x12, 0x34]), None);
    }
}
