//! A staged job: fresh table and buckets, source files uploaded and seeded, and the reads a
//! test makes afterwards (an item, a published stream).

use super::{fresh_table, media, store};
use fleet::domain::keys::S3Uri;
use fleet::store::dynamo::DynamoStore;
use std::path::PathBuf;

pub struct Stage {
    pub s3: aws_sdk_s3::Client,
    pub store: DynamoStore,
    pub table: String,
    pub input: S3Uri,
    pub output: S3Uri,
    /// Holds the clips, the workers' work dirs and fetched streams; removed on drop.
    pub dir: tempfile::TempDir,
}

/// Uploads `files` (name in the bucket, local path) under a fresh input prefix and seeds them
/// into a fresh table. `dir` becomes the stage's folder.
pub async fn stage_files(name: &str, dir: tempfile::TempDir, files: &[(String, PathBuf)]) -> Stage {
    stage_files_at(name, dir, files, None).await
}

/// Like [`stage_files`], with the buckets on the S3 server at `s3_url` when given (moto, for
/// what the local S3 server does not implement) instead of the local stack's.
pub async fn stage_files_at(
    name: &str,
    dir: tempfile::TempDir,
    files: &[(String, PathBuf)],
    s3_url: Option<&str>,
) -> Stage {
    let cfg = super::sdk().await;
    let mut s3 = fleet::aws::s3(&cfg);
    if let Some(url) = s3_url {
        s3 = aws_sdk_s3::Client::from_conf(s3.config().to_builder().endpoint_url(url).build());
    }
    let table = fresh_table(&cfg, name).await;
    let store = store(&cfg, &table);
    let (ib, ob) = media::buckets(&s3).await;
    let input = S3Uri {
        bucket: ib,
        key: "AI CERTs/Videos/".into(),
    };
    let output = S3Uri {
        bucket: ob,
        key: "hls/".into(),
    };
    let summary = media::upload_and_seed(&store, &s3, files, &input, &output).await;
    let videos = files
        .iter()
        .filter(|(n, _)| !fleet::domain::captions::sidecar::is_caption(n))
        .count();
    assert_eq!(summary.added as usize, videos);
    Stage {
        s3,
        store,
        table,
        input,
        output,
        dir,
    }
}

impl Stage {
    pub fn pk(&self, name: &str) -> String {
        format!("s3://{}/{}{name}", self.input.bucket, self.input.key)
    }

    pub fn work(&self, n: &str) -> PathBuf {
        self.dir.path().join(format!("work-{n}"))
    }

    pub async fn state(&self, name: &str) -> fleet::domain::VideoItem {
        self.store
            .get(&self.pk(name))
            .await
            .unwrap()
            .expect("seeded")
    }

    /// Downloads the published stream of `name` into a fresh folder.
    pub async fn fetch(&self, name: &str) -> PathBuf {
        let item = self.state(name).await;
        let local = self.dir.path().join("fetched").join(&item.out_prefix);
        let n = media::download_prefix(
            &self.s3,
            &self.output.bucket,
            &format!("{}/", item.out_prefix),
            &local,
        )
        .await;
        assert!(n > 2, "nothing published for {name}");
        local
    }
}
