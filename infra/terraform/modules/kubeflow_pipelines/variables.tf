variable "kfp_version" {
  description = "Kubeflow Pipelines release tag whose kustomize manifests are applied."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.kfp_version))
    error_message = "kfp_version must be a release tag such as 2.14.3."
  }
}

variable "variant" {
  description = "Upstream overlay: platform-agnostic (any cluster, kind included) or dev."
  type        = string
  default     = "platform-agnostic"

  validation {
    condition     = contains(["platform-agnostic", "dev"], var.variant)
    error_message = "variant must be platform-agnostic or dev."
  }
}
