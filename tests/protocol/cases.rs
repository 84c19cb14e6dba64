//! The new design against every property, under each family of faults, and the sanity
//! examples that show the model is not vacuous.

use crate::check::{assert_holds, explore};
use crate::config::Config;
use crate::properties::*;

/// The `sometimes` properties every two-worker configuration must show.
const EXAMPLES: [&str; 5] = [
    CAN_FINISH,
    CAN_FINISH_LATER,
    CAN_ABANDON,
    CAN_REFUSE_PUT,
    CAN_REFUSE_HEARTBEAT,
];

#[test]
fn new_design_holds_on_a_lossy_network() {
    let cfg = Config::lossy();
    let run = explore("lossy", cfg.clone(), &[]);
    assert_holds(&run, &cfg, &EXAMPLES);
}

#[test]
fn new_design_holds_with_crashes_shutdowns_and_failures() {
    let cfg = Config::crashy();
    let run = explore("crashy", cfg.clone(), &[]);
    assert_holds(&run, &cfg, &[CAN_FINISH, CAN_FINISH_LATER, CAN_ABANDON]);
    let cfg = Config::shutdown();
    let run = explore("shutdown", cfg.clone(), &[]);
    assert_holds(&run, &cfg, &[CAN_FINISH, CAN_FINISH_LATER]);
}

#[test]
fn new_design_finishes_every_video_without_losses() {
    let cfg = Config::reliable();
    let run = explore("reliable", cfg.clone(), &[]);
    assert_holds(&run, &cfg, &[CAN_FINISH, CAN_FINISH_LATER, CAN_REFUSE_PUT]);
}

#[test]
fn the_model_is_not_vacuous() {
    // Stops as soon as every example is found, and shows them.
    let run = explore("examples", Config::lossy(), &EXAMPLES);
    for name in EXAMPLES {
        let path = run
            .found(name)
            .unwrap_or_else(|| panic!("no example of \"{name}\""));
        println!("example of \"{name}\":\n{path}");
    }
}

#[test]
fn new_design_holds_with_a_long_lease() {
    // A lease long enough that a holder can heartbeat more than `margin + 1` ticks after its
    // last applied heartbeat: late heartbeats then land after a claimer read the lease as
    // lapsed (the claim's `lease_expires < :cutoff` refuses them; the abandon's `rev` alone
    // does not, and "never given up while a holder acts" shows why that is safe).
    let cfg = Config {
        lease: 6,
        max_time: 7,
        max_attempts: 1,
        losses: false,
        offsets: vec![1],
        ..Config::lossy()
    };
    let run = explore("long lease", cfg.clone(), &[]);
    assert_holds(&run, &cfg, &[CAN_FINISH, CAN_ABANDON, CAN_REFUSE_HEARTBEAT]);
}
