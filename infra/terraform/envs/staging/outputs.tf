# Read by run.py (`terraform output -json`) to register the ZenML stack.
# No output holds a secret value: secrets are named, never shown.

output "kubernetes_context" {
  description = "kubeconfig context of this environment's cluster."
  value       = var.kube_context
}

output "kubernetes_namespace" {
  description = "Workload namespace that pipeline pods and the monitor CronJob run in."
  value       = module.namespace.workload_namespace
}

output "kubernetes_service_account" {
  description = "Service account of pipeline pods."
  value       = module.settings.pipeline_service_account
}

output "platform_namespace" {
  description = "Namespace of the ZenML server, MinIO, Redis and PostgreSQL."
  value       = module.namespace.platform_namespace
}

output "kubeflow_host" {
  description = "KFP host for ZenML's Kubeflow orchestrator (kfp_public_url if set, else the in-cluster UI URL)."
  value       = coalesce(var.kfp_public_url, module.kubeflow_pipelines.ui_url)
}

output "kubeflow_api_url" {
  description = "In-cluster URL of the KFP API server."
  value       = module.kubeflow_pipelines.api_url
}

output "artifact_store_path" {
  description = "ZenML artifact store path (s3://bucket)."
  value       = "s3://${module.object_store.bucket}"
}

output "artifact_store_bucket" {
  description = "Artifact store bucket."
  value       = module.object_store.bucket
}

output "artifact_store_endpoint" {
  description = "S3 endpoint URL of the artifact store (in-cluster)."
  value       = module.object_store.endpoint
}

output "artifact_store_credentials_secret" {
  description = "Workload secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (name only)."
  value       = module.object_store.credentials_secret
}

output "container_registry" {
  description = "Registry for ZenML's container registry component."
  value       = var.container_registry
}

output "image" {
  description = "Runway image (parent image of pipeline steps, image of the monitor CronJob)."
  value       = module.settings.image
}

output "zenml_server_url" {
  description = "ZenML server URL for clients (zenml_public_url if set, else in-cluster)."
  value       = module.zenml_server.url
}

output "zenml_server_url_in_cluster" {
  description = "ZenML server URL from inside the cluster."
  value       = module.zenml_server.in_cluster_url
}

output "feast_registry" {
  description = "Feast SQL registry: type, host, port, database, user and the secret holding the password."
  value       = module.feast_stores.registry
}

output "feast_online_store" {
  description = "Feast Redis online store: type, host, port, connection string and the secret holding the password."
  value       = module.feast_stores.online_store
}

output "feast_connection_secret" {
  description = "Workload secret with RUNWAY_FEAST_REGISTRY_URL, RUNWAY_REDIS_CONNECTION, RUNWAY_LOCK_URL, RUNWAY_DECISION_LOG_URL (name only)."
  value       = module.feast_stores.workload_secret
}

output "preflight_secrets" {
  description = "Secrets runway.k8s_preflight should find in kubernetes_namespace before a run."
  value = [
    module.settings.workload_secrets.zenml,
    module.settings.workload_secrets.object_store,
    module.settings.workload_secrets.feast,
  ]
}

output "pushgateway_url" {
  description = "Where steps push pipeline and model metrics (in-cluster)."
  value       = module.monitoring.pushgateway_url
}

output "prometheus_url" {
  description = "In-cluster Prometheus URL (null if not installed by Terraform)."
  value       = module.monitoring.prometheus_url
}

output "grafana_url" {
  description = "In-cluster Grafana URL (null if not installed by Terraform)."
  value       = module.monitoring.grafana_url
}

output "grafana_admin_secret" {
  description = "namespace/name of the Grafana admin login secret."
  value       = module.monitoring.grafana_admin_secret
}

output "runway_env" {
  description = "Non-secret RUNWAY_* variables for configs/environments/<env>.yaml."
  value = {
    RUNWAY_KUBE_CONTEXT     = var.kube_context
    RUNWAY_KFP_HOST         = coalesce(var.kfp_public_url, module.kubeflow_pipelines.ui_url)
    RUNWAY_ZENML_SERVER_URL = module.zenml_server.url
    RUNWAY_REGISTRY         = var.container_registry
    RUNWAY_IMAGE            = module.settings.image
  }
}
