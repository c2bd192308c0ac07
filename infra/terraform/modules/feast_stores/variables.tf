variable "namespace" {
  description = "Platform namespace Redis and PostgreSQL run in."
  type        = string
}

variable "workload_namespace" {
  description = "Namespace that receives the connection secret for pipeline pods."
  type        = string
}

variable "workload_secret_name" {
  description = "Name of the workload secret with RUNWAY_FEAST_REGISTRY_URL, RUNWAY_REDIS_CONNECTION, RUNWAY_LOCK_URL and RUNWAY_DECISION_LOG_URL."
  type        = string
}

variable "redis_release_name" {
  description = "Helm release of Redis (Feast online store)."
  type        = string
  default     = "feast-redis"
}

variable "postgres_release_name" {
  description = "Helm release of PostgreSQL (Feast SQL registry and Runway's run lock)."
  type        = string
  default     = "feast-postgresql"
}

variable "redis_chart_version" {
  description = "Version of the Bitnami Redis chart."
  type        = string
  default     = "21.2.13"
}

variable "postgres_chart_version" {
  description = "Version of the Bitnami PostgreSQL chart."
  type        = string
  default     = "16.7.27"
}

variable "redis_architecture" {
  description = "standalone or replication."
  type        = string

  validation {
    condition     = contains(["standalone", "replication"], var.redis_architecture)
    error_message = "redis_architecture must be standalone or replication."
  }
}

variable "redis_replicas" {
  description = "Redis read replicas (replication architecture only)."
  type        = number
  default     = 0
}

variable "database" {
  description = "Database and user of the Feast registry."
  type        = object({ database = string, user = string })
}

variable "redis_storage_size" {
  description = "Volume size of each Redis node."
  type        = string
}

variable "postgres_storage_size" {
  description = "Volume size of the PostgreSQL primary."
  type        = string
}

variable "storage_class" {
  description = "StorageClass of the volumes; null uses the cluster default."
  type        = string
  default     = null
}

variable "redis_resources" {
  description = "Requests and limits of each Redis container."
  type = object({
    requests = object({ cpu = string, memory = string })
    limits   = object({ cpu = string, memory = string })
  })
}

variable "postgres_resources" {
  description = "Requests and limits of the PostgreSQL container."
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
