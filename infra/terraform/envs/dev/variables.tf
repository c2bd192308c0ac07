# Inputs of the dev environment. Every rule below only looks at variables,
# so this file is also a valid root module on its own: the contract tests
# run `terraform plan` on a copy of it to prove each rule rejects bad values.

variable "kubeconfig_path" {
  description = "kubeconfig file with kube_context."
  type        = string
  default     = "~/.kube/config"

  validation {
    condition     = length(trimspace(var.kubeconfig_path)) > 0
    error_message = "kubeconfig_path must not be empty."
  }
}

variable "kube_context" {
  description = "kubeconfig context of the dev cluster. dev only ever targets a local cluster (kind, k3d, minikube, Docker Desktop)."
  type        = string
  default     = "kind-runway"

  validation {
    condition     = can(regex("^(kind-|k3d-|minikube$|docker-desktop$|rancher-desktop$|orbstack$)", var.kube_context))
    error_message = "dev targets a local cluster only: kube_context must be kind-*, k3d-*, minikube, docker-desktop, rancher-desktop or orbstack."
  }
}

variable "container_registry" {
  description = "Registry the runway image is pushed to, without scheme or tag. Default: the local registry of a kind cluster."
  type        = string
  default     = "localhost:5001"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*$", var.container_registry))
    error_message = "container_registry must look like host[:port][/path] (no scheme, no tag)."
  }
}

variable "image_tag" {
  description = "Tag of the runway image (built from infra/Dockerfile)."
  type        = string
  default     = "0.1.0"

  validation {
    condition     = var.image_tag != "latest"
    error_message = "image_tag must be fixed, not 'latest': pods would run whatever was pushed last."
  }
}

variable "zenml_version" {
  description = "ZenML server version; keep it equal to the zenml client in requirements.txt."
  type        = string
  default     = "0.98.0"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.zenml_version))
    error_message = "zenml_version must be a version such as 0.98.0."
  }
}

variable "kfp_version" {
  description = "Kubeflow Pipelines release to install."
  type        = string
  default     = "2.14.3"

  validation {
    condition     = can(regex("^2\\.[0-9]+\\.[0-9]+$", var.kfp_version))
    error_message = "kfp_version must be a KFP 2.x release such as 2.14.3 (the kfp 2 SDK needs a v2 backend)."
  }
}

variable "artifact_bucket" {
  description = "Artifact store bucket; null means runway-dev-artifacts."
  type        = string
  default     = null

  validation {
    condition     = var.artifact_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", coalesce(var.artifact_bucket, "-")))
    error_message = "artifact_bucket must be a valid S3 bucket name."
  }
}

variable "zenml_replicas" {
  description = "Override of the ZenML server replica count; null uses the dev default."
  type        = number
  default     = null

  validation {
    condition     = coalesce(var.zenml_replicas, 1) >= 1 && coalesce(var.zenml_replicas, 1) <= 10
    error_message = "zenml_replicas must be between 1 and 10."
  }
}

variable "storage_class" {
  description = "StorageClass for every persistent volume; null uses the cluster default."
  type        = string
  default     = null

  validation {
    condition     = var.storage_class == null || can(regex("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", coalesce(var.storage_class, "-")))
    error_message = "storage_class must be a valid Kubernetes object name."
  }
}

variable "install_monitoring_stack" {
  description = "Install kube-prometheus-stack; false when the cluster already runs Prometheus and Grafana."
  type        = bool
  default     = false
}

variable "zenml_public_url" {
  description = "URL clients outside the cluster reach the ZenML server at (ingress, or a port-forward in dev); null for in-cluster only."
  type        = string
  default     = null

  validation {
    condition     = var.zenml_public_url == null || can(regex("^https?://", coalesce(var.zenml_public_url, "-")))
    error_message = "zenml_public_url must start with http:// or https://."
  }
}

variable "kfp_public_url" {
  description = "URL clients outside the cluster reach the KFP UI/API at; null for in-cluster only."
  type        = string
  default     = null

  validation {
    condition     = var.kfp_public_url == null || can(regex("^https?://", coalesce(var.kfp_public_url, "-")))
    error_message = "kfp_public_url must start with http:// or https://."
  }
}
