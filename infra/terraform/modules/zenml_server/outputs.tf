output "in_cluster_url" {
  description = "ZenML server URL from inside the cluster."
  value       = "http://${helm_release.zenml.name}.${var.namespace}.svc.cluster.local"
}

output "url" {
  description = "ZenML server URL for clients: public_url if set, else the in-cluster URL."
  value       = coalesce(var.public_url, "http://${helm_release.zenml.name}.${var.namespace}.svc.cluster.local")
}
