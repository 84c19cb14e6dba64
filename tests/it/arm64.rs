//! The aarch64 build of fleet-worker (what runs on c6g), run under qemu-user against the local
//! stack: one real video, claimed, transcoded by (native) ffmpeg, uploaded and completed.
//! Ignored by default because it needs `scripts/build-arm64` first; `scripts/test` builds it
//! and runs this with `--ignored arm64`.

use crate::common::media::{self, Clip};
use crate::common::{self, fresh_table, store};
use fleet::domain::keys::S3Uri;
use fleet::domain::VideoState;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the aarch64 build: scripts/build-arm64"]
async fn arm64_worker_under_qemu_completes_a_video() {
    let bin = std::env::var("FLEET_ARM64_WORKER").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/aarch64-unknown-linux-gnu/release/fleet-worker"
        )
        .to_string()
    });
    assert!(
        std::path::Path::new(&bin).is_file(),
        "{bin} missing: run scripts/build-arm64"
    );
    let elf = std::fs::read(&bin).unwrap();
    assert_eq!(
        u16::from_le_bytes([elf[18], elf[19]]),
        183,
        "{bin} is not an aarch64 ELF"
    );

    let cfg = common::sdk().await;
    let s3 = fleet::aws::s3(&cfg);
    let table = fresh_table(&cfg, "arm64").await;
    let store = store(&cfg, &table);
    let (ib, ob) = media::buckets(&s3).await;
    let dir = tempfile::tempdir().unwrap();
    let clip = Clip::new("arm ü clip.mp4", "640x360", "30", 4.0);
    let path = clip.make(dir.path());
    let input = S3Uri {
        bucket: ib.clone(),
        key: "AI CERTs/Videos/".into(),
    };
    let output = S3Uri {
        bucket: ob.clone(),
        key: "hls/".into(),
    };
    media::upload_and_seed(&store, &s3, &[(clip.name.into(), path)], &input, &output).await;

    // Emulated, the worker's own code runs several times slower: a longer lease keeps the
    // heartbeat far from its deadline.
    let mut child = media::worker_via(
        &["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu", &bin],
        &table,
        &dir.path().join("work"),
        &[
            "--exit-when-idle",
            "--lease-seconds",
            "20",
            "--heartbeat-seconds",
            "4",
        ],
    )
    .spawn()
    .expect("qemu-aarch64-static installed (scripts/build-arm64 installs it)");
    let status = tokio::time::timeout(Duration::from_secs(300), child.wait())
        .await
        .expect("the arm64 worker did not exit")
        .unwrap();
    assert!(status.success(), "arm64 worker exited with {status}");

    let pk = format!("s3://{ib}/AI CERTs/Videos/{}", clip.name);
    let item = store.get(&pk).await.unwrap().expect("seeded");
    assert_eq!(item.state, VideoState::Done, "{:?}", item.error);
    let local = dir.path().join("fetched");
    let n = media::download_prefix(&s3, &ob, &format!("{}/", item.out_prefix), &local).await;
    assert!(n > 2, "nothing published");
    media::check_stream(&local, clip.seconds, Some(clip.display()), false);
}

/// The Lambda's binary as built for arm64 (the zip's `bootstrap`), run under qemu for one tick
/// against DynamoDB Local and the Auto Scaling stand-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the aarch64 build: scripts/build-arm64"]
async fn arm64_scaler_under_qemu_sizes_the_group_from_the_backlog() {
    let zip = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/artifacts/fleet-scaler.zip"
    );
    assert!(
        std::path::Path::new(zip).is_file(),
        "{zip} missing: run scripts/build-arm64"
    );
    // The very file Lambda runs: `bootstrap`, out of the zip that is uploaded.
    let dir = tempfile::tempdir().unwrap();
    let unzipped = std::process::Command::new("python3")
        .args(["-m", "zipfile", "-e", zip])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(unzipped.success(), "{zip} is not a zip");
    let bootstrap = dir.path().join("bootstrap");
    // Python's zipfile does not restore the mode; Lambda runs it as an executable.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bootstrap = bootstrap.to_str().unwrap();
    let elf = std::fs::read(bootstrap).expect("the zip holds bootstrap");
    assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), 183, "not aarch64");

    let cfg = common::sdk().await;
    let table = fresh_table(&cfg, "arm64-scaler").await;
    common::seed(&store(&cfg, &table), 3, "arm64").await;
    let group =
        crate::common::group::Group::create(&crate::common::moto::shared_url(), "arm64", 0, 10)
            .await;
    let qemu = [
        "qemu-aarch64-static",
        "-L",
        "/usr/aarch64-linux-gnu",
        bootstrap,
    ];
    crate::aws::scaler_once_via(&qemu, &table, &group, "15", None).await;
    assert_eq!(group.desired().await, 2, "3 videos, 2 slots per instance");
}
