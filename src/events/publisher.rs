//! Sending events: re-sending exactly the refused entries, recording what cannot be sent as
//! owed in the table, and sending what is owed later.

use super::bridge::Sink;
use super::Event;
use crate::error::chain;
use crate::store::VideoStore;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// Tries of one batch before what is left becomes owed.
const TRIES: u32 = 3;
/// PutEvents takes at most 10 entries.
const BATCH: usize = 10;

/// Sends events for a worker or `fleet-admin`.
#[derive(Debug, Clone)]
pub struct Publisher {
    sink: Arc<dyn Sink>,
    store: Arc<dyn VideoStore>,
    /// The first pause between tries (doubling).
    pause: Duration,
}

impl Publisher {
    /// A publisher that owes what it cannot send in `store`.
    pub fn new(sink: Arc<dyn Sink>, store: Arc<dyn VideoStore>) -> Self {
        Self {
            sink,
            store,
            pause: Duration::from_millis(200),
        }
    }

    /// Sends `events`; returns how many went out. A refused entry is re-sent alone (with the
    /// others that were refused), up to [`TRIES`] times; what is left is recorded as owed.
    /// Never fails: a lost event is logged with its whole content as the last resort.
    pub async fn emit(&self, events: Vec<Event>) -> usize {
        let mut sent = 0;
        for batch in events.chunks(BATCH) {
            let left = self.send(batch.to_vec()).await;
            sent += batch.len() - left.len();
            for e in left {
                let body = serde_json::to_string(&e).unwrap_or_default();
                match self.store.owe_event(e.id(), &body).await {
                    Ok(()) => warn!(event = e.id(), kind = ?e.kind, "event owed: will be re-sent"),
                    Err(err) => {
                        error!(event = %body, error = %chain(&err), "event lost: could not owe it")
                    }
                }
            }
        }
        sent
    }

    /// Sends one batch; returns what is still unsent after the tries.
    async fn send(&self, mut pending: Vec<Event>) -> Vec<Event> {
        let mut pause = self.pause;
        for attempt in 1..=TRIES {
            match self.sink.put(&pending).await {
                Ok(results) => {
                    let refused: Vec<Event> = pending
                        .into_iter()
                        .zip(results)
                        .filter_map(|(e, r)| {
                            r.map(|code| {
                                warn!(event = e.id(), code, attempt, "event refused");
                                e
                            })
                        })
                        .collect();
                    pending = refused;
                    if pending.is_empty() {
                        return pending;
                    }
                }
                Err(e) => warn!(error = %e, attempt, "PutEvents failed"),
            }
            if attempt < TRIES {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        pending
    }

    /// Sends up to `limit` owed events and settles those that went out. Returns how many.
    pub async fn resend_owed(&self, limit: usize) -> usize {
        let owed = match self.store.owed_events(limit).await {
            Ok(o) => o,
            Err(e) => {
                warn!(error = %chain(&e), "cannot read owed events");
                return 0;
            }
        };
        let mut done = 0;
        for batch in owed.chunks(BATCH) {
            let events: Vec<Event> = batch
                .iter()
                .filter_map(|(_, body)| serde_json::from_str(body).ok())
                .collect();
            let left: Vec<String> = self
                .send(events)
                .await
                .iter()
                .map(|e| e.id().to_string())
                .collect();
            for (id, _) in batch.iter().filter(|(id, _)| !left.contains(id)) {
                if self.store.settle_event(id).await.is_ok() {
                    done += 1;
                }
            }
        }
        if done > 0 {
            info!(sent = done, "owed events sent");
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::super::{bridge::SinkError, Kind};
    use super::*;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// Refuses the second entry of the first call, then accepts everything; records calls.
    #[derive(Debug, Default)]
    struct Flaky {
        calls: Mutex<Vec<Vec<String>>>,
        down: bool,
    }

    #[async_trait]
    impl Sink for Flaky {
        async fn put(&self, events: &[Event]) -> Result<Vec<Option<String>>, SinkError> {
            let mut calls = self.calls.lock().unwrap();
            calls.push(events.iter().map(|e| e.id().to_string()).collect());
            if self.down {
                return Err(SinkError {
                    bus: "b".into(),
                    message: "connection refused".into(),
                });
            }
            Ok(events
                .iter()
                .enumerate()
                .map(|(i, _)| (calls.len() == 1 && i == 1).then(|| "ThrottlingException".into()))
                .collect())
        }
    }

    fn ev(n: u64) -> Event {
        let v = crate::domain::video::tests::pending("s3://in/a.mp4");
        super::super::event(
            Kind::Done,
            &v,
            super::super::Facts {
                seq: n,
                ..Default::default()
            },
        )
    }

    /// Owes in memory.
    #[derive(Debug, Default)]
    struct Owed(Mutex<Vec<(String, String)>>);

    #[async_trait]
    impl VideoStore for Owed {
        async fn claim_next(
            &self,
            _: &str,
        ) -> Result<crate::store::Claim, crate::error::StoreError> {
            unimplemented!()
        }
        async fn heartbeat(
            &self,
            _: &crate::store::Lease,
            _: Option<&crate::domain::Progress>,
        ) -> Result<crate::store::Renewal, crate::error::StoreError> {
            unimplemented!()
        }
        async fn complete(
            &self,
            _: &crate::store::Lease,
            _: &crate::store::Completion,
        ) -> Result<(), crate::error::StoreError> {
            unimplemented!()
        }
        async fn fail(
            &self,
            _: &crate::store::Lease,
            _: &crate::store::Failure,
        ) -> Result<crate::domain::VideoState, crate::error::StoreError> {
            unimplemented!()
        }
        async fn release(
            &self,
            _: &crate::store::Lease,
            _: &str,
        ) -> Result<(), crate::error::StoreError> {
            unimplemented!()
        }
        async fn release_stalled(
            &self,
            _: &crate::store::Lease,
            _: &str,
        ) -> Result<(), crate::error::StoreError> {
            unimplemented!()
        }
        async fn has_open_work(&self) -> Result<bool, crate::error::StoreError> {
            unimplemented!()
        }
        async fn is_paused(&self) -> Result<bool, crate::error::StoreError> {
            unimplemented!()
        }
        async fn register(
            &self,
            _: &crate::store::WorkerRecord,
        ) -> Result<(), crate::error::StoreError> {
            unimplemented!()
        }
        async fn owe_event(&self, id: &str, body: &str) -> Result<(), crate::error::StoreError> {
            self.0.lock().unwrap().push((id.into(), body.into()));
            Ok(())
        }
        async fn owed_events(
            &self,
            _: usize,
        ) -> Result<Vec<(String, String)>, crate::error::StoreError> {
            Ok(self.0.lock().unwrap().clone())
        }
        async fn settle_event(&self, id: &str) -> Result<(), crate::error::StoreError> {
            self.0.lock().unwrap().retain(|(i, _)| i != id);
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_refused_entry_is_sent_again() {
        let sink = Arc::new(Flaky::default());
        let store = Arc::new(Owed::default());
        let p = Publisher::new(sink.clone(), store.clone());
        let events = vec![ev(1), ev(2), ev(3)];
        let ids: Vec<String> = events.iter().map(|e| e.id().to_string()).collect();
        assert_eq!(p.emit(events).await, 3);
        let calls = sink.calls.lock().unwrap().clone();
        assert_eq!(calls, vec![ids.clone(), vec![ids[1].clone()]]);
        assert!(store.0.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_bus_that_stays_down_leaves_the_events_owed_and_they_go_out_later() {
        let down = Arc::new(Flaky {
            down: true,
            ..Default::default()
        });
        let store = Arc::new(Owed::default());
        let p = Publisher::new(down.clone(), store.clone());
        assert_eq!(p.emit(vec![ev(1), ev(2)]).await, 0);
        assert_eq!(down.calls.lock().unwrap().len(), TRIES as usize);
        assert_eq!(store.0.lock().unwrap().len(), 2);
        let up = Arc::new(Flaky::default());
        let later = Publisher::new(up.clone(), store.clone());
        // The first call refuses one entry, the re-send takes it: both settled.
        assert_eq!(later.resend_owed(25).await, 2);
        assert!(store.0.lock().unwrap().is_empty());
        let sent: Vec<String> = up.calls.lock().unwrap().concat();
        assert_eq!(sent.len(), 3);
    }
}
