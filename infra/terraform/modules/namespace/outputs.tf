output "platform_namespace" {
  description = "Name of the platform namespace."
  value       = kubernetes_namespace_v1.platform.metadata[0].name
}

output "workload_namespace" {
  description = "Name of the workload namespace created from the kustomization."
  value       = var.workload_namespace

  precondition {
    # Catches a path that points at another environment's manifests.
    condition     = contains(keys(data.kustomization_overlay.workload.manifests), "_/Namespace/_/${var.workload_namespace}")
    error_message = "The kustomization at workload_manifests_path does not create namespace ${var.workload_namespace}."
  }

  depends_on = [kustomization_resource.workload_p2]
}
