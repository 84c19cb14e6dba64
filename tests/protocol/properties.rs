//! What must always hold, what must eventually hold, and what must be possible. The tests name
//! properties by these constants.

use crate::config::Config;
use crate::model::Protocol;
use crate::state::{bit, State, Status};
use stateright::Property;

pub const ONE_HOLDER: &str = "at most one holder acts on a video at any real time";
pub const DONE_BY_NEWEST: &str = "done only by the newest token";
pub const MASTER_NEWEST: &str = "the master is only ever the newest published token's";
pub const MASTER_SOUND: &str =
    "published master is the done token's and every rendition it points at exists";
pub const LEASE_MONOTONIC: &str = "lease_expires for a given token never decreases";
pub const ATTEMPTS_BOUNDED: &str =
    "a video's claims are bounded by max_attempts plus shutdown releases";
pub const NO_IDLE_BACKOFF: &str = "no worker backs off while a video is claimable";
pub const REENTRY_WAIT: &str = "a re-entered video waits at most B claims";
pub const NO_ABANDON_HELD: &str = "a video is never given up while a holder acts on it";
pub const COUNT_O1: &str = "backlog count costs at most one read";
pub const ALL_CLOSED: &str = "every video eventually ends done or failed";

pub const CAN_FINISH: &str = "a video can be done";
pub const CAN_FINISH_LATER: &str = "a video can be done by a later token than the first";
pub const CAN_ABANDON: &str = "a video whose leases lapsed can be given up";
pub const CAN_REFUSE_PUT: &str = "a stale master PUT can be refused by its precondition";
pub const CAN_REFUSE_HEARTBEAT: &str = "a late heartbeat can be refused as shorter";

/// Every property that means something under `cfg`.
pub fn all(cfg: &Config) -> Vec<Property<Protocol>> {
    let mut p = vec![
        Property::always(ONE_HOLDER, one_holder),
        Property::always(DONE_BY_NEWEST, |_, s: &State| {
            !s.ghost.stale_done
                && s.videos.iter().all(|v| {
                    v.item.status != Status::Done || v.item.done_token == Some(v.item.token)
                })
        }),
        Property::always(MASTER_NEWEST, |_, s: &State| {
            s.videos
                .iter()
                .all(|v| v.master.is_none_or(|m| m.token == v.max_published))
        }),
        Property::always(MASTER_SOUND, master_sound),
        Property::always(LEASE_MONOTONIC, |_, s: &State| !s.ghost.lease_shrunk),
        Property::always(ATTEMPTS_BOUNDED, |m: &Protocol, s: &State| {
            s.videos
                .iter()
                .all(|v| v.item.token <= m.cfg.max_attempts + v.given_back)
        }),
        Property::always(NO_IDLE_BACKOFF, |_, s: &State| {
            !s.ghost.backed_off_while_claimable
        }),
        Property::always(REENTRY_WAIT, |m: &Protocol, s: &State| {
            s.videos
                .iter()
                .all(|v| v.waited.is_none_or(|n| n <= m.cfg.reentry_wait))
        }),
        Property::always(NO_ABANDON_HELD, |_, s: &State| !s.ghost.abandoned_held),
        Property::always(COUNT_O1, |_, s: &State| {
            s.ghost.scaler_reads.is_none_or(|n| n <= 1)
        }),
        Property::sometimes(CAN_FINISH, |_, s: &State| {
            s.videos.iter().any(|v| v.item.status == Status::Done)
        }),
    ];
    if cfg.liveness {
        p.push(Property::eventually(ALL_CLOSED, |_, s: &State| {
            s.videos
                .iter()
                .all(|v| matches!(v.item.status, Status::Done | Status::Failed))
        }));
    }
    if cfg.workers > 1 {
        p.push(Property::sometimes(CAN_FINISH_LATER, |_, s: &State| {
            s.videos.iter().any(|v| v.item.done_token >= Some(2))
        }));
        p.push(Property::sometimes(CAN_ABANDON, |_, s: &State| {
            s.videos
                .iter()
                .any(|v| v.item.status == Status::Failed && v.item.lapsed > 0)
        }));
        p.push(Property::sometimes(CAN_REFUSE_PUT, |_, s: &State| {
            s.ghost.put_refused
        }));
        p.push(Property::sometimes(CAN_REFUSE_HEARTBEAT, |_, s: &State| {
            s.ghost.late_heartbeat_refused
        }));
    }
    p
}

/// No two workers hold the same video with their local deadlines both still ahead.
fn one_holder(_: &Protocol, s: &State) -> bool {
    let acting: Vec<u8> = (0..s.workers.len())
        .filter_map(|w| s.acting(u8::try_from(w).ok()?))
        .map(|h| h.v)
        .collect();
    acting
        .iter()
        .enumerate()
        .all(|(i, v)| !acting[i + 1..].contains(v))
}

/// A master never points at renditions that were deleted, and a done video's master is the
/// done token's.
fn master_sound(_: &Protocol, s: &State) -> bool {
    s.videos.iter().all(|v| {
        let alive = v.master.is_none_or(|m| v.renditions & bit(m.token) != 0);
        let done_master =
            v.item.status != Status::Done || v.master.map(|m| m.token) == v.item.done_token;
        alive && done_master
    })
}
