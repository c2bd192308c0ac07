output "namespace" {
  description = "Namespace KFP runs in (fixed by the upstream manifests)."
  value       = "kubeflow"
  depends_on  = [kustomization_resource.pipelines_p2]
}

output "ui_url" {
  description = "In-cluster URL of the KFP UI, which also proxies the API (what ZenML's kubeflow_hostname takes)."
  value       = "http://ml-pipeline-ui.kubeflow.svc.cluster.local"
  depends_on  = [kustomization_resource.pipelines_p2]
}

output "api_url" {
  description = "In-cluster URL of the KFP API server."
  value       = "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
  depends_on  = [kustomization_resource.pipelines_p2]
}
