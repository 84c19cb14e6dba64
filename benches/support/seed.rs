//! Seeding a benchmark table fast: BatchWriteItem, 25 items a request, 8 in flight.

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use fleet::domain::keys::S3Uri;
use fleet::domain::video::seeded;
use fleet::store::dynamo::create_table;
use fleet::store::schema::schema;
use futures::StreamExt;
use std::time::Duration;

/// A fresh table holding `n` pending videos, written with BatchWriteItem.
pub async fn table(cfg: &aws_config::SdkConfig, n: usize, prefix: &str) -> String {
    let name = crate::common::unique(prefix);
    let client = fleet::aws::dynamodb(cfg, Duration::from_secs(30));
    create_table(&client, &name)
        .await
        .expect("create table (is the local stack up?)");
    let now = chrono::Utc::now().timestamp_millis();
    let chunks: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(25)
        .map(|c| c.to_vec())
        .collect();
    futures::stream::iter(chunks)
        .for_each_concurrent(8, |chunk| {
            let (client, name) = (client.clone(), name.clone());
            async move {
                let mut reqs: Vec<WriteRequest> = chunk
                    .iter()
                    .map(|i| {
                        let src = S3Uri {
                            bucket: "in".into(),
                            key: format!("lib/video-{i:06}.mp4"),
                        };
                        let item = seeded(
                            &src,
                            "out",
                            &format!("hls/{i}"),
                            1 << 20,
                            now,
                            schema().ready_shards,
                        );
                        let put = PutRequest::builder()
                            .set_item(Some(serde_dynamo::to_item(&item).unwrap()))
                            .build()
                            .unwrap();
                        WriteRequest::builder().put_request(put).build()
                    })
                    .collect();
                while !reqs.is_empty() {
                    let out = client
                        .batch_write_item()
                        .request_items(&name, reqs)
                        .send()
                        .await
                        .expect("batch write");
                    reqs = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&name))
                        .unwrap_or_default();
                }
            }
        })
        .await;
    name
}
