//! # fleet
//!
//! Turns a library of source videos in S3 into HLS streams, on as many machines as you like.
//!
//! ```text
//!   fleet-admin seed ──▶ ┌──────────────── DynamoDB table ───────────────────┐
//!   (laptop)             │ one item per video: state, lease, token, attempts │
//!                        │ sparse GSI `ready` (shard, ready_at): claimables  │
//!                        └──────▲────────────────────────────────▲───────────┘
//!          conditional PutItem  │ claim / heartbeat / complete   │ report (parallel Scan)
//!                    ┌──────────┴──────────┐          ┌──────────┴─────────┐
//!                    │ fleet-worker (c6g)  │   ...    │ fleet-worker (c6g) │
//!                    │ N slots: claim →    │          │                    │
//!                    │ fetch → ffmpeg HLS  │          │                    │
//!                    │ → upload → complete │          │                    │
//!                    └──┬──────────────▲───┘          └────────────────────┘
//!                 ranged GETs      PUT segments while ffmpeg runs, master last
//!                  ┌────▼───┐     ┌───┴────┐
//!                  │ input  │     │ output │   S3 buckets
//!                  └────────┘     └────────┘
//! ```
//!
//! Each video has one holder at a time: a claim is a compare-and-swap PutItem that succeeds
//! only when no live lease exists, and bumps a fencing token that every later write of the
//! holder is conditioned on. A crashed holder's lease lapses and another worker takes the video
//! over; a holder that lost its lease can never mark it done. See `docs/DESIGN.md`.
//!
//! ## Layout
//! - [`domain`]: pure rules: states, lease arithmetic, key mapping, the ladder.
//! - [`store`]: the `VideoStore` trait and its DynamoDB implementation.
//! - [`aws`]: SDK clients built once from the default chain and `AWS_ENDPOINT_URL*`.
//! - [`clock`]: wall time behind a trait, for skew tests.
//! - [`error`]: typed errors per layer.

pub mod admin;
pub mod aws;
pub mod blob;
pub mod clock;
pub mod domain;
pub mod error;
pub mod events;
pub mod scaler;
pub mod store;
pub mod telemetry;
pub mod transcode;
pub mod worker;
