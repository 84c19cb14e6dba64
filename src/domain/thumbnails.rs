//! Scrubbing thumbnails as the web's de-facto format (JW Player's convention, read by Shaka's
//! `addThumbnailsTrack`, Video.js plugins, Plyr, Vidstack): a WebVTT file whose cues tile
//! `[0, duration)` with no gap or overlap, each naming a rectangle of a JPEG sprite sheet as
//! `sprite.jpg#xywh=x,y,w,h`, relative to the `.vtt`.

use super::captions::cues::vtt_time;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// How thumbnails sit in their sprite sheets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tile {
    /// One thumbnail's width, pixels.
    pub width: u32,
    /// One thumbnail's height, pixels.
    pub height: u32,
    /// Thumbnails per row of a sheet.
    pub columns: u32,
    /// Rows per sheet.
    pub rows: u32,
}

impl Tile {
    /// Thumbnails per sheet.
    pub fn per_sheet(&self) -> usize {
        (self.columns * self.rows) as usize
    }
}

/// How many thumbnails a `duration` needs at one every `interval`.
pub fn count(duration: f64, interval: f64) -> usize {
    if duration <= 0.0 || interval <= 0.0 {
        return 0;
    }
    // A hair's tolerance: 15.0000001 s at 5 s is 3 thumbnails, not 4.
    ((duration - 1e-6) / interval).ceil().max(1.0) as usize
}

/// The thumbnails file: cue `i` spans `[i·interval, min((i+1)·interval, duration))` and shows
/// thumbnail `i`, found in sheet `i / per_sheet` at its row and column. `sheet(n)` is the
/// sheet's URL relative to the file.
pub fn vtt(duration: f64, interval: f64, tile: &Tile, sheet: impl Fn(usize) -> String) -> String {
    let mut out = String::from("WEBVTT\n\n");
    let n = count(duration, interval);
    for i in 0..n {
        let start = i as f64 * interval;
        let end = ((i + 1) as f64 * interval).min(duration);
        let k = i % tile.per_sheet();
        let (x, y) = (
            (k as u32 % tile.columns) * tile.width,
            (k as u32 / tile.columns) * tile.height,
        );
        let _ = write!(
            out,
            "{} --> {}\n{}#xywh={x},{y},{},{}\n\n",
            vtt_time(start),
            vtt_time(end),
            sheet(i / tile.per_sheet()),
            tile.width,
            tile.height
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues_tile_the_duration_and_point_inside_their_sheet() {
        let tile = Tile {
            width: 160,
            height: 90,
            columns: 2,
            rows: 2,
        };
        let v = vtt(23.5, 5.0, &tile, |n| format!("t3/thumbs/sprite_{n:03}.jpg"));
        let cues: Vec<&str> = v.split("\n\n").filter(|c| c.contains("-->")).collect();
        assert_eq!(cues.len(), 5);
        assert_eq!(
            cues[0],
            "00:00:00.000 --> 00:00:05.000\nt3/thumbs/sprite_000.jpg#xywh=0,0,160,90"
        );
        assert_eq!(
            cues[3],
            "00:00:15.000 --> 00:00:20.000\nt3/thumbs/sprite_000.jpg#xywh=160,90,160,90"
        );
        assert_eq!(
            cues[4],
            "00:00:20.000 --> 00:00:23.500\nt3/thumbs/sprite_001.jpg#xywh=0,0,160,90"
        );
        assert_eq!(count(15.0, 5.0), 3);
        assert_eq!(count(0.5, 5.0), 1);
        assert_eq!(count(0.0, 5.0), 0);
    }
}
