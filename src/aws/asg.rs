//! The autoscaling group, as fleet uses it: the scaler reads and sets its desired capacity; a
//! worker protects its own instance from scale-in while it holds a lease, heartbeats and
//! completes its own termination hook while it finishes its jobs, removes its own instance
//! when idle too long, and marks it unhealthy when it gives up.
//!
//! The client follows the SDK's conventions like every other (`AWS_ENDPOINT_URL` or
//! `AWS_ENDPOINT_URL_AUTO_SCALING` reach a stand-in in tests).

use aws_sdk_autoscaling::Client;

/// A failed Auto Scaling call.
#[derive(Debug, thiserror::Error)]
#[error("autoscaling {op} on group {group}: {source}")]
pub struct AsgError {
    /// The operation.
    pub op: &'static str,
    /// The group.
    pub group: String,
    /// What the SDK said.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// The group's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSize {
    /// Desired capacity.
    pub desired: u32,
    /// Minimum size.
    pub min: u32,
    /// Maximum size.
    pub max: u32,
    /// Instances in the group (any lifecycle state).
    pub instances: u32,
    /// Instances booting or in service (not leaving, not on standby).
    pub existing: u32,
    /// Of those, protected from scale-in.
    pub protected: u32,
}

/// One autoscaling group.
#[derive(Debug, Clone)]
pub struct Asg {
    client: Client,
    name: String,
}

fn n(v: Option<i32>) -> u32 {
    u32::try_from(v.unwrap_or(0)).unwrap_or(0)
}

impl Asg {
    /// The group `name` through `client`.
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    /// A client from the shared SDK configuration.
    pub fn from_conf(cfg: &aws_config::SdkConfig, name: impl Into<String>) -> Self {
        Self::new(Client::new(cfg), name)
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn err(
        &self,
        op: &'static str,
    ) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> AsgError + '_ {
        move |source| AsgError {
            op,
            group: self.name.clone(),
            source,
        }
    }

    /// The group's current size and limits.
    pub async fn size(&self) -> Result<GroupSize, AsgError> {
        let out = self
            .client
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.name)
            .send()
            .await
            .map_err(|e| self.err("DescribeAutoScalingGroups")(e.into()))?;
        let g = out
            .auto_scaling_groups()
            .first()
            .ok_or_else(|| self.err("DescribeAutoScalingGroups")("no such group".into()))?;
        let staying: Vec<_> = g
            .instances()
            .iter()
            .filter(|i| {
                i.lifecycle_state()
                    .is_some_and(|s| s.as_str().starts_with("Pending") || s.as_str() == "InService")
            })
            .collect();
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(GroupSize {
            desired: n(g.desired_capacity()),
            min: n(g.min_size()),
            max: n(g.max_size()),
            instances: count(g.instances().len()),
            existing: count(staying.len()),
            protected: count(
                staying
                    .iter()
                    .filter(|i| i.protected_from_scale_in() == Some(true))
                    .count(),
            ),
        })
    }

    /// Sets the desired capacity (cooldowns do not apply: the scaler runs once a minute).
    pub async fn set_desired(&self, desired: u32) -> Result<(), AsgError> {
        self.client
            .set_desired_capacity()
            .auto_scaling_group_name(&self.name)
            .desired_capacity(i32::try_from(desired).unwrap_or(i32::MAX))
            .honor_cooldown(false)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("SetDesiredCapacity")(e.into()))
    }

    /// Protects `instance` from scale-in, or lifts the protection.
    pub async fn protect(&self, instance: &str, on: bool) -> Result<(), AsgError> {
        self.client
            .set_instance_protection()
            .auto_scaling_group_name(&self.name)
            .instance_ids(instance)
            .protected_from_scale_in(on)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("SetInstanceProtection")(e.into()))
    }

    /// Lets the group go on terminating `instance` (its termination hook `hook` is done).
    pub async fn complete_lifecycle(&self, hook: &str, instance: &str) -> Result<(), AsgError> {
        self.client
            .complete_lifecycle_action()
            .auto_scaling_group_name(&self.name)
            .lifecycle_hook_name(hook)
            .instance_id(instance)
            .lifecycle_action_result("CONTINUE")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("CompleteLifecycleAction")(e.into()))
    }

    /// Keeps the group's termination action on `instance` open for another heartbeat
    /// timeout (the worker is finishing the jobs in hand).
    pub async fn record_heartbeat(&self, hook: &str, instance: &str) -> Result<(), AsgError> {
        self.client
            .record_lifecycle_action_heartbeat()
            .auto_scaling_group_name(&self.name)
            .lifecycle_hook_name(hook)
            .instance_id(instance)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("RecordLifecycleActionHeartbeat")(e.into()))
    }

    /// Has the group terminate `instance` and lower its desired capacity by one, so that no
    /// replacement is launched (an idle instance's own way down). Refused by the group when
    /// that would go below its minimum size.
    pub async fn remove(&self, instance: &str) -> Result<(), AsgError> {
        self.client
            .terminate_instance_in_auto_scaling_group()
            .instance_id(instance)
            .should_decrement_desired_capacity(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("TerminateInstanceInAutoScalingGroup")(e.into()))
    }

    /// Asks the group to replace `instance`.
    pub async fn mark_unhealthy(&self, instance: &str) -> Result<(), AsgError> {
        self.client
            .set_instance_health()
            .instance_id(instance)
            .health_status("Unhealthy")
            .should_respect_grace_period(false)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err("SetInstanceHealth")(e.into()))
    }
}
