//! The global state: the table, S3, the network, the workers, and a few ghost variables that
//! only the properties read.

use crate::config::{Config, Time};

/// A fencing token: grows by one on every claim.
pub type Token = u8;

/// `VideoState` of the table item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Pending,
    InProgress,
    Done,
    Failed,
}

/// Which index lane a video is found through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    /// Never claimed.
    Fresh,
    /// Retried, released or orphaned (held, waiting for its lease to lapse).
    Reentry,
}

/// The table item of one video.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Item {
    pub status: Status,
    /// Compare-and-swap version: bumped by every write except heartbeats.
    pub rev: u8,
    pub token: Token,
    pub holder: Option<u8>,
    /// Wall time; meaningful while in progress.
    pub lease_expires: Time,
    pub attempts: u8,
    pub lapsed: u8,
    /// Wall time from which a pending video may be claimed.
    pub ready_at: Time,
    pub lane: Lane,
    pub done_token: Option<Token>,
}

/// `master.m3u8` in S3. Its ETag is the MD5 of its body, which names the renditions of one
/// token: two masters of the same token have the same ETag, so the ETag *is* the token here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Master {
    pub token: Token,
}

/// Everything about one video.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Video {
    pub item: Item,
    pub master: Option<Master>,
    /// Tokens whose renditions exist in S3, one bit each.
    pub renditions: u16,
    /// Ghost: the newest token any master PUT ever published.
    pub max_published: Token,
    /// Ghost: claims of other videos made while this re-entered video was claimable.
    pub waited: Option<u8>,
    /// Ghost: attempts given back by shutdown releases.
    pub given_back: u8,
}

/// A request in flight. Conditions are evaluated when it is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Msg {
    /// `SET lease_expires = :exp` if held by `w` with `token` (and not shorter).
    Heartbeat {
        w: u8,
        v: u8,
        token: Token,
        exp: Time,
        sent: Time,
    },
    /// The master PUT, `If-Match: <token>` or `If-None-Match: *` when `expect` is `None`.
    Put {
        w: u8,
        v: u8,
        token: Token,
        expect: Option<Token>,
    },
    /// `SET state = done` if held.
    Complete { w: u8, v: u8, token: Token },
    /// Back to pending if held. `stalled`: after a self-fence (keeps the attempt, lapsed + 1);
    /// otherwise a shutdown (gives the attempt back).
    Release {
        w: u8,
        v: u8,
        token: Token,
        ready_at: Time,
        stalled: bool,
    },
    /// A transient failure: back to pending at `ready_at`, or failed when attempts are used up.
    Fail {
        w: u8,
        v: u8,
        token: Token,
        ready_at: Time,
    },
}

/// Where a holder is in one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Transcoding; next, upload the renditions and publish.
    Working,
    /// Master PUT in flight; `prev` is the token the HEAD saw.
    PutSent { prev: Option<Token> },
    /// Master published.
    Published { prev: Option<Token> },
    /// Complete in flight.
    CompleteSent { prev: Option<Token> },
}

/// A worker's lease on one video, as the worker knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hold {
    pub v: u8,
    pub token: Token,
    /// Monotonic: the holder acts only while `now < deadline`.
    pub deadline: Time,
    pub last_heartbeat: Time,
    pub stage: Stage,
}

/// What a worker is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    Idle,
    BackedOff {
        until: Time,
    },
    /// Read the item (version `rev`) and is about to compare-and-swap it.
    Read {
        v: u8,
        rev: u8,
        exhausted: bool,
    },
    Holding(Hold),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Worker {
    /// Wall clock = real time + offset.
    pub offset: Time,
    pub phase: Phase,
    /// Claims won, mod 4: every fourth claim looks at the fresh lane first.
    pub claims: u8,
}

/// Ghost flags set by transitions, read by properties.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// A heartbeat moved some token's `lease_expires` backwards.
    pub lease_shrunk: bool,
    /// A worker backed off while a video was claimable by its clock.
    pub backed_off_while_claimable: bool,
    /// A video was given up while a holder was acting on it.
    pub abandoned_held: bool,
    /// `Complete` was applied with a token other than the table's.
    pub stale_done: bool,
    /// Sanity: a master PUT was refused by its precondition.
    pub put_refused: bool,
    /// Sanity: a late heartbeat was refused because a newer one had gone further.
    pub late_heartbeat_refused: bool,
    /// Reads the scaler's backlog count cost, once it ran.
    pub scaler_reads: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub now: Time,
    pub videos: Vec<Video>,
    pub workers: Vec<Worker>,
    /// In flight, kept sorted: a multiset.
    pub net: Vec<Msg>,
    pub crashes: u8,
    pub shutdowns: u8,
    pub ghost: Ghost,
}

impl State {
    pub fn initial(cfg: &Config, offset: Time) -> Self {
        let item = Item {
            status: Status::Pending,
            rev: 1,
            token: 0,
            holder: None,
            lease_expires: 0,
            attempts: 0,
            lapsed: 0,
            ready_at: 0,
            lane: Lane::Fresh,
            done_token: None,
        };
        let video = Video {
            item,
            master: None,
            renditions: 0,
            max_published: 0,
            waited: None,
            given_back: 0,
        };
        let worker = |i: u8| Worker {
            offset: if i == 1 { offset } else { 0 },
            phase: Phase::Idle,
            claims: 0,
        };
        Self {
            now: 0,
            videos: vec![video; usize::from(cfg.videos)],
            workers: (0..cfg.workers).map(worker).collect(),
            net: Vec::new(),
            crashes: cfg.crashes,
            shutdowns: cfg.shutdowns,
            ghost: Ghost::default(),
        }
    }

    /// Worker `w`'s wall clock.
    pub fn wall(&self, w: u8) -> Time {
        self.now + self.workers[usize::from(w)].offset
    }

    /// The lease of worker `w` while it may act on it (its local deadline not reached).
    pub fn acting(&self, w: u8) -> Option<Hold> {
        match self.workers[usize::from(w)].phase {
            Phase::Holding(h) if self.now < h.deadline => Some(h),
            _ => None,
        }
    }

    pub fn send(&mut self, m: Msg) {
        let at = self.net.binary_search(&m).unwrap_or_else(|i| i);
        self.net.insert(at, m);
    }

    pub fn item(&mut self, v: u8) -> &mut Item {
        &mut self.videos[usize::from(v)].item
    }
}

/// Whether a claimer whose wall clock reads `wall` may claim `item` (what `decide` calls
/// `Claim` or `Exhausted`).
pub fn claimable(cfg: &Config, item: &Item, wall: Time) -> bool {
    match item.status {
        Status::Pending => item.ready_at <= wall,
        Status::InProgress => item.lease_expires < wall - cfg.skew,
        Status::Done | Status::Failed => false,
    }
}

/// The index sort key of an open video.
fn ready_key(cfg: &Config, item: &Item) -> Time {
    match item.status {
        Status::InProgress => item.lease_expires + cfg.skew,
        _ => item.ready_at,
    }
}

/// The videos worker `w`'s next claim reads: the oldest claimable ones of the first lane that
/// has any (re-entries first, except every fourth claim), ties left to chance.
pub fn candidates(cfg: &Config, s: &State, w: u8) -> Vec<u8> {
    let wall = s.wall(w);
    let fresh_first = s.workers[usize::from(w)].claims % 4 == 3;
    let lanes = if fresh_first {
        [Lane::Fresh, Lane::Reentry]
    } else {
        [Lane::Reentry, Lane::Fresh]
    };
    for lane in lanes {
        let open: Vec<(Time, u8)> = (0..cfg.videos)
            .map(|v| (v, &s.videos[usize::from(v)].item))
            .filter(|(_, i)| i.lane == lane && claimable(cfg, i, wall))
            .map(|(v, i)| (ready_key(cfg, i), v))
            .collect();
        if let Some(oldest) = open.iter().map(|(k, _)| *k).min() {
            return open
                .into_iter()
                .filter(|(k, _)| *k == oldest)
                .map(|(_, v)| v)
                .collect();
        }
    }
    Vec::new()
}

/// Whether any video is claimable by worker `w`'s clock.
pub fn anything_claimable(cfg: &Config, s: &State, w: u8) -> bool {
    let wall = s.wall(w);
    s.videos.iter().any(|v| claimable(cfg, &v.item, wall))
}

/// The bit of `token` in a rendition set.
pub fn bit(token: Token) -> u16 {
    1u16 << token.min(15)
}
