//! infra/ as `scripts/infra-apply` applied it to moto: the applied table and group behave as
//! fleet needs, which a mock provider cannot show. The Lambda's handler ticks on the applied
//! table and group; a worker on one of the group's instances lifts its protection and removes
//! itself when idle; another instance is marked unhealthy. The script then checks that a
//! second plan is empty although the desired capacity moved (`ignore_changes`).

use crate::common::ec2::Ec2;
use crate::common::group::Group;
use crate::common::servers::{fleet_key, sdk_at};
use crate::common::{eventually, fresh_table, media, seed};
use fleet::store::dynamo::{DynamoStore, StoreConfig};
use std::time::Duration;

fn given(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/infra-apply"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by scripts/infra-apply, against the group it applied"]
async fn the_applied_group_scales_and_lives() {
    let (url, table, name) = (
        given("FLEET_MOTO_ENDPOINT"),
        given("FLEET_MOTO_TABLE"),
        given("FLEET_MOTO_GROUP"),
    );
    let cfg = sdk_at(&url, fleet_key()).await;
    let applied = DynamoStore::new(
        fleet::aws::dynamodb(&cfg, Duration::from_secs(30)),
        StoreConfig::new(&table),
        fleet::clock::system(),
    );
    seed(&applied, 5, "infra").await;
    let group = Group::at(&url, &name).await;
    assert_eq!(group.desired().await, 0, "created at min_size, 0");

    // A scaler tick, on the applied table (its ready index) and group.
    crate::aws::scaler_once_via(
        &[env!("CARGO_BIN_EXE_fleet-scaler")],
        &table,
        &group,
        "15",
        Some(&url),
    )
    .await;
    assert_eq!(group.desired().await, 3, "5 videos, 2 slots an instance");
    let members = group.members().await;
    assert_eq!(members.len(), 3, "{members:?}");
    assert!(
        members.iter().all(|m| m.protected),
        "the applied group launches instances protected: {members:?}"
    );

    // A worker on the first instance: up and idle, it lifts the protection, then removes its
    // instance with a decrement.
    let local = crate::common::sdk().await;
    let empty = fresh_table(&local, "infra-worker").await;
    let work = tempfile::tempdir().unwrap();
    let ec2 = Ec2::start(&members[0].id).await;
    let mut w = media::worker(&empty, work.path(), &[])
        .env("FLEET_ASG_NAME", &name)
        .env("FLEET_IMDS_POLL_SECONDS", "0.2")
        .env("FLEET_IDLE_REMOVE_MINUTES", "0.1")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &ec2.endpoint)
        .env("AWS_ENDPOINT_URL_AUTO_SCALING", &url)
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(30), "protection lifted", || async {
        let m = group.members().await;
        (!m.iter().any(|m| m.id == members[0].id && m.protected)).then_some(())
    })
    .await;
    eventually(
        Duration::from_secs(30),
        "the idle instance gone",
        || async {
            let m = group.members().await;
            (!m.iter().any(|m| m.id == members[0].id)).then_some(())
        },
    )
    .await;
    assert_eq!(group.desired().await, 2, "lowered with it");
    ec2.set("autoscaling/target-lifecycle-state", Some("Terminated"));
    let status = tokio::time::timeout(Duration::from_secs(30), w.wait())
        .await
        .expect("worker did not leave")
        .unwrap();
    assert!(status.success());

    // A worker that gives up marks its instance unhealthy (the call, on the applied group).
    let asg = fleet::aws::asg::Asg::from_conf(&cfg, name.clone());
    asg.mark_unhealthy(&members[1].id).await.unwrap();
    let sick = group.members().await;
    assert!(
        sick.iter()
            .any(|m| m.id == members[1].id && m.health == "Unhealthy"),
        "{sick:?}"
    );
}
