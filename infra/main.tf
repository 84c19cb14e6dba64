locals {
  # The one schema definition, shared with `fleet-admin init` (schema/table.json).
  schema = jsondecode(file("${path.module}/../schema/table.json"))

  input_prefix  = var.input_prefix
  output_prefix = var.output_prefix
  log_group     = "/${var.name}/worker"
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

  point_in_time_recovery {
    enabled = true
  }
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = local.log_group
  retention_in_days = var.log_retention_days
}
