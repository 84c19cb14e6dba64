//! The ffmpeg/ffprobe adapter: probing the source, building one ffmpeg command for the whole
//! ladder, running it with progress and cancellation, and writing an honest master playlist.

pub mod codecs;
pub mod command;
pub mod iframes;
pub mod playlist;
pub mod probe;
pub mod run;
