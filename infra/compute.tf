# Debian 12 arm64, whose ffmpeg 5.1 package is the one every fleet test runs (the worker
# refuses another release). The AMI is pinned: read from Debian's public SSM parameter once,
# kept in terraform_data until replaced on purpose (terraform apply
# -replace=terraform_data.ami), so a new Debian point release never rolls the fleet by
# surprise. Its id is in the plan and in output.ami_id.
data "aws_ssm_parameter" "debian12_arm64" {
  count = var.ami_id == "" ? 1 : 0
  name  = "/aws/service/debian/release/12/latest/arm64"
}

resource "terraform_data" "ami" {
  input            = var.ami_id != "" ? var.ami_id : nonsensitive(data.aws_ssm_parameter.debian12_arm64[0].value)
  triggers_replace = [var.ami_id]
  lifecycle {
    ignore_changes = [input]
  }
}

locals {
  worker_log = "/var/log/fleet/worker.log"

  # Rendered on its own so that tests can check its shape (output.cloudwatch_agent_config).
  agent_config = templatefile("${path.module}/templates/cloudwatch-agent.json.tftpl", {
    worker_log = local.worker_log
    log_group  = local.log_group
  })

  user_data = templatefile("${path.module}/templates/user-data.sh.tftpl", {
    region           = local.region
    artifact_bucket  = var.artifact_bucket
    artifact_version = var.artifact_version
    worker_key       = local.worker_key
    worker_sha256    = var.worker_sha256
    agent_config     = local.agent_config
    table            = aws_dynamodb_table.videos.name
    concurrency      = var.slots_per_instance
    drain_seconds    = var.drain_seconds
    # The worker's own way down, a little after the scaler's (which normally acts first).
    idle_remove_minutes = var.scale_in_idle_minutes + 5
    stop_timeout        = var.drain_seconds + 60
    worker_log          = local.worker_log
    asg_name            = local.asg_name
    hook_name           = local.hook_name
    namespace           = local.namespace
    metrics_group       = local.metrics_group
    emf_endpoint        = local.emf_endpoint
    event_bus           = local.events_enabled ? local.event_bus : ""
  })
}

resource "aws_launch_template" "worker" {
  name_prefix            = "${var.name}-worker-"
  image_id               = terraform_data.ami.output
  instance_type          = var.instance_types[0]
  vpc_security_group_ids = [aws_security_group.worker.id]
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.worker.arn
  }

  metadata_options {
    http_tokens                 = "required" # IMDSv2 only
    http_endpoint               = "enabled"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.root_volume_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  user_data = base64encode(local.user_data)

  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "${var.name}-worker", FleetVersion = var.artifact_version }
  }

}

resource "aws_autoscaling_group" "workers" {
  name                = local.asg_name
  vpc_zone_identifier = var.subnet_ids
  min_size            = var.min_size
  max_size            = var.max_size
  # Capacity rebalancing (spot) and instance refresh end instances through the drain hook,
  # whose worker finishes the jobs in hand first (a termination is not an interruption).
  capacity_rebalance = var.use_spot
  # Every instance starts protected from scale-in; its worker lifts the protection once it is
  # up and idle and sets it again while it holds a lease. A shrink takes only idle instances,
  # never one still booting (fleet-scaler also never asks for fewer than the protected).
  protect_from_scale_in = true
  # AZ rebalancing would terminate busy instances to even out zones; nothing here needs even
  # zones, and a two-hour lecture must not restart for it.
  suspended_processes       = ["AZRebalance"]
  health_check_type         = "EC2"
  health_check_grace_period = var.health_check_grace_seconds
  # desired_capacity belongs to the scaler (fleet-scaler): never set here. Created at
  # min_size; later applies leave whatever the scaler chose.
  wait_for_capacity_timeout = "0"
  enabled_metrics           = ["GroupDesiredCapacity", "GroupInServiceInstances"]
  metrics_granularity       = "1Minute"

  mixed_instances_policy {
    instances_distribution {
      on_demand_base_capacity                  = var.use_spot ? var.on_demand_base_capacity : 0
      on_demand_percentage_above_base_capacity = var.use_spot ? 0 : 100
      on_demand_allocation_strategy            = "prioritized"
      spot_allocation_strategy                 = "price-capacity-optimized"
    }
    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.worker.id
        version            = aws_launch_template.worker.latest_version
      }
      dynamic "override" {
        for_each = var.instance_types
        content {
          instance_type = override.value
        }
      }
    }
  }

  tag {
    key                 = "Name"
    value               = "${var.name}-worker"
    propagate_at_launch = true
  }
  tag {
    key                 = "FleetVersion"
    value               = var.artifact_version
    propagate_at_launch = true
  }

  # A new artifact_version changes the launch template (user data) and the tag: running
  # instances are replaced, new ones launched first; busy (scale-in protected) ones too, each
  # through the drain hook, whose worker stops claiming and finishes the jobs in hand before
  # it lets the termination go on: versions mix for as long as the longest job in hand.
  instance_refresh {
    strategy = "Rolling"
    triggers = ["tag"]
    preferences {
      min_healthy_percentage       = 100
      max_healthy_percentage       = 200
      skip_matching                = true
      scale_in_protected_instances = "Refresh"
    }
  }

  lifecycle {
    ignore_changes = [desired_capacity]
  }
}

# Its own resource (not initial_lifecycle_hook), so a new drain_seconds updates the hook in
# place instead of replacing the group. The worker watches target-lifecycle-state, stops
# claiming, finishes the jobs in hand while it records a heartbeat on this action every
# minute (the action lasts at most 100 heartbeat timeouts: 5.8 hours at the default), and
# completes it itself (FLEET_LIFECYCLE_HOOK). A worker that stops heartbeating (crashed) lets
# the timeout end the instance.
resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = local.hook_name
  autoscaling_group_name = aws_autoscaling_group.workers.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = var.drain_seconds + 120
  default_result         = "CONTINUE"
}
