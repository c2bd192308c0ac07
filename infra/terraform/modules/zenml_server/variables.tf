variable "namespace" {
  description = "Platform namespace the ZenML server and its MySQL run in."
  type        = string
}

variable "release_name" {
  description = "Helm release of the ZenML server; its service has the same name."
  type        = string
  default     = "zenml"
}

variable "mysql_release_name" {
  description = "Helm release of the MySQL database behind the ZenML server."
  type        = string
  default     = "zenml-mysql"
}

variable "zenml_version" {
  description = "ZenML server version (chart and image); match the zenml client pinned in requirements."
  type        = string
}

variable "mysql_chart_version" {
  description = "Version of the Bitnami MySQL chart."
  type        = string
  default     = "14.0.3"
}

variable "replicas" {
  description = "ZenML server replicas."
  type        = number

  validation {
    condition     = var.replicas >= 1
    error_message = "replicas must be at least 1."
  }
}

variable "database" {
  description = "Database and user of the ZenML store."
  type        = object({ database = string, user = string })
}

variable "server_resources" {
  description = "Requests and limits of the ZenML server container."
  type = object({
    requests = object({ cpu = string, memory = string })
    limits   = object({ cpu = string, memory = string })
  })
}

variable "mysql_resources" {
  description = "Requests and limits of the MySQL container."
  type = object({
    requests = object({ cpu = string, memory = string })
    limits   = object({ cpu = string, memory = string })
  })
}

variable "mysql_storage_size" {
  description = "Volume size of the MySQL primary, e.g. 10Gi."
  type        = string
}

variable "storage_class" {
  description = "StorageClass of the volumes; null uses the cluster default."
  type        = string
  default     = null
}

variable "public_url" {
  description = "URL the ZenML server is reached at from outside the cluster (ingress or port-forward); null if none."
  type        = string
  default     = null
}

variable "labels" {
  description = "Labels for the secrets created here."
  type        = map(string)
  default     = {}
}
