//! The domain: pure rules with no I/O. Video states and their transitions, lease arithmetic,
//! key mapping and the HLS ladder. Everything here is unit-tested without a server.

pub mod captions;
pub mod damage;
pub mod estimate;
pub mod keys;
pub mod ladder;
pub mod language;
pub mod lease;
pub mod level;
pub mod quality;
pub mod scaling;
pub mod state;
pub mod stream;
pub mod thumbnails;
pub mod video;

pub use lease::LeaseTimings;
pub use state::VideoState;
pub use video::{FailureKind, Progress, RetryPolicy, VideoItem};
