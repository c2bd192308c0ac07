# Platform namespace: managed here. Workload namespace, service account, Role,
# RoleBinding, NetworkPolicies, quota and the monitor CronJob: applied from
# infra/k8s/<env> (the same kustomization `kubectl apply -k` uses), so there is
# one definition of the RBAC and pod-security rules, not two.

resource "kubernetes_namespace_v1" "platform" {
  metadata {
    name = var.platform_namespace
    labels = merge(var.labels, {
      "pod-security.kubernetes.io/enforce" = var.platform_pod_security
      # Report what would break under restricted, without blocking it.
      "pod-security.kubernetes.io/warn"  = "restricted"
      "pod-security.kubernetes.io/audit" = "restricted"
    })
  }
}

data "kustomization_overlay" "workload" {
  resources = [abspath(var.workload_manifests_path)]

  images {
    name     = "ghcr.io/example/runway"
    new_name = var.image_name
    new_tag  = var.image_tag
  }

  kustomize_options {
    # The kustomization lives outside this module's directory.
    load_restrictor = "none"
  }
}

# ids_prio orders objects: namespaces and CRDs first, then namespaced objects,
# then webhooks, so each step depends on the previous one.
resource "kustomization_resource" "workload_p0" {
  for_each = data.kustomization_overlay.workload.ids_prio[0]
  manifest = data.kustomization_overlay.workload.manifests[each.value]
}

resource "kustomization_resource" "workload_p1" {
  for_each   = data.kustomization_overlay.workload.ids_prio[1]
  manifest   = data.kustomization_overlay.workload.manifests[each.value]
  depends_on = [kustomization_resource.workload_p0]
}

resource "kustomization_resource" "workload_p2" {
  for_each   = data.kustomization_overlay.workload.ids_prio[2]
  manifest   = data.kustomization_overlay.workload.manifests[each.value]
  depends_on = [kustomization_resource.workload_p1]
}
