locals {
  # The one schema definition, shared with `fleet-admin init` (schema/table.json).
  schema = jsondecode(file("${path.module}/../schema/table.json"))

  input_prefix  = var.input_prefix
  output_prefix = var.output_prefix

  # Names that more than one file (and the instances) must agree on.
  asg_name    = "${var.name}-workers"
  hook_name   = "${var.name}-drain"
  scaler_name = "${var.name}-scaler"
  # IAM names are global to the account: a second fleet of the same name in another region
  # must not collide with (or take over) this one's roles.
  iam_worker_name = "${var.name}-worker-${data.aws_region.current.name}"
  log_group       = "/${var.name}/worker"
  metrics_group   = "/${var.name}/metrics"
  namespace       = var.name
  emf_endpoint    = "udp://127.0.0.1:25888"
  account_id      = data.aws_caller_identity.current.account_id
  region          = data.aws_region.current.name
  arn_prefix      = "arn:${data.aws_partition.current.partition}"
  asg_arn_pattern = "${local.arn_prefix}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.asg_name}"

  # Versioned artifacts: a new build is a new folder, never an overwritten key.
  artifact_folder = "${var.artifact_prefix}${var.artifact_version}/"
  worker_key      = "${local.artifact_folder}fleet-worker"
  scaler_key      = "${local.artifact_folder}fleet-scaler.zip"
}

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

resource "aws_dynamodb_table" "videos" {
  name                        = var.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = local.schema.hash_key
  deletion_protection_enabled = var.deletion_protection

  dynamic "attribute" {
    for_each = local.schema.attributes
    content {
      name = attribute.value.name
      type = attribute.value.type
    }
  }

  dynamic "global_secondary_index" {
    for_each = local.schema.global_secondary_indexes
    content {
      name            = global_secondary_index.value.name
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = global_secondary_index.value.projection_type
    }
  }

  # Worker registry items (`#worker#…`) expire an hour after their worker was last seen.
  ttl {
    attribute_name = local.schema.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }
}
