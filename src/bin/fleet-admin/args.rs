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
    /// Named profile from ~/.aws/config (as the AWS CLI's --profile; else AWS_PROFILE).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Region (as the AWS CLI's --region; else AWS_REGION or the profile's).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Endpoint for every service (as the AWS CLI's --endpoint-url; else AWS_ENDPOINT_URL and
    /// the per-service AWS_ENDPOINT_URL_DYNAMODB / _S3).
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// EventBridge bus (name or ARN) for the events fleet-admin sends: `retry` puts
    /// "Video Requeued", `events replay` re-sends "Video Done"/"Video Failed".
    #[arg(long, global = true, env = "FLEET_EVENT_BUS")]
    pub event_bus: Option<String>,
    /// Subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// `events`: the completion events on the EventBridge bus.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Send again the event of every done or failed video under a prefix, with the ids its
    /// first sends had (a platform that missed them drops none twice).
    Replay {
        /// s3://input-bucket/prefix/ (or one video's s3:// URI).
        uri: String,
    },
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the table and its index if missing (the schema in schema/table.json).
    Init,
    /// Completion events (needs --event-bus or FLEET_EVENT_BUS).
    #[command(subcommand)]
    Events(EventsCommand),
    /// Add one item per video under an S3 prefix. Idempotent: safe to run again.
    Seed(SeedArgs),
    /// Progress across the fleet: states, failures grouped, workers, throughput, ETA, cost.
    Report(ReportArgs),
    /// What the open videos will cost and how long they take, before they run: compute
    /// (busy, boot, idle tail), NAT or endpoints, S3, DynamoDB, CloudWatch, all in.
    Estimate(EstimateArgs),
    /// Put failed (or the named) videos back to pending with their attempts reset.
    Retry(RetryArgs),
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
    /// One video, whole: its item, every attempt's error (ffmpeg's stderr tail included), and
    /// a shell command that reproduces its last ffmpeg run.
    Show {
        /// s3://bucket/key of the source.
        uri: String,
        /// The item as JSON (with the command) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Block until no video is pending or in progress. Exit 0 when every video is done, 3 when
    /// some failed, 124 on --timeout.
    Wait {
        /// Give up after this long: seconds (`90`) or a duration (`30m`, `1h30m`).
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Time between checks (each costs at most one small Query per index shard): seconds
        /// or a duration.
        #[arg(long, value_parser = parse_duration, default_value = "10s")]
        interval: std::time::Duration,
    },
    /// Workers finish what they hold and claim nothing new.
    Pause,
    /// Workers claim again.
    Resume,
    /// A live web page: counts, throughput chart, running videos with fps and ETA, workers,
    /// failures grouped, and a player for any done video. Prints its URL first.
    Dashboard {
        /// TCP port (0: any free one; the URL printed says which).
        #[arg(long, env = "FLEET_DASHBOARD_PORT", default_value_t = 8080)]
        port: u16,
        /// Address to listen on (the page has no authentication: keep it local).
        #[arg(long, env = "FLEET_DASHBOARD_BIND", default_value = "127.0.0.1")]
        bind: String,
        /// Seconds between snapshots; each is one Scan of the table, whatever the open pages.
        #[arg(long, value_name = "SECONDS", default_value_t = 5)]
        refresh: u64,
        /// Price of one instance-hour, for the cost line (as `report`).
        #[arg(long, env = "FLEET_PRICE_PER_HOUR", default_value_t = 0.136)]
        price_per_hour: f64,
        /// Videos one instance works on at once (as `report`).
        #[arg(long, env = "FLEET_SLOTS_PER_INSTANCE", default_value_t = 2)]
        slots_per_instance: u32,
    },
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

/// `report`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// One JSON object instead of tables (with a `schema_version`).
    #[arg(long)]
    pub json: bool,
    /// Redraw every N seconds.
    #[arg(long, value_name = "SECONDS")]
    pub watch: Option<u64>,
    /// Only the counts and the workers: a few reads whatever the table's size (no Scan), for
    /// `--watch` on a large table.
    #[arg(long, conflicts_with = "recount")]
    pub summary: bool,
    /// Also set the counters `--summary` reads to the counts of this report's Scan (for a
    /// table seeded by an older fleet-admin, or counters that drifted).
    #[arg(long)]
    pub recount: bool,
    /// List every failed key of each group (default: the first 3).
    #[arg(long)]
    pub all: bool,
    /// Only videos in these states (comma-separated) in the listings.
    #[arg(long, value_delimiter = ',', value_enum)]
    pub state: Option<Vec<fleet::domain::VideoState>>,
    /// Price of one instance-hour, for the cost lines (default: c6g.xlarge on demand in
    /// us-east-1, USD; give your spot price if you run spot).
    #[arg(long, env = "FLEET_PRICE_PER_HOUR", default_value_t = 0.136)]
    pub price_per_hour: f64,
    /// Videos one instance works on at once (the workers' concurrency).
    #[arg(long, env = "FLEET_SLOTS_PER_INSTANCE", default_value_t = 2)]
    pub slots_per_instance: u32,
}

/// `estimate`'s arguments. Prices default to us-east-1 list prices (README, "What a batch
/// costs").
#[derive(Debug, clap::Args)]
pub struct EstimateArgs {
    /// Instances running at once (infra/'s max_size).
    #[arg(long, default_value_t = 10)]
    pub instances: u32,
    /// vCPUs of one instance (c6g.xlarge: 4).
    #[arg(long, default_value_t = 4)]
    pub vcpus: u32,
    /// Videos one instance works on at once.
    #[arg(long, env = "FLEET_SLOTS_PER_INSTANCE", default_value_t = 2)]
    pub slots_per_instance: u32,
    /// Price of one instance-hour, USD (default: c6g.xlarge on demand in us-east-1; give the
    /// spot price you pay if you run spot).
    #[arg(long, env = "FLEET_PRICE_PER_HOUR", default_value_t = 0.136)]
    pub price_per_hour: f64,
    /// CPU-seconds the encode takes per content second (measured: 1.23 for a 720p30 source
    /// and its renditions; more for 1080p).
    #[arg(long, default_value_t = 1.23)]
    pub cpu_per_content_second: f64,
    /// The workers' rate control: `adaptive` adds its analysis (at most 18% of the encode's
    /// CPU, derived from the quality bench).
    #[arg(long, default_value = "adaptive", value_parser = ["adaptive", "fixed"])]
    pub rate_control: String,
    /// Seconds from launch to the first claim.
    #[arg(long, default_value_t = 180.0)]
    pub boot_seconds: f64,
    /// Minutes the fleet stays up once the backlog is empty (infra/'s scale_in_idle_minutes).
    #[arg(long, default_value_t = 15.0)]
    pub idle_minutes: f64,
    /// How the workers reach S3: `nat` (every byte pays the NAT gateway's processing) or
    /// `endpoints` (gateway endpoints, free; infra/'s vpc_endpoint_route_table_ids).
    #[arg(long, default_value = "nat", value_parser = ["nat", "endpoints"])]
    pub network: String,
    /// Source bitrate, Mb/s, to derive durations from bytes while no video of the table has
    /// been probed yet.
    #[arg(long, default_value_t = 5.0)]
    pub source_mbps: f64,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `retry`'s arguments.
#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    /// Every failed video.
    #[arg(long, conflicts_with = "uris")]
    pub failed: bool,
    /// With --failed: only those whose last error is of this kind.
    #[arg(long, requires = "failed", value_enum)]
    pub kind: Option<FailureKindArg>,
    /// List what would be requeued, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A prefix names its done videos too (they are encoded again); a done video named by its
    /// own URI is requeued without it.
    #[arg(long, conflicts_with = "failed")]
    pub done: bool,
    /// Videos by source URI (s3://bucket/key; a URI ending in / names a prefix), failed or done.
    pub uris: Vec<String>,
}

/// The kinds of failure `retry --kind` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum FailureKindArg {
    /// The source itself (unreadable, truncated, undecodable).
    InvalidInput,
    /// Anything that may pass on another try.
    Transient,
    /// Every lease lapsed (workers died on it).
    Abandoned,
    /// The output could not be written (no such bucket, access denied).
    Output,
}

impl FailureKindArg {
    /// As the item stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKindArg::InvalidInput => "invalid_input",
            FailureKindArg::Transient => "transient",
            FailureKindArg::Abandoned => "abandoned",
            FailureKindArg::Output => "output",
        }
    }
}

/// `seed`: one item per video under a prefix, with the caption files beside each attached.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// s3://input-bucket/prefix/ (or s3://input-bucket/one/video.mp4 for one video)
    pub input: String,
    /// s3://output-bucket/prefix/
    pub output: String,
    /// Extensions that are videos (comma-separated) [default: mp4,m4v,mov,qt,mkv,webm,avi,
    /// mpg,mpeg,m2v,ts,mts,m2ts,mxf,wmv,asf,flv,f4v,3gp,3g2,ogv,vob,dv]
    #[arg(long, value_delimiter = ',', env = "FLEET_INCLUDE_EXT")]
    pub include_ext: Option<Vec<String>>,
    /// Language (RFC 5646, e.g. `en`, `pt-BR`) of a caption file whose name carries none
    /// (`lesson.srt`); `und` is shown to viewers as "Unknown".
    #[arg(long, env = "FLEET_DEFAULT_CAPTION_LANGUAGE", default_value = "und")]
    pub default_caption_language: String,
    /// Count what would be added without writing.
    #[arg(long)]
    pub dry_run: bool,
    /// Point videos already seeded (pending or failed) at OUTPUT; those that failed because
    /// of their output go back to pending. Done videos keep their streams.
    #[arg(long)]
    pub update_output: bool,
    /// The summary as one JSON object (with every skipped key) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Seconds (`90`, as before) or a humantime duration (`30m`, `1h30m`, `2h 5m`).
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = s.trim().parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{e}: give seconds (90) or a duration (30m, 1h30m)"))
}
