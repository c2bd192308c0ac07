locals {
  environment = "staging"
}

module "settings" {
  source = "../../modules/settings"

  environment        = local.environment
  container_registry = var.container_registry
  image_tag          = var.image_tag
  artifact_bucket    = var.artifact_bucket
  zenml_replicas     = var.zenml_replicas
  zenml_version      = var.zenml_version
  kfp_version        = var.kfp_version
}

module "namespace" {
  source = "../../modules/namespace"

  platform_namespace      = module.settings.platform_namespace
  workload_namespace      = module.settings.namespace
  workload_manifests_path = "${path.module}/../../../k8s/${local.environment}"
  image_name              = module.settings.image_name
  image_tag               = var.image_tag
  labels                  = module.settings.labels
}

module "kubeflow_pipelines" {
  source = "../../modules/kubeflow_pipelines"

  kfp_version = module.settings.versions.kfp
}

module "object_store" {
  source = "../../modules/object_store"

  namespace               = module.namespace.platform_namespace
  workload_namespace      = module.namespace.workload_namespace
  credentials_secret_name = module.settings.workload_secrets.object_store
  release_name            = module.settings.releases.minio
  bucket                  = module.settings.artifact_bucket
  mode                    = module.settings.object_store.mode
  replicas                = module.settings.object_store.replicas
  storage_size            = module.settings.storage.object_store
  storage_class           = var.storage_class
  resources               = module.settings.resources.object_store
  labels                  = module.settings.labels
}

module "zenml_server" {
  source = "../../modules/zenml_server"

  namespace          = module.namespace.platform_namespace
  release_name       = module.settings.releases.zenml
  mysql_release_name = module.settings.releases.mysql
  zenml_version      = module.settings.versions.zenml
  replicas           = module.settings.zenml_replicas
  database           = module.settings.databases.zenml
  server_resources   = module.settings.resources.zenml
  mysql_resources    = module.settings.resources.mysql
  mysql_storage_size = module.settings.storage.mysql
  storage_class      = var.storage_class
  public_url         = var.zenml_public_url
  labels             = module.settings.labels
}

module "feast_stores" {
  source = "../../modules/feast_stores"

  namespace             = module.namespace.platform_namespace
  workload_namespace    = module.namespace.workload_namespace
  workload_secret_name  = module.settings.workload_secrets.feast
  redis_release_name    = module.settings.releases.redis
  postgres_release_name = module.settings.releases.postgres
  redis_architecture    = module.settings.redis.architecture
  redis_replicas        = module.settings.redis.replicas
  database              = module.settings.databases.feast
  redis_storage_size    = module.settings.storage.redis
  postgres_storage_size = module.settings.storage.postgres
  storage_class         = var.storage_class
  redis_resources       = module.settings.resources.redis
  postgres_resources    = module.settings.resources.postgres
  labels                = module.settings.labels
}

module "monitoring" {
  source = "../../modules/monitoring"

  namespace                = module.settings.monitoring_namespace
  install_prometheus_stack = var.install_monitoring_stack
  scrape_configs           = module.settings.prometheus_scrape_configs
  retention                = module.settings.metrics_retention
  labels                   = module.settings.labels
}
