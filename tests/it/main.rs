//! fleet's integration tests: one binary, against the real local stack (DynamoDB Local, the
//! S3 server, ffmpeg). Start it with `scripts/local-stack start`, or run `scripts/test`.

mod admin;
mod arm64;
mod aws;
mod backlog;
mod captions;
mod claim;
mod common;
mod dashboard;
mod edges;
mod events;
mod fencing;
mod infra;
mod mistakes;
mod operator;
mod processes;
mod publish;
mod quality;
mod resilience;
mod sources;
mod worker;
