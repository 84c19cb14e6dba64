//! What EC2 tells an instance about its own fate, through IMDSv2 (the SDK's client, so
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT` points it at a stand-in in tests): a spot interruption
//! notice, a rebalance recommendation, and the autoscaling group's plan for the instance.

use aws_config::imds::client::error::ImdsError;
use std::time::Duration;

/// The notices in force now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notices {
    /// `spot/instance-action`: EC2 will stop or terminate the instance in about two minutes.
    pub interruption: Option<String>,
    /// `events/recommendations/rebalance`: the spot pool is at elevated risk.
    pub rebalance: bool,
    /// `autoscaling/target-lifecycle-state` (`InService`, `Terminated`, ...).
    pub lifecycle: Option<String>,
}

impl Notices {
    /// The group is terminating this instance (scale-in, instance refresh, health).
    pub fn terminating(&self) -> bool {
        self.lifecycle.as_deref() == Some("Terminated")
    }
}

/// The instance metadata service.
#[derive(Debug, Clone)]
pub struct Imds {
    client: aws_config::imds::Client,
}

impl Default for Imds {
    fn default() -> Self {
        Self::new()
    }
}

impl Imds {
    /// A client that answers within a second or fails (the watcher polls again anyway).
    pub fn new() -> Self {
        Self {
            client: aws_config::imds::Client::builder()
                .max_attempts(2)
                .connect_timeout(Duration::from_secs(1))
                .read_timeout(Duration::from_secs(1))
                .operation_timeout(Duration::from_secs(3))
                .build(),
        }
    }

    /// This instance's id.
    pub async fn instance_id(&self) -> Result<String, ImdsError> {
        Ok(self
            .client
            .get("/latest/meta-data/instance-id")
            .await?
            .as_ref()
            .to_string())
    }

    /// A path that only exists while its notice is in force: `None` on 404.
    async fn optional(&self, path: &str) -> Result<Option<String>, ImdsError> {
        match self.client.get(path).await {
            Ok(v) => Ok(Some(v.as_ref().to_string())),
            Err(ImdsError::ErrorResponse(r)) if r.response().status().as_u16() == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The notices in force now.
    pub async fn notices(&self) -> Result<Notices, ImdsError> {
        Ok(Notices {
            interruption: self
                .optional("/latest/meta-data/spot/instance-action")
                .await?,
            rebalance: self
                .optional("/latest/meta-data/events/recommendations/rebalance")
                .await?
                .is_some(),
            lifecycle: self
                .optional("/latest/meta-data/autoscaling/target-lifecycle-state")
                .await?
                .map(|s| s.trim().to_string()),
        })
    }
}
