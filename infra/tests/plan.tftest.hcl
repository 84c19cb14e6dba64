mock_provider "aws" {
  override_data {
    target = data.aws_region.current
    values = { name = "us-east-1" }
  }
  override_data {
    target = data.aws_partition.current
    values = { partition = "aws" }
  }
  override_data {
    target = data.aws_caller_identity.current
    values = { account_id = "123456789012" }
  }
  override_data {
    target = data.aws_ssm_parameter.al2023_arm64
    values = { value = "ami-0123456789abcdef0" }
  }
  override_resource {
    target = aws_dynamodb_table.videos
    values = { arn = "arn:aws:dynamodb:us-east-1:123456789012:table/fleet-videos" }
  }
  override_resource {
    target = aws_iam_instance_profile.worker
    values = { arn = "arn:aws:iam::123456789012:instance-profile/fleet-worker" }
  }
  override_resource {
    target = aws_iam_role.worker
    values = { arn = "arn:aws:iam::123456789012:role/fleet-worker" }
  }
  override_resource {
    target = aws_launch_template.worker
    values = { id = "lt-0123456789abcdef0", latest_version = 1 }
  }
  override_resource {
    target = aws_cloudwatch_log_group.worker
    values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/fleet/worker" }
  }
}

variables {
  input_bucket    = "lectures-in"
  input_prefix    = "AI CERTs/Videos/"
  output_bucket   = "lectures-out"
  output_prefix   = "hls/"
  artifact_bucket = "fleet-artifacts"
  subnet_ids      = ["subnet-aaaa", "subnet-bbbb"]
}

run "defaults" {
  command = apply

  assert {
    condition     = aws_launch_template.worker.metadata_options[0].http_tokens == "required"
    error_message = "IMDSv2 must be required"
  }
  assert {
    condition     = can(regex("^[a-z]+[0-9]+g[a-z]*\\.", aws_launch_template.worker.instance_type)) && aws_launch_template.worker.instance_type == "c6g.xlarge"
    error_message = "the default instance type must be arm64 c6g.xlarge"
  }
  assert {
    condition     = aws_launch_template.worker.block_device_mappings[0].ebs[0].encrypted == "true"
    error_message = "the root volume must be encrypted"
  }
  assert {
    condition     = aws_launch_template.worker.image_id == "ami-0123456789abcdef0"
    error_message = "the AMI comes from the AL2023 arm64 SSM parameter"
  }
  assert {
    condition = alltrue([for b in aws_s3_bucket_public_access_block.all :
    b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets])
    error_message = "both buckets must block public access"
  }
  assert {
    condition     = length(aws_s3_bucket_public_access_block.all) == 2 && length(aws_s3_bucket_lifecycle_configuration.all) == 2
    error_message = "both buckets get public access blocks and multipart cleanup"
  }
  assert {
    condition     = aws_dynamodb_table.videos.billing_mode == "PAY_PER_REQUEST" && aws_dynamodb_table.videos.point_in_time_recovery[0].enabled
    error_message = "on-demand billing and point-in-time recovery"
  }
  # The table follows schema/table.json, the file fleet-admin init reads.
  assert {
    condition     = aws_dynamodb_table.videos.hash_key == jsondecode(file("../schema/table.json")).hash_key
    error_message = "hash key differs from schema/table.json"
  }
  assert {
    condition = toset([for i in aws_dynamodb_table.videos.global_secondary_index : "${i.name}/${i.hash_key}/${i.range_key}/${i.projection_type}"]) == toset([
    for i in jsondecode(file("../schema/table.json")).global_secondary_indexes : "${i.name}/${i.hash_key}/${i.range_key}/${i.projection_type}"])
    error_message = "indexes differ from schema/table.json"
  }
  assert {
    condition     = toset([for a in aws_dynamodb_table.videos.attribute : "${a.name}:${a.type}"]) == toset([for a in jsondecode(file("../schema/table.json")).attributes : "${a.name}:${a.type}"])
    error_message = "key attributes differ from schema/table.json"
  }
  # Least privilege: every S3 resource is one of the two prefixes (or the two artifacts), every
  # DynamoDB resource is this table or its indexes, and no action is a wildcard.
  assert {
    condition = alltrue(flatten([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : [
      for r in s.Resource : (
        startswith(r, "arn:aws:s3:::lectures-in/AI CERTs/Videos/") ||
        r == "arn:aws:s3:::lectures-in" ||
        startswith(r, "arn:aws:s3:::lectures-out/hls/") ||
        r == "arn:aws:s3:::fleet-artifacts/fleet/fleet-worker-aarch64" ||
        r == "arn:aws:s3:::fleet-artifacts/fleet/ffmpeg-release-arm64-static.tar.xz" ||
        r == "arn:aws:dynamodb:us-east-1:123456789012:table/fleet-videos" ||
        r == "arn:aws:dynamodb:us-east-1:123456789012:table/fleet-videos/index/*" ||
        r == "arn:aws:logs:us-east-1:123456789012:log-group:/fleet/worker:*" ||
        startswith(r, "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/fleet-workers")
      )
    ]]))
    error_message = "the worker policy grants something outside the table, the two prefixes and its own artifacts"
  }
  assert {
    condition = alltrue(flatten([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : [
    for a in s.Action : !strcontains(a, "*")]]))
    error_message = "no wildcard actions"
  }
  assert {
    condition     = !contains(flatten([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s.Action]), "dynamodb:Scan")
    error_message = "workers never scan"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.worker.user_data), "TimeoutStopSec=150") && strcontains(base64decode(aws_launch_template.worker.user_data), "KillSignal=SIGTERM")
    error_message = "systemd must stop with SIGTERM and wait longer than the drain window"
  }
  assert {
    condition     = output.seed_command == "fleet-admin --table fleet-videos seed 's3://lectures-in/AI CERTs/Videos/' 's3://lectures-out/hls/'"
    error_message = "seed command output"
  }
}

run "spot_mixed_instances" {
  command = apply
  variables {
    use_spot = true
  }
  assert {
    condition     = length(aws_autoscaling_group.workers.mixed_instances_policy) == 1 && aws_autoscaling_group.workers.capacity_rebalance
    error_message = "spot uses a mixed instances policy with capacity rebalancing"
  }
}

run "x86_instance_type_is_refused" {
  command = plan
  variables {
    instance_type = "c6i.xlarge"
  }
  expect_failures = [var.instance_type]
}

run "no_subnets_is_refused" {
  command = plan
  variables {
    subnet_ids = []
  }
  expect_failures = [var.subnet_ids]
}

run "tiny_root_volume_is_refused" {
  command = plan
  variables {
    root_volume_gb = 8
  }
  expect_failures = [var.root_volume_gb]
}
