locals {
  buckets = toset([var.input_bucket, var.output_bucket])
}

resource "aws_s3_bucket" "created" {
  for_each = var.create_buckets ? local.buckets : toset([])
  bucket   = each.value
}

# Applied to the buckets whether fleet created them or not.
resource "aws_s3_bucket_public_access_block" "all" {
  for_each                = local.buckets
  bucket                  = var.create_buckets ? aws_s3_bucket.created[each.value].id : each.value
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "all" {
  for_each = local.buckets
  bucket   = var.create_buckets ? aws_s3_bucket.created[each.value].id : each.value
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "all" {
  for_each = local.buckets
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
