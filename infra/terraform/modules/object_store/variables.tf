variable "namespace" {
  description = "Platform namespace MinIO runs in."
  type        = string
}

variable "workload_namespace" {
  description = "Namespace that receives the credentials secret for pipeline pods."
  type        = string
}

variable "credentials_secret_name" {
  description = "Name of the workload secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY."
  type        = string
}

variable "release_name" {
  description = "Helm release name; the in-cluster service has the same name."
  type        = string
  default     = "minio"
}

variable "chart_version" {
  description = "Version of the MinIO Helm chart (charts.min.io)."
  type        = string
  default     = "5.4.0"
}

variable "bucket" {
  description = "Artifact store bucket created at install."
  type        = string
}

variable "mode" {
  description = "standalone (one pod) or distributed (erasure-coded, 4+ pods)."
  type        = string

  validation {
    condition     = contains(["standalone", "distributed"], var.mode)
    error_message = "mode must be standalone or distributed."
  }
}

variable "replicas" {
  description = "MinIO pods; distributed mode needs at least 4."
  type        = number

  validation {
    condition     = var.replicas >= 1
    error_message = "replicas must be at least 1."
  }
}

variable "storage_size" {
  description = "Persistent volume size per MinIO pod, e.g. 50Gi."
  type        = string
}

variable "storage_class" {
  description = "StorageClass of the volumes; null uses the cluster default."
  type        = string
  default     = null
}

variable "resources" {
  description = "Requests and limits of the main container (Kubernetes quantities)."
  type = object({
    requests = object({ cpu = string, memory = string })
    limits   = object({ cpu = string, memory = string })
  })
}

variable "labels" {
  description = "Labels for the secrets created here."
  type        = map(string)
  default     = {}
}
