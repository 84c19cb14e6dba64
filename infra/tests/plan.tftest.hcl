# Offline checks of infra/ with a mock AWS provider (scripts/terraform-test). Each run plans or
# "applies" against mocks; computed ids and ARNs the assertions use are pinned below.

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
    target = data.aws_ssm_parameter.debian12_arm64
    values = { value = "ami-0123456789abcdef0" }
  }
  override_data {
    target = data.aws_subnet.first
    values = { vpc_id = "vpc-0123456789abcdef0" }
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
    values = { arn = "arn:aws:iam::123456789012:role/fleet-worker", id = "fleet-worker" }
  }
  override_resource {
    target = aws_iam_role.scaler
    values = { arn = "arn:aws:iam::123456789012:role/fleet-scaler", id = "fleet-scaler" }
  }
  override_resource {
    target = aws_iam_policy.operator
    values = { arn = "arn:aws:iam::123456789012:policy/fleet-operator" }
  }
  override_resource {
    target = aws_launch_template.worker
    values = { id = "lt-0123456789abcdef0", latest_version = 1 }
  }
  override_resource {
    target = aws_security_group.worker
    values = { id = "sg-0123456789abcdef0" }
  }
  override_resource {
    target = aws_autoscaling_group.workers
    values = { arn = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:11111111-2222-3333-4444-555555555555:autoScalingGroupName/fleet-workers" }
  }
  override_resource {
    target = aws_cloudwatch_log_group.worker
    values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/fleet/worker" }
  }
  override_resource {
    target = aws_cloudwatch_log_group.metrics
    values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/fleet/metrics" }
  }
  override_resource {
    target = aws_cloudwatch_log_group.scaler
    values = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fleet-scaler" }
  }
  override_resource {
    target = aws_lambda_function.scaler
    values = { arn = "arn:aws:lambda:us-east-1:123456789012:function:fleet-scaler" }
  }
  override_resource {
    target = aws_cloudwatch_event_rule.scaler
    values = { arn = "arn:aws:events:us-east-1:123456789012:rule/fleet-scaler" }
  }
  override_resource {
    target = aws_cloudwatch_event_bus.events
    values = { arn = "arn:aws:events:us-east-1:123456789012:event-bus/fleet-events" }
  }
  override_resource {
    target = aws_sqs_queue.events
    values = { arn = "arn:aws:sqs:us-east-1:123456789012:fleet-events", id = "https://sqs.us-east-1.amazonaws.com/123456789012/fleet-events", url = "https://sqs.us-east-1.amazonaws.com/123456789012/fleet-events" }
  }
  override_resource {
    target = aws_sqs_queue.events_dlq
    values = { arn = "arn:aws:sqs:us-east-1:123456789012:fleet-events-dlq", id = "https://sqs.us-east-1.amazonaws.com/123456789012/fleet-events-dlq", url = "https://sqs.us-east-1.amazonaws.com/123456789012/fleet-events-dlq" }
  }
  override_resource {
    target = aws_cloudfront_distribution.streams
    values = { arn = "arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE", domain_name = "d111111abcdef8.cloudfront.net" }
  }
  override_resource {
    target = aws_cloudfront_origin_access_control.output
    values = { id = "E3OACEXAMPLE" }
  }
  override_resource {
    target = aws_sns_topic.alarms
    values = { arn = "arn:aws:sns:us-east-1:123456789012:fleet-alarms" }
  }
  override_resource {
    target = aws_cloudwatch_event_rule.launch_failed
    values = { arn = "arn:aws:events:us-east-1:123456789012:rule/fleet-launch-failed" }
  }
  override_resource {
    target = aws_cloudfront_response_headers_policy.cors
    values = { id = "rhp-cors-example" }
  }
}

variables {
  input_bucket      = "lectures-in"
  input_prefix      = "AI CERTs/Videos/"
  output_bucket     = "lectures-out"
  output_prefix     = "hls/"
  artifact_bucket   = "fleet-artifacts"
  artifact_version  = "v1.2.3"
  worker_sha256     = "0000000000000000000000000000000000000000000000000000000000000001"
  scaler_zip_sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
  subnet_ids        = ["subnet-aaaa", "subnet-bbbb"]
}

run "defaults" {
  command = apply

  # --- the worker's IAM policy, statement by statement, exactly ---------------------------
  assert {
    condition     = [for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s.Sid] == ["ReadInput", "ListInput", "Output", "ListOutput", "Artifacts", "Table", "Logs", "OwnInstanceLifecycle"]
    error_message = "the worker policy has other statements than expected"
  }
  assert {
    condition = jsonencode(one([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s if s.Sid == "ReadInput"])) == jsonencode({
      Sid      = "ReadInput", Effect = "Allow", Action = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::lectures-in/AI CERTs/Videos/*"]
    })
    error_message = "ReadInput: workers may only GetObject under the input prefix (never delete or write the source library)"
  }
  assert {
    condition = jsonencode(one([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s if s.Sid == "ListInput"])) == jsonencode({
      Sid = "ListInput", Effect = "Allow", Action = ["s3:ListBucket"], Resource = ["arn:aws:s3:::lectures-in"]
    })
    error_message = "ListInput: ListBucket on the input bucket, with no prefix condition (what makes a missing source a 404, not a 403)"
  }
  assert {
    condition = jsonencode(one([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s if s.Sid == "Output"])) == jsonencode({
      Sid      = "Output", Effect = "Allow", Action = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
      Resource = ["arn:aws:s3:::lectures-out/hls/*"]
    })
    error_message = "Output: read back what it published, put, and prune old attempts under the output prefix only"
  }
  assert {
    condition = jsonencode(one([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s if s.Sid == "ListOutput"])) == jsonencode({
      Sid = "ListOutput", Effect = "Allow", Action = ["s3:ListBucket"], Resource = ["arn:aws:s3:::lectures-out"]
    })
    error_message = "ListOutput: ListBucket on the output bucket, unconditioned (a master not published yet reads as 404, not 403)"
  }
  assert {
    condition = jsonencode(one([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s if s.Sid == "Artifacts"])) == jsonencode({
      Sid      = "Artifacts", Effect = "Allow", Action = ["s3:GetObject"]
      Resource = ["arn:aws:s3:::fleet-artifacts/fleet/v1.2.3/fleet-worker"]
    })
    error_message = "Artifacts: this version's worker binary, nothing else (ffmpeg is Debian's)"
  }
  assert {
    condition = jsonencode(one([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s if s.Sid == "Table"])) == jsonencode({
      Sid      = "Table", Effect = "Allow"
      Action   = ["dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
      Resource = ["arn:aws:dynamodb:us-east-1:123456789012:table/fleet-videos", "arn:aws:dynamodb:us-east-1:123456789012:table/fleet-videos/index/ready"]
    })
    error_message = "Table: item reads, the claim (PutItem), heartbeats and outcomes (UpdateItem) on this table; no Scan, no DeleteItem"
  }
  assert {
    condition = jsonencode(one([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s if s.Sid == "Logs"])) == jsonencode({
      Sid      = "Logs", Effect = "Allow", Action = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
      Resource = ["arn:aws:logs:us-east-1:123456789012:log-group:/fleet/worker:*", "arn:aws:logs:us-east-1:123456789012:log-group:/fleet/metrics:*"]
    })
    error_message = "Logs: the worker and metrics log groups only"
  }
  assert {
    condition = jsonencode(one([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s if s.Sid == "OwnInstanceLifecycle"])) == jsonencode({
      Sid      = "OwnInstanceLifecycle", Effect = "Allow"
      Action   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:SetInstanceHealth", "autoscaling:SetInstanceProtection", "autoscaling:TerminateInstanceInAutoScalingGroup"]
      Resource = [aws_autoscaling_group.workers.arn]
    })
    error_message = "OwnInstanceLifecycle: the five lifecycle actions, on this group's ARN"
  }
  # Redundant with the exact statements, but says what matters in words.
  assert {
    condition = alltrue([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement :
      !anytrue([for r in s.Resource : startswith(r, "arn:aws:s3:::lectures-in")]) || alltrue([for a in s.Action : contains(["s3:GetObject", "s3:ListBucket"], a)])
    ])
    error_message = "the source library is read-only for workers"
  }
  assert {
    condition = length(setsubtract(["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:GetItem"], flatten([
    for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s.Action if contains(s.Resource, aws_dynamodb_table.videos.arn)]))) == 0
    error_message = "workers cannot claim: a claim is a Query on the ready index, then a conditional PutItem; heartbeats are UpdateItem"
  }

  # --- the termination hook, the group, the role and user data agree -----------------------
  assert {
    condition     = length(aws_autoscaling_group.workers.initial_lifecycle_hook) == 0
    error_message = "the drain hook must be its own resource (changing it must not replace the group)"
  }
  assert {
    condition     = aws_autoscaling_lifecycle_hook.drain.autoscaling_group_name == aws_autoscaling_group.workers.name
    error_message = "the drain hook is attached to another group"
  }
  assert {
    condition     = aws_autoscaling_lifecycle_hook.drain.lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" && aws_autoscaling_lifecycle_hook.drain.default_result == "CONTINUE"
    error_message = "the drain hook must hold terminating instances and continue when it times out"
  }
  assert {
    condition     = aws_autoscaling_lifecycle_hook.drain.heartbeat_timeout == 210
    error_message = "the hook waits drain_seconds + 120"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.worker.user_data), "Environment=FLEET_LIFECYCLE_HOOK=${aws_autoscaling_lifecycle_hook.drain.name}\n") && strcontains(base64decode(aws_launch_template.worker.user_data), "Environment=FLEET_ASG_NAME=${aws_autoscaling_group.workers.name}\n")
    error_message = "the worker must be told the real group and hook names"
  }
  assert {
    condition     = aws_autoscaling_group.workers.mixed_instances_policy[0].launch_template[0].launch_template_specification[0].launch_template_id == aws_launch_template.worker.id && aws_launch_template.worker.iam_instance_profile[0].arn == aws_iam_instance_profile.worker.arn && aws_iam_instance_profile.worker.role == aws_iam_role.worker.name && aws_iam_role_policy.worker.role == aws_iam_role.worker.id
    error_message = "group -> launch template -> instance profile -> role -> policy wiring is broken"
  }
  assert {
    condition     = jsondecode(aws_iam_role.worker.assume_role_policy).Statement[0].Principal.Service == "ec2.amazonaws.com"
    error_message = "the worker role is for EC2"
  }

  # --- scaling: from and to zero, desired capacity left to the scaler ----------------------
  assert {
    condition     = aws_autoscaling_group.workers.min_size == 0 && aws_autoscaling_group.workers.max_size == 10
    error_message = "the group scales between 0 and max_size"
  }
  assert {
    condition     = aws_lambda_function.scaler.runtime == "provided.al2023" && aws_lambda_function.scaler.architectures == tolist(["arm64"]) && aws_lambda_function.scaler.handler == "bootstrap"
    error_message = "the scaler is an arm64 provided.al2023 function with a bootstrap"
  }
  assert {
    condition     = aws_lambda_function.scaler.s3_bucket == "fleet-artifacts" && aws_lambda_function.scaler.s3_key == "fleet/v1.2.3/fleet-scaler.zip" && aws_lambda_function.scaler.source_code_hash == var.scaler_zip_sha256
    error_message = "the scaler comes from this version's folder with its hash"
  }
  assert {
    condition = aws_lambda_function.scaler.environment[0].variables == tomap({
      FLEET_TABLE        = "fleet-videos", FLEET_ASG_NAME = "fleet-workers", FLEET_SLOTS_PER_INSTANCE = "2",
      FLEET_IDLE_MINUTES = "15", FLEET_METRIC_NAMESPACE = "fleet", FLEET_SETTLE_MINUTES = "5", FLEET_SCALE_OUT_STEP = "10",
    })
    error_message = "scaler environment, with its brakes: settle 5 minutes, steps of 10, zero after 15 idle minutes"
  }
  assert {
    condition     = aws_cloudwatch_event_rule.scaler.schedule_expression == "rate(1 minute)" && aws_cloudwatch_event_target.scaler.arn == aws_lambda_function.scaler.arn && aws_cloudwatch_event_target.scaler.rule == aws_cloudwatch_event_rule.scaler.name
    error_message = "the scaler runs every minute"
  }
  assert {
    condition     = aws_lambda_permission.scaler.principal == "events.amazonaws.com" && aws_lambda_permission.scaler.source_arn == aws_cloudwatch_event_rule.scaler.arn
    error_message = "only the schedule may invoke the scaler"
  }
  assert {
    condition     = aws_lambda_function.scaler.role == aws_iam_role.scaler.arn && aws_iam_role_policy.scaler.role == aws_iam_role.scaler.id && jsondecode(aws_iam_role.scaler.assume_role_policy).Statement[0].Principal.Service == "lambda.amazonaws.com"
    error_message = "scaler role wiring"
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.scaler.policy).Statement == [
      { Sid = "CountBacklog", Effect = "Allow", Action = ["dynamodb:Query"], Resource = ["arn:aws:dynamodb:us-east-1:123456789012:table/fleet-videos/index/ready"] },
      { Sid = "ReadControl", Effect = "Allow", Action = ["dynamodb:GetItem"], Resource = ["arn:aws:dynamodb:us-east-1:123456789012:table/fleet-videos"],
      Condition = { "ForAllValues:StringEquals" = { "dynamodb:LeadingKeys" = ["#scaler", "#control", "#stats"] } } },
      { Sid = "ReadWorkers", Effect = "Allow", Action = ["dynamodb:BatchGetItem"], Resource = ["arn:aws:dynamodb:us-east-1:123456789012:table/fleet-videos"],
      Condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["#worker#*"] } } },
      { Sid = "CorrectCounters", Effect = "Allow", Action = ["dynamodb:UpdateItem"], Resource = ["arn:aws:dynamodb:us-east-1:123456789012:table/fleet-videos"],
      Condition = { "ForAllValues:StringEquals" = { "dynamodb:LeadingKeys" = ["#stats"], "dynamodb:Attributes" = ["pk", "open_adjust", "recounted_at"] } } },
      { Sid = "WriteIdleSince", Effect = "Allow", Action = ["dynamodb:PutItem"], Resource = ["arn:aws:dynamodb:us-east-1:123456789012:table/fleet-videos"],
      Condition = { "ForAllValues:StringEquals" = { "dynamodb:LeadingKeys" = ["#scaler"] } } },
      { Sid = "ReadGroup", Effect = "Allow", Action = ["autoscaling:DescribeAutoScalingGroups"], Resource = ["*"] },
      { Sid = "SetCapacity", Effect = "Allow", Action = ["autoscaling:SetDesiredCapacity"], Resource = [aws_autoscaling_group.workers.arn] },
      { Sid = "Logs", Effect = "Allow", Action = ["logs:CreateLogStream", "logs:PutLogEvents"], Resource = ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fleet-scaler:*"] },
    ]
    error_message = "the scaler's policy differs from: Query the ready index, read #scaler, #control and #stats, read the registry, correct #stats's open_adjust only, write #scaler only, describe groups, set this group's capacity, its own logs"
  }

  # --- user data: verified artifacts, failures mark the instance, systemd gives up --------
  assert {
    condition = alltrue([for s in [
      "set -Eeuo pipefail\n",
      "trap '/usr/local/bin/fleet-mark-unhealthy ",
      "--no-should-respect-grace-period",
      "fetch() { # s3 key, sha256, destination\n  aws s3 cp \"s3://fleet-artifacts/$1\" \"$3\"\n  echo \"$2  $3\" | sha256sum --check --strict -\n}\n",
      "fetch \"fleet/v1.2.3/fleet-worker\" \"0000000000000000000000000000000000000000000000000000000000000001\" /tmp/fleet-worker\n",
      "apt-get install -y -q ffmpeg awscli curl ca-certificates\n",
      "ffmpeg -version\n", "/usr/local/bin/fleet-worker --version\n",
    ] : strcontains(base64decode(aws_launch_template.worker.user_data), s)])
    error_message = "user data must install Debian's ffmpeg, fetch this version's worker, check its sha256, run both once, and mark the instance unhealthy on any failure"
  }
  assert {
    condition = alltrue([for s in [
      "Restart=on-failure\n", "StartLimitIntervalSec=600\n", "StartLimitBurst=3\n", "OnFailure=fleet-unhealthy.service\n",
      "StandardOutput=append:/var/log/fleet/worker.log\n", "KillSignal=SIGTERM\n", "TimeoutStopSec=150\n",
      "Environment=FLEET_CONCURRENCY=2\n", "Environment=FLEET_DRAIN_SECONDS=90\n", "Environment=FLEET_LOG_FORMAT=json\n",
      "Environment=FLEET_TABLE=fleet-videos\n", "Environment=FLEET_METRIC_NAMESPACE=fleet\n",
      "Environment=AWS_EMF_LOG_GROUP_NAME=/fleet/metrics\n", "Environment=AWS_EMF_AGENT_ENDPOINT=udp://127.0.0.1:25888\n",
      "Environment=FLEET_IDLE_REMOVE_MINUTES=20\n",
      "ProtectSystem=strict\nReadWritePaths=/var/lib/fleet /var/log/fleet\n", "PrivateTmp=yes\n", "NoNewPrivileges=yes\n",
      "Environment=TMPDIR=/var/lib/fleet/work\n",
    ] : strcontains(base64decode(aws_launch_template.worker.user_data), s)])
    error_message = "the fleet-worker unit: restart on failure within a start limit, then mark unhealthy; log to the collected file; the contract's environment; sandboxed to its work dir and log"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.worker.user_data), "/Amazon EC2 NVMe Instance Storage/") && strcontains(base64decode(aws_launch_template.worker.user_data), "mount -o noatime \"$nvme\" /var/lib/fleet/work\n")
    error_message = "instance storage, when the type has it, holds the work dir"
  }
  assert {
    condition = !anytrue([for s in ["|| true", "Restart=always", "fleet-lifecycle", "journald"] :
    strcontains(base64decode(aws_launch_template.worker.user_data), s)])
    error_message = "no hidden failures, no endless restarts, no shell lifecycle watcher, no journald input"
  }

  # --- logs and metrics: the agent configuration's shape ---------------------------------
  assert {
    condition     = keys(output.cloudwatch_agent_config.logs) == ["logs_collected", "metrics_collected"] && keys(output.cloudwatch_agent_config.logs.logs_collected) == ["files"]
    error_message = "the agent collects files (not journald) and EMF"
  }
  assert {
    condition     = jsonencode(output.cloudwatch_agent_config.logs.metrics_collected) == jsonencode({ emf = {} })
    error_message = "logs.metrics_collected must be {\"emf\": {}} for the worker's EMF over udp 25888"
  }
  assert {
    condition = [for c in output.cloudwatch_agent_config.logs.logs_collected.files.collect_list : [c.file_path, c.log_group_name, c.log_stream_name]] == [
      ["/var/log/fleet/worker.log", aws_cloudwatch_log_group.worker.name, "{instance_id}"],
      ["/var/log/cloud-init-output.log", aws_cloudwatch_log_group.worker.name, "{instance_id}/boot"],
    ]
    error_message = "the worker's log file and the boot log go to the worker log group, one stream per instance"
  }
  assert {
    condition = alltrue(flatten([for c in output.cloudwatch_agent_config.logs.logs_collected.files.collect_list :
    [for k in keys(c) : contains(["file_path", "log_group_name", "log_stream_name", "timezone"], k)]]))
    error_message = "only keys of the agent's files schema (no 'unit')"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.worker.user_data), jsonencode(output.cloudwatch_agent_config)) && strcontains(base64decode(aws_launch_template.worker.user_data), "amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \\\n  -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json\n")
    error_message = "user data installs exactly this agent configuration and fails if the agent rejects it"
  }

  # --- alarms and dashboard --------------------------------------------------------------
  assert {
    condition     = aws_cloudwatch_metric_alarm.videos_failed.metric_name == "VideosFailed" && aws_cloudwatch_metric_alarm.videos_failed.namespace == "fleet" && aws_cloudwatch_metric_alarm.videos_failed.threshold == 0 && aws_cloudwatch_metric_alarm.videos_failed.period == 300
    error_message = "failed videos alarm"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.oldest_claimable.metric_name == "OldestClaimableAgeSeconds" && aws_cloudwatch_metric_alarm.oldest_claimable.threshold == 3600
    error_message = "oldest claimable alarm"
  }
  assert {
    condition = [for q in aws_cloudwatch_metric_alarm.no_progress.metric_query : q.expression if q.return_data == true] == ["IF(backlog > 0 AND FILL(done, 0) == 0, 1, 0)"] && toset(flatten([
      for q in aws_cloudwatch_metric_alarm.no_progress.metric_query : [for m in q.metric : "${q.id}=${m.metric_name}/${m.stat}/${m.period}"]
    ])) == toset(["backlog=Backlog/Minimum/1800", "done=VideosDone/Sum/1800"])
    error_message = "no-progress alarm: backlog above zero for 30 minutes and no video done"
  }
  assert {
    condition = (aws_cloudwatch_metric_alarm.scaler_silent.metric_name == "Backlog" && aws_cloudwatch_metric_alarm.scaler_silent.statistic == "SampleCount"
      && aws_cloudwatch_metric_alarm.scaler_silent.comparison_operator == "LessThanThreshold" && aws_cloudwatch_metric_alarm.scaler_silent.threshold == 1
    && aws_cloudwatch_metric_alarm.scaler_silent.treat_missing_data == "breaching")
    error_message = "a silent scaler (no Backlog sample in 5 minutes, or none at all) alarms"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.scaler_errors.namespace == "AWS/Lambda" && aws_cloudwatch_metric_alarm.scaler_errors.metric_name == "Errors" && aws_cloudwatch_metric_alarm.scaler_errors.dimensions == tomap({ FunctionName = "fleet-scaler" }) && aws_cloudwatch_metric_alarm.scaler_errors.threshold == 3
    error_message = "a scaler that errs alarms"
  }
  assert {
    condition = (length(aws_sns_topic.alarms) == 1 && length(aws_sns_topic_subscription.alarm_email) == 0 && alltrue([for a in [
      aws_cloudwatch_metric_alarm.videos_failed, aws_cloudwatch_metric_alarm.oldest_claimable, aws_cloudwatch_metric_alarm.no_progress,
      aws_cloudwatch_metric_alarm.scaler_silent, aws_cloudwatch_metric_alarm.scaler_errors, aws_cloudwatch_metric_alarm.replacement_loop,
    ] : a.alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:fleet-alarms"]) && a.ok_actions == toset(["arn:aws:sns:us-east-1:123456789012:fleet-alarms"])]))
    error_message = "by default every alarm notifies a topic of the fleet's own, in and out of alarm"
  }
  assert {
    condition = (jsondecode(aws_cloudwatch_event_rule.launch_failed.event_pattern) == {
      source = ["aws.autoscaling"], "detail-type" = ["EC2 Instance Launch Unsuccessful"], detail = { AutoScalingGroupName = ["fleet-workers"] }
      } && aws_cloudwatch_event_target.launch_failed.arn == "arn:aws:sns:us-east-1:123456789012:fleet-alarms"
      && one([for st in jsondecode(aws_sns_topic_policy.alarms[0].policy).Statement : st if st.Sid == "LaunchFailures"]).Principal == { Service = "events.amazonaws.com" }
    )
    error_message = "launch failures of this group go to the topic, which lets EventBridge publish"
  }
  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.fleet.dashboard_body).widgets) == 6
    error_message = "dashboard widgets"
  }

  # --- buckets, network, AMI, playback, table ---------------------------------------------
  assert {
    condition     = length(aws_s3_bucket.created) == 0 && length(aws_s3_bucket_public_access_block.managed) == 0 && length(aws_s3_bucket_server_side_encryption_configuration.managed) == 0 && length(aws_s3_bucket_lifecycle_configuration.managed) == 0 && length(aws_s3_bucket_policy.output_cdn) == 0
    error_message = "by default fleet must not touch the settings of buckets it did not create"
  }
  assert {
    condition     = aws_launch_template.worker.vpc_security_group_ids == toset([aws_security_group.worker.id]) && aws_security_group.worker.vpc_id == "vpc-0123456789abcdef0" && aws_vpc_security_group_egress_rule.worker_all.security_group_id == aws_security_group.worker.id
    error_message = "workers run in their own egress-only security group"
  }
  assert {
    condition     = length(aws_vpc_endpoint.gateway) == 0
    error_message = "no endpoints unless route tables are given"
  }
  assert {
    condition     = aws_launch_template.worker.image_id == "ami-0123456789abcdef0" && output.ami_id == "ami-0123456789abcdef0"
    error_message = "the AMI comes from the AL2023 arm64 SSM parameter, pinned and shown"
  }
  assert {
    condition     = aws_launch_template.worker.metadata_options[0].http_tokens == "required" && aws_launch_template.worker.block_device_mappings[0].ebs[0].encrypted == "true"
    error_message = "IMDSv2 only, encrypted root volume"
  }
  assert {
    condition     = aws_launch_template.worker.instance_type == "c6g.xlarge" && tolist([for o in aws_autoscaling_group.workers.mixed_instances_policy[0].launch_template[0].override : o.instance_type]) == var.instance_types
    error_message = "the pools are the instance_types, c6g.xlarge first"
  }
  assert {
    condition     = aws_autoscaling_group.workers.mixed_instances_policy[0].instances_distribution[0].on_demand_percentage_above_base_capacity == 100 && !aws_autoscaling_group.workers.capacity_rebalance
    error_message = "without use_spot everything is on-demand"
  }
  assert {
    condition     = aws_autoscaling_group.workers.protect_from_scale_in && aws_autoscaling_group.workers.suspended_processes == toset(["AZRebalance"])
    error_message = "instances start protected (a shrink never takes a booting one) and AZ rebalancing never terminates a busy one"
  }
  assert {
    condition = (aws_autoscaling_group.workers.instance_refresh[0].preferences[0].min_healthy_percentage == 100
      && aws_autoscaling_group.workers.instance_refresh[0].preferences[0].max_healthy_percentage == 200
    && aws_autoscaling_group.workers.instance_refresh[0].preferences[0].scale_in_protected_instances == "Refresh")
    error_message = "a refresh launches replacements first (100% healthy kept) and ends busy instances only through the drain hook"
  }
  assert {
    condition     = aws_autoscaling_lifecycle_hook.drain.heartbeat_timeout == 210 && aws_autoscaling_lifecycle_hook.drain.default_result == "CONTINUE"
    error_message = "the drain hook: the worker heartbeats it every minute while it finishes its jobs"
  }
  assert {
    condition     = [aws_iam_role.worker.name, aws_iam_instance_profile.worker.name, aws_iam_role.scaler.name, aws_iam_policy.operator.name] == ["fleet-worker-us-east-1", "fleet-worker-us-east-1", "fleet-scaler-us-east-1", "fleet-operator-us-east-1"]
    error_message = "IAM names are global: they carry the region, so a fleet of the same name in another region does not collide"
  }
  assert {
    condition     = output.report_command == "AWS_REGION=us-east-1 fleet-admin --table fleet-videos report --watch 30"
    error_message = "the printed commands name the region they must run against"
  }
  assert {
    condition     = length(aws_security_group.worker.ingress) == 0
    error_message = "the workers' security group has no inbound rule"
  }
  assert {
    condition     = length(aws_cloudfront_distribution.streams) == 0 && output.playback_url_template == null
    error_message = "no CloudFront unless asked"
  }
  assert {
    condition     = aws_dynamodb_table.videos.billing_mode == "PAY_PER_REQUEST" && aws_dynamodb_table.videos.point_in_time_recovery[0].enabled && aws_dynamodb_table.videos.deletion_protection_enabled
    error_message = "on-demand billing, point-in-time recovery, deletion protection"
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

  # --- the operator policy ----------------------------------------------------------------
  assert {
    condition = [for s in jsondecode(aws_iam_policy.operator.policy).Statement : "${s.Sid}:${join(",", s.Action)}:${join(",", s.Resource)}"] == [
      "Table:dynamodb:BatchGetItem,dynamodb:DeleteItem,dynamodb:DescribeTable,dynamodb:GetItem,dynamodb:PutItem,dynamodb:Query,dynamodb:Scan,dynamodb:UpdateItem:arn:aws:dynamodb:us-east-1:123456789012:table/fleet-videos,arn:aws:dynamodb:us-east-1:123456789012:table/fleet-videos/index/ready",
      "ListInput:s3:ListBucket:arn:aws:s3:::lectures-in",
      "ListOutput:s3:ListBucket:arn:aws:s3:::lectures-out",
      "ReadOutput:s3:GetObject:arn:aws:s3:::lectures-out/hls/*",
      "SeedCheck:s3:DeleteObject,s3:PutObject:arn:aws:s3:::lectures-out/hls/*.fleet-seed-check-*",
    ] && output.operator_policy_arn == "arn:aws:iam::123456789012:policy/fleet-operator" && alltrue([for s in jsondecode(aws_iam_policy.operator.policy).Statement : !can(s.Condition)])
    error_message = "operator policy: table items, list both buckets (unconditioned: HeadBucket and audit's HEADs carry no prefix), read the streams, seed's check object; nothing fleet-admin does not call"
  }
  assert {
    condition     = output.seed_command == "AWS_REGION=us-east-1 fleet-admin --table fleet-videos seed 's3://lectures-in/AI CERTs/Videos/' 's3://lectures-out/hls/'"
    error_message = "seed command output"
  }

  # --- events: off by default ---------------------------------------------------------------
  assert {
    condition     = length(aws_cloudwatch_event_bus.events) == 0 && length(aws_cloudwatch_event_rule.events) == 0 && length(aws_cloudwatch_event_target.events) == 0 && length(aws_sqs_queue.events) == 0 && length(aws_sqs_queue.events_dlq) == 0 && length(aws_sqs_queue_policy.events) == 0 && length(aws_sqs_queue_policy.events_dlq) == 0
    error_message = "no bus, rules or queues unless asked"
  }
  assert {
    condition     = !anytrue([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : anytrue([for a in s.Action : startswith(a, "events:")])])
    error_message = "without a bus the worker may not put events"
  }
  assert {
    condition     = !strcontains(base64decode(aws_launch_template.worker.user_data), "FLEET_EVENT_BUS")
    error_message = "without a bus the worker is not given FLEET_EVENT_BUS"
  }
  assert {
    condition     = output.event_bus_name == null && output.event_bus_arn == null && output.event_queue_url == null && output.event_dlq_url == null
    error_message = "event outputs are null without events"
  }
}

run "drain_change_updates_the_hook_not_the_group" {
  command = plan
  variables {
    drain_seconds = 600
  }
  assert {
    condition     = aws_autoscaling_lifecycle_hook.drain.heartbeat_timeout == 720 && length(aws_autoscaling_group.workers.initial_lifecycle_hook) == 0
    error_message = "drain_seconds moves the separate hook's heartbeat; the group has no inline hook to replace"
  }
  assert {
    condition     = aws_autoscaling_group.workers.name == "fleet-workers" && strcontains(base64decode(aws_launch_template.worker.user_data), "TimeoutStopSec=660\n") && strcontains(base64decode(aws_launch_template.worker.user_data), "Environment=FLEET_DRAIN_SECONDS=600\n")
    error_message = "the worker drains for drain_seconds and systemd waits a minute longer"
  }
}

run "new_version_rolls_the_fleet" {
  command = plan
  variables {
    artifact_version = "v1.2.4"
    worker_sha256    = "00000000000000000000000000000000000000000000000000000000000000ff"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.worker.user_data), "fetch \"fleet/v1.2.4/fleet-worker\" \"00000000000000000000000000000000000000000000000000000000000000ff\"") && aws_lambda_function.scaler.s3_key == "fleet/v1.2.4/fleet-scaler.zip"
    error_message = "a new version is a new folder and hash"
  }
  assert {
    condition     = contains(aws_autoscaling_group.workers.instance_refresh[0].triggers, "tag") && one([for t in aws_autoscaling_group.workers.tag : t.value if t.key == "FleetVersion"]) == "v1.2.4" && aws_autoscaling_group.workers.instance_refresh[0].preferences[0].scale_in_protected_instances == "Refresh"
    error_message = "a version change starts an instance refresh that also replaces busy instances (through the drain hook)"
  }
}

run "create_buckets" {
  command = apply
  variables {
    create_buckets = true
  }
  assert {
    condition     = toset(keys(aws_s3_bucket.created)) == toset(["lectures-in", "lectures-out"]) && alltrue([for b in aws_s3_bucket.created : !b.force_destroy])
    error_message = "both buckets created, never force-destroyed"
  }
  assert {
    condition = alltrue([for b in aws_s3_bucket_public_access_block.managed :
    b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets]) && length(aws_s3_bucket_public_access_block.managed) == 2
    error_message = "created buckets block public access"
  }
  assert {
    condition     = length(aws_s3_bucket_lifecycle_configuration.managed) == 2 && length(aws_s3_bucket_server_side_encryption_configuration.managed) == 2
    error_message = "created buckets get encryption and multipart cleanup"
  }
}

run "existing_buckets_by_opt_in" {
  command = plan
  variables {
    manage_existing_buckets = true
  }
  assert {
    condition     = length(aws_s3_bucket.created) == 0 && toset([for b in aws_s3_bucket_public_access_block.managed : b.bucket]) == toset(["lectures-in", "lectures-out"])
    error_message = "manage_existing_buckets takes over the settings of the existing buckets"
  }
}

run "spot" {
  command = plan
  variables {
    use_spot                = true
    on_demand_base_capacity = 1
  }
  assert {
    condition     = aws_autoscaling_group.workers.capacity_rebalance && aws_autoscaling_group.workers.mixed_instances_policy[0].instances_distribution[0].on_demand_base_capacity == 1 && aws_autoscaling_group.workers.mixed_instances_policy[0].instances_distribution[0].on_demand_percentage_above_base_capacity == 0
    error_message = "spot above an on-demand base, with capacity rebalancing"
  }
  assert {
    condition     = aws_autoscaling_group.workers.mixed_instances_policy[0].instances_distribution[0].spot_allocation_strategy == "price-capacity-optimized" && length(aws_autoscaling_group.workers.mixed_instances_policy[0].launch_template[0].override) == 8
    error_message = "spot draws on eight Graviton pools"
  }
}

run "ami_id" {
  command = apply
  variables {
    ami_id = "ami-0fedcba9876543210"
  }
  assert {
    condition     = aws_launch_template.worker.image_id == "ami-0fedcba9876543210" && output.ami_id == "ami-0fedcba9876543210"
    error_message = "ami_id is the image"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.worker.user_data), "ffmpeg -version\n")
    error_message = "with ami_id ffmpeg is still checked"
  }
}

run "cloudfront_on_created_bucket" {
  command = apply
  variables {
    create_buckets       = true
    enable_cloudfront    = true
    cors_allowed_origins = ["https://player.example.com"]
  }
  assert {
    condition     = one(aws_cloudfront_distribution.streams[0].origin).origin_path == "/hls" && one(aws_cloudfront_distribution.streams[0].origin).origin_access_control_id == "E3OACEXAMPLE" && one(aws_cloudfront_distribution.streams[0].origin).domain_name == "lectures-out.s3.us-east-1.amazonaws.com"
    error_message = "CloudFront reads the output prefix through origin access control"
  }
  assert {
    condition     = aws_cloudfront_distribution.streams[0].default_cache_behavior[0].response_headers_policy_id == "rhp-cors-example" && aws_cloudfront_response_headers_policy.cors[0].cors_config[0].access_control_allow_origins[0].items == toset(["https://player.example.com"]) && aws_cloudfront_distribution.streams[0].default_cache_behavior[0].viewer_protocol_policy == "redirect-to-https"
    error_message = "CORS for the player's origin, HTTPS only"
  }
  assert {
    condition = jsondecode(aws_s3_bucket_policy.output_cdn[0].policy).Statement == [{
      Sid      = "CloudFrontReadsStreams", Effect = "Allow", Principal = { Service = "cloudfront.amazonaws.com" }, Action = "s3:GetObject",
      Resource = "arn:aws:s3:::lectures-out/hls/*", Condition = { StringEquals = { "AWS:SourceArn" = "arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE" } }
    }] && aws_s3_bucket_policy.output_cdn[0].bucket == aws_s3_bucket.created["lectures-out"].id
    error_message = "only this distribution may read the streams"
  }
  assert {
    condition     = output.playback_url_template == "https://d111111abcdef8.cloudfront.net/{key}/master.m3u8"
    error_message = "playback URL output"
  }
}

run "cloudfront_on_bucket_fleet_does_not_own" {
  command = plan
  variables {
    enable_cloudfront = true
  }
  assert {
    condition     = length(aws_s3_bucket_policy.output_cdn) == 0 && length(aws_s3_bucket_cors_configuration.output) == 0 && output.output_bucket_policy_json != null
    error_message = "an existing bucket's policy is not replaced: the statement is an output to merge"
  }
}

run "endpoints_and_kms" {
  command = plan
  variables {
    vpc_endpoint_route_table_ids = ["rtb-aaaa"]
    kms_key_arns                 = ["arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
  }
  assert {
    condition     = toset([for e in aws_vpc_endpoint.gateway : e.service_name]) == toset(["com.amazonaws.us-east-1.s3", "com.amazonaws.us-east-1.dynamodb"]) && alltrue([for e in aws_vpc_endpoint.gateway : e.route_table_ids == toset(["rtb-aaaa"]) && e.vpc_endpoint_type == "Gateway"])
    error_message = "S3 and DynamoDB gateway endpoints on the given route tables"
  }
  assert {
    condition = jsonencode(one([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s if s.Sid == "KmsThroughS3"])) == jsonencode({
      Sid       = "KmsThroughS3", Effect = "Allow", Action = ["kms:Decrypt", "kms:GenerateDataKey"]
      Resource  = ["arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
      Condition = { StringEquals = { "kms:ViaService" = "s3.us-east-1.amazonaws.com" } }
    })
    error_message = "SSE-KMS keys: decrypt and data keys, only through S3"
  }
}

run "events_with_created_bus_and_queue" {
  command = apply
  variables {
    create_event_bus = true
    event_queue      = true
  }
  assert {
    condition     = aws_cloudwatch_event_bus.events[0].name == "fleet-events" && output.event_bus_name == "fleet-events" && output.event_bus_arn == "arn:aws:events:us-east-1:123456789012:event-bus/fleet-events"
    error_message = "with event_bus empty the created bus is <name>-events"
  }
  assert {
    condition = jsonencode({ for k, r in aws_cloudwatch_event_rule.events : r.name => jsondecode(r.event_pattern) }) == jsonencode({
      "fleet-video-done"     = { source = ["fleet"], "detail-type" = ["Video Done"] }
      "fleet-video-failed"   = { source = ["fleet"], "detail-type" = ["Video Failed"] }
      "fleet-video-retrying" = { source = ["fleet"], "detail-type" = ["Video Retrying"] }
      "fleet-video-requeued" = { source = ["fleet"], "detail-type" = ["Video Requeued"] }
    }) && alltrue([for r in aws_cloudwatch_event_rule.events : r.event_bus_name == "fleet-events"])
    error_message = "one rule per detail-type, source fleet, on the fleet's bus"
  }
  assert {
    condition = length(aws_cloudwatch_event_target.events) == 4 && alltrue([for k, t in aws_cloudwatch_event_target.events :
      t.rule == aws_cloudwatch_event_rule.events[k].name && t.event_bus_name == "fleet-events" && t.arn == "arn:aws:sqs:us-east-1:123456789012:fleet-events" && t.dead_letter_config[0].arn == "arn:aws:sqs:us-east-1:123456789012:fleet-events-dlq"
    ])
    error_message = "each rule targets the queue, with the DLQ for delivery failures"
  }
  assert {
    condition     = aws_sqs_queue.events[0].name == "fleet-events" && aws_sqs_queue.events_dlq[0].name == "fleet-events-dlq" && jsondecode(aws_sqs_queue.events[0].redrive_policy) == { deadLetterTargetArn = "arn:aws:sqs:us-east-1:123456789012:fleet-events-dlq", maxReceiveCount = 5 }
    error_message = "the queue redrives to the DLQ after 5 receives"
  }
  assert {
    condition     = aws_sqs_queue.events[0].sqs_managed_sse_enabled && aws_sqs_queue.events_dlq[0].sqs_managed_sse_enabled
    error_message = "both queues are encrypted (SSE-SQS)"
  }
  assert {
    condition = length(distinct([for r in aws_cloudwatch_event_rule.events : r.arn])) == 4 && jsonencode(jsondecode(aws_sqs_queue_policy.events[0].policy).Statement) == jsonencode([{
      Sid       = "FleetEventRules", Effect = "Allow", Principal = { Service = "events.amazonaws.com" }, Action = "sqs:SendMessage",
      Resource  = "arn:aws:sqs:us-east-1:123456789012:fleet-events"
      Condition = { ArnEquals = { "aws:SourceArn" = [for r in aws_cloudwatch_event_rule.events : r.arn] } }
    }]) && aws_sqs_queue_policy.events[0].queue_url == "https://sqs.us-east-1.amazonaws.com/123456789012/fleet-events"
    error_message = "only the four rules may send to the queue"
  }
  assert {
    condition = jsonencode(jsondecode(aws_sqs_queue_policy.events_dlq[0].policy).Statement) == jsonencode([{
      Sid       = "FleetEventRulesDeadLetters", Effect = "Allow", Principal = { Service = "events.amazonaws.com" }, Action = "sqs:SendMessage",
      Resource  = "arn:aws:sqs:us-east-1:123456789012:fleet-events-dlq"
      Condition = { ArnEquals = { "aws:SourceArn" = [for r in aws_cloudwatch_event_rule.events : r.arn] } }
    }]) && aws_sqs_queue_policy.events_dlq[0].queue_url == "https://sqs.us-east-1.amazonaws.com/123456789012/fleet-events-dlq"
    error_message = "the rules may dead-letter undeliverable events to the DLQ"
  }
  assert {
    condition = jsonencode(one([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s if s.Sid == "PutEvents"])) == jsonencode({
      Sid       = "PutEvents", Effect = "Allow", Action = ["events:PutEvents"]
      Resource  = ["arn:aws:events:us-east-1:123456789012:event-bus/fleet-events"]
      Condition = { StringEquals = { "events:source" = ["fleet"] } }
    }) && [for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s.Sid][8] == "PutEvents"
    error_message = "PutEvents: the fleet's bus only (never \"*\"), source fleet only"
  }
  assert {
    condition = jsonencode(one([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s if s.Sid == "SettleOwedEvents"])) == jsonencode({
      Sid       = "SettleOwedEvents", Effect = "Allow", Action = ["dynamodb:DeleteItem"]
      Resource  = ["arn:aws:dynamodb:us-east-1:123456789012:table/fleet-videos"]
      Condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["#event#*"] } }
    }) && !anytrue([for s in jsondecode(aws_iam_policy.operator.policy).Statement : s.Sid == "SettleOwedEvents"])
    error_message = "with a bus, workers may delete owed-event items (#event#…) and nothing else"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.worker.user_data), "Environment=FLEET_METRIC_NAMESPACE=fleet\nEnvironment=FLEET_EVENT_BUS=fleet-events\nEnvironment=AWS_EMF_LOG_GROUP_NAME=")
    error_message = "the worker is told the bus (FLEET_EVENT_BUS) in its unit"
  }
  assert {
    condition     = output.event_queue_url == "https://sqs.us-east-1.amazonaws.com/123456789012/fleet-events" && output.event_dlq_url == "https://sqs.us-east-1.amazonaws.com/123456789012/fleet-events-dlq"
    error_message = "queue outputs"
  }
}

run "created_bus_takes_event_bus_as_its_name" {
  command = plan
  variables {
    event_bus        = "media-events"
    create_event_bus = true
  }
  assert {
    condition     = aws_cloudwatch_event_bus.events[0].name == "media-events" && strcontains(base64decode(aws_launch_template.worker.user_data), "Environment=FLEET_EVENT_BUS=media-events\n")
    error_message = "create_event_bus creates the bus event_bus names"
  }
  assert {
    condition     = length(aws_sqs_queue.events) == 0 && length(aws_cloudwatch_event_rule.events) == 0
    error_message = "no example queue unless event_queue"
  }
}

run "events_on_existing_bus" {
  command = plan
  variables {
    event_bus   = "orders"
    event_queue = true
  }
  assert {
    condition     = length(aws_cloudwatch_event_bus.events) == 0 && output.event_bus_name == "orders" && output.event_bus_arn == "arn:aws:events:us-east-1:123456789012:event-bus/orders"
    error_message = "an existing bus is used, not created"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.worker.policy).Statement : s.Resource if s.Sid == "PutEvents"]) == ["arn:aws:events:us-east-1:123456789012:event-bus/orders"]
    error_message = "PutEvents on the existing bus's ARN only"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_policy.operator.policy).Statement : s.Resource if s.Sid == "PutEvents"]) == ["arn:aws:events:us-east-1:123456789012:event-bus/orders"]
    error_message = "the operator (retry, events replay) may PutEvents on the bus's ARN only"
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.worker.user_data), "Environment=FLEET_EVENT_BUS=orders\n")
    error_message = "the worker is told the existing bus"
  }
  assert {
    condition     = length(aws_cloudwatch_event_rule.events) == 4 && alltrue([for r in aws_cloudwatch_event_rule.events : r.event_bus_name == "orders"]) && alltrue([for t in aws_cloudwatch_event_target.events : t.event_bus_name == "orders"])
    error_message = "the example rules sit on the existing bus"
  }
}

run "event_queue_without_bus_is_refused" {
  command = plan
  variables {
    event_queue = true
  }
  expect_failures = [aws_sqs_queue.events]
}

run "creating_the_default_bus_is_refused" {
  command = plan
  variables {
    event_bus        = "default"
    create_event_bus = true
  }
  expect_failures = [aws_cloudwatch_event_bus.events]
}

run "x86_instance_type_is_refused" {
  command = plan
  variables {
    instance_types = ["c6g.xlarge", "c6i.xlarge"]
  }
  expect_failures = [var.instance_types]
}

run "bad_hashes_are_refused" {
  command = plan
  variables {
    worker_sha256     = "not-a-hash"
    scaler_zip_sha256 = "0000000000000000000000000000000000000000000000000000000000000001"
  }
  expect_failures = [var.worker_sha256, var.scaler_zip_sha256]
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

run "alarm_email_and_own_topic" {
  command = plan
  variables {
    alarm_email     = "ops@example.com"
    alarm_topic_arn = "arn:aws:sns:us-east-1:123456789012:ops"
  }
  assert {
    condition     = length(aws_sns_topic.alarms) == 0 && aws_sns_topic_subscription.alarm_email[0].endpoint == "ops@example.com" && aws_sns_topic_subscription.alarm_email[0].topic_arn == "arn:aws:sns:us-east-1:123456789012:ops"
    error_message = "a given topic is used, not created, and the address subscribed to it"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.videos_failed.alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:ops"]) && aws_cloudwatch_event_target.launch_failed.arn == "arn:aws:sns:us-east-1:123456789012:ops"
    error_message = "alarms and launch failures go to the given topic"
  }
}

run "prefix_without_slash_is_refused" {
  command = plan
  variables {
    input_prefix = "videos"
  }
  expect_failures = [var.input_prefix]
}

run "output_prefix_without_slash_is_refused" {
  command = plan
  variables {
    output_prefix = "hls"
  }
  expect_failures = [var.output_prefix]
}

run "min_above_max_is_refused" {
  command = plan
  variables {
    min_size = 5
    max_size = 2
  }
  expect_failures = [var.min_size]
}

run "bad_alarm_email_is_refused" {
  command = plan
  variables {
    alarm_email = "not an address"
  }
  expect_failures = [var.alarm_email]
}
