//! `stateright::Model` for the protocol: which actions each state allows, and the state each
//! leads to. The transitions themselves are in `worker.rs` (what a worker does) and `net.rs`
//! (what a delivered or lost request does).

use crate::config::{Config, Time};
use crate::state::{anything_claimable, candidates, Phase, Stage, State, Status};
use stateright::{Model, Property};

/// One step of the system. `w` is a worker, `v` a video, `i` a request in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Real time advances one tick.
    Tick,
    /// An idle worker reads a candidate the index offers.
    Read { w: u8, v: u8 },
    /// An idle worker finds nothing claimable and backs off.
    Empty { w: u8 },
    /// A worker that read an item sends its compare-and-swap (claim, or abandon).
    Swap { w: u8 },
    /// A backed-off worker's pause is over.
    Wake { w: u8 },
    /// The holder uploads its renditions, HEADs the master and sends the PUT (or gives up on a
    /// newer master).
    Publish { w: u8 },
    /// The holder sends `Complete`.
    Complete { w: u8 },
    /// The holder sends a heartbeat.
    Heartbeat { w: u8 },
    /// The holder fails the job transiently (before publishing, or when its PUT times out).
    Fail { w: u8 },
    /// The holder, past its local deadline, stops and sends a release (stalled).
    SelfFence { w: u8 },
    /// The worker shuts down and releases its lease, giving the attempt back.
    Shutdown { w: u8 },
    /// The worker crashes and restarts with nothing.
    Crash { w: u8 },
    /// Request `i` reaches DynamoDB or S3.
    Deliver { i: usize },
    /// Request `i` is lost.
    Lose { i: usize },
    /// The scaler counts the backlog.
    Count,
}

/// The protocol under one configuration.
pub struct Protocol {
    pub cfg: Config,
}

impl Model for Protocol {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let offsets: &[Time] = if self.cfg.workers > 1 {
            &self.cfg.offsets
        } else {
            &[0]
        };
        offsets
            .iter()
            .map(|&o| State::initial(&self.cfg, o))
            .collect()
    }

    fn actions(&self, s: &State, out: &mut Vec<Action>) {
        let cfg = &self.cfg;
        let all_closed = s
            .videos
            .iter()
            .all(|v| matches!(v.item.status, Status::Done | Status::Failed));
        // Once every video is closed time no longer matters: a stale holder that does not
        // fence itself can do everything one that does can, and more.
        if s.now < cfg.max_time && !all_closed {
            out.push(Action::Tick);
        }
        for w in 0..cfg.workers {
            let worker = &s.workers[usize::from(w)];
            match worker.phase {
                Phase::Idle => {
                    let found = candidates(cfg, s, w);
                    if found.is_empty() && !all_closed && cfg.backoffs {
                        out.push(Action::Empty { w });
                    }
                    out.extend(found.into_iter().map(|v| Action::Read { w, v }));
                }
                // At the horizon a pause ends anyway: time goes on for it, though no lease
                // lapses any more; otherwise the end of the model would look like starvation.
                Phase::BackedOff { until } if s.now >= until.min(cfg.max_time) => {
                    out.push(Action::Wake { w })
                }
                Phase::BackedOff { .. } => {}
                Phase::Read { .. } => out.push(Action::Swap { w }),
                Phase::Holding(h) if s.now >= h.deadline => out.push(Action::SelfFence { w }),
                Phase::Holding(h) => {
                    match h.stage {
                        Stage::Working => out.push(Action::Publish { w }),
                        Stage::Published { .. } => out.push(Action::Complete { w }),
                        Stage::PutSent { .. } | Stage::CompleteSent { .. } => {}
                    }
                    let beating = s
                        .net
                        .iter()
                        .filter(|m| matches!(m, crate::state::Msg::Heartbeat { .. }))
                        .count();
                    let finishing = matches!(h.stage, Stage::CompleteSent { .. });
                    if !finishing && h.last_heartbeat < s.now && beating < cfg.heartbeats_in_flight
                    {
                        out.push(Action::Heartbeat { w });
                    }
                    if cfg.failures && matches!(h.stage, Stage::Working | Stage::PutSent { .. }) {
                        out.push(Action::Fail { w });
                    }
                    if s.shutdowns > 0 {
                        out.push(Action::Shutdown { w });
                    }
                }
            }
            if s.crashes > 0 && worker.phase != Phase::Idle {
                out.push(Action::Crash { w });
            }
        }
        for i in 0..s.net.len() {
            if i > 0 && s.net[i] == s.net[i - 1] {
                continue;
            }
            out.push(Action::Deliver { i });
            if cfg.losses {
                out.push(Action::Lose { i });
            }
        }
        if cfg.scaler && s.ghost.scaler_reads.is_none() {
            out.push(Action::Count);
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let cfg = &self.cfg;
        let mut s = last.clone();
        match action {
            Action::Tick => s.now += 1,
            Action::Read { w, v } => crate::worker::read(cfg, &mut s, w, v),
            Action::Empty { w } => {
                s.ghost.backed_off_while_claimable |= anything_claimable(cfg, &s, w);
                s.workers[usize::from(w)].phase = Phase::BackedOff {
                    until: s.now + cfg.backoff,
                };
            }
            Action::Swap { w } => crate::worker::swap(cfg, &mut s, w),
            Action::Wake { w } => s.workers[usize::from(w)].phase = Phase::Idle,
            Action::Publish { w } => crate::worker::publish(cfg, &mut s, w),
            Action::Complete { w } => crate::worker::complete(&mut s, w),
            Action::Heartbeat { w } => crate::worker::heartbeat(cfg, &mut s, w),
            Action::Fail { w } => crate::worker::fail(cfg, &mut s, w),
            Action::SelfFence { w } => crate::worker::release(&mut s, w, true),
            Action::Shutdown { w } => {
                s.shutdowns -= 1;
                crate::worker::release(&mut s, w, false);
            }
            Action::Crash { w } => {
                s.crashes -= 1;
                s.workers[usize::from(w)].phase = Phase::Idle;
            }
            Action::Deliver { i } => {
                let m = s.net.remove(i);
                crate::net::deliver(cfg, &mut s, m);
            }
            Action::Lose { i } => {
                let m = s.net.remove(i);
                crate::net::lose(&mut s, m);
            }
            Action::Count => {
                let open = s
                    .videos
                    .iter()
                    .filter(|v| matches!(v.item.status, Status::Pending | Status::InProgress))
                    .count();
                let reads = if cfg.old.backlog_scans_index {
                    open.max(1)
                } else {
                    1
                };
                s.ghost.scaler_reads = Some(u8::try_from(reads).unwrap_or(u8::MAX));
            }
        }
        (s != *last).then_some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        crate::properties::all(&self.cfg)
    }
}
