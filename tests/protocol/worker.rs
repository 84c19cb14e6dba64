//! What a worker does: claim (read, then compare-and-swap), and as a holder publish, complete,
//! heartbeat, fail, release. Everything a holder sends goes into the network; the
//! claim's compare-and-swap is applied when sent (its timing is measured from the send, so a
//! delay could only make it more conservative).

use crate::config::Config;
use crate::state::{anything_claimable, bit, Hold, Lane, Msg, Phase, Stage, State, Status};

/// The idle worker `w` reads video `v`'s item (consistently) and decides to claim it or, its
/// attempts being used up, to give it up.
pub fn read(cfg: &Config, s: &mut State, w: u8, v: u8) {
    let item = &s.videos[usize::from(v)].item;
    let exhausted = item.attempts >= cfg.max_attempts;
    let rev = item.rev;
    s.workers[usize::from(w)].phase = Phase::Read { v, rev, exhausted };
}

/// The compare-and-swap: a claim conditioned on `rev` and on the video being pending or its
/// lease lapsed by the claimer's clock less the skew budget; or an abandon conditioned on `rev`
/// alone, as `abandon` in the store does (heartbeats do not bump `rev`, so a late heartbeat
/// landing between the read and the abandon does not stop it: the property "never given up
/// while a holder acts" shows that holder has already fenced itself).
pub fn swap(cfg: &Config, s: &mut State, w: u8) {
    let Phase::Read { v, rev, exhausted } = s.workers[usize::from(w)].phase else {
        return;
    };
    let wall = s.wall(w);
    let now = s.now;
    let item = s.item(v);
    let pending = item.status == Status::Pending;
    let lapsed = item.status == Status::InProgress && item.lease_expires < wall - cfg.skew;
    if exhausted {
        if item.rev == rev {
            s.ghost.abandoned_held |=
                (0..cfg.workers).any(|o| s.acting(o).is_some_and(|h| h.v == v));
            let item = s.item(v);
            item.lapsed += u8::from(item.status == Status::InProgress);
            item.status = Status::Failed;
            item.rev += 1;
        }
        s.workers[usize::from(w)].phase = Phase::Idle;
        return;
    }
    if item.rev != rev || !(pending || lapsed) {
        // Lost the race: `Contended`, so the worker reads again at once; the old design
        // reported it as `Empty` and backed off.
        let worker = &mut s.workers[usize::from(w)];
        worker.phase = Phase::Idle;
        if cfg.old.lost_race_is_empty {
            worker.phase = Phase::BackedOff {
                until: now + cfg.backoff,
            };
            s.ghost.backed_off_while_claimable |= anything_claimable(cfg, s, w);
        }
        return;
    }
    item.lapsed += u8::from(lapsed);
    item.status = Status::InProgress;
    item.rev += 1;
    item.token += 1;
    item.attempts += 1;
    item.holder = Some(w);
    item.lease_expires = wall + cfg.lease;
    item.lane = if cfg.old.reentry_behind_backlog {
        Lane::Fresh
    } else {
        Lane::Reentry
    };
    let token = item.token;
    count_wait(cfg, s, w, v);
    let worker = &mut s.workers[usize::from(w)];
    worker.claims = (worker.claims + 1) % 4;
    worker.phase = Phase::Holding(Hold {
        v,
        token,
        deadline: cfg.deadline(now),
        last_heartbeat: now,
        stage: Stage::Working,
    });
}

/// Ghost bookkeeping for "a re-entered video waits at most B claims": a claim of `won` passes
/// over every other re-entered video claimable by the claimer's clock.
fn count_wait(cfg: &Config, s: &mut State, w: u8, won: u8) {
    let wall = s.wall(w);
    for (v, video) in s.videos.iter_mut().enumerate() {
        if usize::from(won) == v {
            video.waited = None;
        } else if let Some(n) = video.waited {
            if crate::state::claimable(cfg, &video.item, wall) {
                video.waited = Some((n + 1).min(cfg.reentry_wait + 1));
            }
        }
    }
}

fn hold(s: &mut State, w: u8) -> &mut Hold {
    match &mut s.workers[usize::from(w)].phase {
        Phase::Holding(h) => h,
        _ => unreachable!("only holders act"),
    }
}

/// Upload the renditions under the token's own prefix, then HEAD the master: a newer token's master means someone else finished, so give up; else PUT
/// conditioned on the ETag read (`If-None-Match: *` when there is none). The old design sent
/// the PUT without looking.
pub fn publish(cfg: &Config, s: &mut State, w: u8) {
    let h = *hold(s, w);
    s.videos[usize::from(h.v)].renditions |= bit(h.token);
    let master = s.videos[usize::from(h.v)].master;
    let prev = master.map(|m| m.token);
    if !cfg.old.unconditional_master_put && prev.is_some_and(|t| t > h.token) {
        s.workers[usize::from(w)].phase = Phase::Idle;
        return;
    }
    hold(s, w).stage = Stage::PutSent { prev };
    s.send(Msg::Put {
        w,
        v: h.v,
        token: h.token,
        expect: prev,
    });
}

pub fn complete(s: &mut State, w: u8) {
    let h = hold(s, w);
    let Stage::Published { prev } = h.stage else {
        return;
    };
    h.stage = Stage::CompleteSent { prev };
    let (v, token) = (h.v, h.token);
    s.send(Msg::Complete { w, v, token });
}

/// `SET lease_expires = wall + lease`; the deadline moves only when it is confirmed.
pub fn heartbeat(cfg: &Config, s: &mut State, w: u8) {
    let (now, wall) = (s.now, s.wall(w));
    let h = hold(s, w);
    h.last_heartbeat = now;
    let (v, token) = (h.v, h.token);
    s.send(Msg::Heartbeat {
        w,
        v,
        token,
        exp: wall + cfg.lease,
        sent: now,
    });
}

/// A transient failure (also a PUT that timed out, though it may still land): the job stops,
/// the video is retried one tick later.
pub fn fail(cfg: &Config, s: &mut State, w: u8) {
    let wall = s.wall(w);
    let h = *hold(s, w);
    if cfg.old.failed_attempt_deletes_uploads {
        s.videos[usize::from(h.v)].renditions &= !bit(h.token);
    }
    s.workers[usize::from(w)].phase = Phase::Idle;
    s.send(Msg::Fail {
        w,
        v: h.v,
        token: h.token,
        ready_at: wall + 1,
    });
}

/// Stop and give the video back: `stalled` after the local deadline passed, otherwise at
/// shutdown.
pub fn release(s: &mut State, w: u8, stalled: bool) {
    let wall = s.wall(w);
    let h = *hold(s, w);
    s.workers[usize::from(w)].phase = Phase::Idle;
    s.send(Msg::Release {
        w,
        v: h.v,
        token: h.token,
        ready_at: wall,
        stalled,
    });
}
