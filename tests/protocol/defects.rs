//! The old design, one defect at a time: each must be found as a counterexample to the
//! property it breaks, and the same scenario under the new design must hold.

use crate::check::assert_defect;
use crate::config::{Config, Old};
use crate::properties::*;

#[test]
fn unconditional_master_put_publishes_a_stale_master() {
    // One claim's PUT is held in the network while its holder stalls; the next holder
    // publishes, completes and deletes the old renditions; then the held PUT lands.
    let cfg = Config {
        losses: false,
        heartbeats_in_flight: 0,
        max_time: 4,
        ..Config::lossy()
    };
    let old = Old {
        unconditional_master_put: true,
        ..Old::default()
    };
    assert_defect("unconditional_master_put", cfg, old, MASTER_SOUND);
}

#[test]
fn reentry_behind_backlog_starves_a_reentered_video() {
    // One worker, four fresh videos; the first stalls and is released behind the other three.
    let old = Old {
        reentry_behind_backlog: true,
        ..Old::default()
    };
    assert_defect(
        "reentry_behind_backlog",
        Config::backlog(),
        old,
        REENTRY_WAIT,
    );
}

#[test]
fn lost_race_is_empty_backs_off_with_work_waiting() {
    // Two workers read the same head of a two-video queue; the loser backs off.
    let old = Old {
        lost_race_is_empty: true,
        ..Old::default()
    };
    assert_defect("lost_race_is_empty", Config::race(), old, NO_IDLE_BACKOFF);
}

#[test]
fn heartbeat_may_shorten_lets_two_holders_act() {
    // An older heartbeat delivered after a newer one pulls the lease back below the holder's
    // local deadline; a taker whose clock is ahead (within budget) claims in between.
    let cfg = Config {
        losses: false,
        offsets: vec![1],
        ..Config::lossy()
    };
    let old = Old {
        heartbeat_may_shorten: true,
        ..Old::default()
    };
    assert_defect("heartbeat_may_shorten", cfg, old, ONE_HOLDER);
}

#[test]
fn release_returns_attempt_retries_forever() {
    // A holder that stalls every time gets its attempt back every time.
    let cfg = Config {
        losses: false,
        heartbeats_in_flight: 0,
        max_time: 4,
        max_attempts: 1,
        ..Config::lossy()
    };
    let old = Old {
        release_returns_attempt: true,
        ..Old::default()
    };
    assert_defect("release_returns_attempt", cfg, old, ATTEMPTS_BOUNDED);
}

#[test]
fn backlog_scans_index_costs_a_read_per_video() {
    let old = Old {
        backlog_scans_index: true,
        ..Old::default()
    };
    assert_defect("backlog_scans_index", Config::scaler(), old, COUNT_O1);
}

#[test]
fn skew_beyond_budget_and_margin_lets_two_holders_act() {
    // Negative control for the timing argument: mutual exclusion survives clocks that differ
    // by skew + margin + 1 tick (the margin is slack, and "acts while now < deadline" against
    // "takes when expiry < wall - skew" leaves one tick in discrete time); one tick more and a
    // taker claims while the holder still acts. So the check above can fail.
    let cfg = Config {
        losses: false,
        heartbeats_in_flight: 0,
        ..Config::lossy()
    };
    let limit = cfg.skew + cfg.margin + 1;
    let at_limit = Config {
        offsets: vec![-limit, limit],
        ..cfg.clone()
    };
    let run = crate::check::explore("skew at the limit", at_limit, &[]);
    assert!(
        run.found(ONE_HOLDER).is_none(),
        "{}",
        run.found(ONE_HOLDER).unwrap()
    );
    let beyond = Config {
        offsets: vec![limit + 1],
        ..cfg
    };
    let run = crate::check::explore("skew beyond the limit", beyond, &[ONE_HOLDER]);
    let path = run.found(ONE_HOLDER).expect("a counterexample");
    println!("counterexample to \"{ONE_HOLDER}\":\n{path}");
}

#[test]
fn failed_attempt_deleting_its_uploads_breaks_a_late_master() {
    // Not an old-design flag: what `src/worker/leftovers.rs` documents today. A holder's PUT
    // times out (held in the network), the attempt fails and deletes its own renditions "as no
    // master points at them"; then the PUT lands: nothing newer changed the master, so its
    // precondition holds, and the master points at deleted renditions.
    let cfg = Config {
        workers: 1,
        max_time: 2,
        offsets: vec![0],
        losses: false,
        failures: true,
        heartbeats_in_flight: 0,
        ..Config::lossy()
    };
    let old = Old {
        failed_attempt_deletes_uploads: true,
        ..Old::default()
    };
    assert_defect("failed_attempt_deletes_uploads", cfg, old, MASTER_SOUND);
}
