//! Requests reaching DynamoDB or S3 (conditions evaluated on arrival) and the answers reaching
//! their senders, or requests lost on the way (the sender times out).

use crate::config::Config;
use crate::state::{bit, Hold, Item, Lane, Master, Msg, Phase, Stage, State, Status, Token};

/// The fencing condition every holder write carries.
fn held(item: &Item, w: u8, token: Token) -> bool {
    item.holder == Some(w) && item.token == token && item.status == Status::InProgress
}

/// Worker `w`'s lease on `v` with `token`, if it still has it and has not fenced itself.
fn still_holding(s: &mut State, w: u8, v: u8, token: Token) -> Option<&mut Hold> {
    let now = s.now;
    match &mut s.workers[usize::from(w)].phase {
        Phase::Holding(h) if h.v == v && h.token == token && now < h.deadline => Some(h),
        _ => None,
    }
}

fn reentry(cfg: &Config) -> Lane {
    if cfg.old.reentry_behind_backlog {
        Lane::Fresh
    } else {
        Lane::Reentry
    }
}

pub fn deliver(cfg: &Config, s: &mut State, m: Msg) {
    match m {
        Msg::Heartbeat {
            w,
            v,
            token,
            exp,
            sent,
        } => {
            let item = s.item(v);
            let ours = held(item, w, token);
            let applied = ours && (cfg.old.heartbeat_may_shorten || item.lease_expires <= exp);
            // Rejected only because a newer heartbeat went further: still ours, and the lease
            // holds at least until `exp`.
            let further = ours && !applied && item.lease_expires > exp;
            let shrunk = applied && exp < item.lease_expires;
            if applied {
                item.lease_expires = exp;
            }
            s.ghost.lease_shrunk |= shrunk;
            s.ghost.late_heartbeat_refused |= further;
            if let Some(h) = still_holding(s, w, v, token) {
                if applied || further {
                    h.deadline = h.deadline.max(cfg.deadline(sent));
                } else if !matches!(h.stage, Stage::CompleteSent { .. }) {
                    // Lease lost: the job is cancelled.
                    s.workers[usize::from(w)].phase = Phase::Idle;
                }
            }
        }
        Msg::Put {
            w,
            v,
            token,
            expect,
        } => {
            let video = &mut s.videos[usize::from(v)];
            let current = video.master.map(|m| m.token);
            let applied = cfg.old.unconditional_master_put || current == expect;
            if applied {
                video.master = Some(Master { token });
                video.max_published = video.max_published.max(token);
            } else {
                s.ghost.put_refused = true;
            }
            if let Some(h) = still_holding(s, w, v, token) {
                if let Stage::PutSent { prev } = h.stage {
                    // Refused: the master changed since the HEAD; look again.
                    h.stage = if applied {
                        Stage::Published { prev }
                    } else {
                        Stage::Working
                    };
                }
            }
        }
        Msg::Complete { w, v, token } => {
            let item = &mut s.videos[usize::from(v)].item;
            let applied = held(item, w, token);
            if applied {
                s.ghost.stale_done |= item.token != token;
                item.status = Status::Done;
                item.done_token = Some(token);
                item.rev += 1;
            }
            // The answer is acted on whatever the local deadline: the video is done, so no
            // other holder can appear; cleaning up is not fenced work.
            let worker = &mut s.workers[usize::from(w)];
            if let Phase::Holding(h) = worker.phase {
                if h.v == v && h.token == token {
                    if let (true, Stage::CompleteSent { prev }) = (applied, h.stage) {
                        let keep = bit(token) | prev.map_or(0, bit);
                        s.videos[usize::from(v)].renditions &= keep;
                    }
                    worker.phase = Phase::Idle;
                }
            }
        }
        Msg::Release {
            w,
            v,
            token,
            ready_at,
            stalled,
        } => {
            let lane = reentry(cfg);
            let video = &mut s.videos[usize::from(v)];
            let item = &mut video.item;
            if held(item, w, token) {
                item.status = Status::Pending;
                item.rev += 1;
                item.ready_at = ready_at;
                item.lane = lane;
                if stalled {
                    item.lapsed += 1;
                    if cfg.old.release_returns_attempt {
                        item.attempts -= 1;
                    }
                } else {
                    item.attempts -= 1;
                    video.given_back += 1;
                }
                video.waited = Some(0);
            }
        }
        Msg::Fail {
            w,
            v,
            token,
            ready_at,
        } => {
            let lane = reentry(cfg);
            let video = &mut s.videos[usize::from(v)];
            let item = &mut video.item;
            if held(item, w, token) {
                item.rev += 1;
                if item.attempts >= cfg.max_attempts {
                    item.status = Status::Failed;
                } else {
                    item.status = Status::Pending;
                    item.ready_at = ready_at;
                    item.lane = lane;
                    video.waited = Some(0);
                }
            }
        }
    }
}

/// A lost request: the sender of a PUT or `Complete` times out and tries again (from the HEAD,
/// or the `Complete`); heartbeats, releases and failures are not retried.
pub fn lose(s: &mut State, m: Msg) {
    match m {
        Msg::Put { w, v, token, .. } => {
            if let Some(h) = still_holding(s, w, v, token) {
                if let Stage::PutSent { .. } = h.stage {
                    h.stage = Stage::Working;
                }
            }
        }
        Msg::Complete { w, v, token } => {
            if let Some(h) = still_holding(s, w, v, token) {
                if let Stage::CompleteSent { prev } = h.stage {
                    h.stage = Stage::Published { prev };
                }
            }
        }
        Msg::Heartbeat { .. } | Msg::Release { .. } | Msg::Fail { .. } => {}
    }
}
