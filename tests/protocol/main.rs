//! A model of the claim protocol, checked exhaustively with `stateright` (breadth-first, every
//! reachable state up to a time bound).
//!
//! # What is modelled
//! - **The table item** of each video: state, `rev` (compare-and-swap version, not bumped by
//!   heartbeats), fencing `token`, holder, `lease_expires` (wall), attempts, lapsed, `ready_at`,
//!   lane (fresh / re-entry), done token.
//! - **Time**: a global real-time counter advanced by `Tick`; worker 1's wall clock is offset
//!   from worker 0's (every offset in `Config::offsets`, one initial state each); local
//!   deadlines are monotonic: `send + lease - margin`, measured before sending.
//! - **Claims**: read (from the first lane with a claimable video, re-entries first except
//!   every fourth claim; the oldest `ready_at`, ties left to chance), then a compare-and-swap
//!   on `rev` that rechecks "pending, or `lease_expires < wall - skew`"; a takeover counts
//!   lapsed + 1; used-up attempts make it an abandon (conditioned on `rev`, as the store does).
//!   Outcomes Won / Contended (read again) / Empty (back off).
//! - **Holders**: act only while `now < deadline`; heartbeat (never shortens), publish (upload
//!   renditions under the token, HEAD the master, give up on a newer token, PUT with
//!   `If-Match`/`If-None-Match`), complete, then delete every rendition but its own and the
//!   previous master's; past the deadline, self-fence and release (stalled: attempt kept).
//! - **The network**: heartbeats, PUTs, completes, releases and failures travel as requests
//!   that are delivered in any order at any later step (conditions evaluated on arrival), or
//!   lost (the sender of a PUT or complete times out and tries again).
//! - **Faults**: crashes (the worker forgets its lease), shutdown releases (attempt given back),
//!   transient failures (retried one tick later, or failed when attempts are used up).
//! - **The scaler's** backlog count, by the reads it costs.
//!
//! # What is abstracted away
//! - S3 eventual consistency: S3 is strongly consistent since December 2020. Multipart
//!   uploads, rendition upload races and the sharded index (one index, read consistently) are
//!   not modelled; the claim's own write is applied when sent (its timing is measured from the
//!   send, so delaying it could only make it more conservative).
//! - A request applied whose answer is lost (the store's read-back and "already ours"
//!   branches), throttling and the `Error` claim outcome, ffmpeg, progress, events.
//! - An idle worker that found nothing is modelled as staying idle except where pauses matter
//!   (the liveness and lost-race checks): idle may claim at any later step, so it covers every
//!   pause. At the time bound, pauses end (no lease lapses any more).
//! - The master's ETag is its token: its body names one token's renditions.
//! - `eventually` is checked on terminal states only, and stateright may miss a counterexample
//!   whose path joins an explored state (a false negative, never a false alarm).
//!
//! # Bounds and results
//! Ticks: lease 4, margin 1, skew budget 1, worker 1's clock −1 or +1; at most 2 heartbeats in
//! flight. States are distinct states explored. Debug build, one checker thread per test, on
//! 2 shared cores: the largest test (lossy) takes 3 s on a quiet machine and up to 18 s on a
//! busy one; the whole target 6–40 s.
//!
//! | test | workers × videos, time | faults | states |
//! |---|---|---|---|
//! | `new_design_holds_on_a_lossy_network` | 2 × 1, 6 | delays, losses | 254,468 |
//! | `new_design_holds_with_crashes_shutdowns_and_failures` | 2 × 1, 5 | crash, failures; then a shutdown | 74,537 + 98,990 |
//! | `new_design_finishes_every_video_without_losses` | 2 × 1, 5 | delays, pauses; `eventually` | 170,931 |
//! | `new_design_holds_with_a_long_lease` | 2 × 1, 7, lease 6 | delays | 38,332 |
//! | `the_model_is_not_vacuous` (stops once every example is found) | 2 × 1, 6 | as lossy | 88,743 |
//! | each defect, old design (stops at the counterexample) | see `defects.rs` | | 207 – 44,325 |
//! | each defect, same scenario, new design | | | 158 – 110,326 |
//!
//! The timing argument is tight in the model: clocks that differ by skew + margin + 1 tick
//! keep one holder at a time (13,534 states), one tick more does not (negative control).

mod cases;
mod check;
mod config;
mod defects;
mod model;
mod net;
mod properties;
mod state;
mod worker;
