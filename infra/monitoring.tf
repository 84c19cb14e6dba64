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

locals {
  alarm_actions = var.alarm_topic_arn == "" ? [] : [var.alarm_topic_arn]
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
