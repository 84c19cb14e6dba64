# What a person running fleet-admin (seed, report, retry, pause/resume, audit) needs, as a
# managed policy to attach to their role or group. It reads both buckets within the fleet's
# prefixes. Its only S3 write is seed's check that the output takes a write: an empty
# `.fleet-seed-check-*` object, put and deleted at once. Uploading sources is outside fleet's job.
locals {
  operator_statements = concat([
    {
      Sid    = "Table"
      Effect = "Allow"
      Action = [
        "dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem",
        "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:UpdateItem",
      ]
      Resource = local.table_arns
    },
    {
      # Unconditioned: seed checks the bucket (HeadBucket, no prefix), suggests the nearest
      # folder when a prefix matches nothing (it lists above the prefix), and audit's HEAD of
      # a missing master must be a 404, not a 403; none of those requests carries s3:prefix.
      Sid      = "ListInput"
      Effect   = "Allow"
      Action   = ["s3:ListBucket"]
      Resource = [local.input_bucket_arn]
    },
    {
      Sid      = "ListOutput"
      Effect   = "Allow"
      Action   = ["s3:ListBucket"]
      Resource = [local.output_bucket_arn]
    },
    {
      # audit checks that each done video's master.m3u8 exists (HEAD needs GetObject).
      Sid      = "ReadOutput"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = [local.output_objects]
    },
    {
      # seed writes and deletes one empty object before it writes any item: a wrong output
      # bucket is then caught on the laptop, not by every worker of the fleet.
      Sid      = "SeedCheck"
      Effect   = "Allow"
      Action   = ["s3:DeleteObject", "s3:PutObject"]
      Resource = ["${local.output_bucket_arn}/${local.output_prefix}*.fleet-seed-check-*"]
    },
    ], length(var.kms_key_arns) == 0 ? [] : [{
      Sid       = "KmsThroughS3"
      Effect    = "Allow"
      Action    = ["kms:Decrypt", "kms:GenerateDataKey"] # seed's check object is a write
      Resource  = var.kms_key_arns
      Condition = { StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" } }
  }], local.worker_event_statements) # `retry` and `events replay` put events on the bus too
}

resource "aws_iam_policy" "operator" {
  name        = "${var.name}-operator-${local.region}"
  description = "fleet-admin on ${var.table_name}: seed, report, retry, pause/resume, audit"
  policy      = jsonencode({ Version = "2012-10-17", Statement = local.operator_statements })
}
