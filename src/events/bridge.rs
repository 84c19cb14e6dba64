//! Where events go: the [`Sink`] trait (so the re-send rule is tested without a bus) and its
//! EventBridge implementation.

use super::{Event, SOURCE};
use async_trait::async_trait;

/// Why a whole `PutEvents` call failed (the bus unreachable, access denied, …).
#[derive(Debug, thiserror::Error)]
#[error("PutEvents on bus {bus}: {message}")]
pub struct SinkError {
    /// The bus.
    pub bus: String,
    /// The SDK's words.
    pub message: String,
}

/// Something events can be put on.
#[async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Puts up to 10 events in one call; per entry, `None` when it was accepted or the
    /// error code it was refused with (EventBridge answers 200 with `FailedEntryCount > 0`).
    async fn put(&self, events: &[Event]) -> Result<Vec<Option<String>>, SinkError>;
}

/// An EventBridge bus.
#[derive(Debug, Clone)]
pub struct EventBridge {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridge {
    /// Puts on `bus` (a name or ARN) through a client built from `cfg` (the default chain and
    /// `AWS_ENDPOINT_URL_EVENTBRIDGE`), with short timeouts: a bus that does not answer must
    /// not hold a worker's slot.
    pub fn new(cfg: &aws_config::SdkConfig, bus: &str) -> Self {
        // A call (the SDK's own retries included) ends within 5 s; with the publisher's 3
        // tries a bus that hangs holds a slot about 16 s at most before the event is owed.
        let timeouts = aws_smithy_types::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(2))
            .operation_attempt_timeout(std::time::Duration::from_secs(2))
            .operation_timeout(std::time::Duration::from_secs(5))
            .build();
        let conf = aws_sdk_eventbridge::config::Builder::from(cfg)
            .timeout_config(timeouts)
            .build();
        Self {
            client: aws_sdk_eventbridge::Client::from_conf(conf),
            bus: bus.to_string(),
        }
    }
}

#[async_trait]
impl Sink for EventBridge {
    async fn put(&self, events: &[Event]) -> Result<Vec<Option<String>>, SinkError> {
        let entries = events
            .iter()
            .map(|e| {
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(SOURCE)
                    .detail_type(e.kind.detail_type())
                    .detail(e.detail.to_string())
                    .build()
            })
            .collect();
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| SinkError {
                bus: self.bus.clone(),
                message: crate::error::chain(&e),
            })?;
        let mut results: Vec<Option<String>> = out
            .entries()
            .iter()
            .map(|r| r.error_code().map(str::to_string))
            .collect();
        // An answer that lists fewer entries than were sent leaves the rest unconfirmed.
        results.resize(events.len(), Some("NotConfirmed".into()));
        Ok(results)
    }
}
