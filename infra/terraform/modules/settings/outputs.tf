output "environment" {
  description = "The environment these settings are for."
  value       = var.environment
}

output "name_prefix" {
  description = "<project>-<environment>, the prefix of every name below."
  value       = local.name_prefix
}

output "labels" {
  description = "Labels every Runway-managed object carries."
  value = {
    "app.kubernetes.io/part-of"    = var.project
    "app.kubernetes.io/managed-by" = "terraform"
    "runway.io/environment"        = var.environment
  }
}

output "namespace" {
  description = "Workload namespace (pipeline pods, monitor CronJob); created from infra/k8s/<environment>."
  value       = local.namespace
}

output "platform_namespace" {
  description = "Namespace of the ZenML server, its MySQL, MinIO, Redis and PostgreSQL."
  value       = local.platform_namespace
}

output "kfp_namespace" {
  description = "Namespace of Kubeflow Pipelines (fixed by the upstream manifests)."
  value       = local.kfp_namespace
}

output "monitoring_namespace" {
  description = "Namespace of Prometheus, Grafana and the Pushgateway."
  value       = local.monitoring_ns
}

output "pipeline_service_account" {
  description = "Service account that runs pipeline pods and the monitor CronJob."
  value       = "runway-pipeline-runner"
}

output "workload_secrets" {
  description = "Names of the secrets that workload pods read (values never pass through outputs)."
  value = {
    zenml        = "runway-zenml"
    object_store = "runway-object-store"
    feast        = "runway-feast"
    data         = "runway-data"
  }
}

output "image_name" {
  description = "Runway image repository, without tag."
  value       = "${var.container_registry}/runway"
}

output "image" {
  description = "Runway image reference run by pipeline steps and the monitor."
  value       = "${var.container_registry}/runway:${var.image_tag}"
}

output "artifact_bucket" {
  description = "Bucket of the ZenML artifact store."
  value       = coalesce(var.artifact_bucket, "${local.name_prefix}-artifacts")
}

output "releases" {
  description = "Helm release names; services and pod labels derive from them."
  value       = local.releases
}

output "endpoints" {
  description = "In-cluster URLs and host/port pairs of the platform services."
  value = {
    zenml_server_url = "http://${local.releases.zenml}.${local.svc}"
    object_store_url = "http://${local.releases.minio}.${local.svc}:9000"
    redis_host       = "${local.releases.redis}-master.${local.svc}"
    redis_port       = 6379
    postgres_host    = "${local.releases.postgres}.${local.svc}"
    postgres_port    = 5432
    kfp_ui_url       = "http://ml-pipeline-ui.${local.kfp_namespace}.svc.cluster.local"
    kfp_api_url      = "http://ml-pipeline.${local.kfp_namespace}.svc.cluster.local:8888"
    pushgateway_url  = "http://${local.pushgateway_target}"
  }
}

output "databases" {
  description = "Database and user names (no passwords) of the ZenML store and the Feast registry."
  value = {
    zenml = { database = "zenml", user = "zenml" }
    feast = { database = "feast", user = "feast" }
  }
}

output "versions" {
  description = "Pinned versions of what gets installed."
  value = {
    zenml = var.zenml_version
    kfp   = var.kfp_version
  }
}

output "zenml_replicas" {
  description = "ZenML server replicas."
  value       = coalesce(var.zenml_replicas, local.size.zenml_replicas)
}

output "monitor_schedule" {
  description = "Cron schedule of `run.py monitor` (must match infra/k8s/<environment>/monitor-cronjob.yaml)."
  value       = coalesce(var.monitor_schedule, local.size.monitor_schedule)
}

output "resources" {
  description = "Requests and limits per component, as Kubernetes quantities."
  value       = local.resources

  precondition {
    condition     = local.limits_cover_requests
    error_message = "Every limit must be at least its request."
  }
}

output "storage" {
  description = "Persistent volume sizes per component."
  value       = { for k, v in local.size.storage_gi : k => "${v}Gi" }
}

output "object_store" {
  description = "MinIO topology: standalone outside prod, 4-node distributed in prod."
  value       = local.size.object_store
}

output "redis" {
  description = "Redis topology for the Feast online store."
  value       = local.size.redis
}

output "quota" {
  description = "ResourceQuota of the workload namespace (must match infra/k8s/<environment>/quota.yaml)."
  value       = local.size.quota
}

output "metrics_retention" {
  description = "Prometheus retention."
  value       = local.size.metrics_retention
}

output "prometheus_scrape_configs" {
  description = "Extra Prometheus scrape jobs for pipeline/model metrics (Pushgateway), the KFP API server and the online scoring service."
  value = [
    {
      job_name        = "runway-pushgateway"
      honor_labels    = true # keep the pipeline/model labels the steps pushed
      scrape_interval = var.environment == "prod" ? "30s" : "60s"
      static_configs  = [{ targets = [local.pushgateway_target] }]
    },
    {
      job_name        = "kubeflow-pipelines-api"
      metrics_path    = "/metrics"
      scrape_interval = "60s"
      static_configs  = [{ targets = ["ml-pipeline.${local.kfp_namespace}.svc.cluster.local:8888"] }]
    },
    {
      # Every replica of infra/k8s/<env>/serving-*.yaml, through the endpoints
      # of the runway-serving Service (the port named http serves /metrics).
      job_name        = "runway-serving"
      metrics_path    = "/metrics"
      honor_labels    = true # keep the use_case/environment labels the service sets
      scrape_interval = var.environment == "prod" ? "15s" : "30s"
      kubernetes_sd_configs = [{
        role       = "endpoints"
        namespaces = { names = [local.namespace] }
      }]
      relabel_configs = [
        { source_labels = ["__meta_kubernetes_service_name"], regex = "runway-serving", action = "keep" },
        { source_labels = ["__meta_kubernetes_endpoint_port_name"], regex = "http", action = "keep" },
        { source_labels = ["__meta_kubernetes_namespace"], target_label = "namespace" },
        { source_labels = ["__meta_kubernetes_pod_name"], target_label = "pod" },
      ]
    },
  ]
}
