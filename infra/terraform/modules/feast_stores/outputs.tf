output "registry" {
  description = "Feast SQL registry connection, without the password (it is in password_secret)."
  value = {
    type     = "sql"
    host     = local.postgres_host
    port     = 5432
    database = var.database.database
    user     = var.database.user
    password_secret = {
      namespace = var.namespace
      name      = kubernetes_secret_v1.postgres.metadata[0].name
      key       = "password"
    }
  }
}

output "online_store" {
  description = "Feast Redis online store connection, without the password (it is in password_secret)."
  value = {
    type              = "redis"
    host              = local.redis_host
    port              = 6379
    connection_string = "${local.redis_host}:6379"
    password_secret = {
      namespace = var.namespace
      name      = kubernetes_secret_v1.redis.metadata[0].name
      key       = "redis-password"
    }
  }
}

output "workload_secret" {
  description = "Name of the workload secret with the full connection strings."
  value       = kubernetes_secret_v1.workload.metadata[0].name
}
