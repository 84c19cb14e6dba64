//! Claim engine benchmark against DynamoDB Local (`cargo bench --bench claim`, local stack
//! running). Prints claim latency p50/p99 and throughput with 1, 4 and 16 claimers; claim
//! latency with 1k vs 100k items in the table; and DynamoDB requests per video for a whole
//! claim → heartbeat → complete cycle. Under `cargo test` it does nothing.

#[path = "support/common.rs"]
mod common;

#[path = "support/capacity.rs"]
mod capacity;

#[path = "support/seed.rs"]
mod seed;

use capacity::CapacityMeter;
use fleet::aws::ops::OpCounter;
use fleet::store::dynamo::{DynamoStore, StoreConfig};
use fleet::store::{Completion, VideoStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    common::bench_main("claim", run);
}

async fn table(cfg: &aws_config::SdkConfig, n: usize) -> String {
    seed::table(cfg, n, "claim").await
}

fn store(
    cfg: &aws_config::SdkConfig,
    table: &str,
    meters: Option<(OpCounter, CapacityMeter)>,
) -> DynamoStore {
    let client = fleet::aws::dynamodb_with(cfg, Duration::from_secs(10), |b| match meters {
        Some((c, m)) => b.interceptor(c).interceptor(m),
        None => b,
    });
    DynamoStore::new(client, StoreConfig::new(table), fleet::clock::system())
}

fn done() -> Completion {
    Completion {
        output: "s3://out/x/master.m3u8".into(),
        ffmpeg_args: vec!["ffmpeg".into()],
        duration_s: Some(1.0),
        warnings: vec![],
        ladder: None,
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// `claimers` tasks claim and complete until `claims` claims were made (or nothing is left).
async fn claim_run(
    cfg: &aws_config::SdkConfig,
    table: &str,
    claimers: usize,
    claims: usize,
) -> (Vec<Duration>, Duration) {
    let left = Arc::new(std::sync::atomic::AtomicIsize::new(claims as isize));
    let started = Instant::now();
    let tasks: Vec<_> = (0..claimers)
        .map(|i| {
            let (s, left) = (store(cfg, table, None), left.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while left.fetch_sub(1, std::sync::atomic::Ordering::Relaxed) > 0 {
                    let t = Instant::now();
                    let Some(l) = s.claim(&format!("bench-{i}")).await.expect("claim") else {
                        break;
                    };
                    lat.push(t.elapsed());
                    s.complete(&l, &done()).await.expect("complete");
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    (all, started.elapsed())
}

async fn run() {
    let cfg = fleet::aws::sdk_config().await;
    println!("## claim engine (DynamoDB Local, this machine)\n");
    println!("| claimers | claims | p50 ms | p99 ms | claim+complete cycles/s |");
    println!("|---:|---:|---:|---:|---:|");
    for claimers in [1, 4, 16] {
        let t = table(&cfg, 2000).await;
        let (lat, wall) = claim_run(&cfg, &t, claimers, 1000).await;
        println!(
            "| {claimers} | {} | {:.1} | {:.1} | {:.0} |",
            lat.len(),
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            lat.len() as f64 / wall.as_secs_f64()
        );
    }
    println!("\n| items in table | claims | p50 ms | p99 ms |");
    println!("|---:|---:|---:|---:|");
    let mut p50s = Vec::new();
    for n in [1_000, 100_000] {
        let t0 = Instant::now();
        let t = table(&cfg, n).await;
        let seeded_in = t0.elapsed();
        let (lat, _) = claim_run(&cfg, &t, 1, 300).await;
        p50s.push(pct(&lat, 0.5));
        println!(
            "| {n} | {} | {:.1} | {:.1} |  (seeded in {:.0} s)",
            lat.len(),
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            seeded_in.as_secs_f64()
        );
    }
    println!("\nlatency ratio 100k / 1k (p50): {:.2}", p50s[1] / p50s[0]);

    let t = table(&cfg, 200).await;
    let counter = OpCounter::default();
    let meter = CapacityMeter::default();
    let s = store(&cfg, &t, Some((counter.clone(), meter.clone())));
    let mut n = 0;
    while let Some(l) = s.claim("bench").await.unwrap() {
        s.heartbeat(&l, None).await.unwrap();
        s.complete(&l, &done()).await.unwrap();
        n += 1;
    }
    println!(
        "\nDynamoDB requests per video, claim → 1 heartbeat → complete ({n} videos, 1 claimer):"
    );
    let mut total = 0;
    for (op, c) in counter.counts() {
        println!("- {op}: {:.2}", c as f64 / n as f64);
        total += c;
    }
    println!(
        "- total: {:.2} (the last claim, which found nothing, included)",
        total as f64 / n as f64
    );
    println!("\nconsumed capacity units per video, as DynamoDB reports them (table + index):");
    let (mut table_units, mut index_units) = (0.0, 0.0);
    for (op, (t, i)) in meter.units() {
        println!("- {op}: {:.2} + {:.2}", t / n as f64, i / n as f64);
        table_units += t;
        index_units += i;
    }
    println!(
        "- total: {:.2} on the table + {:.2} on the ready index",
        table_units / n as f64,
        index_units / n as f64
    );
}
