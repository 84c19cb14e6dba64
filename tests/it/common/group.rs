//! An autoscaling group in moto (the local stack's, or the one `scripts/infra-apply` applied
//! infra/ to): real Auto Scaling semantics for what moto covers (desired capacity, instances
//! it launches, scale-in protection, health, terminating an instance with a decrement).
//! moto 5.2.5 lacks `CompleteLifecycleAction` and `RecordLifecycleActionHeartbeat` (it
//! answers 500): the termination hook's calls are tested against the stand-in in `ec2.rs`.

use aws_sdk_autoscaling::Client;

/// One instance as the group lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub state: String,
    pub protected: bool,
    pub health: String,
}

/// A group.
#[derive(Debug, Clone)]
pub struct Group {
    pub url: String,
    pub name: String,
    pub client: Client,
}

impl Group {
    /// An existing group `name` at `url`.
    pub async fn at(url: &str, name: &str) -> Self {
        let cfg = super::servers::sdk_at(url, super::servers::fleet_key()).await;
        Self {
            url: url.to_string(),
            name: name.to_string(),
            client: Client::new(&cfg),
        }
    }

    /// A new group at `url` of `desired` instances (at most `max`), launched protected from
    /// scale-in as infra/ launches them.
    pub async fn create(url: &str, prefix: &str, desired: u32, max: u32) -> Self {
        let name = super::unique(prefix);
        let g = Self::at(url, &name).await;
        g.client
            .create_launch_configuration()
            .launch_configuration_name(&name)
            .image_id("ami-12345678")
            .instance_type("c6g.xlarge")
            .send()
            .await
            .unwrap();
        g.client
            .create_auto_scaling_group()
            .auto_scaling_group_name(&name)
            .launch_configuration_name(&name)
            .min_size(0)
            .max_size(max as i32)
            .desired_capacity(desired as i32)
            .availability_zones("us-east-1a")
            .new_instances_protected_from_scale_in(true)
            .send()
            .await
            .unwrap();
        g
    }

    /// The desired capacity.
    pub async fn desired(&self) -> u32 {
        self.describe().await.0
    }

    /// The instances.
    pub async fn members(&self) -> Vec<Member> {
        self.describe().await.1
    }

    async fn describe(&self) -> (u32, Vec<Member>) {
        let out = self
            .client
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.name)
            .send()
            .await
            .unwrap();
        let g = &out.auto_scaling_groups()[0];
        let members = g
            .instances()
            .iter()
            .map(|i| Member {
                id: i.instance_id().unwrap_or_default().to_string(),
                state: i
                    .lifecycle_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                protected: i.protected_from_scale_in() == Some(true),
                health: i.health_status().unwrap_or_default().to_string(),
            })
            .collect();
        (g.desired_capacity().unwrap_or(0) as u32, members)
    }

    /// Sets or lifts scale-in protection of `ids`.
    pub async fn protect(&self, ids: &[String], on: bool) {
        self.client
            .set_instance_protection()
            .auto_scaling_group_name(&self.name)
            .set_instance_ids(Some(ids.to_vec()))
            .protected_from_scale_in(on)
            .send()
            .await
            .unwrap();
    }
}
