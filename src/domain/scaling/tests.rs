use super::*;

const MIN: i64 = 60_000;

fn policy() -> ScalePolicy {
    ScalePolicy::new(2, Duration::from_secs(15 * 60))
}

fn seen(open: u64, current: u32) -> Observed {
    Observed {
        open,
        paused: false,
        current,
        min: 0,
        max: 20,
        existing: current,
        protected: 0,
        memory: Memory::default(),
        now: 1_000 * MIN,
    }
}

#[test]
fn a_seed_scales_out_from_zero_at_once_to_a_slot_per_video() {
    assert_eq!(decide(policy(), seen(1, 0)).desired, 1);
    assert_eq!(decide(policy(), seen(7, 0)).desired, 4);
    assert_eq!(decide(policy(), seen(8, 2)).desired, 4);
}

#[test]
fn the_group_maximum_caps_a_large_backlog() {
    let mut o = seen(50_000, 15);
    o.max = 20;
    let d = decide(policy(), o);
    assert_eq!((d.desired, d.wanted), (20, 25_000));
}

#[test]
fn a_step_adds_at_most_ten_or_doubles_what_exists() {
    let mut o = seen(50_000, 0);
    o.max = 1_000;
    assert_eq!(decide(policy(), o).desired, 10, "from zero: the step");
    o.current = 10;
    o.existing = 10;
    assert_eq!(decide(policy(), o).desired, 20);
    o.current = 40;
    o.existing = 40;
    assert_eq!(decide(policy(), o).desired, 80, "doubling");
    o.current = 80;
    o.existing = 12;
    assert_eq!(
        decide(policy(), o).desired,
        24,
        "launches failing: the ask comes back to what runs"
    );
}

#[test]
fn a_shrinking_backlog_scales_in_only_after_the_settling_window() {
    let mut o = seen(3, 10);
    let first = decide(policy(), o);
    assert_eq!(first.desired, 10, "not at once");
    assert_eq!(first.memory.low, Some((o.now, 2)));
    o.memory = first.memory;
    o.now += 4 * MIN;
    o.open = 1;
    assert_eq!(decide(policy(), o).desired, 10, "4 of 5 minutes");
    o.now += MIN;
    let d = decide(policy(), o);
    assert_eq!(d.desired, 2, "the largest need of the window");
    assert_eq!(d.memory.low, None);
}

#[test]
fn scale_in_never_goes_below_the_protected_instances() {
    let mut o = seen(3, 10);
    o.protected = 6;
    o.memory.low = Some((o.now - 5 * MIN, 2));
    assert_eq!(decide(policy(), o).desired, 6);
}

#[test]
fn a_need_back_at_the_current_size_restarts_the_window() {
    let mut o = seen(4, 2);
    o.memory.low = Some((o.now - 4 * MIN, 1));
    let d = decide(policy(), o);
    assert_eq!((d.desired, d.memory.low), (2, None));
}

#[test]
fn an_empty_backlog_waits_out_the_idle_period_before_zero() {
    let first = decide(policy(), seen(0, 3));
    assert_eq!(first.desired, 3);
    assert_eq!(first.memory.idle_since, Some(1_000 * MIN));
    let mut later = seen(0, 3);
    later.memory = first.memory;
    later.now += 14 * MIN;
    assert_eq!(decide(policy(), later).desired, 3, "14 of 15 minutes");
    later.now += MIN;
    assert_eq!(decide(policy(), later).desired, 0, "15 minutes idle");
}

#[test]
fn work_arriving_resets_the_idle_clock() {
    let mut o = seen(2, 3);
    o.memory.idle_since = Some(o.now - 60 * MIN);
    let d = decide(policy(), o);
    assert_eq!(d.desired, 3, "1 wanted, but only after settling");
    assert_eq!(d.memory.idle_since, None);
}

#[test]
fn the_group_minimum_is_respected_even_when_idle() {
    let mut o = seen(0, 3);
    o.min = 1;
    o.memory.idle_since = Some(o.now - 60 * MIN);
    assert_eq!(decide(policy(), o).desired, 1);
}

#[test]
fn a_paused_fleet_needs_no_instances_after_the_idle_period() {
    let mut o = seen(500, 4);
    o.paused = true;
    assert_eq!(decide(policy(), o).desired, 4, "not at once");
    o.memory.idle_since = Some(o.now - 15 * MIN);
    assert_eq!(decide(policy(), o).desired, 0);
}

mod traces;
