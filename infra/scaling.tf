# fleet-scaler: every minute, also while no instance runs, it reads the backlog (the "#stats"
# counters when large, counted through the table's ready index when small or an hour old),
# publishes it (EMF on stdout: Backlog, Claimable, Running,
# OldestClaimableAgeSeconds, DesiredInstances) and sets the group's desired capacity towards
# min(max_size, ceil(backlog / slots_per_instance)): out by at most max(scale_out_step,
# instances running) a minute, in after the need held low for scale_in_settle_minutes and
# never below the protected (busy or booting) instances, to zero only after the backlog has
# been empty for scale_in_idle_minutes (src/domain/scaling.rs; it remembers its windows in
# the table's "#scaler" item).
locals {
  ready_index        = one([for i in local.schema.global_secondary_indexes : i.name if i.name == "ready"])
  scaler_control_key = "#scaler"  # src/store/schema.rs SCALER_PK
  pause_control_key  = "#control" # src/store/schema.rs CONTROL_PK
  stats_key          = "#stats"   # src/store/dynamo/registry.rs STATS_PK
  worker_key_prefix  = "#worker#" # src/store/dynamo/registry.rs WORKER_PK_PREFIX

  scaler_statements = [
    {
      Sid      = "CountBacklog"
      Effect   = "Allow"
      Action   = ["dynamodb:Query"]
      Resource = ["${aws_dynamodb_table.videos.arn}/index/${local.ready_index}"]
    },
    {
      # Its own "idle since" item, whether fleet-admin paused the fleet ("#control"), and the
      # counters it reads a large backlog from ("#stats").
      Sid       = "ReadControl"
      Effect    = "Allow"
      Action    = ["dynamodb:GetItem"]
      Resource  = [aws_dynamodb_table.videos.arn]
      Condition = { "ForAllValues:StringEquals" = { "dynamodb:LeadingKeys" = [local.scaler_control_key, local.pause_control_key, local.stats_key] } }
    },
    {
      # The worker registry's items, for the busy slots beside the counters.
      Sid       = "ReadWorkers"
      Effect    = "Allow"
      Action    = ["dynamodb:BatchGetItem"]
      Resource  = [aws_dynamodb_table.videos.arn]
      Condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["${local.worker_key_prefix}*"] } }
    },
    {
      # After an exact count, how far the counters were off; never the counters themselves.
      Sid      = "CorrectCounters"
      Effect   = "Allow"
      Action   = ["dynamodb:UpdateItem"]
      Resource = [aws_dynamodb_table.videos.arn]
      Condition = {
        "ForAllValues:StringEquals" = {
          "dynamodb:LeadingKeys" = [local.stats_key]
          "dynamodb:Attributes"  = ["pk", "open_adjust", "recounted_at"]
        }
      }
    },
    {
      Sid       = "WriteIdleSince"
      Effect    = "Allow"
      Action    = ["dynamodb:PutItem"]
      Resource  = [aws_dynamodb_table.videos.arn]
      Condition = { "ForAllValues:StringEquals" = { "dynamodb:LeadingKeys" = [local.scaler_control_key] } }
    },
    {
      Sid      = "ReadGroup"
      Effect   = "Allow"
      Action   = ["autoscaling:DescribeAutoScalingGroups"]
      Resource = ["*"] # Describe* has no resource-level permissions
    },
    {
      Sid      = "SetCapacity"
      Effect   = "Allow"
      Action   = ["autoscaling:SetDesiredCapacity"]
      Resource = [aws_autoscaling_group.workers.arn]
    },
    {
      Sid      = "Logs"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = ["${aws_cloudwatch_log_group.scaler.arn}:*"]
    },
  ]
}

resource "aws_cloudwatch_log_group" "scaler" {
  name              = "/aws/lambda/${local.scaler_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_iam_role" "scaler" {
  name = "${local.scaler_name}-${local.region}" # IAM names are global: one fleet per region
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })
}

resource "aws_iam_role_policy" "scaler" {
  name   = local.scaler_name
  role   = aws_iam_role.scaler.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.scaler_statements })
}

resource "aws_lambda_function" "scaler" {
  function_name    = local.scaler_name
  role             = aws_iam_role.scaler.arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  s3_bucket        = var.artifact_bucket
  s3_key           = local.scaler_key
  source_code_hash = var.scaler_zip_sha256
  memory_size      = 128
  # Runs cannot overlap: one a minute, 30 s at most, never retried (below). No reserved
  # concurrency: new accounts have a limit of 10 and must keep all 10 unreserved.
  timeout = 30

  environment {
    variables = {
      FLEET_TABLE              = aws_dynamodb_table.videos.name
      FLEET_ASG_NAME           = aws_autoscaling_group.workers.name
      FLEET_SLOTS_PER_INSTANCE = tostring(var.slots_per_instance)
      FLEET_IDLE_MINUTES       = tostring(var.scale_in_idle_minutes)
      FLEET_SETTLE_MINUTES     = tostring(var.scale_in_settle_minutes)
      FLEET_SCALE_OUT_STEP     = tostring(var.scale_out_step)
      FLEET_METRIC_NAMESPACE   = local.namespace
    }
  }

  depends_on = [aws_cloudwatch_log_group.scaler, aws_iam_role_policy.scaler]
}

# A late run is worthless (the next one is a minute away): no retries, no queueing.
resource "aws_lambda_function_event_invoke_config" "scaler" {
  function_name                = aws_lambda_function.scaler.function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60
}

resource "aws_cloudwatch_event_rule" "scaler" {
  name                = local.scaler_name
  description         = "Runs fleet-scaler every minute"
  schedule_expression = "rate(1 minute)"
}

resource "aws_cloudwatch_event_target" "scaler" {
  rule = aws_cloudwatch_event_rule.scaler.name
  arn  = aws_lambda_function.scaler.arn
  # No instance may launch before its termination hook exists.
  depends_on = [aws_autoscaling_lifecycle_hook.drain]
}

resource "aws_lambda_permission" "scaler" {
  statement_id  = "events"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.scaler.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.scaler.arn
}
