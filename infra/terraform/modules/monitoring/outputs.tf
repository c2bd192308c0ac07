output "pushgateway_url" {
  description = "In-cluster URL steps push pipeline and model metrics to."
  value       = "http://${helm_release.pushgateway.name}.${var.namespace}.svc.cluster.local:9091"
}

output "prometheus_url" {
  description = "In-cluster Prometheus URL (null when the stack is not installed here)."
  value       = var.install_prometheus_stack ? "http://kube-prometheus-stack-prometheus.${var.namespace}.svc.cluster.local:9090" : null
}

output "grafana_url" {
  description = "In-cluster Grafana URL (null when the stack is not installed here)."
  value       = var.install_prometheus_stack ? "http://kube-prometheus-stack-grafana.${var.namespace}.svc.cluster.local" : null
}

output "grafana_admin_secret" {
  description = "Namespace/name of the secret with Grafana's admin login (the password is not output)."
  value       = "${var.namespace}/${kubernetes_secret_v1.grafana_admin.metadata[0].name}"
}

output "dashboard_uid" {
  description = "UID of the Runway dashboard in Grafana."
  value       = jsondecode(file("${path.module}/dashboards/runway.json")).uid
}
