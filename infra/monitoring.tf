# Logs, alarms and the dashboard. The metrics come from the workers (EMF through the
# CloudWatch agent: VideosDone, VideosFailed, JobSeconds, ContentSeconds, Speed, BytesIn,
# BytesOut, BusySlots, FreeSlots) and from fleet-scaler (Backlog, Claimable, Running,
# OldestClaimableAgeSeconds, DesiredInstances), all in namespace var.name, without dimensions.

resource "aws_cloudwatch_log_group" "worker" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
}

# Where the agent writes the workers' EMF records (they name it in _aws.LogGroupName).
resource "aws_cloudwatch_log_group" "metrics" {
  name              = local.metrics_group
  retention_in_days = var.log_retention_days
}

# fleet-mark-unhealthy (failed boot, crash loop) writes FLEET_UNHEALTHY into the worker log.
resource "aws_cloudwatch_log_metric_filter" "unhealthy" {
  name           = "${var.name}-instances-marked-unhealthy"
  log_group_name = aws_cloudwatch_log_group.worker.name
  pattern        = "\"FLEET_UNHEALTHY\""
  metric_transformation {
    name          = "InstancesMarkedUnhealthy"
    namespace     = local.namespace
    value         = "1"
    default_value = "0"
  }
}

# Where alarms go: a topic of the fleet's own unless alarm_topic_arn names one. Alarms that
# notify nobody are decoration; alarm_email subscribes an address (AWS mails a confirmation
# link first).
resource "aws_sns_topic" "alarms" {
  count = var.alarm_topic_arn == "" ? 1 : 0
  name  = "${var.name}-alarms"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = local.alarm_topic
  protocol  = "email"
  endpoint  = var.alarm_email
}

# EventBridge may publish the group's launch failures to the fleet's topic (CloudWatch alarms
# publish as the account and need no statement). A topic given in alarm_topic_arn needs the
# same statement from its owner.
resource "aws_sns_topic_policy" "alarms" {
  count = var.alarm_topic_arn == "" ? 1 : 0
  arn   = aws_sns_topic.alarms[0].arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "Account"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root" }
        Action    = ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:ListSubscriptionsByTopic"]
        Resource  = aws_sns_topic.alarms[0].arn
      },
      {
        Sid       = "LaunchFailures"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alarms[0].arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.launch_failed.arn } }
      },
    ]
  })
}

locals {
  alarm_topic   = var.alarm_topic_arn == "" ? aws_sns_topic.alarms[0].arn : var.alarm_topic_arn
  alarm_actions = [local.alarm_topic]
}

# A launch the group could not make (a vCPU quota, no capacity in any pool, a bad AMI) goes
# straight to the topic: the group retries quietly otherwise, and the fleet stays small.
resource "aws_cloudwatch_event_rule" "launch_failed" {
  name        = "${var.name}-launch-failed"
  description = "The worker group could not launch an instance"
  event_pattern = jsonencode({
    source        = ["aws.autoscaling"]
    "detail-type" = ["EC2 Instance Launch Unsuccessful"]
    detail        = { AutoScalingGroupName = [local.asg_name] }
  })
}

resource "aws_cloudwatch_event_target" "launch_failed" {
  rule = aws_cloudwatch_event_rule.launch_failed.name
  arn  = local.alarm_topic
}

# The scaler erring (it cannot read the table or resize the group) is an outage of scaling in
# both directions; three failed ticks in five minutes is not a blip.
resource "aws_cloudwatch_metric_alarm" "scaler_errors" {
  alarm_name          = "${var.name}-scaler-errors"
  alarm_description   = "fleet-scaler failed 3 or more of its runs in 5 minutes: nothing scales. See /aws/lambda/${local.scaler_name}."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = local.scaler_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "videos_failed" {
  alarm_name          = "${var.name}-videos-failed"
  alarm_description   = "Videos were marked failed: fleet-admin report lists them with the reason; fleet-admin retry --failed requeues them."
  namespace           = local.namespace
  metric_name         = "VideosFailed"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.failed_videos_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "oldest_claimable" {
  alarm_name          = "${var.name}-oldest-claimable-age"
  alarm_description   = "A claimable video has waited longer than ${var.oldest_claimable_alarm_seconds} s: too few workers, or none starting."
  namespace           = local.namespace
  metric_name         = "OldestClaimableAgeSeconds"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.oldest_claimable_alarm_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# No progress across the fleet: work is waiting the whole window and nothing finished.
resource "aws_cloudwatch_metric_alarm" "no_progress" {
  alarm_name          = "${var.name}-no-progress"
  alarm_description   = "The backlog stayed above zero for ${var.no_progress_alarm_minutes} minutes and no video finished."
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "stalled"
    expression  = "IF(backlog > 0 AND FILL(done, 0) == 0, 1, 0)"
    label       = "Backlog waiting, nothing done"
    return_data = true
  }
  metric_query {
    id = "backlog"
    metric {
      namespace   = local.namespace
      metric_name = "Backlog"
      stat        = "Minimum"
      period      = var.no_progress_alarm_minutes * 60
    }
  }
  metric_query {
    id = "done"
    metric {
      namespace   = local.namespace
      metric_name = "VideosDone"
      stat        = "Sum"
      period      = var.no_progress_alarm_minutes * 60
    }
  }
}

# The scaler is the only thing that starts workers: its silence is an outage.
resource "aws_cloudwatch_metric_alarm" "scaler_silent" {
  alarm_name          = "${var.name}-scaler-silent"
  alarm_description   = "fleet-scaler published no Backlog for 5 minutes: nothing scales. See /aws/lambda/${local.scaler_name}."
  namespace           = local.namespace
  metric_name         = "Backlog"
  statistic           = "SampleCount"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# A bad artifact or AMI makes every new instance fail and be replaced, over and over.
resource "aws_cloudwatch_metric_alarm" "replacement_loop" {
  alarm_name          = "${var.name}-instances-marked-unhealthy"
  alarm_description   = "Instances keep marking themselves unhealthy (boot or crash loop): see the {instance_id}/boot streams of ${local.log_group}."
  namespace           = local.namespace
  metric_name         = aws_cloudwatch_log_metric_filter.unhealthy.metric_transformation[0].name
  statistic           = "Sum"
  period              = 1800
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

locals {
  dashboard_widgets = [
    { title = "Backlog", metrics = [["Backlog", "Maximum"], ["Claimable", "Maximum"], ["Running", "Maximum"]], period = 60 },
    { title = "Instances", metrics = [["DesiredInstances", "Maximum"]], asg = true, period = 60 },
    { title = "Videos per 5 minutes", metrics = [["VideosDone", "Sum"], ["VideosFailed", "Sum"]], period = 300 },
    { title = "Speed (content s / wall s)", metrics = [["Speed", "Average"]], period = 300 },
    { title = "Slots", metrics = [["BusySlots", "Sum"], ["FreeSlots", "Sum"]], period = 60 },
    { title = "Oldest claimable video (s)", metrics = [["OldestClaimableAgeSeconds", "Maximum"]], period = 60 },
  ]
}

resource "aws_cloudwatch_dashboard" "fleet" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [for i, w in local.dashboard_widgets : {
      type   = "metric"
      x      = (i % 2) * 12
      y      = floor(i / 2) * 6
      width  = 12
      height = 6
      properties = {
        title  = w.title
        region = local.region
        view   = "timeSeries"
        period = w.period
        metrics = concat(
          [for m in w.metrics : [local.namespace, m[0], { stat = m[1] }]],
          try(w.asg, false) ? [
            ["AWS/AutoScaling", "GroupDesiredCapacity", "AutoScalingGroupName", local.asg_name, { stat = "Maximum" }],
            ["AWS/AutoScaling", "GroupInServiceInstances", "AutoScalingGroupName", local.asg_name, { stat = "Maximum" }],
          ] : [],
        )
      }
    }]
  })
}
