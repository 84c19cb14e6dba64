locals {
  arn_prefix = "arn:${data.aws_partition.current.partition}"
  # Least privilege: read the input prefix, write the output prefix, item-level actions on
  # this table and its indexes, this log group, the two artifacts, this ASG's lifecycle.
  worker_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadInput"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = ["${local.arn_prefix}:s3:::${var.input_bucket}/${local.input_prefix}*"]
      },
      {
        Sid       = "ListInput"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = ["${local.arn_prefix}:s3:::${var.input_bucket}"]
        Condition = { StringLike = { "s3:prefix" = ["${local.input_prefix}*"] } }
      },
      {
        Sid      = "WriteOutput"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:AbortMultipartUpload"]
        Resource = ["${local.arn_prefix}:s3:::${var.output_bucket}/${local.output_prefix}*"]
      },
      {
        Sid      = "Artifacts"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = ["${local.arn_prefix}:s3:::${var.artifact_bucket}/${var.worker_binary_key}", "${local.arn_prefix}:s3:::${var.artifact_bucket}/${var.ffmpeg_archive_key}"]
      },
      {
        Sid    = "Table"
        Effect = "Allow"
        Action = [
          "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem",
          "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:DescribeTable",
        ]
        Resource = [aws_dynamodb_table.videos.arn, "${aws_dynamodb_table.videos.arn}/index/*"]
      },
      {
        Sid      = "Logs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
        Resource = ["${aws_cloudwatch_log_group.worker.arn}:*"]
      },
      {
        Sid      = "Lifecycle"
        Effect   = "Allow"
        Action   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
        Resource = ["${local.arn_prefix}:autoscaling:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:autoScalingGroup:*:autoScalingGroupName/${var.name}-workers"]
      },
    ]
  }
}

resource "aws_iam_role" "worker" {
  name = "${var.name}-worker"
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
  policy = jsonencode(local.worker_policy)
}

# Access through SSM Session Manager instead of SSH.
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.worker.name
  policy_arn = "${local.arn_prefix}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "worker" {
  name = "${var.name}-worker"
  role = aws_iam_role.worker.name
}
