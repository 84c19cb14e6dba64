//! What a batch will cost before it runs, all in: compute (busy, boot, the idle tail, the
//! drain's uneven end), the NAT gateway or free endpoints, S3 requests and a month of
//! storage, DynamoDB, CloudWatch; and how long it takes at N instances. Pure arithmetic on
//! what `fleet-admin estimate` reads from the table and its flags, so it can be tested on
//! numbers a reader can redo by hand.

use serde::Serialize;

/// The videos to encode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Batch {
    /// How many.
    pub videos: u64,
    /// Their source bytes.
    pub source_bytes: u64,
    /// Their content seconds.
    pub content_s: f64,
    /// The longest one's content seconds.
    pub longest_s: f64,
}

/// How the fleet runs it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fleet {
    /// Instances running at once.
    pub instances: u32,
    /// vCPUs of one instance.
    pub vcpus: u32,
    /// Slots of one instance (videos at once).
    pub slots: u32,
    /// Price of one instance-hour, USD (on-demand, or the spot price paid).
    pub price_per_hour: f64,
    /// CPU-seconds the encode takes per content second (measured: README, "CPU and what an
    /// hour of video costs").
    pub cpu_per_content_s: f64,
    /// Extra CPU of the per-title analysis, as a share of the encode's (0 with fixed rate
    /// control).
    pub analysis_share: f64,
    /// From launch to the first claim, seconds.
    pub boot_s: f64,
    /// How long the fleet stays up after the backlog empties (the scaler's idle period).
    pub idle_tail_s: f64,
    /// Source and output bytes cross a NAT gateway (false: S3 gateway endpoints, free).
    pub nat: bool,
    /// The ladder's total bitrate across renditions, video and audio, kb/s (what one content
    /// second writes to S3, at most).
    pub output_kbps: f64,
    /// Renditions (each writes a segment and rewrites its playlist every segment).
    pub renditions: u32,
    /// Segment length, seconds.
    pub segment_s: f64,
}

/// List prices, USD, as stated with their source in the README.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prices {
    /// NAT gateway data processing, per GB.
    pub nat_per_gb: f64,
    /// S3 PUT (and COPY, POST, LIST), per 1,000.
    pub s3_put_per_1000: f64,
    /// S3 GET, per 1,000.
    pub s3_get_per_1000: f64,
    /// S3 Standard storage, per GB-month.
    pub s3_gb_month: f64,
    /// DynamoDB on-demand write request units, per million.
    pub ddb_wru_per_million: f64,
    /// DynamoDB on-demand read request units, per million.
    pub ddb_rru_per_million: f64,
    /// CloudWatch Logs ingestion, per GB.
    pub logs_per_gb: f64,
}

impl Default for Prices {
    /// us-east-1 list prices (README, "What a batch costs": sources and dates).
    fn default() -> Self {
        Self {
            nat_per_gb: 0.045,
            s3_put_per_1000: 0.005,
            s3_get_per_1000: 0.0004,
            s3_gb_month: 0.023,
            ddb_wru_per_million: 0.625,
            ddb_rru_per_million: 0.125,
            logs_per_gb: 0.50,
        }
    }
}

/// One line of the bill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// What.
    pub item: &'static str,
    /// USD.
    pub usd: f64,
    /// How it was reckoned.
    pub basis: String,
}

/// The estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Wall time from the first launch to the last instance gone, seconds.
    pub wall_s: f64,
    /// Instance-hours billed.
    pub instance_hours: f64,
    /// The bill, line by line.
    pub lines: Vec<Line>,
    /// Their sum.
    pub total_usd: f64,
    /// The sum per content-hour.
    pub per_content_hour_usd: f64,
}

const GB: f64 = 1e9;
/// Part of every source fetched in one ranged GET.
const GET_PART_BYTES: f64 = 8.0 * 1024.0 * 1024.0;
/// Objects a video writes besides its segments and media playlists: master, I-frame
/// playlists, captions, poster, thumbnails and their sprites, stream.json.
const OTHER_PUTS_PER_VIDEO: f64 = 30.0;
/// Table writes of a video besides its heartbeats (seed, claim, phases, done, counters),
/// and the write units each costs (items of 1-2 KB).
const WRITES_PER_VIDEO: f64 = 12.0;
const WRU_PER_WRITE: f64 = 2.0;
/// A heartbeat every 15 s (the default lease timings).
const HEARTBEAT_S: f64 = 15.0;
/// Read units per claim (the ready index queries and the winner's read).
const RRU_PER_VIDEO: f64 = 10.0;
/// Log bytes a video writes (JSON lines, a few dozen).
const LOG_BYTES_PER_VIDEO: f64 = 30_000.0;

/// The estimate for `batch` on `fleet` at `prices`.
pub fn estimate(batch: Batch, fleet: Fleet, prices: Prices) -> Estimate {
    if batch.videos == 0 {
        // Nothing claimable: the scaler launches nothing.
        return Estimate {
            wall_s: 0.0,
            instance_hours: 0.0,
            lines: Vec::new(),
            total_usd: 0.0,
            per_content_hour_usd: 0.0,
        };
    }
    let t = time(batch, fleet);
    let out_bytes = batch.content_s * fleet.output_kbps * 1000.0 / 8.0;
    let lines = vec![
        compute_line(fleet, &t),
        network_line(batch.source_bytes as f64 + out_bytes, fleet, prices),
        requests_line(batch, fleet, prices),
        storage_line(out_bytes, prices),
        table_line(batch, fleet, prices, t.busy_s),
        logs_line(batch, prices),
    ];
    let total_usd: f64 = lines.iter().map(|l| l.usd).sum();
    let hours = batch.content_s / 3600.0;
    Estimate {
        wall_s: t.wall_s,
        instance_hours: t.instance_hours,
        per_content_hour_usd: if hours > 0.0 { total_usd / hours } else { 0.0 },
        lines,
        total_usd,
    }
}

/// Where the instance time goes.
struct Time {
    /// Instance-seconds spent encoding.
    busy_s: f64,
    /// Instance-seconds idle at the uneven end.
    ragged_s: f64,
    /// From the first launch to the last instance gone.
    wall_s: f64,
    /// Everything billed.
    instance_hours: f64,
}

fn time(batch: Batch, fleet: Fleet) -> Time {
    let instances = f64::from(fleet.instances.max(1));
    let vcpus = f64::from(fleet.vcpus.max(1));
    // x264 keeps an instance's cores busy while its slots are: busy instance-seconds are the
    // CPU-seconds over the vCPUs.
    let per_content_s = fleet.cpu_per_content_s * (1.0 + fleet.analysis_share) / vcpus;
    let busy_s = batch.content_s * per_content_s;
    let mean_job_s = busy_s / batch.videos.max(1) as f64;
    // The work spread over the fleet, but never shorter than the longest video alone on one
    // instance; at the end the instances run out of work unevenly, half a job each on average.
    let work_s = (busy_s / instances).max(batch.longest_s * per_content_s);
    let ragged_s = instances * mean_job_s / 2.0;
    let billed_s = busy_s + ragged_s + instances * (fleet.boot_s + fleet.idle_tail_s);
    Time {
        busy_s,
        ragged_s,
        wall_s: fleet.boot_s + work_s + mean_job_s / 2.0 + fleet.idle_tail_s,
        instance_hours: billed_s / 3600.0,
    }
}

fn compute_line(fleet: Fleet, t: &Time) -> Line {
    Line {
        item: "compute",
        usd: t.instance_hours * fleet.price_per_hour,
        basis: format!(
            "{:.1} instance-hours at ${:.4}: {:.1} busy ({:.2} CPU-s per content-s \
             +{:.0}% analysis, {} vCPUs), {:.1} boot and idle tail, {:.1} uneven end",
            t.instance_hours,
            fleet.price_per_hour,
            t.busy_s / 3600.0,
            fleet.cpu_per_content_s,
            fleet.analysis_share * 100.0,
            fleet.vcpus,
            f64::from(fleet.instances.max(1)) * (fleet.boot_s + fleet.idle_tail_s) / 3600.0,
            t.ragged_s / 3600.0
        ),
    }
}

/// `crossing`: the bytes of sources and streams between the instances and S3.
fn network_line(crossing: f64, fleet: Fleet, prices: Prices) -> Line {
    if fleet.nat {
        Line {
            item: "NAT gateway",
            usd: crossing / GB * prices.nat_per_gb,
            basis: format!(
                "{:.1} GB of sources and streams processed at ${}/GB (its hourly charge is \
                 the VPC's, not the batch's)",
                crossing / GB,
                prices.nat_per_gb
            ),
        }
    } else {
        Line {
            item: "S3/DynamoDB gateway endpoints",
            usd: 0.0,
            basis: format!("{:.1} GB, free through gateway endpoints", crossing / GB),
        }
    }
}

fn requests_line(batch: Batch, fleet: Fleet, prices: Prices) -> Line {
    let segments = batch.content_s / fleet.segment_s.max(1.0) * f64::from(fleet.renditions);
    let puts = 2.0 * segments + OTHER_PUTS_PER_VIDEO * batch.videos as f64;
    let gets = (batch.source_bytes as f64 / GET_PART_BYTES).ceil() + batch.videos as f64;
    Line {
        item: "S3 requests",
        usd: puts / 1000.0 * prices.s3_put_per_1000 + gets / 1000.0 * prices.s3_get_per_1000,
        basis: format!(
            "{puts:.0} PUTs (a segment and a playlist per rendition every {} s, \
             {OTHER_PUTS_PER_VIDEO} more per video), {gets:.0} ranged GETs",
            fleet.segment_s
        ),
    }
}

fn storage_line(out_bytes: f64, prices: Prices) -> Line {
    Line {
        item: "S3 storage, first month",
        usd: out_bytes / GB * prices.s3_gb_month,
        basis: format!(
            "{:.1} GB of streams at ${}/GB-month (the ladder's bitrates, at most)",
            out_bytes / GB,
            prices.s3_gb_month
        ),
    }
}

fn table_line(batch: Batch, fleet: Fleet, prices: Prices, busy_s: f64) -> Line {
    // Every slot heartbeats its lease while its job runs: `slots` jobs per busy instance.
    let heartbeats = busy_s * f64::from(fleet.slots.max(1)) / HEARTBEAT_S;
    let wru = (WRITES_PER_VIDEO * batch.videos as f64 + heartbeats) * WRU_PER_WRITE;
    let rru = RRU_PER_VIDEO * batch.videos as f64;
    Line {
        item: "DynamoDB",
        usd: wru / 1e6 * prices.ddb_wru_per_million + rru / 1e6 * prices.ddb_rru_per_million,
        basis: format!(
            "{wru:.0} write units (heartbeats every {HEARTBEAT_S} s and {WRITES_PER_VIDEO} \
             writes a video), {rru:.0} read units"
        ),
    }
}

fn logs_line(batch: Batch, prices: Prices) -> Line {
    let logs = LOG_BYTES_PER_VIDEO * batch.videos as f64;
    Line {
        item: "CloudWatch Logs",
        usd: logs / GB * prices.logs_per_gb,
        basis: format!(
            "{:.3} GB of worker logs at ${}/GB",
            logs / GB,
            prices.logs_per_gb
        ),
    }
}

/// MediaConvert's on-demand price of one normalized minute, first volume tier, us-east-1,
/// USD, Basic and Professional (third-party copies of the AWS price list, 2026; README).
const MEDIACONVERT_PER_NORMALIZED_MINUTE: [(&str, f64); 2] =
    [("Basic", 0.0075), ("Professional", 0.012)];

/// What MediaConvert on demand would charge for the same ladder, for comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Managed {
    /// The pricing tier.
    pub tier: &'static str,
    /// USD per content-hour.
    pub per_content_hour_usd: f64,
    /// USD for the batch.
    pub batch_usd: f64,
}

/// Normalized minutes one content-hour of `ladder` costs (AVC, single pass, 30 fps at most:
/// an HD rendition, 720p and up, counts 2, an SD one 1), and the price in each tier.
pub fn mediaconvert(ladder: &crate::domain::ladder::Ladder, content_s: f64) -> (f64, Vec<Managed>) {
    let normalized = 60.0
        * ladder
            .rungs
            .iter()
            .map(|r| if r.height >= 720 { 2.0 } else { 1.0 })
            .sum::<f64>();
    let tiers = MEDIACONVERT_PER_NORMALIZED_MINUTE
        .iter()
        .map(|&(tier, p)| Managed {
            tier,
            per_content_hour_usd: normalized * p,
            batch_usd: normalized * p * content_s / 3600.0,
        })
        .collect();
    (normalized, tiers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> Fleet {
        Fleet {
            instances: 10,
            vcpus: 4,
            slots: 2,
            price_per_hour: 0.136,
            cpu_per_content_s: 1.23,
            analysis_share: 0.0,
            boot_s: 180.0,
            idle_tail_s: 900.0,
            nat: false,
            output_kbps: 10_000.0,
            renditions: 6,
            segment_s: 6.0,
        }
    }

    fn thousand_hours() -> Batch {
        Batch {
            videos: 2_000,
            source_bytes: 2_000 * 1_000_000_000,
            content_s: 1_000.0 * 3600.0,
            longest_s: 7_200.0,
        }
    }

    #[test]
    fn compute_is_the_busy_time_plus_boot_idle_tail_and_the_uneven_end() {
        let e = estimate(thousand_hours(), fleet(), Prices::default());
        // 3.6M content-s × 1.23 / 4 vCPUs = 1,107,000 instance-s = 307.5 h busy; boot and idle
        // tail 10 × 1,080 s = 3 h; the uneven end 10 × (1,107,000 / 2,000) / 2 s = 0.77 h.
        assert!(
            (e.instance_hours - 311.27).abs() < 0.01,
            "{}",
            e.instance_hours
        );
        assert!((e.lines[0].usd - 311.27 * 0.136).abs() < 0.01);
        // Wall: boot 180 + 110,700 + half a job 276.75 + idle 900 s.
        assert!((e.wall_s - 112_056.75).abs() < 0.01, "{}", e.wall_s);
    }

    #[test]
    fn one_long_video_bounds_the_wall_time_whatever_the_fleet() {
        let mut b = thousand_hours();
        b.videos = 1;
        b.content_s = 7_200.0;
        let mut f = fleet();
        f.instances = 100;
        let e = estimate(b, f, Prices::default());
        let job = 7_200.0 * 1.23 / 4.0;
        assert!((e.wall_s - (180.0 + job + job / 2.0 + 900.0)).abs() < 0.01);
    }

    #[test]
    fn a_nat_gateway_bills_every_byte_and_endpoints_none() {
        let mut f = fleet();
        let free = estimate(thousand_hours(), f, Prices::default());
        f.nat = true;
        let nat = estimate(thousand_hours(), f, Prices::default());
        // 2,000 GB of sources + 3.6M s × 10 Mb/s = 4,500 GB of streams, at $0.045.
        assert_eq!(free.lines[1].usd, 0.0);
        assert!((nat.lines[1].usd - 6_500.0 * 0.045).abs() < 0.01);
        assert!(nat.total_usd > free.total_usd);
    }

    #[test]
    fn the_analysis_adds_its_share_of_cpu() {
        let mut f = fleet();
        let fixed = estimate(thousand_hours(), f, Prices::default());
        f.analysis_share = 0.18;
        let adaptive = estimate(thousand_hours(), f, Prices::default());
        let busy = |e: &Estimate| e.instance_hours - 3.0;
        assert!(busy(&adaptive) / busy(&fixed) > 1.17 && busy(&adaptive) / busy(&fixed) < 1.19);
    }

    #[test]
    fn mediaconvert_prices_the_default_ladder_at_480_normalized_minutes_an_hour() {
        let ladder = crate::domain::ladder::Ladder::default();
        let (normalized, tiers) = mediaconvert(&ladder, 2.0 * 3600.0);
        assert_eq!(normalized, 480.0, "1080p and 720p count 2, four SD rungs 1");
        let r = |x: f64| (x * 100.0).round() / 100.0;
        let got: Vec<_> = tiers
            .iter()
            .map(|m| (m.tier, r(m.per_content_hour_usd), r(m.batch_usd)))
            .collect();
        assert_eq!(got, [("Basic", 3.60, 7.20), ("Professional", 5.76, 11.52)]);
    }

    #[test]
    fn an_empty_batch_launches_nothing() {
        let b = Batch {
            videos: 0,
            source_bytes: 0,
            content_s: 0.0,
            longest_s: 0.0,
        };
        let e = estimate(b, fleet(), Prices::default());
        assert_eq!((e.instance_hours, e.total_usd, e.wall_s), (0.0, 0.0, 0.0));
    }
}

#[cfg(test)]
mod readme {
    use super::*;

    /// The README's example batch ("What a batch costs"): 2,000 half-hour 720p lectures at
    /// 5 Mb/s, 10 c6g.xlarge on demand, adaptive rate control, the default ladder.
    pub(super) fn example(nat: bool) -> Estimate {
        let batch = Batch {
            videos: 2_000,
            source_bytes: 2_000 * 1_800 * 5_000_000 / 8,
            content_s: 2_000.0 * 1_800.0,
            longest_s: 1_800.0,
        };
        let fleet = Fleet {
            instances: 10,
            vcpus: 4,
            slots: 2,
            price_per_hour: 0.136,
            cpu_per_content_s: 1.23,
            analysis_share: 0.18,
            boot_s: 180.0,
            idle_tail_s: 900.0,
            nat,
            // The default ladder: 1080p 5000 + 720p 3000 + 540p 1800 + 360p 800 + 240p 400 +
            // 144p 160 kb/s of video, 128 kb/s of sound in each but the 144p's 64.
            output_kbps: 11_160.0 + 5.0 * 128.0 + 64.0,
            renditions: 6,
            segment_s: 6.0,
        };
        estimate(batch, fleet, Prices::default())
    }

    /// The figures the README states.
    #[test]
    fn the_readme_example_batch() {
        let nat = example(true);
        let free = example(false);
        let usd = |e: &Estimate, item: &str| {
            e.lines
                .iter()
                .find(|l| l.item == item)
                .map(|l| l.usd)
                .unwrap()
        };
        let r = |x: f64| (x * 100.0).round() / 100.0;
        assert_eq!(r(nat.wall_s / 3600.0), 36.68);
        assert_eq!(r(nat.instance_hours), 366.76);
        assert_eq!(r(usd(&nat, "compute")), 49.88);
        assert_eq!(r(usd(&nat, "NAT gateway")), 341.50);
        assert_eq!(r(usd(&nat, "S3 requests")), 36.41);
        assert_eq!(r(usd(&nat, "S3 storage, first month")), 122.79);
        assert_eq!(r(usd(&nat, "DynamoDB")), 0.25);
        assert_eq!(r(usd(&nat, "CloudWatch Logs")), 0.03);
        assert_eq!(r(nat.total_usd), 550.86);
        assert_eq!(r(free.total_usd), 209.36);
        assert_eq!((nat.per_content_hour_usd * 1000.0).round(), 551.0);
        assert_eq!((free.per_content_hour_usd * 1000.0).round(), 209.0);
    }
}
