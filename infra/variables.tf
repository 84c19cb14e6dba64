# Naming and the table.

variable "name" {
  description = "Prefix of every resource name; also the CloudWatch metric namespace of the fleet."
  type        = string
  default     = "fleet"
  validation {
    condition     = can(regex("^[a-z0-9-]{3,32}$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and dashes."
  }
}

variable "table_name" {
  description = "DynamoDB table of videos (fleet-worker --table)."
  type        = string
  default     = "fleet-videos"
  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be 3-255 characters of letters, digits, '_', '-' and '.'."
  }
}

variable "deletion_protection" {
  description = "Protect the table from deletion (terraform destroy fails on it until this is false and applied)."
  type        = bool
  default     = true
}

# Buckets.

variable "input_bucket" {
  description = "Bucket holding the source videos."
  type        = string
}

variable "input_prefix" {
  description = "Prefix of the source videos inside input_bucket: empty, or ending in '/'."
  type        = string
  default     = ""
  validation {
    condition     = var.input_prefix == "" || endswith(var.input_prefix, "/")
    error_message = "input_prefix must be empty or end in '/' (\"videos\" would also match \"videos-old/\")."
  }
}

variable "output_bucket" {
  description = "Bucket receiving the HLS streams."
  type        = string
}

variable "output_prefix" {
  description = "Prefix of the streams inside output_bucket: empty, or ending in '/'."
  type        = string
  default     = "hls/"
  validation {
    condition     = var.output_prefix == "" || endswith(var.output_prefix, "/")
    error_message = "output_prefix must be empty or end in '/' (the workers' grant is <prefix>*)."
  }
}

variable "create_buckets" {
  description = "Create the input and output buckets, with public access blocked, encryption on and incomplete multipart uploads aborted. false: they exist and fleet leaves their settings alone (see manage_existing_buckets)."
  type        = bool
  default     = false
}

variable "manage_existing_buckets" {
  description = "Opt-in, with create_buckets = false: let Terraform take over the public access block, default encryption, lifecycle rules (and, with CloudFront, the bucket policy and CORS) of the existing buckets. This REPLACES their current settings, and destroy removes them."
  type        = bool
  default     = false
}

variable "kms_key_arns" {
  description = "KMS keys of SSE-KMS encrypted input or output buckets: workers may decrypt with them (and generate data keys for uploads), only through S3."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for k in var.kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", k))])
    error_message = "kms_key_arns must be key ARNs (arn:aws:kms:<region>:<account>:key/<id>)."
  }
}

# Artifacts: everything an instance runs, under one version folder.

variable "artifact_bucket" {
  description = "Bucket holding the artifacts: s3://<artifact_bucket>/<artifact_prefix><artifact_version>/{fleet-worker,fleet-scaler.zip}."
  type        = string
}

variable "artifact_prefix" {
  description = "Prefix of the version folders in artifact_bucket."
  type        = string
  default     = "fleet/"
}

variable "artifact_version" {
  description = "Version folder of fleet-worker and fleet-scaler.zip (e.g. the git commit). Changing it starts an instance refresh."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.artifact_version))
    error_message = "artifact_version must be 1-64 characters of letters, digits, '.', '_' and '-'."
  }
}

variable "worker_sha256" {
  description = "sha256 (hex) of <version>/fleet-worker; user data refuses a binary that does not match (sha256sum fleet-worker)."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.worker_sha256))
    error_message = "worker_sha256 must be 64 lowercase hex digits (sha256sum output)."
  }
}

variable "scaler_zip_sha256" {
  description = "base64 of the sha256 of <version>/fleet-scaler.zip, as Lambda reports it: openssl dgst -sha256 -binary fleet-scaler.zip | base64."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9+/]{43}=$", var.scaler_zip_sha256))
    error_message = "scaler_zip_sha256 must be a base64-encoded sha256 (44 characters ending in '=')."
  }
}

variable "ami_id" {
  description = "A prebuilt arm64 Debian 12 AMI (user data installs Debian's ffmpeg on it, a no-op if it is there). Empty: Debian 12 arm64 as Debian's SSM parameter names it on the first apply, then pinned (terraform_data.ami) until you run apply -replace=terraform_data.ami."
  type        = string
  default     = ""
  validation {
    condition     = var.ami_id == "" || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be empty or an AMI id (ami-…)."
  }
}

# Capacity.

variable "instance_types" {
  description = "Graviton (arm64) instance types the group may launch, all with the same vCPU count (slots_per_instance assumes it). The first is the launch template's."
  type        = list(string)
  default     = ["c6g.xlarge", "c7g.xlarge", "c6gd.xlarge", "c7gd.xlarge", "c6gn.xlarge", "m6g.xlarge", "m7g.xlarge", "c8g.xlarge"]
  validation {
    condition     = length(var.instance_types) > 0 && alltrue([for t in var.instance_types : can(regex("^(a1|(c|m|r|t|x|i|im|is)[0-9]+g[a-z]*)\\.[0-9a-z]+$", t))])
    error_message = "instance_types must be arm64 (Graviton, e.g. c6g.xlarge, c7g.2xlarge) types: fleet-worker is built for aarch64."
  }
}

variable "use_spot" {
  description = "Run above on_demand_base_capacity on spot capacity (price-capacity-optimized, capacity rebalancing)."
  type        = bool
  default     = false
}

variable "on_demand_base_capacity" {
  description = "With use_spot: how many instances are always on-demand."
  type        = number
  default     = 0
  validation {
    condition     = var.on_demand_base_capacity >= 0
    error_message = "on_demand_base_capacity cannot be negative."
  }
}

variable "subnet_ids" {
  description = "Subnets of the autoscaling group (private subnets with a NAT or VPC endpoints), all in one VPC."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "give at least one subnet id."
  }
}

variable "min_size" {
  description = "Instances kept even with nothing to do (0: the fleet scales to zero)."
  type        = number
  default     = 0
  validation {
    condition     = var.min_size >= 0 && var.min_size <= var.max_size
    error_message = "min_size must be between 0 and max_size."
  }
}

variable "max_size" {
  description = "Most instances the scaler asks for."
  type        = number
  default     = 10
  validation {
    condition     = var.max_size >= 1
    error_message = "max_size must be at least 1."
  }
}

variable "slots_per_instance" {
  description = "fleet-worker slots per instance (FLEET_CONCURRENCY), and the backlog per instance the scaler aims at."
  type        = number
  default     = 2
  validation {
    condition     = var.slots_per_instance >= 1 && floor(var.slots_per_instance) == var.slots_per_instance
    error_message = "slots_per_instance must be a whole number of at least 1."
  }
}

variable "scale_in_idle_minutes" {
  description = "Minutes the backlog must stay empty before the scaler takes the group to zero."
  type        = number
  default     = 15
  validation {
    condition     = var.scale_in_idle_minutes >= 1
    error_message = "scale_in_idle_minutes must be at least 1."
  }
}

variable "scale_in_settle_minutes" {
  description = "Minutes a smaller backlog must hold before the scaler shrinks the group above zero (to the largest need of that window): a trickle of uploads does not flap N <-> N+1."
  type        = number
  default     = 5
  validation {
    condition     = var.scale_in_settle_minutes >= 0
    error_message = "scale_in_settle_minutes cannot be negative."
  }
}

variable "scale_out_step" {
  description = "Instances one scaler tick may add beyond those running, at least (it may also double them). Keeps a young account under its vCPU quota from jumping to max_size."
  type        = number
  default     = 10
  validation {
    condition     = var.scale_out_step >= 1 && floor(var.scale_out_step) == var.scale_out_step
    error_message = "scale_out_step must be a whole number of at least 1."
  }
}

variable "root_volume_gb" {
  description = "Encrypted root volume; holds the work dir (source + renditions of each slot's video)."
  type        = number
  default     = 100
  validation {
    condition     = var.root_volume_gb >= 20
    error_message = "root_volume_gb must be at least 20."
  }
}

variable "drain_seconds" {
  description = "How long a stopping worker lets nearly finished videos finish; the termination hook waits that long plus two minutes."
  type        = number
  default     = 90
  validation {
    condition     = var.drain_seconds >= 0 && var.drain_seconds <= 3000
    error_message = "drain_seconds must be between 0 and 3000."
  }
}

variable "health_check_grace_seconds" {
  description = "Grace period of the group's EC2 health checks. Boot failures mark the instance unhealthy regardless of it."
  type        = number
  default     = 300
}

# Network.

variable "vpc_endpoint_route_table_ids" {
  description = "Route tables of the subnets: when given, S3 and DynamoDB gateway endpoints are created on them, so video bytes skip the NAT (about $45 per TB)."
  type        = list(string)
  default     = []
}

# Playback.

variable "enable_cloudfront" {
  description = "Serve output_prefix through CloudFront (origin access control, CORS for browsers). Needs the output bucket's policy: managed when create_buckets or manage_existing_buckets, otherwise merge output.output_bucket_policy_json yourself."
  type        = bool
  default     = false
}

variable "cors_allowed_origins" {
  description = "Origins allowed to play the streams in a browser (CloudFront response headers)."
  type        = list(string)
  default     = ["*"]
}

variable "cloudfront_price_class" {
  description = "CloudFront price class (PriceClass_100: North America and Europe edges)."
  type        = string
  default     = "PriceClass_100"
}

# Monitoring.

variable "log_retention_days" {
  description = "Retention of the worker, metrics and scaler log groups."
  type        = number
  default     = 30
}

variable "alarm_topic_arn" {
  description = "SNS topic the alarms and launch failures notify. Empty: fleet creates \"<name>-alarms\". A topic given here must let events.amazonaws.com publish (launch failures)."
  type        = string
  default     = ""
}

variable "alarm_email" {
  description = "An e-mail address subscribed to the alarm topic (AWS sends a confirmation link first). Empty: none."
  type        = string
  default     = ""
  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be empty or an e-mail address."
  }
}

variable "failed_videos_alarm_threshold" {
  description = "Alarm when more videos than this fail within 5 minutes."
  type        = number
  default     = 0
}

variable "oldest_claimable_alarm_seconds" {
  description = "Alarm when the oldest claimable video has waited longer than this."
  type        = number
  default     = 3600
}

variable "no_progress_alarm_minutes" {
  description = "Alarm when the backlog is not empty and no video finished for this long (a multiple of 5)."
  type        = number
  default     = 30
  validation {
    condition     = var.no_progress_alarm_minutes >= 10 && var.no_progress_alarm_minutes % 5 == 0
    error_message = "no_progress_alarm_minutes must be a multiple of 5, at least 10."
  }
}

# Events.

variable "event_bus" {
  description = "EventBridge bus (a name, in this account and region) the workers put completion events on: source \"fleet\", detail-type \"Video Done\", \"Video Failed\", \"Video Retrying\" or \"Video Requeued\". Set, the workers get it as FLEET_EVENT_BUS and the worker role may events:PutEvents on it (source \"fleet\" only). It must already exist unless create_event_bus. Empty (with create_event_bus = false): no events."
  type        = string
  default     = ""
  validation {
    condition     = var.event_bus == "" || can(regex("^[A-Za-z0-9._/-]{1,256}$", var.event_bus))
    error_message = "event_bus must be empty or a bus name (letters, digits, '.', '_', '-', '/'; not an ARN)."
  }
}

variable "create_event_bus" {
  description = "Create the bus the workers put events on, named event_bus, or \"<name>-events\" when event_bus is empty. false: event_bus, if set, names an existing bus."
  type        = bool
  default     = false
}

variable "event_queue" {
  description = "An example consumer of the events: one rule per detail-type on the bus, all delivering to the SQS queue \"<name>-events\", whose messages go to \"<name>-events-dlq\" after 5 receives; the DLQ also keeps events EventBridge could not deliver. Both queues SSE-SQS encrypted. Needs a bus (event_bus or create_event_bus)."
  type        = bool
  default     = false
}
