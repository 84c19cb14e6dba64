variable "name" {
  description = "Prefix of every resource name."
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
  description = "Protect the table from deletion."
  type        = bool
  default     = true
}

variable "input_bucket" {
  description = "Bucket holding the source videos."
  type        = string
}

variable "input_prefix" {
  description = "Prefix of the source videos inside input_bucket (may be empty)."
  type        = string
  default     = ""
}

variable "output_bucket" {
  description = "Bucket receiving the HLS streams."
  type        = string
}

variable "output_prefix" {
  description = "Prefix of the streams inside output_bucket (may be empty)."
  type        = string
  default     = "hls/"
}

variable "create_buckets" {
  description = "Create the input and output buckets (false: they exist already). Either way public access is blocked, encryption is on and incomplete multipart uploads are aborted."
  type        = bool
  default     = false
}

variable "artifact_bucket" {
  description = "Bucket the user data downloads fleet-worker (and ffmpeg) from."
  type        = string
}

variable "worker_binary_key" {
  description = "Key of the aarch64 fleet-worker binary in artifact_bucket (scripts/build-arm64 builds it)."
  type        = string
  default     = "fleet/fleet-worker-aarch64"
}

variable "ffmpeg_archive_key" {
  description = "Key in artifact_bucket of a static arm64 ffmpeg build (.tar.xz with ffmpeg and ffprobe): AL2023 has no ffmpeg package. Ignored when ami_id is set."
  type        = string
  default     = "fleet/ffmpeg-release-arm64-static.tar.xz"
}

variable "ami_id" {
  description = "A prebuilt arm64 AMI with ffmpeg installed; empty: the latest Amazon Linux 2023 arm64 from SSM, with ffmpeg from artifact_bucket."
  type        = string
  default     = ""
}

variable "instance_type" {
  description = "Graviton instance type."
  type        = string
  default     = "c6g.xlarge"
  validation {
    condition     = can(regex("^(c|m|r|t|x|i|im|is)[0-9]+g[a-z]*\\.[0-9a-z]+$", var.instance_type))
    error_message = "instance_type must be an arm64 (Graviton, e.g. c6g.xlarge, c7g.2xlarge) type: fleet-worker is built for aarch64."
  }
}

variable "spot_instance_types" {
  description = "Types of the mixed instances policy when use_spot is true."
  type        = list(string)
  default     = ["c6g.xlarge", "c7g.xlarge", "c6gd.xlarge"]
}

variable "use_spot" {
  description = "Run on spot capacity (with capacity rebalancing)."
  type        = bool
  default     = false
}

variable "subnet_ids" {
  description = "Subnets of the autoscaling group (private subnets with a NAT or VPC endpoints)."
  type        = list(string)
  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "give at least one subnet id."
  }
}

variable "min_size" {
  type    = number
  default = 0
}

variable "max_size" {
  type    = number
  default = 10
}

variable "desired_capacity" {
  type    = number
  default = 2
  validation {
    condition     = var.desired_capacity >= 0
    error_message = "desired_capacity cannot be negative."
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

variable "concurrency" {
  description = "fleet-worker slots per instance (0: its default, one per two vCPUs and at least two)."
  type        = number
  default     = 0
}

variable "drain_seconds" {
  description = "How long a stopping worker lets nearly finished videos finish."
  type        = number
  default     = 90
  validation {
    condition     = var.drain_seconds >= 0 && var.drain_seconds <= 3000
    error_message = "drain_seconds must be between 0 and 3000."
  }
}

variable "log_retention_days" {
  type    = number
  default = 30
}
