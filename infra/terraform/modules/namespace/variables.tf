variable "platform_namespace" {
  description = "Namespace for the platform services (ZenML server, databases, object store)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.platform_namespace))
    error_message = "platform_namespace must be a DNS-1123 label."
  }
}

variable "platform_pod_security" {
  description = "Pod Security Standard enforced in the platform namespace. Third-party charts need at least baseline."
  type        = string
  default     = "baseline"

  validation {
    condition     = contains(["baseline", "restricted"], var.platform_pod_security)
    error_message = "platform_pod_security must be baseline or restricted (never privileged)."
  }
}

variable "workload_namespace" {
  description = "Workload namespace that the manifests in workload_manifests_path create."
  type        = string
}

variable "workload_manifests_path" {
  description = "Path of the kustomization for the workload namespace (infra/k8s/<env>)."
  type        = string
}

variable "image_name" {
  description = "Runway image repository that replaces the ghcr.io/example/runway placeholder."
  type        = string
}

variable "image_tag" {
  description = "Runway image tag that replaces the placeholder tag."
  type        = string
}

variable "labels" {
  description = "Labels added to the platform namespace."
  type        = map(string)
  default     = {}
}
