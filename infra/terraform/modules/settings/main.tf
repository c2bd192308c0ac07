locals {
  # Sizing per environment. CPU in millicores and memory in MiB so that the
  # limits >= requests rule below can be checked as numbers.
  sizing = {
    dev = {
      zenml_replicas    = 1
      monitor_schedule  = "0 */6 * * *"
      storage_gi        = { mysql = 5, postgres = 5, redis = 1, object_store = 10 }
      object_store      = { mode = "standalone", replicas = 1 }
      redis             = { architecture = "standalone", replicas = 0 }
      metrics_retention = "3d"
      quota             = { requests_cpu = "4", requests_memory = "8Gi", limits_cpu = "8", limits_memory = "16Gi", pods = "20" }
      resources = {
        monitor      = { requests = { cpu = 250, memory = 512 }, limits = { cpu = 1000, memory = 1024 } }
        zenml        = { requests = { cpu = 250, memory = 512 }, limits = { cpu = 1000, memory = 1024 } }
        mysql        = { requests = { cpu = 250, memory = 512 }, limits = { cpu = 1000, memory = 1024 } }
        postgres     = { requests = { cpu = 100, memory = 256 }, limits = { cpu = 500, memory = 512 } }
        redis        = { requests = { cpu = 100, memory = 128 }, limits = { cpu = 500, memory = 256 } }
        object_store = { requests = { cpu = 100, memory = 256 }, limits = { cpu = 500, memory = 1024 } }
      }
    }
    staging = {
      zenml_replicas    = 1
      monitor_schedule  = "0 */2 * * *"
      storage_gi        = { mysql = 10, postgres = 10, redis = 2, object_store = 50 }
      object_store      = { mode = "standalone", replicas = 1 }
      redis             = { architecture = "standalone", replicas = 0 }
      metrics_retention = "7d"
      quota             = { requests_cpu = "8", requests_memory = "16Gi", limits_cpu = "16", limits_memory = "32Gi", pods = "40" }
      resources = {
        monitor      = { requests = { cpu = 500, memory = 1024 }, limits = { cpu = 1000, memory = 2048 } }
        zenml        = { requests = { cpu = 500, memory = 1024 }, limits = { cpu = 1000, memory = 2048 } }
        mysql        = { requests = { cpu = 500, memory = 1024 }, limits = { cpu = 1000, memory = 2048 } }
        postgres     = { requests = { cpu = 250, memory = 512 }, limits = { cpu = 1000, memory = 1024 } }
        redis        = { requests = { cpu = 250, memory = 256 }, limits = { cpu = 500, memory = 512 } }
        object_store = { requests = { cpu = 250, memory = 512 }, limits = { cpu = 1000, memory = 2048 } }
      }
    }
    prod = {
      zenml_replicas    = 2
      monitor_schedule  = "0 * * * *"
      storage_gi        = { mysql = 50, postgres = 50, redis = 10, object_store = 200 }
      object_store      = { mode = "distributed", replicas = 4 }
      redis             = { architecture = "replication", replicas = 2 }
      metrics_retention = "30d"
      quota             = { requests_cpu = "16", requests_memory = "32Gi", limits_cpu = "32", limits_memory = "64Gi", pods = "100" }
      resources = {
        monitor      = { requests = { cpu = 500, memory = 1024 }, limits = { cpu = 2000, memory = 4096 } }
        zenml        = { requests = { cpu = 500, memory = 1024 }, limits = { cpu = 2000, memory = 2048 } }
        mysql        = { requests = { cpu = 1000, memory = 2048 }, limits = { cpu = 2000, memory = 4096 } }
        postgres     = { requests = { cpu = 500, memory = 1024 }, limits = { cpu = 2000, memory = 2048 } }
        redis        = { requests = { cpu = 500, memory = 1024 }, limits = { cpu = 1000, memory = 2048 } }
        object_store = { requests = { cpu = 500, memory = 1024 }, limits = { cpu = 2000, memory = 4096 } }
      }
    }
  }

  size = local.sizing[var.environment]

  name_prefix        = "${var.project}-${var.environment}"
  namespace          = local.name_prefix
  platform_namespace = "${local.name_prefix}-platform"
  kfp_namespace      = "kubeflow" # fixed by the upstream KFP manifests
  monitoring_ns      = "monitoring"
  svc                = "${local.platform_namespace}.svc.cluster.local"

  releases = {
    zenml       = "zenml"
    mysql       = "zenml-mysql"
    minio       = "minio"
    redis       = "feast-redis"
    postgres    = "feast-postgresql"
    prometheus  = "kube-prometheus-stack"
    pushgateway = "prometheus-pushgateway"
  }

  # Kubernetes quantities as the charts and manifests want them.
  resources = {
    for component, r in local.size.resources : component => {
      requests = { cpu = "${r.requests.cpu}m", memory = "${r.requests.memory}Mi" }
      limits   = { cpu = "${r.limits.cpu}m", memory = "${r.limits.memory}Mi" }
    }
  }

  limits_cover_requests = alltrue([
    for r in values(local.size.resources) :
    r.limits.cpu >= r.requests.cpu && r.limits.memory >= r.requests.memory
  ])

  pushgateway_target = "${local.releases.pushgateway}.${local.monitoring_ns}.svc.cluster.local:9091"
}
