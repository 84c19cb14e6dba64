//! fleet-admin benchmark (`cargo bench --bench admin`, local stack running; FLEET_BENCH_OBJECTS
//! overrides the 100,000 objects). The local servers set the limit, so each figure is set
//! beside what the same server does bare, in the same run:
//! - seed: fleet's items/s vs raw conditional PutItems at the same concurrency, and the time
//!   the listing alone takes (seed overlaps it with the writes);
//! - report over the seeded table vs a bare Scan of it, with the decode time apart;
//! - `report --summary`'s requests and read units on 1,000 items and on the seeded table,
//!   beside the full Scan's;
//! - the scaler's backlog read on the same two tables, counted through the index and from the
//!   counters.
//!
//! Under `cargo test` it does nothing.

#[path = "support/common.rs"]
mod common;

use fleet::admin::{report, seed};
use fleet::domain::keys::S3Uri;
use fleet::domain::video::seeded;
use fleet::store::dynamo::{create_table, DynamoStore, StoreConfig};
use fleet::store::schema::schema;
use futures::{StreamExt, TryStreamExt};
use std::time::{Duration, Instant};

fn main() {
    common::bench_main("admin", run);
}

/// Items that are videos (seed also writes the `#stats` counters).
fn videos(
    items: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>],
) -> usize {
    items
        .iter()
        .filter(|i| {
            i.get("pk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|p| !p.starts_with('#'))
        })
        .count()
}

async fn table(ddb: &aws_sdk_dynamodb::Client) -> (String, DynamoStore) {
    let name = common::unique("t");
    create_table(ddb, &name).await.expect("local stack up?");
    let store = DynamoStore::new(ddb.clone(), StoreConfig::new(&name), fleet::clock::system());
    (name, store)
}

async fn run() {
    let n: usize = std::env::var("FLEET_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let cfg = fleet::aws::sdk_config().await;
    let s3 = fleet::aws::s3(&cfg);
    let ddb = fleet::aws::dynamodb(&cfg, Duration::from_secs(60));
    let bucket = common::unique("in");
    fleet::blob::ensure_bucket(&s3, &bucket).await.unwrap();
    let keys: Vec<String> = (0..n)
        .map(|i| format!("AI CERTs/Videos/batch {:03}/clip {i:06}.mp4", i / 1000))
        .collect();
    let t = Instant::now();
    futures::stream::iter(&keys)
        .map(|k| {
            let (s3, bucket) = (&s3, &bucket);
            async move { fleet::blob::put_bytes(s3, bucket, k, vec![1; 16], "video/mp4").await }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    println!(
        "setup: {n} objects uploaded in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let input = S3Uri {
        bucket: bucket.clone(),
        key: "AI CERTs/Videos/".into(),
    };
    // seed checks that the output takes a write before it writes an item.
    let out_bucket = common::unique("out");
    fleet::blob::ensure_bucket(&s3, &out_bucket).await.unwrap();
    let output = S3Uri {
        bucket: out_bucket,
        key: "hls/".into(),
    };

    let t = Instant::now();
    let listed = fleet::blob::list_keys(&s3, &bucket, &input.key)
        .await
        .unwrap();
    let list_s = t.elapsed().as_secs_f64();
    assert_eq!(listed.len(), n);
    println!(
        "listing alone: {n} keys in {list_s:.1} s ({:.0} keys/s)",
        n as f64 / list_s
    );

    // Raw: the same items, the same conditional PutItem, the same concurrency, no listing.
    let (_, raw) = table(&ddb).await;
    let now = chrono::Utc::now().timestamp_millis();
    let t = Instant::now();
    futures::stream::iter(&listed)
        .map(|(k, size)| {
            let (raw, out_bucket) = (&raw, &output.bucket);
            let src = S3Uri {
                bucket: bucket.clone(),
                key: k.clone(),
            };
            let out = fleet::domain::keys::output_prefix(&input.key, k, &output.key).unwrap();
            async move {
                let item = seeded(&src, out_bucket, &out, *size, now, schema().ready_shards);
                raw.insert_new(&item).await
            }
        })
        .buffer_unordered(seed::PARALLEL_WRITES)
        .try_collect::<Vec<bool>>()
        .await
        .unwrap();
    let raw_s = t.elapsed().as_secs_f64();
    let raw_rate = n as f64 / raw_s;
    println!(
        "raw conditional PutItem, {} in flight: {raw_rate:.0} items/s ({raw_s:.1} s)",
        seed::PARALLEL_WRITES
    );

    let (name, store) = table(&ddb).await;
    let exts = vec!["mp4".to_string()];
    let plan = seed::SeedPlan {
        input: &input,
        output: &output,
        extensions: &exts,
        default_caption_language: "und",
        dry_run: false,
        update_output: false,
    };
    let t = Instant::now();
    let summary = seed::seed(&store, &s3, &plan, |_| {}).await.unwrap();
    let seed_s = t.elapsed().as_secs_f64();
    assert_eq!(summary.added as usize, n);
    let seed_rate = n as f64 / seed_s;
    println!(
        "fleet-admin seed: {seed_rate:.0} items/s ({seed_s:.1} s): {:.2}x the raw rate; \
         listing alone would take {:.0}% of it",
        seed_rate / raw_rate,
        100.0 * list_s / seed_s
    );
    let t = Instant::now();
    let again = seed::seed(&store, &s3, &plan, |_| {}).await.unwrap();
    assert_eq!(again.present as usize, n);
    println!(
        "second seed (all present): {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // Report vs a bare Scan of the same table.
    let t = Instant::now();
    let mut count = 0usize;
    let (mut scan_requests, mut scan_units) = (0u32, 0f64);
    let mut pages = ddb
        .scan()
        .table_name(&name)
        .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        count += videos(page.items());
        scan_requests += 1;
        scan_units += page
            .consumed_capacity()
            .and_then(|c| c.capacity_units())
            .unwrap_or(0.0);
    }
    let bare_s = t.elapsed().as_secs_f64();
    assert_eq!(count, n);
    // The same Scan, 8 segments in parallel as report does, items counted but not decoded.
    let t = Instant::now();
    let counts = futures::future::join_all((0..report::SCAN_SEGMENTS).map(|seg| {
        let (ddb, name) = (&ddb, &name);
        async move {
            let mut count = 0usize;
            let mut pages = ddb
                .scan()
                .table_name(name)
                .segment(seg)
                .total_segments(report::SCAN_SEGMENTS)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                count += videos(page.unwrap().items());
            }
            count
        }
    }))
    .await;
    let bare_par_s = t.elapsed().as_secs_f64();
    assert_eq!(counts.iter().sum::<usize>(), n);
    let t = Instant::now();
    let (items, paused) = report::scan_all(&ddb, &name).await.unwrap();
    let scan_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let now = chrono::Utc::now().timestamp_millis();
    let r = report::build(&name, items, paused, now, report::Pricing::default());
    let json = serde_json::to_string(&r).unwrap();
    let build_s = t.elapsed().as_secs_f64();
    assert_eq!(r.counts.total as usize, n);
    println!(
        "report over {n} items: {:.2} s ({scan_s:.2} s parallel scan + decode, {build_s:.2} s \
         build and {:.0} MB of JSON)",
        scan_s + build_s,
        json.len() as f64 / 1e6,
    );
    println!(
        "bare Scan: sequential {bare_s:.2} s (report/bare {:.2}); {} segments in parallel \
         {bare_par_s:.2} s (report/bare {:.2})",
        (scan_s + build_s) / bare_s,
        report::SCAN_SEGMENTS,
        (scan_s + build_s) / bare_par_s
    );

    // report --summary: counters, pause flag and registry, whatever the table holds.
    let (small, small_store) = table(&ddb).await;
    let now = chrono::Utc::now().timestamp_millis();
    futures::stream::iter(0..1000)
        .map(|i| {
            let item = seeded(
                &S3Uri {
                    bucket: "in".into(),
                    key: format!("v/{i}.mp4"),
                },
                "out",
                &format!("hls/{i}"),
                1,
                now,
                schema().ready_shards,
            );
            let st = &small_store;
            async move { st.insert_new(&item).await }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    let _ = small;
    for (label, st) in [("1,000", &small_store), (&format!("{n}") as &str, &store)] {
        let s = report::summary(st, now).await.unwrap();
        println!(
            "report --summary on {label} items: {} requests, {:.1} read units (full Scan of \
             {n} items: {scan_requests} requests, {scan_units:.0} read units)",
            s.cost.requests, s.cost.read_units
        );
    }

    // The scaler's backlog read, every minute: counted through the index vs the counters.
    small_store
        .set_counters(fleet::store::dynamo::registry::Counters {
            total: 1000,
            done: 0,
            failed: 0,
        })
        .await
        .unwrap();
    for (label, table) in [("1,000", &small), (&format!("{n}") as &str, &name)] {
        let mut c = StoreConfig::new(table.as_str());
        // Trust the counters at any size, to measure them at both.
        c.recount.below = 0;
        let st = DynamoStore::new(ddb.clone(), c, fleet::clock::system());
        let t = Instant::now();
        let counted = st.backlog().await.unwrap();
        let counted_ms = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let counters = st.backlog().await.unwrap();
        let counters_ms = t.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(counted.source, fleet::store::dynamo::BacklogSource::Counted);
        assert_eq!(
            counters.source,
            fleet::store::dynamo::BacklogSource::Counters
        );
        assert_eq!(counted.open, counters.open);
        println!(
            "scaler backlog read on {label} open videos: counted through the index {} requests, \
             {:.1} read units, {counted_ms:.0} ms; from the counters {} requests, {:.1} read \
             units, {counters_ms:.0} ms",
            counted.cost.requests,
            counted.cost.read_units,
            counters.cost.requests,
            counters.cost.read_units,
        );
    }
}
