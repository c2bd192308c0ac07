# Standalone Kubeflow Pipelines from the upstream kustomize manifests, pinned
# to a release tag (the same two steps as the KFP install guide, in Terraform).
locals {
  manifests = "github.com/kubeflow/pipelines/manifests/kustomize"
}

data "kustomization_build" "cluster_scoped" {
  path = "${local.manifests}/cluster-scoped-resources?ref=${var.kfp_version}"
}

data "kustomization_build" "pipelines" {
  path = "${local.manifests}/env/${var.variant}?ref=${var.kfp_version}"
}

# CRDs and the kubeflow namespace first...
resource "kustomization_resource" "cluster_scoped_p0" {
  for_each = data.kustomization_build.cluster_scoped.ids_prio[0]
  manifest = data.kustomization_build.cluster_scoped.manifests[each.value]
}

resource "kustomization_resource" "cluster_scoped_p1" {
  for_each   = data.kustomization_build.cluster_scoped.ids_prio[1]
  manifest   = data.kustomization_build.cluster_scoped.manifests[each.value]
  depends_on = [kustomization_resource.cluster_scoped_p0]
}

resource "kustomization_resource" "cluster_scoped_p2" {
  for_each   = data.kustomization_build.cluster_scoped.ids_prio[2]
  manifest   = data.kustomization_build.cluster_scoped.manifests[each.value]
  depends_on = [kustomization_resource.cluster_scoped_p1]
}

# ...then the API server, UI, Argo and their stores.
resource "kustomization_resource" "pipelines_p0" {
  for_each   = data.kustomization_build.pipelines.ids_prio[0]
  manifest   = data.kustomization_build.pipelines.manifests[each.value]
  depends_on = [kustomization_resource.cluster_scoped_p2]
}

resource "kustomization_resource" "pipelines_p1" {
  for_each   = data.kustomization_build.pipelines.ids_prio[1]
  manifest   = data.kustomization_build.pipelines.manifests[each.value]
  depends_on = [kustomization_resource.pipelines_p0]
}

resource "kustomization_resource" "pipelines_p2" {
  for_each   = data.kustomization_build.pipelines.ids_prio[2]
  manifest   = data.kustomization_build.pipelines.manifests[each.value]
  depends_on = [kustomization_resource.pipelines_p1]
}
