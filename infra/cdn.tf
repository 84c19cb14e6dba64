# Optional playback through CloudFront: the output bucket stays private (origin access
# control), and CORS headers let hls.js in a browser on another origin fetch the streams.
locals {
  cdn_count         = var.enable_cloudfront ? 1 : 0
  cdn_origin_path   = local.output_prefix == "" ? "" : "/${trimsuffix(local.output_prefix, "/")}"
  manage_output_cfg = var.enable_cloudfront && (var.create_buckets || var.manage_existing_buckets)
  # AWS managed policies (stable ids): CachingOptimized, CORS-S3Origin.
  caching_optimized_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
  cors_s3_origin_policy_id    = "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf"
}

resource "aws_cloudfront_origin_access_control" "output" {
  count                             = local.cdn_count
  name                              = "${var.name}-output"
  description                       = "fleet streams in ${var.output_bucket}"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_response_headers_policy" "cors" {
  count = local.cdn_count
  name  = "${var.name}-cors"
  cors_config {
    access_control_allow_credentials = false
    access_control_allow_headers {
      items = ["*"]
    }
    access_control_allow_methods {
      items = ["GET", "HEAD", "OPTIONS"]
    }
    access_control_allow_origins {
      items = var.cors_allowed_origins
    }
    access_control_expose_headers {
      items = ["Content-Length", "Content-Range"]
    }
    access_control_max_age_sec = 86400
    origin_override            = true
  }
}

resource "aws_cloudfront_distribution" "streams" {
  count           = local.cdn_count
  enabled         = true
  comment         = "${var.name}: HLS streams of s3://${var.output_bucket}/${local.output_prefix}"
  price_class     = var.cloudfront_price_class
  http_version    = "http2and3"
  is_ipv6_enabled = true

  origin {
    origin_id                = "output"
    domain_name              = "${var.output_bucket}.s3.${local.region}.amazonaws.com"
    origin_path              = local.cdn_origin_path
    origin_access_control_id = aws_cloudfront_origin_access_control.output[0].id
  }

  default_cache_behavior {
    target_origin_id           = "output"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD", "OPTIONS"]
    compress                   = true
    cache_policy_id            = local.caching_optimized_policy_id
    origin_request_policy_id   = local.cors_s3_origin_policy_id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.cors[0].id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}

locals {
  # Lets only this distribution read the streams (and nothing else in the bucket).
  output_bucket_policy = var.enable_cloudfront ? jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "CloudFrontReadsStreams"
      Effect    = "Allow"
      Principal = { Service = "cloudfront.amazonaws.com" }
      Action    = "s3:GetObject"
      Resource  = local.output_objects
      Condition = { StringEquals = { "AWS:SourceArn" = aws_cloudfront_distribution.streams[0].arn } }
    }]
  }) : ""
}

# Replaces the bucket's whole policy: only on a bucket fleet owns or was allowed to manage.
# Otherwise merge output.output_bucket_policy_json into the existing policy yourself.
resource "aws_s3_bucket_policy" "output_cdn" {
  count      = local.manage_output_cfg ? 1 : 0
  bucket     = var.create_buckets ? aws_s3_bucket.created[var.output_bucket].id : var.output_bucket
  policy     = local.output_bucket_policy
  depends_on = [aws_s3_bucket_public_access_block.managed]
}

# CORS at the origin too, so preflight (OPTIONS) requests that CloudFront forwards succeed.
resource "aws_s3_bucket_cors_configuration" "output" {
  count  = local.manage_output_cfg ? 1 : 0
  bucket = var.create_buckets ? aws_s3_bucket.created[var.output_bucket].id : var.output_bucket
  cors_rule {
    allowed_methods = ["GET", "HEAD"]
    allowed_origins = var.cors_allowed_origins
    allowed_headers = ["*"]
    expose_headers  = ["Content-Length", "Content-Range"]
    max_age_seconds = 86400
  }
}
