output "endpoint" {
  description = "In-cluster S3 endpoint URL."
  value       = "http://${helm_release.minio.name}.${var.namespace}.svc.cluster.local:9000"
}

output "bucket" {
  description = "Artifact store bucket."
  value       = var.bucket
}

output "credentials_secret" {
  description = "Name of the workload secret holding the S3 keys (the keys themselves are not output)."
  value       = kubernetes_secret_v1.workload.metadata[0].name
}
