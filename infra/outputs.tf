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

output "seed_command" {
  value = "fleet-admin --table ${aws_dynamodb_table.videos.name} seed 's3://${var.input_bucket}/${var.input_prefix}' 's3://${var.output_bucket}/${var.output_prefix}'"
}

output "report_command" {
  value = "fleet-admin --table ${aws_dynamodb_table.videos.name} report --watch 30"
}
