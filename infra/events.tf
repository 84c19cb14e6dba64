# Optional completion events. With a bus (event_bus, or create_event_bus), each worker puts
# events on it (FLEET_EVENT_BUS): source "fleet", detail-type one of local.event_detail_types.
# `fleet-admin retry` puts "Video Requeued" and `events replay` re-sends done/failed events,
# with the operator's credentials: the operator policy gets the same grant. event_queue adds an example consumer: one rule per
# detail-type, all delivering to an SQS queue with a dead-letter queue.
locals {
  # The bus, from the variables alone (known at plan): create_event_bus creates event_bus, or
  # "<name>-events" when event_bus is empty; otherwise event_bus is an existing bus (or "").
  event_bus_name = var.create_event_bus ? (var.event_bus != "" ? var.event_bus : "${var.name}-events") : var.event_bus
  events_enabled = local.event_bus_name != ""
  # Through the resource when fleet creates the bus, so that everything using it waits for it.
  event_bus     = var.create_event_bus ? aws_cloudwatch_event_bus.events[0].name : var.event_bus
  event_bus_arn = !local.events_enabled ? null : var.create_event_bus ? aws_cloudwatch_event_bus.events[0].arn : "${local.arn_prefix}:events:${local.region}:${local.account_id}:event-bus/${var.event_bus}"

  event_source = "fleet"
  event_detail_types = {
    video-done     = "Video Done"
    video-failed   = "Video Failed"
    video-retrying = "Video Retrying"
    video-requeued = "Video Requeued"
  }
  # The queue needs a bus; without one the precondition on aws_sqs_queue.events says so.
  event_rules     = var.event_queue && local.events_enabled ? local.event_detail_types : {}
  event_rule_arns = [for r in aws_cloudwatch_event_rule.events : r.arn]

  # The grant appended to the worker's policy (iam.tf), only with a bus.
  worker_event_statements = local.events_enabled ? [{
    Sid       = "PutEvents"
    Effect    = "Allow"
    Action    = ["events:PutEvents"]
    Resource  = [local.event_bus_arn]
    Condition = { StringEquals = { "events:source" = [local.event_source] } }
  }] : []

  # Events a bus refused are owed in the table (`#event#<id>` items); a worker that sends one
  # later deletes its item. Only those items: the workers delete no video.
  worker_outbox_statements = local.events_enabled ? [{
    Sid       = "SettleOwedEvents"
    Effect    = "Allow"
    Action    = ["dynamodb:DeleteItem"]
    Resource  = [aws_dynamodb_table.videos.arn]
    Condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["#event#*"] } }
  }] : []
}

resource "aws_cloudwatch_event_bus" "events" {
  count = var.create_event_bus ? 1 : 0
  name  = local.event_bus_name

  lifecycle {
    precondition {
      condition     = local.event_bus_name != "default" && !startswith(local.event_bus_name, "aws.") && !strcontains(local.event_bus_name, "/")
      error_message = "create_event_bus cannot create \"default\", an \"aws.\" bus or a partner bus: pick another event_bus, or set create_event_bus = false to use an existing one."
    }
  }
}

# --- the example consumer (event_queue) -------------------------------------------------------

resource "aws_sqs_queue" "events_dlq" {
  count                     = var.event_queue ? 1 : 0
  name                      = "${var.name}-events-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600 # 14 days, the most SQS keeps
}

resource "aws_sqs_queue" "events" {
  count                   = var.event_queue ? 1 : 0
  name                    = "${var.name}-events"
  sqs_managed_sse_enabled = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.events_dlq[0].arn
    maxReceiveCount     = 5
  })

  lifecycle {
    precondition {
      condition     = local.events_enabled
      error_message = "event_queue = true needs a bus: set event_bus (an existing bus) or create_event_bus = true."
    }
  }
}

resource "aws_cloudwatch_event_rule" "events" {
  for_each       = local.event_rules
  name           = "${var.name}-${each.key}"
  description    = "fleet \"${each.value}\" events to ${var.name}-events"
  event_bus_name = local.event_bus
  event_pattern = jsonencode({
    source        = [local.event_source]
    "detail-type" = [each.value]
  })
}

# Only this bus's fleet rules may send to the queues: the queue gets the events, the DLQ what
# EventBridge failed to deliver (dead_letter_config below) and what consumers failed 5 times.
resource "aws_sqs_queue_policy" "events" {
  count     = length(local.event_rules) > 0 ? 1 : 0
  queue_url = aws_sqs_queue.events[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "FleetEventRules"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.events[0].arn
      Condition = { ArnEquals = { "aws:SourceArn" = local.event_rule_arns } }
    }]
  })
}

resource "aws_sqs_queue_policy" "events_dlq" {
  count     = length(local.event_rules) > 0 ? 1 : 0
  queue_url = aws_sqs_queue.events_dlq[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "FleetEventRulesDeadLetters"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.events_dlq[0].arn
      Condition = { ArnEquals = { "aws:SourceArn" = local.event_rule_arns } }
    }]
  })
}

resource "aws_cloudwatch_event_target" "events" {
  for_each       = aws_cloudwatch_event_rule.events
  rule           = each.value.name
  event_bus_name = each.value.event_bus_name
  target_id      = "queue"
  arn            = aws_sqs_queue.events[0].arn

  dead_letter_config {
    arn = aws_sqs_queue.events_dlq[0].arn
  }

  # No delivery before the queues accept it.
  depends_on = [aws_sqs_queue_policy.events, aws_sqs_queue_policy.events_dlq]
}
