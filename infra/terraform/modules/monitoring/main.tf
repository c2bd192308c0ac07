# Metrics for pipelines and models: steps push gauges to the Pushgateway
# (batch jobs do not live long enough to be scraped), Prometheus scrapes it and
# the KFP API server, Grafana shows dashboards/runway.json.

resource "kubernetes_namespace_v1" "monitoring" {
  metadata {
    name = var.namespace
    labels = merge(var.labels, {
      # node-exporter (which needs host access) is disabled below, so baseline holds.
      "pod-security.kubernetes.io/enforce" = "baseline"
      "pod-security.kubernetes.io/warn"    = "restricted"
    })
  }
}

resource "random_password" "grafana_admin" {
  length  = 24
  special = false
}

resource "kubernetes_secret_v1" "grafana_admin" {
  metadata {
    name      = "grafana-admin"
    namespace = kubernetes_namespace_v1.monitoring.metadata[0].name
    labels    = var.labels
  }
  data = {
    "admin-user"     = "admin"
    "admin-password" = random_password.grafana_admin.result
  }
}

resource "helm_release" "pushgateway" {
  name       = "prometheus-pushgateway"
  namespace  = kubernetes_namespace_v1.monitoring.metadata[0].name
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "prometheus-pushgateway"
  version    = var.pushgateway_chart_version

  values = [yamlencode({
    resources = {
      requests = { cpu = "50m", memory = "64Mi" }
      limits   = { cpu = "200m", memory = "128Mi" }
    }
  })]
}

resource "helm_release" "prometheus_stack" {
  count      = var.install_prometheus_stack ? 1 : 0
  name       = "kube-prometheus-stack"
  namespace  = kubernetes_namespace_v1.monitoring.metadata[0].name
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "kube-prometheus-stack"
  version    = var.prometheus_stack_chart_version
  timeout    = 900

  values = [yamlencode({
    nodeExporter = { enabled = false }
    prometheus = {
      prometheusSpec = {
        retention                               = var.retention
        additionalScrapeConfigs                 = var.scrape_configs
        serviceMonitorSelectorNilUsesHelmValues = false
      }
    }
    grafana = {
      admin = {
        existingSecret = kubernetes_secret_v1.grafana_admin.metadata[0].name
        userKey        = "admin-user"
        passwordKey    = "admin-password"
      }
      sidecar = {
        dashboards = {
          enabled         = true
          label           = "grafana_dashboard"
          labelValue      = "1"
          searchNamespace = "ALL"
        }
      }
    }
  })]
}

# Picked up by Grafana's dashboard sidecar (label grafana_dashboard=1).
resource "kubernetes_config_map_v1" "dashboard" {
  metadata {
    name      = "runway-dashboard"
    namespace = kubernetes_namespace_v1.monitoring.metadata[0].name
    labels    = merge(var.labels, { grafana_dashboard = "1" })
  }
  data = {
    "runway.json" = file("${path.module}/dashboards/runway.json")
  }
}
