//! fleet-admin's command line.

use clap::{Parser, Subcommand};

/// Drive a fleet from a laptop: create the table, seed it, watch it, requeue what failed.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Args {
    /// DynamoDB table of videos.
    #[arg(
        long,
        global = true,
        env = "FLEET_TABLE",
        default_value = "fleet-videos"
    )]
    pub table: String,
    /// Subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the table and its index if missing (the schema in schema/table.json).
    Init,
    /// Add one item per video under an S3 prefix. Idempotent: safe to run again.
    Seed {
        /// s3://input-bucket/prefix/
        input: String,
        /// s3://output-bucket/prefix/
        output: String,
        /// Extensions that are videos (comma-separated).
        #[arg(long, value_delimiter = ',', env = "FLEET_INCLUDE_EXT")]
        include_ext: Option<Vec<String>>,
        /// Count what would be added without writing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Progress across the fleet.
    Report {
        /// One JSON object instead of tables.
        #[arg(long)]
        json: bool,
        /// Redraw every N seconds.
        #[arg(long, value_name = "SECONDS")]
        watch: Option<u64>,
    },
    /// Put failed (or the named) videos back to pending with their attempts reset.
    Retry {
        /// Every failed video.
        #[arg(long, conflicts_with = "keys")]
        failed: bool,
        /// Videos by source URI (s3://bucket/key), failed or done.
        keys: Vec<String>,
    },
    /// Reconcile a source prefix, the table and the outputs: videos never seeded, items whose
    /// source is gone, done videos whose master playlist is gone. Read-only without --fix.
    /// Exit code 3 when something is out of line (and not repaired).
    Audit {
        /// s3://input-bucket/prefix/
        input: String,
        /// s3://output-bucket/prefix/ for videos --fix seeds (default: as the prefix's items).
        output: Option<String>,
        /// Extensions that are videos (comma-separated), as in `seed`.
        #[arg(long, value_delimiter = ',', env = "FLEET_INCLUDE_EXT")]
        include_ext: Option<Vec<String>>,
        /// Seed the unseeded, delete items whose source is gone (unless held), requeue done
        /// videos whose stream is gone.
        #[arg(long)]
        fix: bool,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Workers finish what they hold and claim nothing new.
    Pause,
    /// Workers claim again.
    Resume,
    /// Development helper for the demo: create a bucket and upload a folder's files to a prefix.
    #[command(hide = true)]
    DevUpload {
        /// Local folder.
        dir: std::path::PathBuf,
        /// s3://bucket/prefix/
        dest: String,
        /// Also create these (empty) buckets.
        #[arg(long)]
        create: Vec<String>,
    },
}
