//! The rule against traces, minute by minute, on a model of the group: instances boot for a
//! few minutes (protected from scale-in, as the group launches them), then claim videos one
//! per slot; busy instances are protected; the group shrinks by taking unprotected instances
//! and may fail to launch beyond a quota. The same trace also runs under the rule fleet had
//! before (no settling, no step, new instances unprotected and taken first), so each test
//! shows the defect it guards against.

use super::*;
use std::collections::VecDeque;

#[derive(Debug)]
struct Instance {
    boot_left: u32,
    jobs: Vec<u32>,
}

#[derive(Debug, Default)]
#[allow(dead_code)] // printed with `cargo test -- --nocapture`
struct Outcome {
    desired: Vec<u32>,
    changes: u32,
    booting_terminated: u32,
    busy_terminated: u32,
    instance_minutes: u64,
    finished_at: Option<u32>,
    worst_wait: u32,
}

struct Sim {
    policy: ScalePolicy,
    before: bool,
    max: u32,
    boot: u32,
    quota: Option<u32>,
}

impl Sim {
    fn new(max: u32) -> Self {
        Self {
            policy: ScalePolicy::new(2, Duration::from_secs(15 * 60)),
            before: false,
            max,
            boot: 3,
            quota: None,
        }
    }

    fn before(mut self) -> Self {
        self.before = true;
        self.policy.settle = Duration::ZERO;
        self.policy.step = u32::MAX / 4;
        self
    }

    /// Runs `minutes` with `arrivals(t)` giving the lengths (minutes) of the videos seeded at t.
    fn run(&self, minutes: u32, arrivals: impl Fn(u32) -> Vec<u32>) -> Outcome {
        let slots = self.policy.slots_per_instance as usize;
        let mut out = Outcome::default();
        let mut queue: VecDeque<(u32, u32)> = VecDeque::new();
        let mut group: Vec<Instance> = Vec::new();
        let mut desired = 0;
        let mut memory = Memory::default();
        for t in 0..minutes {
            queue.extend(arrivals(t).into_iter().map(|len| (t, len)));
            let running: usize = group.iter().map(|i| i.jobs.len()).sum();
            let protected = group
                .iter()
                .filter(|i| !i.jobs.is_empty() || (!self.before && i.boot_left > 0))
                .count() as u32;
            let d = decide(
                self.policy,
                Observed {
                    open: (queue.len() + running) as u64,
                    paused: false,
                    current: desired,
                    min: 0,
                    max: self.max,
                    existing: group.len() as u32,
                    protected: if self.before { 0 } else { protected },
                    memory,
                    now: i64::from(t) * MIN,
                },
            );
            memory = d.memory;
            if d.desired != desired {
                out.changes += 1;
                desired = d.desired;
            }
            out.desired.push(desired);
            // The group: shrink by unprotected instances (before: booting ones were
            // unprotected, and taken first), grow up to the quota.
            while group.len() > desired as usize {
                let pick = group
                    .iter()
                    .position(|i| self.before && i.boot_left > 0)
                    .or_else(|| {
                        group
                            .iter()
                            .position(|i| i.jobs.is_empty() && i.boot_left == 0)
                    });
                let Some(p) = pick else { break };
                let gone = group.remove(p);
                out.booting_terminated += u32::from(gone.boot_left > 0);
                out.busy_terminated += u32::from(!gone.jobs.is_empty());
                queue.extend(gone.jobs.iter().map(|&left| (t, left)));
            }
            while group.len() < desired as usize
                && self.quota.is_none_or(|q| group.len() < q as usize)
            {
                group.push(Instance {
                    boot_left: self.boot,
                    jobs: Vec::new(),
                });
            }
            // The workers: claim into free slots, then a minute passes.
            for i in group.iter_mut().filter(|i| i.boot_left == 0) {
                while i.jobs.len() < slots {
                    let Some((arrived, len)) = queue.pop_front() else {
                        break;
                    };
                    out.worst_wait = out.worst_wait.max(t - arrived);
                    i.jobs.push(len);
                }
            }
            for i in &mut group {
                if i.boot_left > 0 {
                    i.boot_left -= 1;
                } else {
                    i.jobs.iter_mut().for_each(|j| *j -= 1);
                    i.jobs.retain(|&j| j > 0);
                }
            }
            out.instance_minutes += group.len() as u64;
            if queue.is_empty()
                && group.iter().all(|i| i.jobs.is_empty())
                && out.finished_at.is_none()
                && t > 0
            {
                out.finished_at = Some(t);
            }
        }
        eprintln!(
            "{}: changes {}, peak {}, boots thrown away {}, busy terminated {}, instance-min {}, \
             finished at {:?}, worst wait {} min",
            if self.before { "before" } else { "now" },
            out.changes,
            out.desired.iter().max().unwrap_or(&0),
            out.booting_terminated,
            out.busy_terminated,
            out.instance_minutes,
            out.finished_at,
            out.worst_wait
        );
        out
    }
}

#[test]
fn a_burst_scales_out_in_bounded_steps_and_finishes_about_as_soon() {
    let burst = |t| if t == 0 { vec![20; 400] } else { vec![] };
    let now = Sim::new(100).run(120, burst);
    let before = Sim::new(100).before().run(120, burst);
    assert_eq!(
        &now.desired[..5],
        &[10, 20, 40, 80, 100],
        "{:?}",
        now.desired
    );
    assert_eq!(before.desired[0], 100, "before: straight to max");
    let (a, b) = (now.finished_at.unwrap(), before.finished_at.unwrap());
    assert!(a <= b + 6, "the burst finished at {a} min, {b} before");
    assert_eq!((now.booting_terminated, now.busy_terminated), (0, 0));
}

#[test]
fn a_trickle_does_not_flap() {
    // A 10-minute video every 4 minutes for 3 hours: 2-3 open, 1 or 2 instances' worth.
    let trickle = |t| {
        if t % 4 == 0 && t < 180 {
            vec![10]
        } else {
            vec![]
        }
    };
    let now = Sim::new(20).run(240, trickle);
    let before = Sim::new(20).before().run(240, trickle);
    assert!(
        before.changes >= 20,
        "before: {} changes {:?}",
        before.changes,
        before.desired
    );
    // Up to 1, up to 2, then down to 1 and to 0 once the trickle stops.
    assert!(
        now.changes <= 4,
        "{} changes: {:?}",
        now.changes,
        now.desired
    );
    assert_eq!(*now.desired.last().unwrap(), 0, "zero once idle");
    assert!(
        now.worst_wait <= before.worst_wait,
        "{} vs {}",
        now.worst_wait,
        before.worst_wait
    );
}

#[test]
fn a_drain_shrinks_with_the_backlog_never_taking_a_busy_instance() {
    let drain = |t| {
        if t == 0 {
            (0..60).map(|i| 5 + i % 36).collect()
        } else {
            vec![]
        }
    };
    let now = Sim::new(30).run(180, drain);
    assert_eq!((now.booting_terminated, now.busy_terminated), (0, 0));
    let peak = *now.desired.iter().max().unwrap();
    assert_eq!(peak, 30);
    let shrinks: Vec<_> = now.desired.windows(2).filter(|w| w[1] < w[0]).collect();
    assert!(shrinks.len() >= 2, "stepwise: {:?}", now.desired);
    let done = now.finished_at.unwrap() as usize;
    assert!(
        now.desired[done..].contains(&0),
        "to zero after the idle period"
    );
    assert!(
        now.desired[done..done + 14].iter().all(|&d| d > 0),
        "not before it"
    );
}

#[test]
fn scale_in_leaves_booting_instances_alone() {
    // Two long videos and a wave of 18 short ones on 10 instances; a second wave arrives as
    // the first ends, the first ten absorb it before the new ten boot, and the need falls
    // back to one instance while they still boot.
    let waves = |t| match t {
        0 => [vec![100; 2], vec![12; 18]].concat(),
        13 => vec![1; 20],
        _ => vec![],
    };
    let mut sim = Sim::new(40);
    sim.boot = 5;
    let now = sim.run(60, waves);
    let mut before = Sim::new(40).before();
    before.boot = 5;
    let before = before.run(60, waves);
    assert!(
        before.booting_terminated >= 5,
        "before: {} boots thrown away, {:?}",
        before.booting_terminated,
        before.desired
    );
    assert_eq!((now.booting_terminated, now.busy_terminated), (0, 0));
}

#[test]
fn a_quota_error_keeps_the_ask_near_what_runs() {
    let big = |t| if t == 0 { vec![30; 1_000] } else { vec![] };
    let mut sim = Sim::new(100);
    sim.quota = Some(8);
    let now = sim.run(60, big);
    let mut before = Sim::new(100).before();
    before.quota = Some(8);
    let before = before.run(60, big);
    assert_eq!(*before.desired.iter().max().unwrap(), 100);
    assert!(
        now.desired.iter().all(|&d| d <= 8 + 10),
        "{:?}",
        now.desired
    );
}
