# ZenML server (official chart) on a MySQL database (Bitnami chart). Every
# password is generated here and handed to the charts through Kubernetes
# secrets or sensitive Helm values, never through outputs.

resource "random_password" "mysql_root" {
  length  = 32
  special = false
}

resource "random_password" "mysql_user" {
  length  = 32
  special = false
}

# Keys ZenML signs JWTs and encrypts its SQL secrets store with.
resource "random_id" "jwt_secret" {
  byte_length = 32
}

resource "random_id" "secrets_encryption_key" {
  byte_length = 32
}

resource "kubernetes_secret_v1" "mysql" {
  metadata {
    name      = "${var.mysql_release_name}-auth"
    namespace = var.namespace
    labels    = var.labels
  }
  data = {
    "mysql-root-password"        = random_password.mysql_root.result
    "mysql-password"             = random_password.mysql_user.result
    "mysql-replication-password" = random_password.mysql_root.result
  }
}

resource "helm_release" "mysql" {
  name       = var.mysql_release_name
  namespace  = var.namespace
  repository = "oci://registry-1.docker.io/bitnamicharts"
  chart      = "mysql"
  version    = var.mysql_chart_version
  wait       = true
  timeout    = 900

  values = [yamlencode({
    auth = {
      existingSecret = kubernetes_secret_v1.mysql.metadata[0].name
      database       = var.database.database
      username       = var.database.user
    }
    primary = {
      resources = var.mysql_resources
      persistence = {
        size         = var.mysql_storage_size
        storageClass = var.storage_class
      }
    }
  })]
}

locals {
  mysql_host = "${helm_release.mysql.name}.${var.namespace}.svc.cluster.local"
}

resource "helm_release" "zenml" {
  name       = var.release_name
  namespace  = var.namespace
  repository = "oci://public.ecr.aws/zenml"
  chart      = "zenml"
  version    = var.zenml_version
  wait       = true
  timeout    = 900

  values = [yamlencode({
    resources = var.server_resources
    zenml = {
      replicaCount   = var.replicas
      analyticsOptIn = false
      deploymentType = "kubernetes"
      serverURL      = var.public_url
      database = {
        # Dump to a file (not memory) before schema migrations on upgrade.
        backupStrategy = "dump-file"
      }
    }
  })]

  set_sensitive {
    name  = "zenml.database.url"
    value = "mysql://${var.database.user}:${random_password.mysql_user.result}@${local.mysql_host}:3306/${var.database.database}"
  }

  set_sensitive {
    name  = "zenml.auth.jwtSecretKey"
    value = random_id.jwt_secret.hex
  }

  set_sensitive {
    name  = "zenml.secretsStore.sql.encryptionKey"
    value = random_id.secrets_encryption_key.hex
  }
}
