terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100.0" # the release scripts/terraform-test and the moto apply run
    }
  }
}
