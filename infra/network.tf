# The workers only call out (S3, DynamoDB, Auto Scaling, CloudWatch, SSM): no inbound rule.
data "aws_subnet" "first" {
  id = var.subnet_ids[0]
}

resource "aws_security_group" "worker" {
  name_prefix = "${var.name}-worker-"
  description = "fleet workers: egress only"
  vpc_id      = data.aws_subnet.first.vpc_id

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "worker_all" {
  security_group_id = aws_security_group.worker.id
  description       = "AWS APIs over HTTPS, package repositories"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

# Gateway endpoints are free; without them every source and segment crosses the NAT gateway.
resource "aws_vpc_endpoint" "gateway" {
  for_each          = length(var.vpc_endpoint_route_table_ids) > 0 ? toset(["s3", "dynamodb"]) : toset([])
  vpc_id            = data.aws_subnet.first.vpc_id
  service_name      = "com.amazonaws.${local.region}.${each.value}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.vpc_endpoint_route_table_ids
  tags              = { Name = "${var.name}-${each.value}" }
}
