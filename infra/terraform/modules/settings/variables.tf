variable "environment" {
  description = "Deployment environment: dev, staging or prod. Picks sizing, schedules and names."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "project" {
  description = "Short project name used as the prefix of namespaces, buckets and releases."
  type        = string
  default     = "runway"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}[a-z0-9]$", var.project))
    error_message = "project must be 3-16 characters of lowercase letters, digits and '-', starting with a letter."
  }
}

variable "container_registry" {
  description = "Registry (and optional path) that holds the runway image, without scheme or tag, e.g. ghcr.io/acme."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*$", var.container_registry))
    error_message = "container_registry must look like host[:port][/path] (no scheme, no tag), e.g. ghcr.io/acme."
  }
}

variable "image_tag" {
  description = "Tag of the runway image that pipeline steps and the monitor CronJob run."
  type        = string
  default     = "0.1.0"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid, fixed image tag (not 'latest')."
  }
}

variable "artifact_bucket" {
  description = "Artifact store bucket name. Null means <project>-<environment>-artifacts."
  type        = string
  default     = null

  validation {
    condition     = var.artifact_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifact_bucket))
    error_message = "artifact_bucket must be a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')."
  }
}

variable "zenml_replicas" {
  description = "Override of the ZenML server replica count. Null uses the environment default; prod needs at least 2."
  type        = number
  default     = null

  validation {
    condition     = coalesce(var.zenml_replicas, 1) >= 1 && coalesce(var.zenml_replicas, 1) <= 10
    error_message = "zenml_replicas must be between 1 and 10."
  }

  validation {
    # coalesce, not `== null ||`: older Terraform releases evaluate both sides of ||.
    condition     = var.environment != "prod" || coalesce(var.zenml_replicas, 2) >= 2
    error_message = "prod runs at least 2 ZenML server replicas."
  }
}

variable "monitor_schedule" {
  description = "Override of the monitoring CronJob schedule (5-field cron). Null uses the environment default."
  type        = string
  default     = null

  validation {
    condition     = var.monitor_schedule == null || length(regexall("^\\S+ \\S+ \\S+ \\S+ \\S+$", coalesce(var.monitor_schedule, "x"))) == 1
    error_message = "monitor_schedule must be a 5-field cron expression such as '0 * * * *'."
  }
}

variable "zenml_version" {
  description = "ZenML server version (Helm chart and image); keep it equal to the zenml client in requirements."
  type        = string
  default     = "0.98.0"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.zenml_version))
    error_message = "zenml_version must be a semantic version such as 0.98.0."
  }
}

variable "kfp_version" {
  description = "Kubeflow Pipelines release whose kustomize manifests are installed."
  type        = string
  default     = "2.14.3"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.kfp_version))
    error_message = "kfp_version must be a semantic version such as 2.14.3."
  }
}
