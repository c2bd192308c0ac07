# S3-compatible artifact store for ZenML: MinIO, with a root account that only
# the chart knows and a separate 'runway' account (readwrite policy) whose keys
# go to the workload namespace.

locals {
  access_key = "runway"
}

resource "random_password" "root" {
  length  = 32
  special = false
}

resource "random_password" "runway" {
  length  = 40
  special = false
}

resource "kubernetes_secret_v1" "root" {
  metadata {
    name      = "${var.release_name}-root"
    namespace = var.namespace
    labels    = var.labels
  }
  data = {
    rootUser     = "root-${substr(sha256(random_password.root.result), 0, 8)}"
    rootPassword = random_password.root.result
  }
}

resource "kubernetes_secret_v1" "runway_user" {
  metadata {
    name      = "${var.release_name}-runway-user"
    namespace = var.namespace
    labels    = var.labels
  }
  data = {
    secretKey = random_password.runway.result
  }
}

resource "helm_release" "minio" {
  name       = var.release_name
  namespace  = var.namespace
  repository = "https://charts.min.io/"
  chart      = "minio"
  version    = var.chart_version
  wait       = true
  timeout    = 900

  values = [yamlencode({
    mode           = var.mode
    replicas       = var.replicas
    existingSecret = kubernetes_secret_v1.root.metadata[0].name
    resources      = var.resources
    persistence = {
      enabled      = true
      size         = var.storage_size
      storageClass = var.storage_class
    }
    buckets = [{
      name       = var.bucket
      policy     = "none"
      purge      = false
      versioning = true
    }]
    users = [{
      accessKey         = local.access_key
      existingSecret    = kubernetes_secret_v1.runway_user.metadata[0].name
      existingSecretKey = "secretKey"
      policy            = "readwrite"
    }]
    securityContext = {
      enabled             = true
      runAsUser           = 1000
      runAsGroup          = 1000
      fsGroup             = 1000
      fsGroupChangePolicy = "OnRootMismatch"
    }
  })]
}

# What pipeline pods read (envFrom): the runway account, never root.
resource "kubernetes_secret_v1" "workload" {
  metadata {
    name      = var.credentials_secret_name
    namespace = var.workload_namespace
    labels    = var.labels
  }
  data = {
    AWS_ACCESS_KEY_ID     = local.access_key
    AWS_SECRET_ACCESS_KEY = random_password.runway.result
  }
}
