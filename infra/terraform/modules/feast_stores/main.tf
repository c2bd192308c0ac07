# Feast's stores: Redis as the online store, PostgreSQL as the SQL registry
# (and Runway's run lock). Passwords are generated here; pipeline pods get
# ready-made connection strings through one workload secret.

resource "random_password" "redis" {
  length  = 32
  special = false
}

# The key of the authenticated decision log (RUNWAY_DECISION_LOG_KEY): every
# job and the serving pods of the environment sign and verify with it.
resource "random_password" "decision_log_key" {
  length  = 48
  special = false
}

resource "random_password" "postgres_admin" {
  length  = 32
  special = false
}

resource "random_password" "postgres_user" {
  length  = 32
  special = false
}

resource "kubernetes_secret_v1" "redis" {
  metadata {
    name      = "${var.redis_release_name}-auth"
    namespace = var.namespace
    labels    = var.labels
  }
  data = {
    "redis-password" = random_password.redis.result
  }
}

resource "kubernetes_secret_v1" "postgres" {
  metadata {
    name      = "${var.postgres_release_name}-auth"
    namespace = var.namespace
    labels    = var.labels
  }
  data = {
    "postgres-password" = random_password.postgres_admin.result
    "password"          = random_password.postgres_user.result
  }
}

resource "helm_release" "redis" {
  name       = var.redis_release_name
  namespace  = var.namespace
  repository = "oci://registry-1.docker.io/bitnamicharts"
  chart      = "redis"
  version    = var.redis_chart_version
  wait       = true
  timeout    = 900

  values = [yamlencode({
    architecture = var.redis_architecture
    auth = {
      enabled                   = true
      existingSecret            = kubernetes_secret_v1.redis.metadata[0].name
      existingSecretPasswordKey = "redis-password"
    }
    master = {
      resources   = var.redis_resources
      persistence = { size = var.redis_storage_size, storageClass = var.storage_class }
    }
    replica = {
      replicaCount = var.redis_replicas
      resources    = var.redis_resources
      persistence  = { size = var.redis_storage_size, storageClass = var.storage_class }
    }
  })]
}

resource "helm_release" "postgres" {
  name       = var.postgres_release_name
  namespace  = var.namespace
  repository = "oci://registry-1.docker.io/bitnamicharts"
  chart      = "postgresql"
  version    = var.postgres_chart_version
  wait       = true
  timeout    = 900

  values = [yamlencode({
    auth = {
      existingSecret = kubernetes_secret_v1.postgres.metadata[0].name
      username       = var.database.user
      database       = var.database.database
      secretKeys = {
        adminPasswordKey = "postgres-password"
        userPasswordKey  = "password"
      }
    }
    primary = {
      resources   = var.postgres_resources
      persistence = { size = var.postgres_storage_size, storageClass = var.storage_class }
    }
  })]
}

locals {
  redis_host    = "${helm_release.redis.name}-master.${var.namespace}.svc.cluster.local"
  postgres_host = "${helm_release.postgres.name}.${var.namespace}.svc.cluster.local"
  pg_auth       = "${var.database.user}:${random_password.postgres_user.result}"
  pg_target     = "${local.postgres_host}:5432/${var.database.database}"
}

# What pipeline pods read (envFrom). Names match configs/environments/*.yaml.
resource "kubernetes_secret_v1" "workload" {
  metadata {
    name      = var.workload_secret_name
    namespace = var.workload_namespace
    labels    = var.labels
  }
  data = {
    RUNWAY_FEAST_REGISTRY_URL = "postgresql+psycopg2://${local.pg_auth}@${local.pg_target}"
    RUNWAY_REDIS_CONNECTION   = "${local.redis_host}:6379,password=${random_password.redis.result}"
    RUNWAY_LOCK_URL           = "postgresql://${local.pg_auth}@${local.pg_target}"
    RUNWAY_DECISION_LOG_URL   = "postgresql+psycopg2://${local.pg_auth}@${local.pg_target}"
    RUNWAY_DECISION_LOG_KEY   = random_password.decision_log_key.result
  }
}
