variable "namespace" {
  description = "Namespace of Prometheus, Grafana and the Pushgateway."
  type        = string
  default     = "monitoring"
}

variable "install_prometheus_stack" {
  description = "Install kube-prometheus-stack (Prometheus, Grafana, kube-state-metrics). False when the cluster already has one: then add scrape_configs to it and import the dashboard by hand."
  type        = bool
  default     = true
}

variable "prometheus_stack_chart_version" {
  description = "Version of the kube-prometheus-stack chart."
  type        = string
  default     = "75.15.1"
}

variable "pushgateway_chart_version" {
  description = "Version of the prometheus-pushgateway chart."
  type        = string
  default     = "3.4.1"
}

variable "scrape_configs" {
  description = "Extra Prometheus scrape jobs (from the settings module)."
  type        = any
}

variable "retention" {
  description = "How long Prometheus keeps samples, e.g. 30d."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+[hdwy]$", var.retention))
    error_message = "retention must look like 12h, 7d, 4w or 1y."
  }
}

variable "labels" {
  description = "Labels for the objects created here."
  type        = map(string)
  default     = {}
}
