//! The scaler's backlog read: from the counters while it is large (the same few requests
//! whatever the table holds), counted through the index while it is small or the last count is
//! old, and the counters' drift corrected by each count.

use crate::common::{self, fast_timings, fresh_table, seed};
use fleet::clock;
use fleet::store::dynamo::registry::{Counter, Counters};
use fleet::store::dynamo::{BacklogSource, DynamoStore, Recount, StoreConfig};
use fleet::store::{Completion, VideoStore};
use std::time::Duration;

#[tokio::test]
async fn a_large_backlog_is_read_from_the_counters_and_their_drift_is_corrected() {
    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "backlog").await;
    let mut c = StoreConfig::new(&table);
    c.timings = fast_timings();
    c.recount = Recount {
        below: 5,
        every: Duration::from_secs(3),
    };
    let client = fleet::aws::dynamodb(&cfg, Duration::from_secs(10));
    let st = DynamoStore::new(client, c, clock::system());
    seed(&st, 20, "b").await;
    st.set_counters(Counters {
        total: 20,
        done: 0,
        failed: 0,
    })
    .await
    .unwrap();
    let fresh = fleet::store::schema::schema().ready_shards;
    let shards = fresh + fleet::domain::keys::Lane::Reentry.shards(fresh);

    // Never counted: counted now.
    let b = st.backlog().await.unwrap();
    assert_eq!((b.open, b.source), (20, BacklogSource::Counted), "{b:?}");
    // Counted a moment ago and above 5: the counters, the registry and one single-key Query
    // per shard for the oldest claimable, nothing that grows with the table.
    let b = st.backlog().await.unwrap();
    assert_eq!((b.open, b.source), (20, BacklogSource::Counters), "{b:?}");
    assert_eq!(b.cost.requests, 2 + shards, "{b:?}");
    assert!(b.oldest_claimable.is_some());

    // The counters drift (7 seeds counted that never landed): believed until the next count...
    st.count(Counter::Total, 7).await.unwrap();
    assert_eq!(st.backlog().await.unwrap().open, 27);
    // ... which corrects them, and the correction stays.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let b = st.backlog().await.unwrap();
    assert_eq!((b.open, b.source), (20, BacklogSource::Counted), "{b:?}");
    let b = st.backlog().await.unwrap();
    assert_eq!((b.open, b.source), (20, BacklogSource::Counters), "{b:?}");

    // Near empty (the counters say fewer than 5): counted every time.
    for _ in 0..16 {
        let l = st.claim("w").await.unwrap().unwrap();
        let done = Completion {
            output: "s3://out/x/master.m3u8".into(),
            ffmpeg_args: vec![],
            duration_s: None,
            warnings: vec![],
            ladder: None,
        };
        st.complete(&l, &done).await.unwrap();
    }
    let b = st.backlog().await.unwrap();
    assert_eq!((b.open, b.source), (4, BacklogSource::Counted), "{b:?}");
}
