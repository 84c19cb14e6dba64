//! `retry`: which videos to put back to `pending`, then the conditional requeues. Naming a
//! video that is not in the table is an error before anything is written: a typo must not look
//! like success.

use super::report;
use crate::domain::VideoState;
use crate::error::StoreError;
use crate::store::dynamo::DynamoStore;

/// What to retry.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// Every failed video, or those whose last error is of `kind`.
    Failed {
        /// `invalid_input`, `transient`, ...
        kind: Option<String>,
    },
    /// Videos by source URI (failed or done); a URI ending in `/` names the failed videos under
    /// that prefix, and its done ones too with `done`.
    Uris {
        /// The URIs.
        uris: Vec<String>,
        /// A prefix names its done videos too.
        done: bool,
    },
}

/// The videos a selector matched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Matched videos' keys, with their state now.
    pub targets: Vec<(String, VideoState)>,
    /// URIs that matched no video.
    pub unmatched: Vec<String>,
    /// Prefixes with videos but none to requeue: each with its videos per state, so the
    /// operator learns they are done (or still open) rather than "no match".
    pub nothing_to_requeue: Vec<(String, Vec<(VideoState, u64)>)>,
}

/// Resolves `sel` against the table: one Scan for `Failed` or a prefix, one GetItem per URI.
pub async fn plan(store: &DynamoStore, sel: &Selector) -> Result<Plan, StoreError> {
    let table = &store.config().table;
    let mut out = Plan::default();
    match sel {
        Selector::Failed { kind } => {
            let (items, _) = report::scan_all(store.client(), table).await?;
            out.targets = items
                .into_iter()
                .filter(|v| v.state == VideoState::Failed)
                .filter(|v| kind.is_none() || v.error_kind == *kind)
                .map(|v| (v.pk, v.state))
                .collect();
        }
        Selector::Uris { uris, done } => {
            let prefixes: Vec<&String> = uris.iter().filter(|u| u.ends_with('/')).collect();
            let all = if prefixes.is_empty() {
                Vec::new()
            } else {
                report::scan_all(store.client(), table).await?.0
            };
            for u in uris {
                // A prefix names its failed videos: re-transcoding every done video of a folder
                // is never what "retry this folder" means. A done video is retried by its URI.
                let found: Vec<(String, VideoState)> = if u.ends_with('/') {
                    let under: Vec<_> = all
                        .iter()
                        .filter(|v| v.pk.starts_with(u.as_str()))
                        .collect();
                    let found: Vec<_> = under
                        .iter()
                        .filter(|v| {
                            v.state == VideoState::Failed || (*done && v.state == VideoState::Done)
                        })
                        .map(|v| (v.pk.clone(), v.state))
                        .collect();
                    if found.is_empty() && !under.is_empty() {
                        let mut by_state = std::collections::BTreeMap::new();
                        for v in &under {
                            by_state.entry(v.state.as_str()).or_insert((v.state, 0)).1 += 1;
                        }
                        out.nothing_to_requeue
                            .push((u.clone(), by_state.into_values().collect()));
                        continue;
                    }
                    found
                } else {
                    store
                        .get(u)
                        .await?
                        .map(|v| (v.pk, v.state))
                        .into_iter()
                        .collect()
                };
                if found.is_empty() {
                    out.unmatched.push(u.clone());
                }
                out.targets.extend(found);
            }
            out.targets.sort();
            out.targets.dedup();
        }
    }
    Ok(out)
}

/// What the requeues did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Outcome {
    /// Put back to `pending`.
    pub requeued: Vec<String>,
    /// Left alone: pending already, or held by a worker right now.
    pub left_alone: Vec<String>,
}

/// Requeues `targets` (failed ones; done ones too with `also_done`), calling `progress` after
/// each.
pub async fn apply(
    store: &DynamoStore,
    targets: &[(String, VideoState)],
    also_done: bool,
    mut progress: impl FnMut(usize),
) -> Result<Outcome, StoreError> {
    let mut out = Outcome::default();
    for (i, (pk, _)) in targets.iter().enumerate() {
        if store.requeue(pk, also_done).await?.is_some() {
            out.requeued.push(pk.clone());
        } else {
            out.left_alone.push(pk.clone());
        }
        progress(i + 1);
    }
    Ok(out)
}
