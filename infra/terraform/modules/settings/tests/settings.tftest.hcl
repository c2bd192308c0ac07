# Real `terraform test` for the provider-free settings module (plan only:
# there is nothing to create). Run: terraform -chdir=infra/terraform/modules/settings test

variables {
  container_registry = "ghcr.io/example"
}

run "dev_is_small_and_named_after_the_env" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = output.namespace == "runway-dev" && output.platform_namespace == "runway-dev-platform"
    error_message = "dev namespaces must be runway-dev and runway-dev-platform."
  }

  assert {
    condition     = output.zenml_replicas == 1 && output.object_store.mode == "standalone"
    error_message = "dev runs one ZenML replica and a standalone MinIO."
  }

  assert {
    condition     = output.artifact_bucket == "runway-dev-artifacts"
    error_message = "default bucket must be <project>-<env>-artifacts."
  }

  assert {
    condition     = output.image == "ghcr.io/example/runway:0.1.0"
    error_message = "image must be <registry>/runway:<tag>."
  }

  assert {
    condition     = output.resources.monitor.limits.memory == "1024Mi" && output.resources.monitor.requests.cpu == "250m"
    error_message = "dev monitor resources changed; update infra/k8s/dev/monitor-cronjob.yaml too."
  }

  assert {
    condition     = output.endpoints.zenml_server_url == "http://zenml.runway-dev-platform.svc.cluster.local"
    error_message = "ZenML URL must point at the platform namespace."
  }
}

run "prod_is_highly_available" {
  command = plan

  variables {
    environment = "prod"
  }

  assert {
    condition     = output.zenml_replicas >= 2
    error_message = "prod needs at least two ZenML server replicas."
  }

  assert {
    condition     = output.object_store.mode == "distributed" && output.object_store.replicas >= 4
    error_message = "prod MinIO must be distributed over at least 4 nodes."
  }

  assert {
    condition     = output.redis.architecture == "replication" && output.redis.replicas >= 1
    error_message = "prod Redis must have replicas."
  }

  assert {
    condition     = output.monitor_schedule == "0 * * * *"
    error_message = "prod monitors hourly."
  }

  assert {
    condition     = [for j in output.prometheus_scrape_configs : j.job_name] == ["runway-pushgateway", "kubeflow-pipelines-api", "runway-serving"]
    error_message = "scrape jobs changed; update the Grafana dashboard and infra/README.md."
  }
}

run "every_env_sizes_prod_at_least_as_big_as_staging_and_dev" {
  command = plan

  variables {
    environment = "staging"
  }

  assert {
    condition = alltrue([
      for env in ["dev", "staging"] :
      tonumber(local.sizing[env].quota.requests_cpu) <= tonumber(local.sizing.prod.quota.requests_cpu)
    ])
    error_message = "prod quota must not be smaller than dev or staging."
  }

  assert {
    condition = alltrue(flatten([
      for env, s in local.sizing : [
        for r in values(s.resources) : r.limits.cpu >= r.requests.cpu && r.limits.memory >= r.requests.memory
      ]
    ]))
    error_message = "a limit is below its request in some environment."
  }
}

run "overrides_win" {
  command = plan

  variables {
    environment      = "staging"
    artifact_bucket  = "acme-ml-artifacts"
    monitor_schedule = "*/15 * * * *"
    zenml_replicas   = 3
    image_tag        = "1.2.3"
  }

  assert {
    condition     = output.artifact_bucket == "acme-ml-artifacts" && output.monitor_schedule == "*/15 * * * *"
    error_message = "bucket and schedule overrides must be used."
  }

  assert {
    condition     = output.zenml_replicas == 3 && output.image == "ghcr.io/example/runway:1.2.3"
    error_message = "replica and tag overrides must be used."
  }
}

run "rejects_unknown_environment" {
  command = plan

  variables {
    environment = "qa"
  }

  expect_failures = [var.environment]
}

run "rejects_latest_tag" {
  command = plan

  variables {
    environment = "dev"
    image_tag   = "latest"
  }

  expect_failures = [var.image_tag]
}

run "rejects_registry_with_scheme" {
  command = plan

  variables {
    environment        = "dev"
    container_registry = "https://ghcr.io/example"
  }

  expect_failures = [var.container_registry]
}

run "rejects_invalid_bucket" {
  command = plan

  variables {
    environment     = "dev"
    artifact_bucket = "Runway_Artifacts"
  }

  expect_failures = [var.artifact_bucket]
}

run "rejects_six_field_cron" {
  command = plan

  variables {
    environment      = "dev"
    monitor_schedule = "0 0 * * * *"
  }

  expect_failures = [var.monitor_schedule]
}

run "prod_rejects_a_single_zenml_replica" {
  command = plan

  variables {
    environment    = "prod"
    zenml_replicas = 1
  }

  expect_failures = [var.zenml_replicas]
}

run "staging_accepts_a_single_zenml_replica" {
  command = plan

  variables {
    environment    = "staging"
    zenml_replicas = 1
  }

  assert {
    condition     = output.zenml_replicas == 1
    error_message = "staging may run a single replica."
  }
}
