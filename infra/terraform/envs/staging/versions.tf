terraform {
  required_version = ">= 1.9.0"

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.35"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 2.17"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    kustomization = {
      source  = "kbst/kustomization"
      version = "~> 0.9"
    }
  }

  # State lives in the cluster itself (a Secret), so no cloud account is
  # needed. Pass the kubeconfig at init:
  #   terraform init -backend-config="config_path=$HOME/.kube/config" \
  #                  -backend-config="config_context=<context>"
  backend "kubernetes" {
    secret_suffix = "runway-staging"
    namespace     = "kube-system"
  }
}
