output "table_name" {
  value = aws_dynamodb_table.videos.name
}

output "input_bucket" {
  value = var.input_bucket
}

output "output_bucket" {
  value = var.output_bucket
}

output "asg_name" {
  value = aws_autoscaling_group.workers.name
}

output "lifecycle_hook_name" {
  value = aws_autoscaling_lifecycle_hook.drain.name
}

output "ami_id" {
  description = "The AMI the workers run (pinned; see variable ami_id)."
  value       = terraform_data.ami.output
}

output "artifact_keys" {
  description = "Where the instances and the scaler read this version's artifacts."
  value = {
    worker = "s3://${var.artifact_bucket}/${local.worker_key}"
    scaler = "s3://${var.artifact_bucket}/${local.scaler_key}"
  }
}

output "scaler_function_name" {
  value = aws_lambda_function.scaler.function_name
}

output "operator_policy_arn" {
  description = "Attach to whoever runs fleet-admin."
  value       = aws_iam_policy.operator.arn
}

output "log_group" {
  value = aws_cloudwatch_log_group.worker.name
}

output "dashboard_url" {
  value = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.fleet.dashboard_name}"
}

output "cloudwatch_agent_config" {
  description = "The CloudWatch agent configuration the instances run (also inside user data)."
  value       = jsondecode(local.agent_config)
}

output "playback_url_template" {
  description = "With enable_cloudfront: a video at s3://<input>/<input_prefix>KEY.mp4 plays at this URL with {key} = KEY."
  value       = var.enable_cloudfront ? "https://${aws_cloudfront_distribution.streams[0].domain_name}/{key}/master.m3u8" : null
}

output "output_bucket_policy_json" {
  description = "With enable_cloudfront on a bucket fleet does not manage: the statement to merge into the output bucket's policy."
  value       = local.output_bucket_policy == "" ? null : local.output_bucket_policy
}

output "seed_command" {
  value = "AWS_REGION=${local.region} fleet-admin --table ${aws_dynamodb_table.videos.name} seed 's3://${var.input_bucket}/${var.input_prefix}' 's3://${var.output_bucket}/${var.output_prefix}'"
}

output "report_command" {
  value = "AWS_REGION=${local.region} fleet-admin --table ${aws_dynamodb_table.videos.name} report --watch 30"
}

output "event_bus_name" {
  description = "The bus the workers put events on (FLEET_EVENT_BUS); null without events."
  value       = local.events_enabled ? local.event_bus : null
}

output "event_bus_arn" {
  value = local.event_bus_arn
}

output "event_queue_url" {
  description = "With event_queue: the SQS queue receiving the fleet's events."
  value       = var.event_queue ? aws_sqs_queue.events[0].url : null
}

output "event_dlq_url" {
  description = "With event_queue: its dead-letter queue (consumer failures and undeliverable events)."
  value       = var.event_queue ? aws_sqs_queue.events_dlq[0].url : null
}
