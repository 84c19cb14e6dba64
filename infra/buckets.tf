locals {
  # Buckets whose settings fleet manages: the ones it created, or, by explicit opt-in, the
  # existing ones. Anything else is only read from and written to, never reconfigured.
  managed_buckets = var.create_buckets || var.manage_existing_buckets ? toset([var.input_bucket, var.output_bucket]) : toset([])
}

resource "aws_s3_bucket" "created" {
  for_each = var.create_buckets ? toset([var.input_bucket, var.output_bucket]) : toset([])
  bucket   = each.value
  # destroy refuses a bucket that still holds videos or streams: empty it first (README).
  force_destroy = false
}

resource "aws_s3_bucket_public_access_block" "managed" {
  for_each                = local.managed_buckets
  bucket                  = var.create_buckets ? aws_s3_bucket.created[each.value].id : each.value
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "managed" {
  for_each = local.managed_buckets
  bucket   = var.create_buckets ? aws_s3_bucket.created[each.value].id : each.value
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "managed" {
  for_each = local.managed_buckets
  bucket   = var.create_buckets ? aws_s3_bucket.created[each.value].id : each.value
  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
}
