locals {
  input_bucket_arn  = "${local.arn_prefix}:s3:::${var.input_bucket}"
  output_bucket_arn = "${local.arn_prefix}:s3:::${var.output_bucket}"
  input_objects     = "${local.input_bucket_arn}/${local.input_prefix}*"
  output_objects    = "${local.output_bucket_arn}/${local.output_prefix}*"
  table_arns        = [aws_dynamodb_table.videos.arn, "${aws_dynamodb_table.videos.arn}/index/${local.ready_index}"]

  # Least privilege: read the input prefix, write (and prune earlier attempts in) the output
  # prefix, item-level actions on this table, its two log groups, its own artifact, the
  # lifecycle of its own group, and (with a bus) putting its events. Every statement is
  # asserted exactly in tests/plan.tftest.hcl.
  worker_statements = concat([
    {
      Sid      = "ReadInput"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = [local.input_objects]
    },
    {
      # Without ListBucket S3 answers 403 for a missing key; with it, 404: a deleted source
      # is then "the video's fault", not a permission problem. Unconditioned on purpose: S3
      # checks ListBucket in the GetObject/HeadObject request's context, which carries no
      # s3:prefix, so a prefix-conditioned grant would never apply and the 403 would stay.
      # It discloses key names in the input bucket, never contents.
      Sid      = "ListInput"
      Effect   = "Allow"
      Action   = ["s3:ListBucket"]
      Resource = [local.input_bucket_arn]
    },
    {
      # GetObject: the published master and thumbnails are read back, to know which earlier
      # attempts (t<N>/) players still fetch before any is deleted, and by a captions-only
      # redo. DeleteObject: those attempts are removed after a win. Every upload is a single
      # PUT (no multipart to abort).
      Sid      = "Output"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
      Resource = [local.output_objects]
    },
    {
      # Unconditioned, as ListInput: reading back a master that is not there yet must be a
      # 404 ("nothing published"), not a 403 that stops the clean-up of earlier attempts.
      Sid      = "ListOutput"
      Effect   = "Allow"
      Action   = ["s3:ListBucket"]
      Resource = [local.output_bucket_arn]
    },
    {
      Sid      = "Artifacts"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["${local.arn_prefix}:s3:::${var.artifact_bucket}/${local.worker_key}"]
    },
    {
      Sid    = "Table"
      Effect = "Allow"
      Action = [
        "dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem",
        "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem",
      ]
      Resource = local.table_arns
    },
    {
      Sid      = "Logs"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
      Resource = ["${aws_cloudwatch_log_group.worker.arn}:*", "${aws_cloudwatch_log_group.metrics.arn}:*"]
    },
    {
      # The worker drains on the termination hook, heartbeats and completes it, holds
      # scale-in protection while it has leases, reports itself unhealthy when it gives up,
      # and removes its own instance when idle past the idle period (the way down that does
      # not need the scaler). All five take the group as their resource (Service
      # Authorization Reference: autoScalingGroup*).
      Sid    = "OwnInstanceLifecycle"
      Effect = "Allow"
      Action = [
        "autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat",
        "autoscaling:SetInstanceHealth", "autoscaling:SetInstanceProtection",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
      ]
      Resource = [aws_autoscaling_group.workers.arn]
    },
    ], length(var.kms_key_arns) == 0 ? [] : [{
      Sid       = "KmsThroughS3"
      Effect    = "Allow"
      Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
      Resource  = var.kms_key_arns
      Condition = { StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" } }
  }], local.worker_event_statements, local.worker_outbox_statements) # with a bus only (events.tf)
}

resource "aws_iam_role" "worker" {
  name = local.iam_worker_name
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ec2.amazonaws.com" }
    }]
  })
}

resource "aws_iam_role_policy" "worker" {
  name   = "${var.name}-worker"
  role   = aws_iam_role.worker.id
  policy = jsonencode({ Version = "2012-10-17", Statement = local.worker_statements })
}

# Access through SSM Session Manager instead of SSH.
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.worker.name
  policy_arn = "${local.arn_prefix}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "worker" {
  name = local.iam_worker_name
  role = aws_iam_role.worker.name
}
